/**
 * `history` for people: one block per run, a table per attempt (look, result, detail per action),
 * every line at most OUTPUT_COLUMNS wide. The JSON form is the RunHistory itself.
 */
import type { ActionHistory, AttemptHistory, RecipientRef, RunHistory, RunJournalState } from '../domain';
import { abbreviate, OUTPUT_COLUMNS, wrap } from '../sweep/report';

export function renderHistory(history: RunHistory): string {
  const lines: string[] = [];
  const state = history.state;
  const workflow = state?.workflowName || history.attempts[0]?.workflowName || '';
  lines.push(abbreviate(`Run ${history.runId}${workflow ? `  ${workflow}` : ''}`, OUTPUT_COLUMNS));
  const email = state?.email || history.attempts[0]?.email;
  if (email) lines.push(abbreviate(`  email:   ${email}`, OUTPUT_COLUMNS));
  const record = history.record;
  if (record) {
    lines.push(...wrap(`  leaver:  ${recipient(record.leaver)}`, '', '           '));
    if (record.manager) lines.push(...wrap(`  manager: ${recipient(record.manager)}`, '', '           '));
    lines.push(`  pinned:  ${record.pinnedAt}`);
  }
  if (state) {
    const parts = [
      `${state.attempts} attempt(s)`,
      `${state.failedAttempts} failed`,
      ...(state.lastOutcome ? [`last ${state.lastOutcome}`] : []),
      ...(state.gaveUpAt ? [`gave up ${state.gaveUpAt}`] : []),
      ...(state.failureSignalled ? [`failure action ${state.failureSignalled}`] : []),
      ...(state.nextExpiryAt ? [`next grant expires ${state.nextExpiryAt}`] : []),
      ...(state.kind === 'undo' ? [`undo of run ${state.undoOf ?? '?'}`] : []),
    ];
    lines.push(...wrap(`  state:   ${parts.join(', ')}`, '', '           '));
  }
  if (history.attempts.length === 0) lines.push('', 'No attempts journalled.');
  for (const attempt of history.attempts) lines.push('', ...renderAttempt(attempt));
  return lines.join('\n');
}

function renderAttempt(attempt: AttemptHistory): string[] {
  const lines: string[] = [];
  const end = attempt.end;
  const outcome = end
    ? `${end.outcome}${end.signalled ? ', signalled' : ''}${end.gaveUp ? ', gave up' : ''}`
    : 'no end recorded (interrupted, or still running)';
  lines.push(
    ...wrap(
      `Attempt ${attempt.attempt}${attempt.purpose === 'repair' ? ' (repair, verify --repair)' : ''}  ${attempt.startedAt} → ${end?.endedAt ?? '?'}  ${outcome}`,
      '',
      '  ',
    ),
  );
  lines.push(abbreviate(`  sweep ${attempt.sweepId}  host ${attempt.host}`, OUTPUT_COLUMNS));
  if (attempt.actions.length > 0) {
    const width = Math.max(6, ...attempt.actions.map((a) => a.name.length));
    const head = `  ${'action'.padEnd(width)}  ${'look'.padEnd(7)}  ${'result'.padEnd(7)}  detail`;
    lines.push(head);
    for (const action of attempt.actions) {
      const label = `  ${action.name.padEnd(width)}  ${action.status.padEnd(7)}  ${resultOf(action).padEnd(7)}  `;
      lines.push(...wrap(`${label}${detailOf(action)}`.trimEnd(), '', ' '.repeat(label.length)));
    }
  }
  for (const signal of attempt.signals) {
    const answer = signal.answer ?? 'no answer recorded (result unknown)';
    lines.push(
      ...wrap(
        `  signal '${signal.action}' (${signal.kind}) at ${signal.requestedAt}: ${answer}${signal.error ? ` (${signal.error})` : ''}`,
        '',
        '    ',
      ),
    );
  }
  if (end?.error) lines.push(...wrap(`  error: ${end.error}`, '', '    '));
  if (end?.detail) lines.push(...wrap(`  ${end.detail}`, '', '    '));
  return lines;
}

function resultOf(action: ActionHistory): string {
  if (action.result) return action.result.status;
  return action.resultUnknown ? 'unknown' : '-';
}

function detailOf(action: ActionHistory): string {
  if (action.result) {
    const detail = action.result.detail ?? '';
    // Expiring delegation: when the timer removes this grant.
    return action.result.expiresAt ? `${detail} Expires ${action.result.expiresAt}.`.trim() : detail;
  }
  if (action.resultUnknown)
    return `the before-image was journalled but no result: the change may or may not have run (${action.detail ?? ''})`;
  return action.detail ?? '';
}

function recipient(ref: RecipientRef): string {
  return `${ref.displayName} <${ref.address}> ${ref.type} ${ref.guid}`;
}

/** `history --since`: one line per run, newest first. */
export function renderRunList(states: readonly RunJournalState[], since: Date): string {
  const lines = [`Runs with journal activity since ${since.toISOString()}:`];
  if (states.length === 0) lines.push('(none)');
  for (const state of states) {
    const outcome = state.gaveUpAt ? 'gave up' : (state.lastOutcome ?? 'running');
    lines.push(
      abbreviate(
        `${state.lastActivityAt}  ${state.runId}  ${outcome.padEnd(9)} attempt ${state.attempts}  ${state.workflowName}  ${state.email}`,
        OUTPUT_COLUMNS,
      ),
    );
  }
  return lines.join('\n');
}

/** "7d", "12h", "30m" → milliseconds; undefined when unreadable. */
export function parseSince(text: string): number | undefined {
  const match = /^(\d{1,5})([dhm])$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[match[2] as 'd' | 'h' | 'm'];
  return Number(match[1]) * unit;
}

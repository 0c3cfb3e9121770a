/**
 * The sweep report: one JSON shape for the CLI's --json, the HTTP response and the timer's log.
 * This is public contract; add fields, never rename or remove them.
 */
import type { ActionResult, RunSubjects } from '../domain';
import type { Logger } from '../ports';

export type RunOutcome = 'completed' | 'failed' | 'skipped' | 'planned';

export interface RunReport {
  runId: string;
  workflowId: string;
  workflowName: string;
  email: string;
  outcome: RunOutcome;
  actions: ActionResult[];
  signalled: boolean;
  error?: string;
  /** Why a run was skipped (claimed by another sweep, no longer waiting, ...). */
  detail?: string;
  /** The leaver and line manager as Exchange resolved them (Guid, primary address, type), when known. */
  subjects?: RunSubjects;
  /** The run's attempt number in the journal (1 for the first); absent in dry runs and without a journal. */
  attempt?: number;
  /** The run was given up (EXO_MAX_ATTEMPTS failed attempts, or a failure retrying cannot fix). */
  gaveUp?: boolean;
  /** WORKFLOW_FAILURE_ACTION_NAME was POSTed for this run given up (`signalled` is about Continue only). */
  failureSignalled?: boolean;
}

export interface SweepSummary {
  completed: number;
  failed: number;
  skipped: number;
  planned: number;
}

export interface SweepReport {
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  runs: RunReport[];
  summary: SweepSummary;
  /** Things an admin should act on soon (certificate expiring, runs left for the next sweep). */
  warnings: string[];
  /** Runs seen but left for the next sweep because the time budget ran out. */
  deferred: number;
  stats: SweepStats;
  /**
   * Expiring delegation: the grants the timer's sweep removed (or found gone, or could not remove)
   * because their profile's delegationDays ran out. Absent when none was due.
   */
  expired?: ExpiredGrantReport[];
}

/** One due grant of the expiry sweep (the undo step that removed it). */
export interface ExpiredGrantReport {
  runId: string;
  action?: string;
  status: string;
  detail?: string;
  cmdlets?: string[];
}

export interface SweepStats {
  workflows: number;
  apiRequests?: number;
  powerShellProcesses: number;
  exchangeCmdletCalls: number;
  /** With a session pool (issue 14): EXO_SESSIONS, sessions started, throttling seen, back-off, peak runs in flight. */
  sessions?: number;
  sessionsUsed?: number;
  throttleEvents?: number;
  backoffMs?: number;
  peakRunsInFlight?: number;
}

export function summarize(runs: readonly RunReport[]): SweepSummary {
  const summary: SweepSummary = { completed: 0, failed: 0, skipped: 0, planned: 0 };
  for (const run of runs) summary[run.outcome] += 1;
  return summary;
}

/** Exit code of the public contract: 0 nothing failed, 1 some run failed (2 is for setup errors). */
export function exitCodeFor(report: SweepReport): 0 | 1 {
  return report.summary.failed > 0 ? 1 : 0;
}

/** Human output fits this many columns; the full detail is in the JSON report. */
export const OUTPUT_COLUMNS = 100;

const OUTCOME_MARK: Record<RunOutcome, string> = {
  completed: '✔',
  failed: '✘',
  skipped: '-',
  planned: '○',
};

/**
 * A readable report for people (CLI without --json): one block per run, every line at most
 * OUTPUT_COLUMNS wide (long text wraps, long names are abbreviated). A dry run lists under each
 * action the change cmdlets it would run; lookups and the rest are in the JSON report.
 */
export function renderReport(report: SweepReport): string {
  const lines: string[] = [];
  const title = report.dryRun ? 'Dry run (nothing changed, nothing signalled)' : 'Sweep';
  lines.push(...wrap(`${title}: ${report.startedAt} → ${report.finishedAt}`, '', ''));
  if (report.runs.length === 0) lines.push('No runs waiting.');
  const nameWidth = Math.max(0, ...report.runs.flatMap((run) => run.actions.map((a) => a.name.length)));
  for (const run of report.runs) {
    lines.push('');
    const signalled =
      run.outcome === 'planned' || run.outcome === 'skipped'
        ? ''
        : run.signalled
          ? ', signalled'
          : ', not signalled';
    const head = `${OUTCOME_MARK[run.outcome]} ${run.outcome}${signalled}  run ${run.runId}  ${run.workflowName}`;
    lines.push(abbreviate(head, OUTPUT_COLUMNS));
    lines.push(abbreviate(`  ${run.email ? quoteForDisplay(run.email) : '(no email)'}`, OUTPUT_COLUMNS));
    for (const action of run.actions) {
      const label = `  ${action.name.padEnd(nameWidth)}  ${action.status.padEnd(7)}  `;
      lines.push(...wrap(`${label}${action.detail ?? ''}`.trimEnd(), '', ' '.repeat(label.length)));
      if (report.dryRun) {
        for (const cmdlet of (action.cmdlets ?? []).filter((c) => !/^Get-/.test(c))) {
          lines.push(...wrap(`    would run: ${cmdlet}`, '', ' '.repeat(8)));
        }
      }
    }
    if (run.error) lines.push(...wrap(`  error: ${run.error}`, '', '    '));
    if (run.detail) lines.push(...wrap(`  ${run.detail}`, '', '    '));
  }
  const s = report.summary;
  lines.push('');
  lines.push(
    ...wrap(
      `Summary: ${s.completed} completed, ${s.failed} failed, ${s.skipped} skipped, ${s.planned} planned` +
        (report.deferred > 0 ? `, ${report.deferred} left for the next sweep` : ''),
      '',
      '  ',
    ),
  );
  for (const warning of report.warnings) lines.push(...wrap(`Warning: ${warning}`, '', '  '));
  if (report.expired && report.expired.length > 0) {
    lines.push(
      '',
      `Expired delegation (${report.expired.length} grant${report.expired.length === 1 ? '' : 's'} due):`,
    );
    for (const grant of report.expired)
      lines.push(
        ...wrap(
          `${grant.status.padEnd(8)} run ${grant.runId} ${grant.action ?? ''}${grant.detail ? `: ${grant.detail}` : ''}`,
          '  ',
          '             ',
        ),
      );
  }
  return lines.join('\n');
}

/** An untrusted address on one line: control characters shown as '?'. */
function quoteForDisplay(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** Cut a line to `width` columns, ending in '…' when something was cut. */
export function abbreviate(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, width - 1).join('')}…`;
}

/**
 * Wrap text into lines of at most OUTPUT_COLUMNS: at spaces where possible, hard-cut otherwise
 * (a cmdlet line or an address can be one long word). `first` and `rest` prefix the lines.
 */
export function wrap(text: string, first: string, rest: string, width = OUTPUT_COLUMNS): string[] {
  const out: string[] = [];
  let prefix = first;
  let remaining = [...quoteForDisplay(text)];
  while (remaining.length > 0) {
    const room = Math.max(10, width - prefix.length);
    if (remaining.length <= room) {
      out.push(prefix + remaining.join(''));
      break;
    }
    let cut = remaining.lastIndexOf(' ', room);
    // Keep an indentation made of spaces together with its text: break only after some text.
    const leading = remaining.findIndex((c) => c !== ' ');
    if (cut <= leading) cut = room;
    out.push((prefix + remaining.slice(0, cut).join('')).trimEnd());
    remaining = remaining.slice(cut);
    while (remaining[0] === ' ') remaining = remaining.slice(1);
    prefix = rest;
  }
  return out.length > 0 ? out : [first.trimEnd()];
}

/**
 * The report as log lines: one per run, then the summary, then each warning. The one place a run
 * reaches the log at information level (the use case logs its own detail at debug), so a query
 * over "run ..." lines counts each run once. The same lines for the timer and the HTTP triggers.
 */
export function logReport(logger: Logger, report: SweepReport): void {
  for (const run of report.runs) {
    const actions = run.actions.map((a) => `${a.name}=${a.status}`).join(' ');
    const line = `run ${run.runId} (${run.workflowName}) ${run.outcome}${run.signalled ? ', signalled' : ''}${actions ? `: ${actions}` : ''}${run.error ? ` error: ${run.error}` : ''}${run.detail ? ` (${run.detail})` : ''}`;
    // A run given up is an error an alert rule can catch (docs/deploy.md has the query).
    if (run.gaveUp === true) logger.error(line, { runId: run.runId, outcome: run.outcome, gaveUp: true });
    else if (run.outcome === 'failed') logger.warn(line, { runId: run.runId, outcome: run.outcome });
    else logger.info(line, { runId: run.runId, outcome: run.outcome });
  }
  const s = report.summary;
  logger.info(
    `sweep summary: ${s.completed} completed, ${s.failed} failed, ${s.skipped} skipped, ${s.planned} planned, ${report.deferred} deferred${report.dryRun ? ' (dry run)' : ''}`,
    { ...s, deferred: report.deferred, dryRun: report.dryRun },
  );
  for (const warning of report.warnings) logger.warn(warning);
  logExpired(logger, report.expired ?? []);
}

/** One line per due grant of the expiry sweep (the timer logs these in both sweep modes). */
export function logExpired(logger: Logger, expired: readonly ExpiredGrantReport[]): void {
  for (const grant of expired) {
    const line = `expired delegation: run ${grant.runId} ${grant.action ?? ''} ${grant.status}${grant.detail ? `: ${grant.detail}` : ''}`;
    if (grant.status === 'failed') logger.warn(line, { runId: grant.runId, status: grant.status });
    else logger.info(line, { runId: grant.runId, status: grant.status });
  }
}

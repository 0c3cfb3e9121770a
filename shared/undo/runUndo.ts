/**
 * The undo use case (issue 17): restore what a run changed, from its journal.
 *
 * 1. Read the run's journal. Unknown run: RunNotFound. An undo's own journal (`undo-<runId>`):
 *    UndoOfUndo. Nothing the run changed for sure: an empty plan (nothing to do).
 * 2. Plan (pure, `undoSteps`): every action whose journalled result is `done` (a change this app
 *    made; a permission that existed before was `already` and never becomes a step), in reverse order
 *    of the run's actions and attempts. A change whose result is unknown is listed, not restored.
 * 3. Look in PowerShell: per step the current state against the run's after-image and before-image
 *    (`already`, `planned`, `drift` left alone unless forced). A dry run stops here and journals
 *    nothing.
 * 4. Journal the looks (before any change), apply, journal the results and end the undo's attempt.
 *
 * The undo is journalled as its own journal `undo-<runId>` (state row kind 'undo', undoOf the run),
 * so `history undo-<runId>` audits it and `undo undo-<runId>` is refused. It never signals SaaS
 * Manager: the workflow run has moved on, and restoring the mailbox is not a workflow step.
 */
import { randomUUID } from 'node:crypto';
import { AppError } from '../errors';
import { isRecord } from '../guards';
import type { CertificateSource, Clock, ExchangeShell, Logger, RunClaims, RunJournal } from '../ports';
import type {
  ActionName,
  AttemptOutcome,
  JournalLook,
  JournalResult,
  JsonValue,
  RunHistory,
  UndoPlan,
  UndoStatus,
  UndoStep,
} from '../domain';
import { exchangeConnection, type ExchangeTarget } from '../sweep/exchangeConnection';

export interface UndoDependencies {
  exchange: ExchangeShell;
  journal: RunJournal;
  certificates?: CertificateSource;
  clock: Clock;
  logger: Logger;
  host?: string;
  /** The sweeps' run claims: an undo holds the run's claim, so no sweep works on it meanwhile. */
  claims?: RunClaims;
  /** Close the Exchange session when done (default true; the expiry sweep closes it once, at its end). */
  closeWhenDone?: boolean;
}

export interface UndoSettings {
  exchange: ExchangeTarget;
}

export interface UndoRequest {
  runId: string;
  dryRun: boolean;
  /** Restore properties someone changed after the run (drift) anyway. */
  force: boolean;
  /**
   * Expiring delegation: only the grants whose expiry (the profile's delegationDays) is at or before
   * this moment (the expiry sweep).
   */
  expiredBy?: Date;
}

export interface UndoStepReport {
  action: ActionName;
  status: UndoStatus;
  detail?: string;
  cmdlets?: string[];
  warnings?: string[];
}

export interface UndoReport {
  runId: string;
  /** The undo's journal id (`history <undoId>`). */
  undoId: string;
  dryRun: boolean;
  force: boolean;
  startedAt: string;
  finishedAt: string;
  /** completed: nothing failed; failed: some step failed; planned: a dry run; nothing: no change to undo. */
  outcome: 'completed' | 'failed' | 'planned' | 'nothing';
  steps: UndoStepReport[];
  /** Always false: an undo never signals the workflow. */
  signalled: false;
  /** The undo attempt journalled (absent for a dry run). */
  attempt?: number;
  cmdletCalls: number;
  summary: Record<UndoStatus, number>;
  /** With expiredBy: the earliest expiry of a grant still to come (absent: none left). */
  laterExpiry?: string;
}

/** Actions whose changes cannot be reversed: the plan says so. */
const NOT_RESTORABLE: ReadonlySet<string> = new Set(['cancelMeetings', 'removeMobileDevices']);

export const undoIdOf = (runId: string): string => `undo-${runId}`;

/**
 * The steps that restore a run, newest change first, and the changes that cannot be restored
 * because their result is unknown. Pure.
 */
export function undoSteps(history: RunHistory): { steps: UndoStep[]; unknown: UndoStepReport[] } {
  const steps: UndoStep[] = [];
  const unknown: Array<UndoStepReport & { attempt: number }> = [];
  for (const attempt of history.attempts) {
    for (const action of attempt.actions) {
      const name = action.name as ActionName;
      const result = action.result;
      if (action.status !== 'planned') continue;
      if (!result || action.resultUnknown) {
        unknown.push({
          attempt: attempt.attempt,
          action: name,
          status: 'skipped',
          detail: `attempt ${attempt.attempt}: the journal has no result for this change (it may or may not have run); not restored automatically.`,
        });
        continue;
      }
      const after = result.after;
      const afterUnknown = isRecord(after) && after.unknown === true;
      // A group removal that failed part-way still says which groups it left.
      const partialGroups =
        name === 'removeFromDistributionGroups' &&
        result.status === 'failed' &&
        isRecord(after) &&
        Array.isArray(after.removedFrom) &&
        after.removedFrom.length > 0;
      if (result.status !== 'done' && !partialGroups) {
        if (result.status === 'failed' && (afterUnknown || after === undefined) && !NOT_RESTORABLE.has(name))
          unknown.push({
            attempt: attempt.attempt,
            action: name,
            status: 'skipped',
            detail: `attempt ${attempt.attempt}: this change failed part-way (state unknown); not restored automatically.`,
          });
        continue;
      }
      if (action.before === undefined || after === undefined || afterUnknown) continue;
      steps.push({
        action: name,
        before: action.before,
        after,
        ...(result.expiresAt !== undefined ? { expiresAt: result.expiresAt } : {}),
      });
    }
  }
  // A change a later attempt made (or found already made) is not unknown any more.
  const settled = (name: string, after: number): boolean =>
    history.attempts.some(
      (attempt) =>
        attempt.attempt > after &&
        attempt.actions.some(
          (action) =>
            action.name === name && (action.status === 'already' || action.result?.status === 'done'),
        ),
    );
  return {
    steps: steps.reverse(),
    unknown: unknown
      .filter((entry) => !settled(entry.action, entry.attempt))
      .map(({ attempt: _a, ...rest }) => rest),
  };
}

export async function runUndo(
  deps: UndoDependencies,
  settings: UndoSettings,
  request: UndoRequest,
): Promise<UndoReport> {
  const { clock, journal } = deps;
  const startedAt = clock.now();
  const runId = request.runId;
  const undoId = undoIdOf(runId);

  const state = await journal.getState(runId);
  if (state?.kind === 'undo' || runId.startsWith('undo-')) {
    throw new AppError('UndoOfUndo', `${runId} is the journal of an undo; an undo is never undone`, {
      hint: `to make the run's changes again, restart its workflow run in SaaS Manager; history ${runId} shows what the undo did`,
    });
  }
  const history = await journal.read(runId);
  if (!history || history.attempts.length === 0) {
    throw new AppError('RunNotFound', `the journal knows no run ${runId}`, {
      hint: 'check the id, the storage (AzureWebJobsStorage or EXO_RUN_RECORDS_DIR) and EXO_JOURNAL_DAYS',
    });
  }
  const planned = undoSteps(history);
  const due = request.expiredBy?.toISOString();
  // The expiry sweep: only the grants that are due, and nothing about other changes.
  const steps =
    due === undefined
      ? planned.steps
      : planned.steps.filter((step) => step.expiresAt !== undefined && step.expiresAt <= due);
  const unknown = due === undefined ? planned.unknown : [];
  const later = planned.steps
    .map((step) => step.expiresAt)
    .filter((at): at is string => at !== undefined && due !== undefined && at > due)
    .sort()[0];
  const labels: Record<string, string> = {};
  for (const who of [history.record?.leaver, history.record?.manager])
    if (who) labels[who.guid] = `${who.displayName} <${who.address}>`;
  const plan: UndoPlan = { undoId, runId, steps, force: request.force, labels };

  const report = (
    outcome: UndoReport['outcome'],
    stepReports: UndoStepReport[],
    cmdletCalls: number,
    attempt?: number,
  ): UndoReport => {
    const all = [...stepReports, ...unknown];
    const summary: Record<UndoStatus, number> = {
      planned: 0,
      done: 0,
      already: 0,
      drift: 0,
      failed: 0,
      skipped: 0,
    };
    for (const step of all) summary[step.status] += 1;
    return {
      runId,
      undoId,
      dryRun: request.dryRun,
      force: request.force,
      startedAt: startedAt.toISOString(),
      finishedAt: clock.now().toISOString(),
      outcome,
      steps: all,
      signalled: false,
      ...(attempt !== undefined ? { attempt } : {}),
      cmdletCalls,
      summary,
      ...(later !== undefined ? { laterExpiry: later } : {}),
    };
  };

  if (steps.length === 0) return report('nothing', [], 0);

  const connection = exchangeConnection(settings.exchange, deps.certificates);

  // No sweep may work on the run while it is undone (a run still waiting would be changed again).
  const claim = request.dryRun ? undefined : await deps.claims?.tryClaim(runId);
  if (!request.dryRun && deps.claims && !claim) {
    throw new AppError(
      'UndoNotPossible',
      `a sweep is working on run ${runId} right now; nothing was changed`,
      {
        hint: 'try the undo again when the sweep has finished',
      },
    );
  }
  try {
    if (request.dryRun) {
      const look = await deps.exchange.undoLook(plan, connection, true);
      const failed = look.steps.some((step) => step.status === 'failed');
      return report(failed ? 'failed' : 'planned', look.steps.map(stepReport), look.cmdletCalls);
    }

    const first = history.attempts[0];
    const attempt = await journal.startAttempt({
      runId: undoId,
      workflowId: first?.workflowId ?? '',
      workflowName: first?.workflowName ?? '',
      sweepId: `${due === undefined ? 'undo' : 'expiry'}-${randomUUID()}`,
      host: deps.host ?? '',
      startedAt: startedAt.toISOString(),
      email: first?.email ?? '',
    });
    const look = await deps.exchange.undoLook(plan, connection, false);
    // Before any change: what each step found and is about to do.
    await journal.recordLooks(undoId, attempt, look.steps.map(journalLook));
    const results: UndoStepReport[] = look.steps.map(stepReport);
    let cmdletCalls = look.cmdletCalls;
    if (look.lookId !== undefined) {
      const applied = await deps.exchange.undoApply(plan, look.lookId, connection);
      cmdletCalls += applied.cmdletCalls;
      const journalled: JournalResult[] = [];
      let next = 0;
      for (const [index, step] of look.steps.entries()) {
        if (step.status !== 'planned') continue;
        const result = applied.steps[next];
        next += 1;
        const merged: UndoStepReport = result
          ? {
              action: step.action,
              status: result.status,
              ...(result.detail !== undefined ? { detail: result.detail } : {}),
              cmdlets: [...lookups(step), ...(result.cmdlets ?? [])],
              ...(result.warnings ? { warnings: result.warnings } : {}),
            }
          : {
              action: step.action,
              status: 'failed',
              detail:
                applied.notApplied !== undefined
                  ? `not applied, nothing was changed: ${applied.notApplied}`
                  : `result unknown: ${applied.unknown ?? 'PowerShell returned no result for this step'}`,
            };
        results[index] = merged;
        journalled.push({
          name: step.action,
          status: merged.status === 'drift' ? 'skipped' : merged.status,
          ...(merged.detail !== undefined ? { detail: merged.detail } : {}),
          ...(result?.cmdlets ? { cmdlets: result.cmdlets } : {}),
          ...(result?.warnings ? { warnings: result.warnings } : {}),
          after: result?.after ?? { unknown: true },
        });
      }
      await journal.recordResults(undoId, attempt, journalled);
    }
    const failed = results.some((step) => step.status === 'failed');
    const outcome: AttemptOutcome = failed ? 'failed' : 'completed';
    const endedAt = clock.now().toISOString();
    await journal.endAttempt(undoId, attempt, { endedAt, outcome, signalled: false });
    const prior = await journal.getState(undoId);
    await journal.putState({
      runId: undoId,
      workflowId: first?.workflowId ?? '',
      workflowName: first?.workflowName ?? '',
      email: first?.email ?? '',
      attempts: (prior?.attempts ?? 0) + 1,
      failedAttempts: (prior?.failedAttempts ?? 0) + (failed ? 1 : 0),
      lastOutcome: outcome,
      lastActivityAt: endedAt,
      kind: 'undo',
      undoOf: runId,
    });
    // Undone in full: nothing of the run is left for the expiry sweep to remove.
    if (due === undefined && !failed && state?.nextExpiryAt !== undefined) {
      const { nextExpiryAt: _undone, ...rest } = (await journal.getState(runId)) ?? state;
      await journal.putState(rest);
    }
    deps.logger.info(`undo of run ${runId}: ${outcome}`, { runId, undoId, attempt });
    return report(outcome, results, cmdletCalls, attempt);
  } finally {
    await claim?.release().catch(() => undefined);
    if (deps.closeWhenDone !== false) await deps.exchange.close();
  }
}

function stepReport(step: {
  action: ActionName;
  status: UndoStatus;
  detail?: string;
  cmdlets?: string[];
  warnings?: string[];
}): UndoStepReport {
  return {
    action: step.action,
    status: step.status,
    ...(step.detail !== undefined ? { detail: step.detail } : {}),
    ...(step.cmdlets && step.cmdlets.length > 0 ? { cmdlets: step.cmdlets } : {}),
    ...(step.warnings && step.warnings.length > 0 ? { warnings: step.warnings } : {}),
  };
}

/** The look's read-only cmdlets (its planned change lines are the last `changes.length`). */
function lookups(step: { cmdlets?: string[]; changes?: unknown[] }): string[] {
  const cmdlets = step.cmdlets ?? [];
  return cmdlets.slice(0, cmdlets.length - (step.changes?.length ?? 0));
}

function journalLook(step: {
  action: ActionName;
  status: UndoStatus;
  detail?: string;
  current?: JsonValue;
  changes?: JournalLook['changes'];
}): JournalLook {
  // The journal's statuses are the run's: a drifted step is journalled as skipped, with its reason.
  return {
    name: step.action,
    status: step.status === 'drift' ? 'skipped' : step.status,
    ...(step.detail !== undefined
      ? { detail: step.status === 'drift' ? `drift: ${step.detail}` : step.detail }
      : {}),
    ...(step.current !== undefined ? { before: step.current } : {}),
    ...(step.changes ? { changes: step.changes } : {}),
  };
}

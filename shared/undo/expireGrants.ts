/**
 * Expiring delegation (issue 17): the timer's sweep removes the FullAccess, SendAs, SendOnBehalf
 * and forwarding a run granted once their expiry (the workflow profile's `delegationDays`) is due.
 *
 * The journal finds them (state rows whose `nextExpiryAt` is due, bounded), and each run's due grants
 * are removed exactly as `undo` removes them (look first: a grant already gone is `already`, a
 * forwarding someone changed is `drift` and left alone), journalled in the run's undo journal
 * `undo-<runId>`. Then the run's `nextExpiryAt` moves on to its next grant, or is cleared; a run whose
 * removal failed keeps it, so the next sweep tries again.
 */
import { ensureAppError } from '../errors';
import type { ActionName } from '../domain';
import { runUndo, type UndoDependencies, type UndoSettings, type UndoStepReport } from './runUndo';

export interface ExpiredGrant extends Omit<UndoStepReport, 'action'> {
  runId: string;
  /** Absent when the run's due grants could not be read or removed at all. */
  action?: ActionName;
}

/** At most this many runs' grants per sweep; the rest are due on the next one. */
export const MAX_EXPIRING_RUNS = 50;

export async function expireGrants(
  deps: UndoDependencies,
  settings: UndoSettings,
  limit = MAX_EXPIRING_RUNS,
): Promise<ExpiredGrant[]> {
  const now = deps.clock.now();
  const due = await deps.journal.dueForExpiry(now, limit);
  const expired: ExpiredGrant[] = [];
  if (due.length === 0) return expired;
  try {
    for (const state of due) {
      try {
        const report = await runUndo({ ...deps, closeWhenDone: false }, settings, {
          runId: state.runId,
          dryRun: false,
          force: false,
          expiredBy: now,
        });
        for (const step of report.steps) expired.push({ runId: state.runId, ...step });
        if (report.steps.some((step) => step.status === 'failed')) continue;
        const current = (await deps.journal.getState(state.runId)) ?? state;
        const { nextExpiryAt: _done, ...rest } = current;
        await deps.journal.putState(
          report.laterExpiry !== undefined ? { ...rest, nextExpiryAt: report.laterExpiry } : rest,
        );
      } catch (thrown) {
        const error = ensureAppError(thrown);
        deps.logger.warn(`expiring the grants of run ${state.runId} failed: ${error.describe()}`, {
          runId: state.runId,
        });
        expired.push({
          runId: state.runId,
          status: 'failed',
          detail: `the expiry sweep could not remove this run's due grants: ${error.describe()}`,
        });
      }
    }
  } finally {
    await deps.exchange.close();
  }
  return expired;
}

/**
 * Bounded attempts: pure rules for how a run's attempt ends in its journal state, and how the
 * journal sees a look and an apply. The sweep (runSweep.ts) does the I/O.
 */
import type {
  ActionLook,
  ExchangeApply,
  JournalLook,
  JournalPlan,
  JournalResult,
  PlannedAction,
  RunPlan,
  RunJournalState,
} from '../domain';

export interface AttemptRules {
  /** EXO_MAX_ATTEMPTS */
  maxAttempts: number;
}

export const DEFAULT_MAX_ATTEMPTS = 5;

/**
 * The state after an attempt ended; `gaveUp` when this attempt reached EXO_MAX_ATTEMPTS failed
 * attempts, or failed in a way retrying cannot fix (`final`).
 */
export function afterAttempt(
  prior: RunJournalState,
  end: {
    failed: boolean;
    final: boolean;
    error?: string;
    outcome: RunJournalState['lastOutcome'];
    at: string;
  },
  rules: AttemptRules,
): { state: RunJournalState; gaveUp: boolean } {
  const failedAttempts = prior.failedAttempts + (end.failed ? 1 : 0);
  const gaveUp =
    end.failed && prior.gaveUpAt === undefined && (end.final || failedAttempts >= rules.maxAttempts);
  const { lastError: _lastError, ...rest } = prior;
  const state: RunJournalState = {
    ...rest,
    failedAttempts,
    lastActivityAt: end.at,
    ...(end.outcome ? { lastOutcome: end.outcome } : {}),
    ...(end.failed && end.error !== undefined ? { lastError: end.error.slice(0, 2000) } : {}),
    ...(gaveUp ? { gaveUpAt: end.at } : {}),
    ...(gaveUp && end.final ? { finalFailure: true } : {}),
  };
  return { state, gaveUp };
}

/** The report's error for a run given up. */
export function gaveUpMessage(failedAttempts: number, error: string | undefined, final: boolean): string {
  const attempts = failedAttempts === 1 ? '1 attempt' : `${failedAttempts} attempts`;
  const why = final
    ? `gave up after ${attempts}: retrying cannot fix this failure`
    : `gave up after ${attempts}`;
  return error ? `${why}: ${error}` : why;
}

export function journalLooks(looks: readonly ActionLook[]): JournalLook[] {
  return looks.map((look) => ({
    name: look.name,
    status: look.status,
    ...(look.detail !== undefined ? { detail: look.detail } : {}),
    ...(look.before !== undefined ? { before: look.before } : {}),
    ...(look.changes !== undefined ? { changes: look.changes } : {}),
  }));
}

/** Looks for a plan that never reached Exchange (every action skipped by policy, or refused). */
export function plannedLooks(actions: readonly PlannedAction[], failedReason?: string): JournalLook[] {
  return actions.map((action) =>
    action.skipReason !== undefined
      ? { name: action.name, status: 'skipped', detail: action.skipReason }
      : { name: action.name, status: 'failed', detail: failedReason ?? 'not run' },
  );
}

/**
 * What the journal records after apply. With no answer at all (`unknown`) nothing is recorded, so
 * the journal keeps saying the result is unknown; a refused apply changed nothing and says so.
 */
export function journalResults(looks: readonly ActionLook[], apply: ExchangeApply): JournalResult[] {
  if (apply.unknown !== undefined) return [];
  const results: JournalResult[] = [];
  for (const look of looks) {
    if (look.status !== 'planned') continue;
    const applied = apply.actions.find((candidate) => candidate.name === look.name);
    if (applied) {
      results.push({
        name: applied.name,
        status: applied.status,
        ...(applied.detail !== undefined ? { detail: applied.detail } : {}),
        ...(applied.cmdlets !== undefined ? { cmdlets: applied.cmdlets } : {}),
        ...(applied.warnings !== undefined ? { warnings: applied.warnings } : {}),
        ...(applied.after !== undefined ? { after: applied.after } : {}),
      });
    } else if (apply.notApplied !== undefined) {
      results.push({
        name: look.name,
        status: 'failed',
        detail: `not applied, nothing was changed: ${apply.notApplied}`,
      });
    }
  }
  return results;
}

/** The plan as the journal keeps it: without its pins (the run record holds who the run is about). */
export function journalPlan(plan: RunPlan): JournalPlan {
  const { pinned: _pinned, ...rest } = plan;
  return rest;
}

/**
 * The verify use case (issue 17): re-check the after-state of completed runs against Exchange.
 *
 * For each run with journal activity since `since` whose last outcome is `completed`: take the plan
 * its last completed attempt journalled, bind it to the run record's pinned leaver and manager (a
 * mailbox that now answers to the address but is another object is refused, never verified), and
 * run the look: the same read-only phase 1 a sweep runs, changing nothing. An action that looks
 * `already` is as the run left it; one that looks `planned` again has drifted, and its planned
 * changes describe the drift. `--repair` keeps that look and applies it (phase 2, the sweep's path),
 * journalled as a repair attempt of the run; SaaS Manager is never signalled again.
 */
import { randomUUID } from 'node:crypto';
import { certificateWarnings } from '../certificateExpiry';
import { ensureAppError } from '../errors';
import type { CertificateSource, Clock, ExchangeShell, Logger, RunClaims, RunJournal } from '../ports';
import type {
  ActionLook,
  ActionResult,
  AttemptHistory,
  RunHistory,
  RunJournalState,
  RunPlan,
  RunSubjects,
} from '../domain';
import { journalLooks, journalPlan, journalResults } from '../sweep/attempts';
import { mergeApplied } from '../sweep/twoPhase';
import { summarizeVerify, type Drift, type VerifyReport, type VerifyRunReport } from './verifyReport';
import { exchangeConnection, type ExchangeTarget } from '../sweep/exchangeConnection';

export interface VerifyDependencies {
  journal: RunJournal;
  exchange: ExchangeShell;
  /** Absent when Exchange is reached with a managed identity. Loaded only when a run needs Exchange. */
  certificates?: CertificateSource;
  /** With --repair: a run is repaired only while this process holds its claim. */
  claims?: RunClaims;
  clock: Clock;
  logger: Logger;
  /** This machine's name, journalled with each repair attempt. */
  host?: string;
}

export interface VerifySettings {
  exchange: ExchangeTarget;
}

export interface VerifyRequest {
  /** Runs with journal activity at or after this moment. */
  since: Date;
  /** Re-apply the drifted actions (look, then apply), journalled as a repair attempt. */
  repair: boolean;
  /** Journalled with each repair attempt (default: a new UUID). */
  verifyId?: string;
  /** Start no run's check after this moment (the timer's budget); the rest are left for the next verify. */
  deadline?: Date;
}

const ENDED_OK: ReadonlySet<ActionResult['status']> = new Set(['done', 'already', 'skipped']);

export async function runVerify(
  deps: VerifyDependencies,
  settings: VerifySettings,
  request: VerifyRequest,
): Promise<VerifyReport> {
  const { clock, journal, logger } = deps;
  const startedAt = clock.now();
  const verifyId = request.verifyId ?? `verify-${randomUUID()}`;
  const warnings: string[] = [];
  const runs: VerifyRunReport[] = [];
  let exchangeCmdletCalls = 0;

  const connection = exchangeConnection(settings.exchange, deps.certificates, (certificate) =>
    warnings.push(...certificateWarnings(certificate, clock.now())),
  );

  try {
    const states = await journal.list(request.since);
    let left = 0;
    for (const state of states) {
      if (request.deadline !== undefined && clock.now().getTime() >= request.deadline.getTime()) {
        left += 1;
        continue;
      }
      runs.push(await verifyRun(state));
    }
    if (left > 0)
      warnings.push(`${left} run(s) were left unverified because this verify's time budget ran out`);
  } finally {
    await deps.exchange.close();
  }

  return {
    repair: request.repair,
    since: request.since.toISOString(),
    startedAt: startedAt.toISOString(),
    finishedAt: clock.now().toISOString(),
    runs,
    summary: summarizeVerify(runs),
    warnings,
    stats: { powerShellProcesses: deps.exchange.processesStarted, exchangeCmdletCalls },
  };

  // ------------------------------------------------------------------------------------------

  async function verifyRun(state: RunJournalState): Promise<VerifyRunReport> {
    const base = {
      runId: state.runId,
      workflowId: state.workflowId,
      workflowName: state.workflowName,
      email: state.email,
      drift: [] as Drift[],
    };
    if (state.lastOutcome !== 'completed') {
      const why = state.gaveUpAt
        ? 'it was given up'
        : state.lastOutcome
          ? `its last attempt ${state.lastOutcome === 'failed' ? 'failed' : 'was skipped'}`
          : 'it has no finished attempt';
      return { ...base, verdict: 'notVerified', detail: `not completed (${why}), so not verified` };
    }
    let history: RunHistory | undefined;
    try {
      history = await journal.read(state.runId);
    } catch (thrown) {
      return {
        ...base,
        verdict: 'failed',
        error: `could not read the journal: ${ensureAppError(thrown).describe()}`,
      };
    }
    const completed = lastCompleted(history);
    if (!completed) {
      return {
        ...base,
        verdict: 'notVerified',
        detail:
          'the journal holds no completed attempt with its plan (completed before plans were journalled)',
      };
    }
    const attempt = completed.attempt;
    const plan = boundPlan(completed, history);
    if (!plan) {
      return {
        ...base,
        attempt,
        verdict: 'notVerified',
        detail: 'the run has no run record pinning its leaver, so there is nothing to bind the check to',
      };
    }

    try {
      // Phase 1 (look), read-only. With --repair the look is kept in the session for the apply.
      const look = await deps.exchange.look(plan, connection, !request.repair);
      exchangeCmdletCalls += look.cmdletCalls;
      if (look.refusal !== undefined) {
        return { ...base, attempt, verdict: 'failed', error: `Exchange refused the check: ${look.refusal}` };
      }
      const drift = driftOf(look.actions);
      const failures = look.actions.filter((action) => action.status === 'failed');
      const error =
        failures.length > 0
          ? failures.map((action) => `${action.name}: ${action.detail ?? 'failed'}`).join('; ')
          : look.actions.length !== plan.actions.length
            ? 'Exchange did not report every action'
            : undefined;
      if (error !== undefined) return { ...base, attempt, drift, verdict: 'failed', error };
      if (drift.length === 0) return { ...base, attempt, verdict: 'clean' };
      if (!request.repair || look.lookId === undefined) return { ...base, attempt, drift, verdict: 'drift' };
      return await repair(
        { ...base, attempt, drift, verdict: 'drift' },
        state,
        plan,
        look.actions,
        look.lookId,
        look.subjects,
      );
    } catch (thrown) {
      const error = ensureAppError(thrown);
      // Setup (certificate, PowerShell, sign-in) is the whole verify's failure: the boundary reports it.
      if (error.isSetupError) throw error;
      return { ...base, attempt, verdict: 'failed', error: error.describe() };
    }
  }

  /** Phase 2 for the drifted actions, journalled as a repair attempt; never a signal. */
  async function repair(
    found: VerifyRunReport,
    state: RunJournalState,
    plan: RunPlan,
    looks: readonly ActionLook[],
    lookId: string,
    subjects: RunSubjects | undefined,
  ): Promise<VerifyRunReport> {
    const claim = deps.claims ? await deps.claims.tryClaim(state.runId) : undefined;
    if (deps.claims && !claim) {
      return { ...found, detail: 'another process holds this run, so it was not repaired' };
    }
    try {
      const now = clock.now().toISOString();
      const attempt = await journal.startAttempt({
        runId: state.runId,
        workflowId: state.workflowId,
        workflowName: state.workflowName,
        sweepId: verifyId,
        host: deps.host ?? 'unknown',
        startedAt: now,
        email: state.email,
        purpose: 'repair',
      });
      // A repair is an attempt of the run (numbered with the others) but never counts as a failure
      // towards EXO_MAX_ATTEMPTS, and the run stays completed for the next verify.
      const opened: RunJournalState = { ...state, attempts: attempt, lastActivityAt: now };
      await journal.putState(opened);
      // The before-images, written BEFORE anything changes (as in a sweep).
      await journal.recordLooks(state.runId, attempt, journalLooks(looks));
      const applied = await deps.exchange.apply(plan, lookId, connection);
      exchangeCmdletCalls += applied.cmdletCalls;
      await journal.recordResults(state.runId, attempt, journalResults(looks, applied));
      const merged = mergeApplied(looks, applied);
      const repairs = merged.filter((result) => found.drift.some((d) => d.name === result.name));
      const failed = merged.filter((result) => !ENDED_OK.has(result.status));
      const error =
        failed.length > 0
          ? `the repair failed: ${failed.map((r) => `${r.name}: ${r.detail ?? r.status}`).join('; ')}`
          : undefined;
      const endedAt = clock.now().toISOString();
      await journal.endAttempt(state.runId, attempt, {
        endedAt,
        outcome: error === undefined ? 'completed' : 'failed',
        signalled: false,
        detail: `verify --repair re-applied ${found.drift.map((d) => d.name).join(', ')}`,
        ...(error !== undefined ? { error } : {}),
        ...(subjects ? { subjects } : {}),
        plan: journalPlan(plan),
      });
      await journal.putState({ ...opened, lastActivityAt: endedAt });
      logger.debug(
        `run ${state.runId}: repair attempt ${attempt} ${error === undefined ? 'done' : 'failed'}`,
        {
          runId: state.runId,
        },
      );
      return {
        ...found,
        verdict: error === undefined ? 'repaired' : 'failed',
        repairAttempt: attempt,
        repairs,
        ...(error !== undefined ? { error } : {}),
      };
    } finally {
      await claim
        ?.release()
        .catch((thrown: unknown) =>
          logger.warn(`could not release the claim on run ${state.runId}: ${ensureAppError(thrown).message}`),
        );
    }
  }
}

/** The run's last completed attempt that journalled its plan. */
function lastCompleted(history: RunHistory | undefined): AttemptHistory | undefined {
  if (!history) return undefined;
  return [...history.attempts].reverse().find((a) => a.end?.outcome === 'completed' && a.end.plan);
}

/** The journalled plan, pinned to the run record's leaver and manager. */
function boundPlan(attempt: AttemptHistory, history: RunHistory | undefined): RunPlan | undefined {
  const plan = attempt.end?.plan;
  const record = history?.record;
  if (!plan || !record) return undefined;
  const pinned: RunSubjects = record.manager
    ? { leaver: record.leaver, manager: record.manager }
    : { leaver: record.leaver };
  return { ...plan, runId: history.runId, pinned };
}

/** Actions that would change again: their look's detail and change lines. */
function driftOf(looks: readonly ActionLook[]): Drift[] {
  return looks
    .filter((look) => look.status === 'planned')
    .map((look) => ({
      name: look.name,
      detail: look.detail ?? 'would change again',
      changes: (look.changes ?? []).map((change) => change.line),
    }));
}

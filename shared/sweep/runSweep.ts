/**
 * The sweep use case: the one flow behind the timer, the HTTP triggers and the CLI.
 *
 * Per workflow: resolve the Signal step, list the runs waiting there, and for each run claim it,
 * re-read it, plan it, run the plan in Exchange, and POST the step's action only when every
 * action ended done, already or skipped by policy. One failing run never stops the others; a run
 * that failed stays waiting and is tried again by the next sweep.
 */
import { randomUUID } from 'node:crypto';
import { certificateWarnings } from '../certificateExpiry';
import { AppError, ensureAppError } from '../errors';
import type {
  CertificateSource,
  Clock,
  ExchangeShell,
  Logger,
  RunClaim,
  RunAdmission,
  RunClaims,
  RunJournal,
  RunRecords,
  WorkflowApi,
} from '../ports';
import type {
  ActionName,
  ActionResult,
  ExchangeLoad,
  JournalResult,
  RunJournalState,
  RunPlan,
  RunRecord,
  RunSubjects,
  SignalResult,
  StoredRunRecord,
  WaitingStep,
  WorkflowRun,
} from '../domain';
import { EXPIRING_GRANTS, type Profile } from '../profiles';
import { planRun } from './plan';
import { summarize, type RunReport, type SweepReport } from './report';
import { lookResult, mergeApplied } from './twoPhase';
import {
  afterAttempt,
  DEFAULT_MAX_ATTEMPTS,
  gaveUpMessage,
  journalLooks,
  journalPlan,
  journalResults,
  plannedLooks,
} from './attempts';
import { exchangeConnection, type ExchangeTarget } from './exchangeConnection';

export interface SweepDependencies {
  workflowApi: WorkflowApi;
  exchange: ExchangeShell;
  /** Absent when Exchange is reached with a managed identity. Loaded only when a run needs Exchange. */
  certificates?: CertificateSource;
  claims: RunClaims;
  /** Who each run is about, pinned by its first attempt. */
  runRecords: RunRecords;
  clock: Clock;
  logger: Logger;
  /** Every attempt, before-image, result and signal (absent: nothing journalled, attempts unbounded). */
  journal?: RunJournal;
  /** This machine's name, journalled with each attempt. */
  host?: string;
  /** The session pool's governor: how many runs may be in flight (absent: one at a time). */
  admission?: RunAdmission;
}

export interface SweepSettings {
  workflowNames: readonly string[];
  stepName: string;
  actionName: string;
  actions: readonly ActionName[];
  autoMapping: boolean;
  /** EXO_ACCEPT_SHARED_LEAVERS (default false). */
  acceptSharedLeavers?: boolean;
  /** EXO_PROTECTED_RECIPIENTS (default none). */
  protectedRecipients?: readonly string[];
  /** Each workflow's profile (EXO_PROFILES_PATH); a workflow without one runs `actions` with `autoMapping`. */
  profiles?: Readonly<Record<string, Profile>>;
  /** EXO_MAX_ATTEMPTS (default 5): failed attempts after which a run is given up. */
  maxAttempts?: number;
  /** WORKFLOW_FAILURE_ACTION_NAME: POSTed (once) when a run is given up, if the step offers it. */
  failureActionName?: string;
  exchange: ExchangeTarget;
}

export type SweepProgress =
  | { kind: 'workflow'; workflowName: string; waiting: number }
  | { kind: 'run'; workflowName: string; runId: string; index: number; total: number }
  | { kind: 'runDone'; run: RunReport };

export interface SweepRequest {
  dryRun: boolean;
  /** Process only this run (HTTP rerun, CLI rerun). */
  runId?: string;
  /** Start no new run after this moment (HTTP triggers must answer within 230 s). */
  deadline?: Date;
  /** Time a run may need at most; a run starts only while this much is left before the deadline. */
  reserveMs?: number;
  onProgress?: (event: SweepProgress) => void;
  /** Journalled with each attempt (default: a new UUID per sweep). */
  sweepId?: string;
}

const SIGNALLABLE: ReadonlySet<ActionResult['status']> = new Set(['done', 'already', 'skipped']);
/** In a dry run, what would end signallable: the same, with `planned` in place of `done`. */
const DRY_RUN_OK: ReadonlySet<ActionResult['status']> = new Set(['planned', 'already', 'skipped']);

export async function runSweep(
  deps: SweepDependencies,
  settings: SweepSettings,
  request: SweepRequest,
): Promise<SweepReport> {
  const { clock, logger } = deps;
  const startedAt = clock.now();
  const sweepId = request.sweepId ?? randomUUID();
  // Dry runs change nothing and are not attempts: they are not journalled.
  const journal = request.dryRun ? undefined : deps.journal;
  const maxAttempts = settings.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const runs: RunReport[] = [];
  const warnings: string[] = [];
  let deferred = 0;
  let exchangeCmdletCalls = 0;
  /** True once a run's plan reached Exchange: from then on a setup failure must not lose the report. */
  let exchangeUsed = false;
  /** Set when setup broke after Exchange work began: the sweep stops, and says why. */
  let abortAfter: string | undefined;
  let inFlight = 0;
  let peakInFlight = 0;
  const loadBefore = deps.admission?.load();

  // Lazily, on the first run that needs Exchange: load the certificate (cached by its source).
  // Reported, and so logged once by the boundary with the report.
  const connection = exchangeConnection(settings.exchange, deps.certificates, (certificate) =>
    warnings.push(...certificateWarnings(certificate, clock.now())),
  );

  // reserveMs is what one run may still take once started; `reserves` 2 for a run that may first wait
  // for a session another run is using (a run ahead of the sessions, see SessionPool).
  const outOfTime = (reserves = 1): boolean =>
    request.deadline !== undefined &&
    clock.now().getTime() + (request.reserveMs ?? 0) * reserves > request.deadline.getTime();
  const sessions = Math.max(1, loadBefore?.sessions ?? 1);
  const runEndWaiters: Array<() => void> = [];
  const aRunEnded = (): Promise<void> => new Promise((resolve) => runEndWaiters.push(resolve));

  try {
    const steps: WaitingStep[] = [];
    for (const workflowName of settings.workflowNames) {
      steps.push(await deps.workflowApi.resolveStep(workflowName, settings.stepName, settings.actionName));
    }

    if (request.runId !== undefined) {
      const { step, run } = await findRunForRerun(deps.workflowApi, steps, request.runId);
      request.onProgress?.({
        kind: 'run',
        workflowName: step.workflowName,
        runId: run.runId,
        index: 1,
        total: 1,
      });
      // A queued run (or a rerun) still waits for the governor: the pool may be shared by other runs.
      const release = deps.admission ? await deps.admission.admit() : undefined;
      const report = await processRun(step, run.runId).finally(() => release?.());
      peakInFlight = Math.max(peakInFlight, 1);
      runs.push(report);
      request.onProgress?.({ kind: 'runDone', run: report });
    } else {
      sweep: for (const step of steps) {
        // Only ids are kept: the run itself is re-read under the claim, so a page of stale data
        // never decides what we do, and thousands of waiting runs cost a few kilobytes.
        const waitingIds: string[] = [];
        for await (const run of deps.workflowApi.listWaitingRuns(step)) waitingIds.push(run.runId);
        request.onProgress?.({
          kind: 'workflow',
          workflowName: step.workflowName,
          waiting: waitingIds.length,
        });
        // Up to maxRunsInFlight runs at once (the session pool's sessions and the runs ahead of them),
        // as many as the governor admits; each run is still one processRun (claim, re-read, plan,
        // Exchange, signal), and holds a session only for its Exchange calls. Reports keep list order.
        let next = 0;
        let stop = false;
        const reports: RunReport[] = [];
        const worker = async (): Promise<void> => {
          while (!stop && next < waitingIds.length) {
            const release = deps.admission ? await deps.admission.admit() : undefined;
            try {
              if (stop || next >= waitingIds.length) return;
              // Near the end of the budget a run starts only when it would not wait for a session:
              // waiting for another run's calls and then making its own could outlast the deadline.
              if (inFlight >= sessions && !outOfTime() && outOfTime(2)) {
                release?.();
                await aRunEnded();
                continue;
              }
              const index = next++;
              const runId = waitingIds[index] as string;
              if (outOfTime()) {
                deferred += 1 + waitingIds.length - next;
                next = waitingIds.length;
                return;
              }
              request.onProgress?.({
                kind: 'run',
                workflowName: step.workflowName,
                runId,
                index: index + 1,
                total: waitingIds.length,
              });
              inFlight += 1;
              peakInFlight = Math.max(peakInFlight, inFlight);
              const report = await processRun(step, runId).finally(() => {
                inFlight -= 1;
                for (const wake of runEndWaiters.splice(0)) wake();
              });
              reports[index] = report;
              request.onProgress?.({ kind: 'runDone', run: report });
              if (report.error !== undefined && abortAfter !== undefined) stop = true;
            } catch (thrown) {
              stop = true;
              throw thrown;
            } finally {
              release?.();
            }
          }
        };
        const width = Math.min(waitingIds.length, Math.max(1, deps.admission?.maxRunsInFlight ?? 1));
        const settled = await Promise.allSettled(Array.from({ length: width }, () => worker()));
        runs.push(...reports.filter((report) => report !== undefined));
        const rejected = settled.find((outcome) => outcome.status === 'rejected');
        if (rejected) throw rejected.reason;
        if (stop) break sweep;
      }
    }
  } finally {
    await deps.exchange.close();
  }

  if (deferred > 0) {
    warnings.push(
      `${deferred} waiting run(s) were left for the next sweep because this sweep's time budget ran out`,
    );
  }
  if (abortAfter !== undefined) warnings.push(abortAfter);

  return {
    dryRun: request.dryRun,
    startedAt: startedAt.toISOString(),
    finishedAt: clock.now().toISOString(),
    runs,
    summary: summarize(runs),
    warnings,
    deferred,
    stats: {
      workflows: settings.workflowNames.length,
      ...(deps.workflowApi.requestsMade === undefined ? {} : { apiRequests: deps.workflowApi.requestsMade }),
      powerShellProcesses: deps.exchange.processesStarted,
      exchangeCmdletCalls,
      ...loadStats(deps.admission, loadBefore, peakInFlight),
    },
  };

  // ------------------------------------------------------------------------------------------

  async function processRun(step: WaitingStep, runId: string): Promise<RunReport> {
    const base = { runId, workflowId: step.workflowId, workflowName: step.workflowName };
    let claim: RunClaim | undefined;
    try {
      // A claim that throws (an odd run id, a storage 503) is this run's failure, not the sweep's.
      claim = await deps.claims.tryClaim(runId);
    } catch (thrown) {
      const error = ensureAppError(thrown);
      logger.error(`run ${runId} failed: could not claim it: ${error.describe()}`, {
        runId,
        code: error.code,
      });
      return {
        ...base,
        email: '',
        outcome: 'failed',
        actions: [],
        signalled: false,
        error: `could not claim the run: ${error.describe()}`,
      };
    }
    if (!claim) {
      return {
        ...base,
        email: '',
        outcome: 'skipped',
        actions: [],
        signalled: false,
        detail: 'another sweep is processing this run',
      };
    }
    try {
      const run = await deps.workflowApi.getRun(step, runId, runReadOptions(settings, step));
      if (!run || !run.waitingAtStep) {
        return {
          ...base,
          email: run?.person?.email ?? '',
          outcome: 'skipped',
          actions: [],
          signalled: false,
          detail: 'the run is no longer waiting at this step',
        };
      }
      return await attemptRun(step, run, claim);
    } catch (thrown) {
      const error = ensureAppError(thrown);
      if (error.isSetupError) {
        if (!exchangeUsed) throw error;
        // Setup broke mid-sweep (e.g. the certificate was rotated to a bad one): stop here, keep the report.
        abortAfter = `the sweep stopped early: ${error.describe()}`;
      }
      // The per-run outcome is logged once, at the boundary (logReport, the CLI's progress); here only detail.
      logger.debug(`run ${runId} failed: ${error.describe()}`, { runId, code: error.code });
      return {
        ...base,
        email: '',
        outcome: 'failed',
        actions: [],
        signalled: false,
        error: error.describe(),
      };
    } finally {
      const held = claim;
      await held
        .release()
        .catch((releaseError: unknown) =>
          logger.warn(`could not release the claim on run ${runId}: ${ensureAppError(releaseError).message}`),
        );
    }
  }

  /** One journalled attempt of a waiting run, bounded by EXO_MAX_ATTEMPTS. */
  async function attemptRun(step: WaitingStep, run: WorkflowRun, claim: RunClaim): Promise<RunReport> {
    if (!journal) return processWaitingRun(step, run, claim, { final: false });
    const now = clock.now().toISOString();
    const email = typeof run.person?.email === 'string' ? run.person.email : '';
    const prior: RunJournalState = (await journal.getState(run.runId)) ?? {
      runId: run.runId,
      workflowId: step.workflowId,
      workflowName: step.workflowName,
      email,
      attempts: 0,
      failedAttempts: 0,
      lastActivityAt: now,
    };
    if (prior.gaveUpAt !== undefined) return givenUp(step, run, claim, prior);

    const attempt = await journal.startAttempt({
      runId: run.runId,
      workflowId: step.workflowId,
      workflowName: step.workflowName,
      sweepId,
      host: deps.host ?? 'unknown',
      startedAt: now,
      email,
    });
    const opened: RunJournalState = { ...prior, attempts: attempt, lastActivityAt: now };
    await journal.putState(opened);
    const context: AttemptContext = { attempt, final: false };
    let report: RunReport;
    try {
      report = await processWaitingRun(step, run, claim, context);
    } catch (thrown) {
      const error = ensureAppError(thrown);
      await closeAttempt(step, run, claim, opened, context, {
        runId: run.runId,
        workflowId: step.workflowId,
        workflowName: step.workflowName,
        email,
        outcome: 'failed',
        actions: [],
        signalled: false,
        error: error.describe(),
      }).catch(() => undefined);
      throw thrown;
    }
    return closeAttempt(step, run, claim, opened, context, report);
  }

  /** End the attempt in the journal; on the attempt that reaches the limit, give the run up. */
  async function closeAttempt(
    step: WaitingStep,
    run: WorkflowRun,
    claim: RunClaim,
    opened: RunJournalState,
    context: AttemptContext,
    report: RunReport,
  ): Promise<RunReport> {
    const journalled = journal as RunJournal;
    const attempt = context.attempt as number;
    const at = clock.now().toISOString();
    const failed = report.outcome === 'failed';
    const { state, gaveUp } = afterAttempt(
      opened,
      {
        failed,
        final: context.final,
        outcome: report.outcome === 'planned' ? undefined : report.outcome,
        at,
        ...(report.error !== undefined ? { error: report.error } : {}),
      },
      { maxAttempts },
    );
    // Expiring delegation: the earliest grant still to be removed by the expiry sweep.
    if (
      context.nextExpiryAt !== undefined &&
      !(state.nextExpiryAt !== undefined && state.nextExpiryAt <= context.nextExpiryAt)
    )
      state.nextExpiryAt = context.nextExpiryAt;
    let result: RunReport = { ...report, attempt };
    if (gaveUp) {
      result = {
        ...result,
        gaveUp: true,
        error: gaveUpMessage(state.failedAttempts, report.error, context.final),
      };
      const answer = await signalFailure(step, run, claim, attempt, result.error as string);
      if (answer === 'signalled' || answer === 'notWaiting') state.failureSignalled = answer;
      result = withFailureSignal(result, answer);
    }
    try {
      await journalled.endAttempt(run.runId, attempt, {
        endedAt: at,
        outcome: result.outcome === 'planned' ? 'failed' : result.outcome,
        signalled: result.signalled,
        ...(result.error !== undefined ? { error: result.error } : {}),
        ...(result.detail !== undefined ? { detail: result.detail } : {}),
        ...(gaveUp ? { gaveUp: true } : {}),
        ...(result.subjects ? { subjects: result.subjects } : {}),
        ...(context.plan ? { plan: journalPlan(context.plan) } : {}),
      });
      await journalled.putState(state);
    } catch (thrown) {
      logger.warn(
        `run ${run.runId}: could not end attempt ${attempt} in the journal: ${ensureAppError(thrown).describe()}`,
        {
          runId: run.runId,
        },
      );
    }
    return result;
  }

  /** A run given up earlier and still waiting: not tried again; the failure action once more if it never got through. */
  async function givenUp(
    step: WaitingStep,
    run: WorkflowRun,
    claim: RunClaim,
    state: RunJournalState,
  ): Promise<RunReport> {
    const error = gaveUpMessage(state.failedAttempts, state.lastError, state.finalFailure === true);
    let report: RunReport = {
      runId: run.runId,
      workflowId: step.workflowId,
      workflowName: step.workflowName,
      email: typeof run.person?.email === 'string' ? run.person.email : '',
      outcome: 'failed',
      actions: [],
      signalled: false,
      error,
      attempt: state.attempts,
      gaveUp: true,
    };
    if (settings.failureActionName !== undefined && state.failureSignalled === undefined) {
      const answer = await signalFailure(step, run, claim, state.attempts, error);
      report = withFailureSignal(report, answer);
      if (answer === 'signalled' || answer === 'notWaiting') {
        await (journal as RunJournal)
          .putState({ ...state, failureSignalled: answer, lastActivityAt: clock.now().toISOString() })
          .catch(() => undefined);
      }
    }
    return report;
  }

  /**
   * POST WORKFLOW_FAILURE_ACTION_NAME by the rules of Continue: only while the claim holds, never
   * retried blindly (the client re-reads after an ambiguous answer), journalled before and after.
   */
  async function signalFailure(
    step: WaitingStep,
    run: WorkflowRun,
    claim: RunClaim,
    attempt: number,
    reason: string,
  ): Promise<SignalResult | 'error' | 'notOffered' | 'notConfigured'> {
    const name = settings.failureActionName;
    if (name === undefined) return 'notConfigured';
    const href = run.actionHrefs?.[name];
    if (href === undefined) return 'notOffered';
    if (!(await claim.confirm().catch(() => false))) return 'error';
    const journalled = journal as RunJournal;
    const requestedAt = clock.now().toISOString();
    const signal = { kind: 'failure' as const, action: name, requestedAt, reason: reason.slice(0, 2000) };
    await journalled.recordSignal(run.runId, attempt, signal);
    let answer: SignalResult | 'error';
    let error: string | undefined;
    try {
      answer = await deps.workflowApi.signal({ ...step, actionName: name }, { ...run, signalHref: href });
    } catch (thrown) {
      answer = 'error';
      error = ensureAppError(thrown).describe();
    }
    await journalled
      .recordSignal(run.runId, attempt, {
        ...signal,
        answer,
        answeredAt: clock.now().toISOString(),
        ...(error !== undefined ? { error } : {}),
      })
      .catch(() => undefined);
    return answer;
  }

  function withFailureSignal(
    report: RunReport,
    answer: SignalResult | 'error' | 'notOffered' | 'notConfigured',
  ): RunReport {
    const name = settings.failureActionName ?? '';
    switch (answer) {
      case 'signalled':
        return { ...report, failureSignalled: true, detail: `the workflow was sent '${name}'` };
      case 'notWaiting':
        return { ...report, detail: `the step was no longer waiting when '${name}' was sent (409)` };
      case 'error':
        return { ...report, detail: `sending '${name}' failed; the next sweep tries again` };
      case 'notOffered':
        return { ...report, detail: `the step does not offer '${name}'; the run stays waiting` };
      case 'notConfigured':
        return report;
    }
  }

  async function processWaitingRun(
    step: WaitingStep,
    run: WorkflowRun,
    claim: RunClaim,
    context: AttemptContext,
  ): Promise<RunReport> {
    const base = { runId: run.runId, workflowId: step.workflowId, workflowName: step.workflowName };
    const email = typeof run.person?.email === 'string' ? run.person.email : '';
    let subjects: RunSubjects | undefined;
    const failed = (error: string, actions: ActionResult[] = []): RunReport => {
      logger.debug(`run ${run.runId} failed, not signalled: ${error}`, { runId: run.runId });
      return {
        ...base,
        email,
        outcome: 'failed',
        actions,
        signalled: false,
        ...(subjects ? { subjects } : {}),
        error,
      };
    };

    const planned = planRun(run, {
      actions: settings.actions,
      autoMapping: settings.autoMapping,
      policy: {
        acceptSharedLeavers: settings.acceptSharedLeavers ?? false,
        protectedRecipients: settings.protectedRecipients ?? [],
      },
      ...profileOf(settings, step),
      today: clock.now(),
    });
    if (!planned.ok) {
      // A protected recipient, or a manager who is the leaver: retrying cannot fix these.
      if (planned.final === true) context.final = true;
      return failed(planned.error);
    }
    if (!run.signalHref) {
      const offered = run.availableActions.length > 0 ? run.availableActions.join(', ') : 'none';
      return failed(
        `the step '${step.stepName}' does not offer the action '${step.actionName}' (it offers: ${offered})`,
      );
    }

    let plan = planned.plan;
    context.plan = plan;
    let actions: ActionResult[];
    if (plan.actions.every((action) => action.skipReason !== undefined)) {
      if (journal && context.attempt !== undefined)
        await journal.recordLooks(run.runId, context.attempt, plannedLooks(plan.actions));
      actions = plan.actions.map((action) => ({
        name: action.name,
        status: 'skipped',
        detail: action.skipReason as string,
      }));
    } else {
      // Who the run is about: pinned by the first attempt, before anything changes; every later
      // attempt must resolve to the same objects (ExoActions checks the Guids).
      let pin = await deps.runRecords.get(run.runId);
      plan = withPin(plan, pin);
      if (pin)
        subjects = pin.record.manager
          ? { leaver: pin.record.leaver, manager: pin.record.manager }
          : { leaver: pin.record.leaver };
      // Phase 1 (look): who the run is about and what each action would change, with its
      // before-image; it changes nothing. A dry run ends here.
      const look = await deps.exchange.look(plan, connection, request.dryRun);
      exchangeUsed = true;
      exchangeCmdletCalls += look.cmdletCalls;
      actions = look.actions.map(lookResult);
      if (look.refusal !== undefined) {
        if (journal && context.attempt !== undefined)
          await journal.recordLooks(run.runId, context.attempt, journalLooks(look.actions));
        if (look.refusalFinal === true) context.final = true;
        return failed(look.refusal, pin ? actions : refusedActions(plan, look.refusal));
      }
      if (look.subjects) subjects = look.subjects;
      // The first attempt pins the people its look resolved (or a manager new since), still before
      // any change; the same look's objects are what the apply changes.
      if (!request.dryRun && (!pin || (look.subjects?.manager !== undefined && !pin.record.manager))) {
        if (!look.subjects) {
          const reason = 'ExoActions did not say who the run is about; nothing was changed';
          return failed(reason, refusedActions(plan, reason));
        }
        pin = await pinRun(step, run, look.subjects, pin);
        const mismatch = pinMismatch(pin, look.subjects);
        if (mismatch) return failed(mismatch, refusedActions(plan, mismatch));
        plan = withPin(plan, pin);
      }
      // The before-images, written BEFORE anything changes: a crash from here on leaves a journal
      // whose planned actions have no result, i.e. "result unknown".
      if (journal && context.attempt !== undefined)
        await journal.recordLooks(run.runId, context.attempt, journalLooks(look.actions));
      if (!request.dryRun && look.lookId !== undefined) {
        // Phase 2 (apply): the changes the look planned, in the same PowerShell session.
        const applied = await deps.exchange.apply(plan, look.lookId, connection);
        exchangeCmdletCalls += applied.cmdletCalls;
        actions = mergeApplied(look.actions, applied);
        if (journal && context.attempt !== undefined) {
          const results = withExpiry(
            journalResults(look.actions, applied),
            profileOf(settings, step).profile?.delegationDays,
            clock.now(),
          );
          await journal.recordResults(run.runId, context.attempt, results);
          for (const result of results)
            if (
              result.expiresAt !== undefined &&
              !(context.nextExpiryAt !== undefined && context.nextExpiryAt <= result.expiresAt)
            )
              context.nextExpiryAt = result.expiresAt;
        }
      }
    }

    // A dry run tells the truth: a plan Exchange says would fail is a failed run (counted, exit 1).
    const allowed = request.dryRun ? DRY_RUN_OK : SIGNALLABLE;
    const blocking = actions.filter((action) => !allowed.has(action.status));
    if (blocking.length > 0 || actions.length !== plan.actions.length) {
      return failed(
        blocking.length > 0 ? describeFailures(blocking) : 'Exchange did not report every action',
        actions,
      );
    }
    if (request.dryRun) {
      return {
        ...base,
        email,
        outcome: 'planned',
        actions,
        signalled: false,
        ...(subjects ? { subjects } : {}),
      };
    }

    // The run may only be signalled by the sweep that still holds it.
    if (!(await claim.confirm().catch(() => false))) {
      return failed(
        'the claim on this run was lost (its lease could not be renewed), so another sweep may be working on it; not signalled, the next sweep checks it again',
        actions,
      );
    }

    let signal: SignalResult;
    const journalSignal = {
      kind: 'continue' as const,
      action: step.actionName,
      requestedAt: clock.now().toISOString(),
    };
    if (journal && context.attempt !== undefined)
      await journal.recordSignal(run.runId, context.attempt, journalSignal);
    const answered = async (answer: SignalResult | 'error', error?: string) => {
      if (!journal || context.attempt === undefined) return;
      await journal
        .recordSignal(run.runId, context.attempt, {
          ...journalSignal,
          answer,
          answeredAt: clock.now().toISOString(),
          ...(error !== undefined ? { error } : {}),
        })
        .catch((thrown: unknown) =>
          logger.warn(
            `run ${run.runId}: could not journal the signal's answer: ${ensureAppError(thrown).message}`,
          ),
        );
    };
    try {
      signal = await deps.workflowApi.signal(step, run);
    } catch (thrown) {
      // The Exchange work is done and stays in the report; only the signal is in doubt.
      const error = ensureAppError(thrown);
      await answered('error', error.describe());
      if (error.isSetupError) abortAfter = `the sweep stopped early: ${error.describe()}`;
      return failed(`the Exchange actions succeeded but the signal failed: ${error.describe()}`, actions);
    }
    await answered(signal);
    if (signal === 'notWaiting') {
      logger.debug(
        `run ${run.runId}: the step was no longer waiting when we signalled (409); someone else moved it on`,
      );
      return {
        ...base,
        email,
        outcome: 'completed',
        actions,
        signalled: false,
        ...(subjects ? { subjects } : {}),
        detail: 'the step was no longer waiting when we signalled (409)',
      };
    }
    logger.debug(`run ${run.runId} completed and signalled '${step.actionName}'`, { runId: run.runId });
    return {
      ...base,
      email,
      outcome: 'completed',
      actions,
      signalled: true,
      ...(subjects ? { subjects } : {}),
    };
  }

  /** Record who the run is about; when another attempt recorded it first, use that record. */
  async function pinRun(
    step: WaitingStep,
    run: WorkflowRun,
    resolved: RunSubjects,
    existing: StoredRunRecord | undefined,
  ): Promise<StoredRunRecord | undefined> {
    const record: RunRecord = existing
      ? { ...existing.record, ...(resolved.manager ? { manager: resolved.manager } : {}) }
      : {
          runId: run.runId,
          workflowId: step.workflowId,
          leaver: resolved.leaver,
          ...(resolved.manager ? { manager: resolved.manager } : {}),
          pinnedAt: clock.now().toISOString(),
        };
    const written = existing
      ? await deps.runRecords.replace(record, existing.version)
      : await deps.runRecords.create(record);
    if (!written) return deps.runRecords.get(run.runId);
    // Debug: the run's one log line (its outcome) and its report carry who it is about.
    logger.debug(
      `run ${run.runId}: pinned leaver ${resolved.leaver.guid}${resolved.manager ? ` and manager ${resolved.manager.guid}` : ''}`,
      {
        runId: run.runId,
      },
    );
    return deps.runRecords.get(run.runId);
  }
}

/**
 * Why the stored pin is not the people this attempt's look resolved (another attempt pinned the run
 * first), or undefined when it is: the apply would change the look's objects, so it must not run.
 */
function pinMismatch(pin: StoredRunRecord | undefined, resolved: RunSubjects): string | undefined {
  if (!pin) return 'the run could not be pinned to the people it is about; nothing was changed';
  if (pin.record.leaver.guid !== resolved.leaver.guid)
    return `the run was pinned meanwhile to a different leaver mailbox (${pin.record.leaver.guid}) than this attempt resolved; nothing was changed`;
  if (resolved.manager && pin.record.manager && pin.record.manager.guid !== resolved.manager.guid)
    return `the run was pinned meanwhile to a different line manager (${pin.record.manager.guid}) than this attempt resolved; nothing was changed`;
  return undefined;
}

/** The workflow's profile, when the settings have one for it. */
/** Expiring delegation: a grant this attempt made expires `days` from now. */
function withExpiry(results: JournalResult[], days: number | undefined, now: Date): JournalResult[] {
  if (days === undefined) return results;
  const expiresAt = new Date(now.getTime() + days * 24 * 3600 * 1000).toISOString();
  return results.map((result) =>
    result.status === 'done' && (EXPIRING_GRANTS as readonly string[]).includes(result.name)
      ? { ...result, expiresAt }
      : result,
  );
}

function profileOf(settings: SweepSettings, step: WaitingStep): { profile?: Profile } {
  const profile = settings.profiles?.[step.workflowName];
  return profile ? { profile } : {};
}

/** The run variables the workflow's profile reads (`?variables=`). */
function runReadOptions(settings: SweepSettings, step: WaitingStep): { variables: string[] } {
  return { variables: Object.values(profileOf(settings, step).profile?.variables ?? {}) };
}

/** What one attempt learns as it goes: its journal number, and whether its failure is final. */
interface AttemptContext {
  /** Absent when nothing is journalled (no journal, or a dry run). */
  attempt?: number;
  /** Set when the failure cannot succeed by retrying (no such mailbox, a refused identity, a protected recipient). */
  final: boolean;
  /** The plan the attempt ran, once planned (journalled with the attempt's end, for `verify`). */
  plan?: RunPlan;
  /** The earliest expiry of a grant this attempt made (the profile's delegationDays). */
  nextExpiryAt?: string;
}

/** The plan bound to a run record's leaver and manager. */
function withPin(plan: RunPlan, pin: StoredRunRecord | undefined): RunPlan {
  if (!pin) return plan;
  const { leaver, manager } = pin.record;
  return { ...plan, pinned: manager ? { leaver, manager } : { leaver } };
}

/** A run refused before any change: every action that was to run failed with the reason. */
function refusedActions(plan: RunPlan, reason: string): ActionResult[] {
  return plan.actions.map((action) =>
    action.skipReason === undefined
      ? { name: action.name, status: 'failed', detail: reason }
      : { name: action.name, status: 'skipped', detail: action.skipReason },
  );
}

async function findRunForRerun(
  api: WorkflowApi,
  steps: readonly WaitingStep[],
  runId: string,
): Promise<{ step: WaitingStep; run: WorkflowRun }> {
  for (const step of steps) {
    const run = await api.getRun(step, runId);
    if (!run) continue;
    if (!run.waitingAtStep) {
      throw new AppError(
        'RunNotWaiting',
        `run ${runId} is not waiting at the step '${step.stepName}' (status ${run.status})`,
        { hint: 'only runs waiting at the Signal step can be rerun' },
      );
    }
    return { step, run };
  }
  throw new AppError(
    'RunNotFound',
    `run ${runId} was not found in the workflows ${steps.map((s) => `'${s.workflowName}'`).join(', ')}`,
  );
}

/** "a, b: reason; 3 actions: other reason": actions that failed for the same reason are reported together. */
function describeFailures(actions: readonly ActionResult[]): string {
  const byReason = new Map<string, string[]>();
  for (const action of actions) {
    const reason = action.detail ?? action.status;
    byReason.set(reason, [...(byReason.get(reason) ?? []), action.name]);
  }
  return [...byReason]
    .map(([reason, names]) => `${names.length > 2 ? `${names.length} actions` : names.join(', ')}: ${reason}`)
    .join('; ');
}

/** The pool's figures for this sweep: sessions, throttling and back-off since it started, peak runs in flight. */
function loadStats(
  admission: RunAdmission | undefined,
  before: ExchangeLoad | undefined,
  peakRunsInFlight: number,
): Partial<SweepReport['stats']> {
  if (!admission || !before) return {};
  const after = admission.load();
  return {
    sessions: after.sessions,
    sessionsUsed: after.sessionsUsed,
    throttleEvents: after.throttleEvents - before.throttleEvents,
    backoffMs: after.backoffMs - before.backoffMs,
    peakRunsInFlight,
  };
}

/**
 * Ports: what the sweep use case needs from the outside world, named for the domain. Adapters
 * (SaaS Manager REST, Key Vault, node-powershell, blob leases) implement them; the use case
 * imports only this file, the domain types (domain.ts), the plan and the report.
 */
import type {
  AttemptEnd,
  AttemptStart,
  ExchangeApply,
  ExchangeCertificate,
  ExchangeConnection,
  ExchangeLoad,
  ExchangeLook,
  ExchangeRunResult,
  ExchangeUndoApply,
  ExchangeUndoLook,
  JournalLook,
  JournalResult,
  JournalSignal,
  QueuedRun,
  RunHistory,
  RunJournalState,
  RunPlan,
  RunReadOptions,
  RunRecord,
  ShellProbe,
  SignalResult,
  StoredRunRecord,
  UndoPlan,
  WaitingStep,
  WorkflowRun,
} from './domain';

// ---------------------------------------------------------------------------------------------
// Logging and time

export interface Logger {
  debug(message: string, properties?: Record<string, unknown>): void;
  info(message: string, properties?: Record<string, unknown>): void;
  warn(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
}

export interface Clock {
  now(): Date;
}

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

// ---------------------------------------------------------------------------------------------
// SaaS Manager workflows

export interface WorkflowApi {
  /** Find the workflow by exact name and its step by name; throws a setup WorkflowApiError if not exactly one. */
  resolveStep(workflowName: string, stepName: string, actionName: string): Promise<WaitingStep>;
  /** Every run waiting at the step, page by page (never all in memory). */
  listWaitingRuns(step: WaitingStep): AsyncIterable<WorkflowRun>;
  /** One run by id; undefined when the workflow has no such run. */
  getRun(step: WaitingStep, runId: string, options?: RunReadOptions): Promise<WorkflowRun | undefined>;
  /** POST the step's action. Never retried blindly: after an ambiguous failure the run is re-read first. */
  signal(step: WaitingStep, run: WorkflowRun): Promise<SignalResult>;
  /** HTTP requests made so far, token requests included (for reports and benchmarks). */
  readonly requestsMade?: number;
}

// ---------------------------------------------------------------------------------------------
// Exchange certificate

export interface CertificateSource {
  /** Load (or return the cached) certificate; throws CertificateError with a hint on failure. */
  load(): Promise<ExchangeCertificate>;
}

// ---------------------------------------------------------------------------------------------
// Exchange Online through PowerShell

export interface ExchangeShell {
  /**
   * Run one run's plan. Starts PowerShell and connects on first use, and again after a timeout
   * or crash. `whatIf` (dry run) runs the read-only lookups and plans from Exchange's current state,
   * reporting the change cmdlets it would run without running them.
   * Per-action failures come back as results; only a broken session or connection throws.
   */
  runPlan(
    plan: RunPlan,
    connection: () => Promise<ExchangeConnection>,
    whatIf: boolean,
  ): Promise<ExchangeRunResult>;
  /**
   * Phase 1 (look): resolve the run's people and read, per action, what it would change, changing
   * nothing. A dry run is exactly this (`dryRun` true: no apply follows, nothing is kept).
   */
  look(plan: RunPlan, connection: () => Promise<ExchangeConnection>, dryRun: boolean): Promise<ExchangeLook>;
  /** Phase 2 (apply): perform what the look `lookId` planned, in the same PowerShell session. */
  apply(plan: RunPlan, lookId: string, connection: () => Promise<ExchangeConnection>): Promise<ExchangeApply>;
  /**
   * Undo, phase 1: per step, compare Exchange's current state with the run's images (by the Guids the
   * journal recorded) and plan what restores it. Changes nothing; a dry run keeps nothing.
   */
  undoLook(
    plan: UndoPlan,
    connection: () => Promise<ExchangeConnection>,
    dryRun: boolean,
  ): Promise<ExchangeUndoLook>;
  /** Undo, phase 2: perform what the undo look `lookId` planned, in the same PowerShell session. */
  undoApply(
    plan: UndoPlan,
    lookId: string,
    connection: () => Promise<ExchangeConnection>,
  ): Promise<ExchangeUndoApply>;
  /** Start PowerShell and find the Exchange module, without connecting (for `check`). */
  probe(): Promise<ShellProbe>;
  /** Disconnect-ExchangeOnline and stop the process. Safe to call when nothing was started. */
  close(): Promise<void>;
  /** How many PowerShell processes this shell has started (for reports and benchmarks). */
  readonly processesStarted: number;
}

// ---------------------------------------------------------------------------------------------
// Claims: two sweeps at once never work on the same run

export interface RunClaim {
  /**
   * True while the claim is still ours: renews it now where it can expire (a blob lease) and
   * answers false once a renewal failed, so the run stops before its signal.
   */
  confirm(): Promise<boolean>;
  release(): Promise<void>;
}

export interface RunClaims {
  /** Claim the run for this sweep; undefined when another sweep holds it. */
  tryClaim(runId: string): Promise<RunClaim | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Run records: who each run is about (the journal grows from here)

export interface RunRecords {
  get(runId: string): Promise<StoredRunRecord | undefined>;
  /** Write the run's record unless one exists; false when another attempt wrote it first. */
  create(record: RunRecord): Promise<boolean>;
  /** Replace the record if it is still at `version`; false when it changed meanwhile. */
  replace(record: RunRecord, version: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// The run journal: every attempt, each action's before-image and result

export interface RunJournal {
  /** Write a new attempt (numbered from 1) and answer its number. */
  startAttempt(start: AttemptStart): Promise<number>;
  /** Every action's look, before anything changes. */
  recordLooks(runId: string, attempt: number, looks: readonly JournalLook[]): Promise<void>;
  /** The results of the actions apply ran. */
  recordResults(runId: string, attempt: number, results: readonly JournalResult[]): Promise<void>;
  /** A signal POST (before it, with no answer) and again with its answer. */
  recordSignal(runId: string, attempt: number, signal: JournalSignal): Promise<void>;
  endAttempt(runId: string, attempt: number, end: AttemptEnd): Promise<void>;
  getState(runId: string): Promise<RunJournalState | undefined>;
  putState(state: RunJournalState): Promise<void>;
  /** The whole journal of one run; undefined when it has none. */
  read(runId: string): Promise<RunHistory | undefined>;
  /** Runs with a grant due to expire (nextExpiryAt before `now`), earliest first, at most `limit`. */
  dueForExpiry(now: Date, limit: number): Promise<RunJournalState[]>;
  /** Runs with activity at or after `since`, newest first. */
  list(since: Date): Promise<RunJournalState[]>;
  /** Remove every run whose last activity is before `before`; answers how many runs were removed. */
  prune(before: Date): Promise<number>;
}

export interface RunAdmission {
  /** The most runs ever in flight at once (the sessions, and the runs ahead of them: SessionPool). */
  readonly maxRunsInFlight: number;
  /** Wait until the governor lets one more run start; call the returned function when it has ended. */
  admit(): Promise<() => void>;
  load(): ExchangeLoad;
}

export interface RunQueue {
  /** Put one message for the run on the queue. */
  send(run: QueuedRun): Promise<void>;
}

/** A mark per run while its message is pending (a row in the run's partition). */
export interface PendingRuns {
  /** Mark the run pending; false when it already is (its message is still queued or in progress). */
  tryMark(runId: string): Promise<boolean>;
  /** Why the run's last attempt failed, kept for the poison report. */
  noteFailure(runId: string, reason: string): Promise<void>;
  /** The last failure noted, if any. */
  lastFailure(runId: string): Promise<string | undefined>;
  /** The message is done with (processed, or poisoned and reported): the next sweep may queue the run again. */
  clear(runId: string): Promise<void>;
}

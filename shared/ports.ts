/**
 * Ports: what the sweep use case needs from the outside world, named for the domain. Adapters
 * (SaaS Manager REST, Key Vault, node-powershell, blob leases) implement them; the use case
 * imports only this file, the plan and the report.
 */
import type { Secret } from './secret';

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

/** The Signal step a workflow waits at for us, resolved once per sweep. */
export interface WaitingStep {
  workflowId: string;
  workflowName: string;
  stepId: string;
  stepName: string;
  /** The action to POST when the run's Exchange work is done (e.g. "Continue"). */
  actionName: string;
}

export interface PersonRef {
  name?: string;
  email?: string;
}

/** The subject of a run, as SaaS Manager sends it. Every field is untrusted input. */
export interface Person {
  id?: string;
  name?: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  lineManager?: PersonRef;
}

export interface WorkflowRun {
  runId: string;
  workflowId: string;
  workflowName: string;
  /** The run's display name (usually the person's name). */
  name?: string;
  /** Run status as SaaS Manager reports it (Waiting, Completed, Failed, Terminated, ...). */
  status: string;
  person?: Person;
  /** True when the run is not terminated and our step is Waiting. */
  waitingAtStep: boolean;
  /** Where to POST our action, when the waiting step offers it. */
  signalHref?: string;
  /** Names of the actions the waiting step offers (for a clear error when ours is missing). */
  availableActions: string[];
}

/** 'signalled': our POST moved the run on. 'notWaiting': the step had already moved on (409). */
export type SignalResult = 'signalled' | 'notWaiting';

export interface WorkflowApi {
  /** Find the workflow by exact name and its step by name; throws a setup WorkflowApiError if not exactly one. */
  resolveStep(workflowName: string, stepName: string, actionName: string): Promise<WaitingStep>;
  /** Every run waiting at the step, page by page (never all in memory). */
  listWaitingRuns(step: WaitingStep): AsyncIterable<WorkflowRun>;
  /** One run by id; undefined when the workflow has no such run. */
  getRun(step: WaitingStep, runId: string): Promise<WorkflowRun | undefined>;
  /** POST the step's action. Never retried blindly: after an ambiguous failure the run is re-read first. */
  signal(step: WaitingStep, run: WorkflowRun): Promise<SignalResult>;
  /** HTTP requests made so far, token requests included (for reports and benchmarks). */
  readonly requestsMade?: number;
}

// ---------------------------------------------------------------------------------------------
// Exchange certificate

export interface ExchangeCertificate {
  /** 'pfx': PKCS#12 bytes; 'pem': PEM text holding the certificate and its private key. */
  format: 'pfx' | 'pem';
  /** PFX bytes or PEM text (UTF-8 bytes). Never logged, never written to disk. */
  material: Secret<Buffer>;
  /** PFX password (empty for Key Vault PFX). */
  password: Secret<string>;
  /** SHA-1 thumbprint, upper-case hex, as Exchange and Entra show it. */
  thumbprint: string;
  subject?: string;
  notBefore: Date;
  expiresOn: Date;
  /** Key Vault version, when it came from Key Vault. */
  version?: string;
  /** Where it came from, for check and logs (vault URL and name, or file path). Never secret. */
  source: string;
}

export interface CertificateSource {
  /** Load (or return the cached) certificate; throws CertificateError with a hint on failure. */
  load(): Promise<ExchangeCertificate>;
}

// ---------------------------------------------------------------------------------------------
// Exchange Online through PowerShell

export type ExchangeConnection =
  | { auth: 'certificate'; organization: string; appId: string; certificate: ExchangeCertificate }
  | { auth: 'managedIdentity'; organization: string; managedIdentityAccountId?: string };

export type ActionName =
  'convertToShared' | 'grantManagerFullAccess' | 'grantManagerSendAs' | 'removeFromDistributionGroups';

export type ActionStatus = 'done' | 'already' | 'failed' | 'skipped' | 'planned';

/** One planned Exchange action; pure data built by the planner from the run. */
export interface PlannedAction {
  name: ActionName;
  /** When set, the action is skipped by policy with this reason (e.g. no line manager). */
  skipReason?: string;
}

/** Who a run may touch, beyond "a person's own mailbox": the admin's settings. */
export interface RunPolicy {
  /** EXO_ACCEPT_SHARED_LEAVERS: a leaver whose mailbox is already shared (converted by hand) is accepted. */
  acceptSharedLeavers: boolean;
  /** EXO_PROTECTED_RECIPIENTS: addresses (and groups, whose direct members are protected) no run may change or grant to. */
  protectedRecipients: readonly string[];
}

export interface RunPlan {
  runId: string;
  /** The leaver's primary SMTP address, already validated by the planner. */
  mailbox: string;
  /** The line manager's address, validated, when there is one. */
  manager?: string;
  actions: PlannedAction[];
  options: { autoMapping: boolean };
  /** Absent: no shared leavers accepted, nobody protected. */
  policy?: RunPolicy;
  /** Who the run's first attempt resolved: later attempts must resolve to the same objects. */
  pinned?: RunSubjects;
}

/** A recipient as Exchange resolved it: the object a run changes or grants to. */
export interface RecipientRef {
  /** Exchange's immutable object Guid. */
  guid: string;
  /** Primary SMTP address. */
  address: string;
  displayName: string;
  /** RecipientTypeDetails (UserMailbox, SharedMailbox, ...). */
  type: string;
}

/** The leaver and the line manager of a run, resolved. */
export interface RunSubjects {
  leaver: RecipientRef;
  manager?: RecipientRef;
}

/** Read-only resolution of a run's people: who they are, or why the run must not touch them. */
export type ExchangeResolution =
  | { ok: true; subjects: RunSubjects; cmdletCalls: number }
  | { ok: false; reason: string; cmdletCalls: number };

export interface ActionResult {
  name: ActionName;
  status: ActionStatus;
  detail?: string;
  /** The exact cmdlets run (or, in a dry run, that would run), with their targets. */
  cmdlets?: string[];
  /** Warnings Exchange wrote while doing this action. */
  warnings?: string[];
}

export interface ExchangeRunResult {
  actions: ActionResult[];
  /** The leaver and manager the actions worked on (absent when the run was refused before any change). */
  subjects?: RunSubjects;
  /** Why the whole run was refused before any change (every action then failed with this reason). */
  refusal?: string;
  /** Number of Exchange cmdlet calls this run made (for benchmarks and logs). */
  cmdletCalls: number;
}

export interface ShellProbe {
  executable: string;
  /** `$PSVersionTable.PSVersion` of the PowerShell that answered. */
  powerShellVersion: string;
  /** Version of the ExchangeOnlineManagement module PSModulePath resolves, if any. */
  exchangeModuleVersion?: string;
  exchangeModulePath?: string;
}

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
   * Resolve and check the run's leaver and line manager without changing anything (the plan's
   * first step, run before the first attempt pins them). Refusals come back as `ok: false`.
   */
  resolveRun(plan: RunPlan, connection: () => Promise<ExchangeConnection>): Promise<ExchangeResolution>;
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
// Run records: who each run is about, pinned by its first attempt (the journal grows from here)

export interface RunRecord {
  runId: string;
  workflowId: string;
  /** The leaver and manager the first attempt resolved. */
  leaver: RecipientRef;
  manager?: RecipientRef;
  /** When the record was first written (ISO 8601). */
  pinnedAt: string;
}

export interface StoredRunRecord {
  record: RunRecord;
  /** Opaque version (an ETag) for a conditional replace. */
  version: string;
}

export interface RunRecords {
  get(runId: string): Promise<StoredRunRecord | undefined>;
  /** Write the run's record unless one exists; false when another attempt wrote it first. */
  create(record: RunRecord): Promise<boolean>;
  /** Replace the record if it is still at `version`; false when it changed meanwhile. */
  replace(record: RunRecord, version: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// Runs in flight (issue 14): a pool of Exchange sessions and the throttle governor that paces them

/** What the pool and its governor have seen so far (for the report and benchmarks). */
export interface ExchangeLoad {
  /** EXO_SESSIONS: the most sessions (PowerShell processes at once) the pool may run. */
  sessions: number;
  /** Sessions started so far (each one PowerShell process, connected once). */
  sessionsUsed: number;
  /** Throttling signals from Exchange: throttled calls and "Micro delay applied" warnings. */
  throttleEvents: number;
  /** Time spent backing off (waiting before a throttled call was tried again), in ms. */
  backoffMs: number;
  /** The governor's current limit on runs in flight. */
  runsInFlightLimit: number;
}

export interface RunAdmission {
  /** The most runs ever in flight at once (the number of sessions). */
  readonly maxRunsInFlight: number;
  /** Wait until the governor lets one more run start; call the returned function when it has ended. */
  admit(): Promise<() => void>;
  load(): ExchangeLoad;
}

// ---------------------------------------------------------------------------------------------
// Fan-out (issue 14): one queue message per waiting run, never two while one is pending

/** What a queue message carries: which run, in which workflow. Never anything else. */
export interface QueuedRun {
  runId: string;
  workflowName: string;
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

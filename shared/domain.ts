/**
 * The domain's data: workflow runs, people, plans, action results, certificates, run records.
 * Pure types, no behaviour; ports.ts names the services that produce and consume them.
 */
import type { Secret } from './secret';

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
  /** Where to POST each offered action, by name (the failure action after giving up). */
  actionHrefs?: Record<string, string>;
  /** `context.variables` asked for with `?variables=` (untrusted input, like every person field). */
  variables?: Record<string, RunVariableValue>;
}

/** A run variable's value as SaaS Manager sent it; objects and lists are kept only as `{ unsupported }`. */
export type RunVariableValue = string | number | boolean | null | { unsupported: 'object' | 'list' };

/** Which run variables to ask SaaS Manager for (`?variables=`). */
export interface RunReadOptions {
  variables?: readonly string[];
}

/** 'signalled': our POST moved the run on. 'notWaiting': the step had already moved on (409). */
export type SignalResult = 'signalled' | 'notWaiting';

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

// ---------------------------------------------------------------------------------------------
// Exchange Online through PowerShell

export type ExchangeConnection =
  | { auth: 'certificate'; organization: string; appId: string; certificate: ExchangeCertificate }
  | { auth: 'managedIdentity'; organization: string; managedIdentityAccountId?: string };

export type ActionName =
  | 'convertToShared'
  | 'grantManagerFullAccess'
  | 'grantManagerSendAs'
  | 'removeFromDistributionGroups'
  | CatalogueActionName;

/** The offboarding catalogue (issue 15): what an admin expects beyond the four basic actions. */
export type CatalogueActionName =
  | 'hideFromAddressLists'
  | 'setAutoReply'
  | 'forwardToManager'
  | 'grantManagerSendOnBehalf'
  | 'disableProtocols'
  | 'removeMobileDevices'
  | 'disableInboxRules'
  | 'cancelMeetings'
  | 'litigationHold';

/** Client protocols `disableProtocols` can turn off (Set-CASMailbox). */
export type ClientProtocol = 'OWA' | 'ActiveSync' | 'POP' | 'IMAP' | 'EWS';

export type ExternalAudience = 'None' | 'Known' | 'All';

/** `disableInboxRules`: rules that forward, redirect or delete, or every enabled rule. */
export type InboxRuleScope = 'forwardingOrDeleting' | 'all';

/** The actions' options for one run: the profile's, with the run's variables applied and templates rendered. */
export interface ActionOptions {
  autoMapping: boolean;
  /** setAutoReply: rendered, HTML-encoded messages. */
  autoReply?: { internalMessage: string; externalMessage: string; externalAudience: ExternalAudience };
  /** forwardToManager: keep a copy in the leaver's mailbox (default true). */
  deliverToMailboxAndForward?: boolean;
  protocols?: ClientProtocol[];
  inboxRuleScope?: InboxRuleScope;
  /** cancelMeetings: -QueryWindowInDays. */
  meetingWindowDays?: number;
  /** litigationHold: -LitigationHoldDuration in days; absent means unlimited. */
  holdDurationDays?: number;
}

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
  options: ActionOptions;
  /** Run variable forwardTo: forward to this internal person instead of the line manager (validated). */
  forwardTo?: string;
  /** Run variable delegateTo: grant FullAccess / SendAs / SendOnBehalf to this person instead (validated). */
  delegate?: string;
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

/** JSON-plain data (before- and after-images, cmdlet parameters). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One change an action will make, as the look planned it: what apply runs, nothing else. */
export interface PlannedChange {
  cmdlet: string;
  parameters: Record<string, JsonValue>;
  /** The exact command line (as in `cmdlets`). */
  line: string;
}

/** Phase 1 of an action (look): what it would do, and the state it is about to change. */
export interface ActionLook extends ActionResult {
  /** The exact properties, permissions or memberships the action is about to change. */
  before?: JsonValue;
  /** The changes apply will make (only for status 'planned'). */
  changes?: PlannedChange[];
}

/** Phase 1 of a run: resolution and every action's look. Nothing changed. */
export interface ExchangeLook {
  actions: ActionLook[];
  subjects?: RunSubjects;
  refusal?: string;
  /** The refusal cannot be fixed by retrying (no such mailbox, a refused identity, a protected recipient). */
  refusalFinal?: boolean;
  /** Hand to apply; absent for a dry run or when nothing is planned. */
  lookId?: string;
  cmdletCalls: number;
}

/** Phase 2 of an action (apply): what happened, and the state it left. */
export interface ActionApplied {
  name: ActionName;
  status: ActionStatus;
  detail?: string;
  cmdlets?: string[];
  warnings?: string[];
  /** The state the action left (JSON-plain); `{ unknown: true }` when it failed part-way. */
  after?: JsonValue;
}

export interface ExchangeApply {
  /** One entry per action the look planned. */
  actions: ActionApplied[];
  cmdletCalls: number;
  /** Apply as a whole had no answer (timeout, crash): what it changed is unknown. */
  unknown?: string;
  /** Apply was refused before any change (e.g. the look is gone): nothing was changed. */
  notApplied?: string;
}

export interface ShellProbe {
  executable: string;
  /** `$PSVersionTable.PSVersion` of the PowerShell that answered. */
  powerShellVersion: string;
  /** Version of the ExchangeOnlineManagement module PSModulePath resolves, if any. */
  exchangeModuleVersion?: string;
  exchangeModulePath?: string;
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

// ---------------------------------------------------------------------------------------------
// The run journal: every attempt of a run, with each action's before-image written before the
// change and its result after it (same table and partition as the run record)

/** What a journal's attempt ended as; absent while running or when the attempt never ended (a crash). */
export type AttemptOutcome = 'completed' | 'failed' | 'skipped';

export interface AttemptStart {
  runId: string;
  workflowId: string;
  workflowName: string;
  /** The sweep that made the attempt (one id per sweep). */
  sweepId: string;
  /** The machine (Functions instance or CLI host) that made it. */
  host: string;
  startedAt: string;
  /** The leaver's address as SaaS Manager sent it (untrusted text, for listing). */
  email: string;
  /** Absent for a sweep's attempt; 'repair' for `verify --repair` re-applying a completed run's drifted actions. */
  purpose?: 'repair';
}

/** An action's look, journalled BEFORE its change runs. */
export interface JournalLook {
  name: string;
  /** The look's status: planned (a change follows), already, skipped, failed. */
  status: ActionStatus;
  detail?: string;
  before?: JsonValue;
  changes?: PlannedChange[];
}

/** An action's result, journalled after its change. */
export interface JournalResult {
  name: string;
  status: ActionStatus;
  detail?: string;
  cmdlets?: string[];
  warnings?: string[];
  after?: JsonValue;
  /** Expiring delegation: when the timer removes this grant (ISO 8601; the profile's delegationDays). */
  expiresAt?: string;
}

/** A signal POST and its answer ('requested' is written before the POST). */
export interface JournalSignal {
  /** 'continue': WORKFLOW_ACTION_NAME; 'failure': WORKFLOW_FAILURE_ACTION_NAME after giving up. */
  kind: 'continue' | 'failure';
  action: string;
  requestedAt: string;
  answer?: SignalResult | 'error';
  error?: string;
  answeredAt?: string;
  /** Why the failure action was sent. */
  reason?: string;
}

export interface AttemptEnd {
  endedAt: string;
  outcome: AttemptOutcome;
  error?: string;
  detail?: string;
  signalled: boolean;
  gaveUp?: boolean;
  subjects?: RunSubjects;
  /** The plan the attempt ran (without its pins, which the run record holds): what `verify` re-checks. */
  plan?: JournalPlan;
}

/** A run's plan as journalled: everything but the pinned subjects. */
export type JournalPlan = Omit<RunPlan, 'pinned'>;

/** The run's counters, kept next to its attempts (bounded attempts, `history --since`). */
export interface RunJournalState {
  runId: string;
  workflowId: string;
  workflowName: string;
  email: string;
  attempts: number;
  /** Failed attempts so far (a final failure counts as all of them). */
  failedAttempts: number;
  lastOutcome?: AttemptOutcome;
  lastError?: string;
  lastActivityAt: string;
  /** Set once the run reached EXO_MAX_ATTEMPTS (or failed finally): it is not tried again. */
  gaveUpAt?: string;
  /** The run was given up at once: its failure cannot succeed by retrying. */
  finalFailure?: boolean;
  /** The failure action was POSTed and answered (signalled or notWaiting). */
  failureSignalled?: SignalResult;
  /** The earliest grant of the run not yet removed by the expiry sweep (expiring delegation). */
  nextExpiryAt?: string;
  /** 'undo': this journal is the undo of run `undoOf` (its id is `undo-<runId>`); absent for a run. */
  kind?: 'undo';
  undoOf?: string;
}

export interface ActionHistory extends JournalLook {
  index: number;
  lookedAt: string;
  /** Absent when no result was journalled: for a planned action, its result is unknown. */
  result?: JournalResult & { at: string };
  /** True for a planned action with no journalled result: the change may or may not have run. */
  resultUnknown?: boolean;
}

export interface AttemptHistory extends AttemptStart {
  attempt: number;
  end?: AttemptEnd;
  actions: ActionHistory[];
  signals: JournalSignal[];
}

export interface RunHistory {
  runId: string;
  record?: RunRecord;
  state?: RunJournalState;
  attempts: AttemptHistory[];
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

// ---------------------------------------------------------------------------------------------
// Fan-out (issue 14): one queue message per waiting run, never two while one is pending

/** What a queue message carries: which run, in which workflow. Never anything else. */
export interface QueuedRun {
  runId: string;
  workflowName: string;
}

// ---------------------------------------------------------------------------------------------
// Undo (issue 17): restore what a run changed, from its journal's before- and after-images

/**
 * An undo step's status: `planned` (a dry run, or before apply), `done` restored, `already` as before
 * the run, `drift` someone changed it after the run (left alone unless forced), `skipped` cannot or
 * need not be restored (cancelled meetings; the result of the change is unknown), `failed`.
 */
export type UndoStatus = 'planned' | 'done' | 'already' | 'drift' | 'failed' | 'skipped';

/** One change of the run to restore: the action, its before-image and the state its apply left. */
export interface UndoStep {
  action: ActionName;
  before: JsonValue;
  after: JsonValue;
  /** The grant's expiry, when the run's profile made it expire. */
  expiresAt?: string;
}

export interface UndoPlan {
  /** The undo's own journal id: `undo-<runId>`. */
  undoId: string;
  runId: string;
  /** Already in reverse order of the run's actions. */
  steps: UndoStep[];
  /** Restore a drifted property anyway. */
  force: boolean;
  /** Who the run's Guids are ("Name <address>"), from its record: text for messages, never an identity. */
  labels?: Record<string, string>;
}

export interface UndoStepLook {
  action: ActionName;
  status: UndoStatus;
  detail?: string;
  cmdlets?: string[];
  warnings?: string[];
  /** The current state the step compared (JSON-plain). */
  current?: JsonValue;
  changes?: PlannedChange[];
}

export interface ExchangeUndoLook {
  steps: UndoStepLook[];
  /** Hand to undoApply; absent for a dry run or when nothing is planned. */
  lookId?: string;
  cmdletCalls: number;
  /** The look as a whole had no answer (every step failed with this). */
  failure?: string;
}

export interface UndoStepApplied {
  action: ActionName;
  status: UndoStatus;
  detail?: string;
  cmdlets?: string[];
  warnings?: string[];
  after?: JsonValue;
}

export interface ExchangeUndoApply {
  steps: UndoStepApplied[];
  cmdletCalls: number;
  unknown?: string;
  notApplied?: string;
}

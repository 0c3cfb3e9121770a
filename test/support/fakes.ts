/**
 * Small in-memory stand-ins for the ports, for use-case tests. They record what was asked of them
 * so tests assert on effects (runs signalled, plans run), not on internal calls.
 */
import type {
  CertificateSource,
  ExchangeShell,
  RunClaim,
  RunClaims,
  RunRecords,
  WorkflowApi,
} from '../../shared/ports';
import type {
  ActionApplied,
  ActionLook,
  ExchangeApply,
  ExchangeLook,
  ActionResult,
  ExchangeCertificate,
  ExchangeConnection,
  ExchangeRunResult,
  ExchangeUndoApply,
  ExchangeUndoLook,
  RecipientRef,
  RunPlan,
  UndoPlan,
  RunRecord,
  RunSubjects,
  StoredRunRecord,
  ShellProbe,
  SignalResult,
  WaitingStep,
  WorkflowRun,
} from '../../shared/domain';
import { Secret } from '../../shared/secret';

export class FakeWorkflowApi implements WorkflowApi {
  readonly runs = new Map<string, WorkflowRun>();
  readonly signalled: string[] = [];
  readonly gets: string[] = [];
  listings = 0;
  /** When set, the next signal of this run answers 409 (someone else moved it on). */
  readonly movedOnByOthers = new Set<string>();

  constructor(
    readonly workflows: Record<string, string> = { 'Terminate Users': 'b7288c2c64f779e28024ea0e' },
  ) {}

  addRun(run: Partial<WorkflowRun> & { runId: string; person?: WorkflowRun['person'] }): WorkflowRun {
    const full: WorkflowRun = {
      workflowId: Object.values(this.workflows)[0] as string,
      workflowName: Object.keys(this.workflows)[0] as string,
      status: 'Waiting',
      waitingAtStep: true,
      availableActions: ['Continue'],
      signalHref: `/api/workflows/v1/wf/runs/${run.runId}/firedSignals/step/Continue`,
      ...run,
    };
    this.runs.set(run.runId, full);
    return full;
  }

  async resolveStep(workflowName: string, stepName: string, actionName: string): Promise<WaitingStep> {
    const workflowId = this.workflows[workflowName];
    if (!workflowId) throw new Error(`no workflow ${workflowName}`);
    return { workflowId, workflowName, stepId: 'a1b2c3d4e5f6a7b8c9d0e1f2', stepName, actionName };
  }

  async *listWaitingRuns(step: WaitingStep): AsyncIterable<WorkflowRun> {
    this.listings += 1;
    for (const run of [...this.runs.values()]) {
      if (run.workflowId === step.workflowId && run.waitingAtStep) yield run;
    }
  }

  async getRun(step: WaitingStep, runId: string): Promise<WorkflowRun | undefined> {
    this.gets.push(runId);
    const run = this.runs.get(runId);
    return run && run.workflowId === step.workflowId ? { ...run } : undefined;
  }

  /** Throw this from signal (the POST failed in a way the client could not resolve). */
  signalFailure?: Error;
  /** Throw from the next N signals of this action name (e.g. { Failed: 1 }). */
  readonly failingActions = new Map<string, number>();
  /** Every signal that moved a run on: which run, which action. */
  readonly actionsSignalled: { runId: string; action: string; href?: string }[] = [];

  async signal(step: WaitingStep, run: WorkflowRun): Promise<SignalResult> {
    if (this.signalFailure) throw this.signalFailure;
    const failing = this.failingActions.get(step.actionName) ?? 0;
    if (failing > 0) {
      this.failingActions.set(step.actionName, failing - 1);
      throw new Error(`signal ${step.actionName} failed`);
    }
    const stored = this.runs.get(run.runId);
    if (!stored || !stored.waitingAtStep || this.movedOnByOthers.has(run.runId)) {
      if (stored) stored.waitingAtStep = false;
      return 'notWaiting';
    }
    this.signalled.push(run.runId);
    this.actionsSignalled.push({
      runId: run.runId,
      action: step.actionName,
      ...(run.signalHref ? { href: run.signalHref } : {}),
    });
    stored.waitingAtStep = false;
    stored.status = 'Completed';
    return 'signalled';
  }
}

export type ActionBehaviour = (plan: RunPlan, action: RunPlan['actions'][number]) => ActionResult;

/** A recipient as the fake tenant resolves it: a stable Guid per address, a user mailbox. */
export function fakeRecipient(address: string, type = 'UserMailbox'): RecipientRef {
  const hex = Buffer.from(address.toLowerCase()).toString('hex').padEnd(32, '0').slice(0, 32);
  const guid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  return { guid, address: address.toLowerCase(), displayName: address.split('@')[0] ?? address, type };
}

export class FakeExchangeShell implements ExchangeShell {
  readonly plans: { plan: RunPlan; whatIf: boolean }[] = [];
  /** Who an address resolves to (default: a user mailbox with a Guid derived from the address). */
  recipients = new Map<string, RecipientRef>();
  /** Refuse the run when its people are resolved (in its look) with this reason (e.g. a room mailbox). */
  refuse?: (plan: RunPlan) => string | undefined;
  readonly connections: ExchangeConnection[] = [];
  processesStarted = 0;
  closed = 0;
  private started = false;
  behaviour: ActionBehaviour = (_plan, action) =>
    action.skipReason
      ? { name: action.name, status: 'skipped', detail: action.skipReason }
      : { name: action.name, status: 'done' };
  /** Throw this from runPlan (e.g. a connection failure). */
  failWith?: Error;

  async runPlan(
    plan: RunPlan,
    connection: () => Promise<ExchangeConnection>,
    whatIf: boolean,
  ): Promise<ExchangeRunResult> {
    if (!this.started) {
      this.started = true;
      this.processesStarted += 1;
      this.connections.push(await connection());
    }
    if (this.failWith) throw this.failWith;
    this.plans.push({ plan, whatIf });
    const resolved = this.resolve(plan);
    if (typeof resolved === 'string') {
      const actions = plan.actions.map((action): ActionResult =>
        action.skipReason
          ? { name: action.name, status: 'skipped', detail: action.skipReason }
          : { name: action.name, status: 'failed', detail: resolved },
      );
      return { actions, cmdletCalls: 1, refusal: resolved };
    }
    // In a dry run an action that would change something is `planned`; one that would fail still fails.
    const actions = plan.actions.map((action): ActionResult => {
      const result = this.behaviour(plan, action);
      return whatIf && result.status === 'done' ? { ...result, status: 'planned' } : result;
    });
    return { actions, cmdletCalls: actions.length, subjects: resolved };
  }

  /** Looks waiting for their apply, by look id. */
  private readonly looks = new Map<string, { plan: RunPlan; results: ActionResult[] }>();
  private lookCount = 0;
  /** Throw this from apply (the session died while changing). */
  applyFailure?: Error;

  /** Phase 1: recorded in `plans` like a run (whatIf = dry run); `done` actions are `planned` here. */
  async look(
    plan: RunPlan,
    connection: () => Promise<ExchangeConnection>,
    dryRun: boolean,
  ): Promise<ExchangeLook> {
    const result = await this.runPlan(plan, connection, true);
    const entry = this.plans[this.plans.length - 1];
    if (entry) entry.whatIf = dryRun;
    const results = plan.actions.map((action) => this.behaviour(plan, action));
    const actions = result.actions.map((action): ActionLook =>
      action.status === 'planned'
        ? {
            ...action,
            before: { fake: action.name },
            changes: [{ cmdlet: 'Set-Fake', parameters: {}, line: 'Set-Fake' }],
          }
        : action,
    );
    const planned = actions.some((action) => action.status === 'planned');
    let lookId: string | undefined;
    if (!dryRun && planned && result.refusal === undefined) {
      this.lookCount += 1;
      lookId = `00000000-0000-0000-0000-${String(this.lookCount).padStart(12, '0')}`;
      this.looks.set(lookId, { plan, results });
    }
    return {
      actions,
      cmdletCalls: result.cmdletCalls,
      ...(result.subjects ? { subjects: result.subjects } : {}),
      ...(result.refusal !== undefined ? { refusal: result.refusal } : {}),
      ...(lookId ? { lookId } : {}),
    };
  }

  /** Phase 2: what `behaviour` said for each action the look planned. */
  /** Run ids whose changes apply made. */
  readonly applied: string[] = [];

  async apply(plan: RunPlan, lookId: string): Promise<ExchangeApply> {
    if (this.applyFailure) throw this.applyFailure;
    this.applied.push(plan.runId);
    const look = this.looks.get(lookId);
    if (!look) return { actions: [], cmdletCalls: 0, notApplied: 'no such look' };
    this.looks.delete(lookId);
    const actions = look.results
      .filter((result) => result.status === 'done')
      .map((result): ActionApplied => ({ ...result, after: { fake: result.name } }));
    return { actions, cmdletCalls: actions.length };
  }

  /** Undo plans looked at (every step is planned, and done by undoApply). */
  readonly undoPlans: { plan: UndoPlan; dryRun: boolean }[] = [];

  async undoLook(
    plan: UndoPlan,
    connection: () => Promise<ExchangeConnection>,
    dryRun: boolean,
  ): Promise<ExchangeUndoLook> {
    if (!this.started) {
      this.started = true;
      this.processesStarted += 1;
      this.connections.push(await connection());
    }
    this.undoPlans.push({ plan, dryRun });
    return {
      steps: plan.steps.map((step) => ({ action: step.action, status: 'planned', current: step.after })),
      cmdletCalls: plan.steps.length,
      ...(dryRun || plan.steps.length === 0 ? {} : { lookId: '00000000-0000-0000-0000-00000000undo' }),
    };
  }

  async undoApply(plan: UndoPlan): Promise<ExchangeUndoApply> {
    return {
      steps: plan.steps.map((step) => ({ action: step.action, status: 'done', after: step.before })),
      cmdletCalls: plan.steps.length,
    };
  }

  /** As ExoActions does: refusals first, then the pinned Guids must match. */
  private resolve(plan: RunPlan): RunSubjects | string {
    const refusal = this.refuse?.(plan);
    if (refusal) return refusal;
    const leaver = this.recipients.get(plan.mailbox.toLowerCase()) ?? fakeRecipient(plan.mailbox);
    if (plan.pinned && plan.pinned.leaver.guid !== leaver.guid) {
      return `The leaver's address ${plan.mailbox} now belongs to a different mailbox than when this run was first attempted`;
    }
    if (plan.manager === undefined) return { leaver };
    const manager = this.recipients.get(plan.manager.toLowerCase()) ?? fakeRecipient(plan.manager);
    if (plan.pinned?.manager && plan.pinned.manager.guid !== manager.guid) {
      return `The line manager's address ${plan.manager} now belongs to a different recipient than when this run was first attempted`;
    }
    return { leaver, manager };
  }

  async probe(): Promise<ShellProbe> {
    return { executable: 'fake', powerShellVersion: '7.6.9', exchangeModuleVersion: '3.10.1' };
  }

  async close(): Promise<void> {
    this.closed += 1;
    this.started = false;
  }
}

export class MemoryClaims implements RunClaims {
  readonly held = new Set<string>();
  /** Runs whose lease renewal "failed": confirm() answers false. */
  readonly lost = new Set<string>();
  /** Throw this from tryClaim for these runs (a storage 503, an odd id). */
  readonly failing = new Map<string, Error>();
  async tryClaim(runId: string): Promise<RunClaim | undefined> {
    const failure = this.failing.get(runId);
    if (failure) throw failure;
    if (this.held.has(runId)) return undefined;
    this.held.add(runId);
    return {
      confirm: async () => !this.lost.has(runId),
      release: async () => void this.held.delete(runId),
    };
  }
}

export class MemoryRunRecords implements RunRecords {
  readonly records = new Map<string, { record: RunRecord; version: number }>();
  async get(runId: string): Promise<StoredRunRecord | undefined> {
    const stored = this.records.get(runId);
    return stored ? { record: structuredClone(stored.record), version: String(stored.version) } : undefined;
  }
  async create(record: RunRecord): Promise<boolean> {
    if (this.records.has(record.runId)) return false;
    this.records.set(record.runId, { record: structuredClone(record), version: 1 });
    return true;
  }
  async replace(record: RunRecord, version: string): Promise<boolean> {
    const stored = this.records.get(record.runId);
    if (!stored || String(stored.version) !== version) return false;
    this.records.set(record.runId, { record: structuredClone(record), version: stored.version + 1 });
    return true;
  }
}

export class FakeCertificateSource implements CertificateSource {
  loads = 0;
  constructor(private readonly expiresOn: Date = new Date(Date.now() + 365 * 24 * 3600 * 1000)) {}
  async load(): Promise<ExchangeCertificate> {
    this.loads += 1;
    return {
      format: 'pfx',
      material: new Secret(Buffer.from('not a real pfx')),
      password: new Secret(''),
      thumbprint: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01',
      notBefore: new Date(0),
      expiresOn: this.expiresOn,
      source: 'fake',
    };
  }
}

export class ManualClock {
  constructor(private current: Date = new Date('2026-11-29T12:00:00Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

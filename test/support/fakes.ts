/**
 * Small in-memory stand-ins for the ports, for use-case tests. They record what was asked of them
 * so tests assert on effects (runs signalled, plans run), not on internal calls.
 */
import type {
  ActionResult,
  CertificateSource,
  ExchangeCertificate,
  ExchangeConnection,
  ExchangeRunResult,
  ExchangeShell,
  RunClaim,
  RunClaims,
  RunPlan,
  ShellProbe,
  SignalResult,
  WaitingStep,
  WorkflowApi,
  WorkflowRun,
} from '../../shared/ports';
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

  async signal(_step: WaitingStep, run: WorkflowRun): Promise<SignalResult> {
    const stored = this.runs.get(run.runId);
    if (!stored || !stored.waitingAtStep || this.movedOnByOthers.has(run.runId)) {
      if (stored) stored.waitingAtStep = false;
      return 'notWaiting';
    }
    this.signalled.push(run.runId);
    stored.waitingAtStep = false;
    stored.status = 'Completed';
    return 'signalled';
  }
}

export type ActionBehaviour = (plan: RunPlan, action: RunPlan['actions'][number]) => ActionResult;

export class FakeExchangeShell implements ExchangeShell {
  readonly plans: { plan: RunPlan; whatIf: boolean }[] = [];
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
    // In a dry run an action that would change something is `planned`; one that would fail still fails.
    const actions = plan.actions.map((action): ActionResult => {
      const result = this.behaviour(plan, action);
      return whatIf && result.status === 'done' ? { ...result, status: 'planned' } : result;
    });
    return { actions, cmdletCalls: actions.length };
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
  async tryClaim(runId: string): Promise<RunClaim | undefined> {
    if (this.held.has(runId)) return undefined;
    this.held.add(runId);
    return { release: async () => void this.held.delete(runId) };
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

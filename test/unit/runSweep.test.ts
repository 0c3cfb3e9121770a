import { BASIC_ACTIONS } from '../../shared/config';
import { CertificateError, WorkflowApiError } from '../../shared/errors';
import { SessionPool } from '../../shared/exchange/sessionPool';
import { silentLogger } from '../../shared/logging';
import { exitCodeFor } from '../../shared/sweep/report';
import { runSweep, type SweepDependencies, type SweepSettings } from '../../shared/sweep/runSweep';
import {
  FakeCertificateSource,
  FakeExchangeShell,
  FakeWorkflowApi,
  ManualClock,
  MemoryClaims,
  MemoryRunRecords,
} from '../support/fakes';

const settings: SweepSettings = {
  workflowNames: ['Terminate Users'],
  stepName: 'Signal',
  actionName: 'Continue',
  actions: BASIC_ACTIONS,
  autoMapping: true,
  exchange: {
    auth: 'certificate',
    organization: 'contoso.onmicrosoft.com',
    appId: '00000000-0000-0000-0000-000000000001',
  },
};

function setup() {
  const api = new FakeWorkflowApi();
  const exchange = new FakeExchangeShell();
  const certificates = new FakeCertificateSource();
  const claims = new MemoryClaims();
  const clock = new ManualClock();
  const runRecords = new MemoryRunRecords();
  const deps: SweepDependencies = {
    workflowApi: api,
    exchange,
    certificates,
    claims,
    runRecords,
    clock,
    logger: silentLogger,
  };
  return { api, exchange, certificates, claims, clock, runRecords, deps };
}

const id = (n: number) => n.toString(16).padStart(24, '0');

describe('runSweep', () => {
  it('starts no PowerShell and loads no certificate when nothing is waiting', async () => {
    const { deps, exchange, certificates } = setup();
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs).toEqual([]);
    expect(report.summary).toEqual({ completed: 0, failed: 0, skipped: 0, planned: 0 });
    expect(exchange.processesStarted).toBe(0);
    expect(certificates.loads).toBe(0);
  });

  it('runs the plan and signals a waiting run, reusing one session for every run', async () => {
    const { deps, api, exchange, certificates } = setup();
    api.addRun({
      runId: id(1),
      person: { email: 'a@contoso.com', lineManager: { email: 'boss@contoso.com' } },
    });
    api.addRun({ runId: id(2), person: { email: 'b@contoso.com' } });
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(api.signalled).toEqual([id(1), id(2)]);
    expect(report.summary.completed).toBe(2);
    expect(report.runs[1]?.actions.filter((a) => a.status === 'skipped').map((a) => a.name)).toEqual([
      'grantManagerFullAccess',
      'grantManagerSendAs',
    ]);
    expect(exchange.processesStarted).toBe(1);
    expect(certificates.loads).toBe(1);
    expect(exchange.closed).toBe(1);
    expect(exchange.connections[0]).toMatchObject({
      auth: 'certificate',
      organization: 'contoso.onmicrosoft.com',
    });
  });

  it('does not signal when an Exchange action fails, and keeps going with the next run', async () => {
    const { deps, api, exchange } = setup();
    api.addRun({ runId: id(1), person: { email: 'broken@contoso.com' } });
    api.addRun({ runId: id(2), person: { email: 'fine@contoso.com' } });
    exchange.behaviour = (plan, action) =>
      plan.mailbox === 'broken@contoso.com' && action.name === 'convertToShared'
        ? { name: action.name, status: 'failed', detail: 'Set-Mailbox failed: throttled' }
        : action.skipReason
          ? { name: action.name, status: 'skipped', detail: action.skipReason }
          : { name: action.name, status: 'done' };
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(api.signalled).toEqual([id(2)]);
    expect(report.runs[0]).toMatchObject({
      outcome: 'failed',
      signalled: false,
      error: expect.stringContaining('convertToShared: Set-Mailbox failed'),
    });
    expect(report.summary).toMatchObject({ completed: 1, failed: 1 });
    expect(api.runs.get(id(1))?.waitingAtStep).toBe(true);
  });

  it('fails a run with a bad address without touching Exchange', async () => {
    const { deps, api, exchange } = setup();
    api.addRun({ runId: id(1), person: { email: "x'; Remove-Mailbox boss; '@contoso.com" } });
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs[0]?.outcome).toBe('failed');
    expect(exchange.plans).toHaveLength(0);
    expect(api.signalled).toEqual([]);
  });

  it('fails a run whose step does not offer the configured action, before any Exchange change', async () => {
    const { deps, api, exchange } = setup();
    api.addRun({
      runId: id(1),
      person: { email: 'a@contoso.com' },
      signalHref: undefined,
      availableActions: ['Approve', 'Reject'],
    });
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs[0]?.error).toMatch(
      /does not offer the action 'Continue' \(it offers: Approve, Reject\)/,
    );
    expect(exchange.plans).toHaveLength(0);
  });

  it('plans with whatIf in a dry run and signals nothing', async () => {
    const { deps, api, exchange } = setup();
    api.addRun({
      runId: id(1),
      person: { email: 'a@contoso.com', lineManager: { email: 'boss@contoso.com' } },
    });
    const report = await runSweep(deps, settings, { dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.runs[0]?.outcome).toBe('planned');
    expect(report.summary.planned).toBe(1);
    expect(exchange.plans[0]?.whatIf).toBe(true);
    expect(api.signalled).toEqual([]);
  });

  it('reports a dry run that Exchange says would fail as failed, counted, and signals nothing', async () => {
    const { deps, api, exchange } = setup();
    api.addRun({ runId: id(1), person: { email: 'ghost@contoso.com' } });
    api.addRun({ runId: id(2), person: { email: 'a@contoso.com' } });
    exchange.behaviour = (plan, action) =>
      plan.mailbox === 'ghost@contoso.com'
        ? { name: action.name, status: 'failed', detail: 'no mailbox ghost@contoso.com' }
        : action.skipReason
          ? { name: action.name, status: 'skipped', detail: action.skipReason }
          : { name: action.name, status: 'done' };
    const report = await runSweep(deps, settings, { dryRun: true });
    const ghost = report.runs.find((run) => run.runId === id(1));
    expect(ghost).toMatchObject({ outcome: 'failed', signalled: false });
    expect(ghost?.error).toMatch(/no mailbox ghost@contoso\.com/);
    expect(report.runs.find((run) => run.runId === id(2))?.outcome).toBe('planned');
    expect(report.summary).toEqual({ completed: 0, failed: 1, skipped: 0, planned: 1 });
    expect(exitCodeFor(report)).toBe(1);
    expect(api.signalled).toEqual([]);
  });

  it('exits 0 from a dry run in which every run would succeed', async () => {
    const { deps, api } = setup();
    api.addRun({ runId: id(1), person: { email: 'a@contoso.com' } });
    const report = await runSweep(deps, settings, { dryRun: true });
    expect(report.summary).toEqual({ completed: 0, failed: 0, skipped: 0, planned: 1 });
    expect(exitCodeFor(report)).toBe(0);
  });

  it('reports a 409 on the signal as completed but not signalled, without failing the sweep', async () => {
    const { deps, api } = setup();
    api.addRun({ runId: id(1), person: { email: 'a@contoso.com' } });
    api.movedOnByOthers.add(id(1));
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs[0]).toMatchObject({
      outcome: 'completed',
      signalled: false,
      detail: expect.stringContaining('409'),
    });
    expect(report.summary.failed).toBe(0);
  });

  it('skips a run another sweep holds', async () => {
    const { deps, api, claims, exchange } = setup();
    api.addRun({ runId: id(1), person: { email: 'a@contoso.com' } });
    claims.held.add(id(1));
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs[0]).toMatchObject({
      outcome: 'skipped',
      detail: expect.stringContaining('another sweep'),
    });
    expect(exchange.plans).toHaveLength(0);
  });

  it('never processes or signals a run twice when two sweeps run at once', async () => {
    const { api, claims } = setup();
    for (let n = 1; n <= 20; n += 1) api.addRun({ runId: id(n), person: { email: `user${n}@contoso.com` } });
    const sweepWith = () => {
      const exchange = new FakeExchangeShell();
      const deps: SweepDependencies = {
        workflowApi: api,
        exchange,
        certificates: new FakeCertificateSource(),
        claims,
        runRecords: new MemoryRunRecords(),
        clock: new ManualClock(),
        logger: silentLogger,
      };
      return { exchange, done: runSweep(deps, settings, { dryRun: false }) };
    };
    const first = sweepWith();
    const second = sweepWith();
    const [a, b] = await Promise.all([first.done, second.done]);
    expect(api.signalled.sort()).toEqual(Array.from({ length: 20 }, (_, i) => id(i + 1)).sort());
    const planned = [...first.exchange.plans, ...second.exchange.plans].map((p) => p.plan.runId);
    expect(new Set(planned).size).toBe(planned.length);
    expect(a.summary.completed + b.summary.completed).toBe(20);
  });

  it('re-reads the run under the claim and skips it when it has moved on', async () => {
    const { deps, api, exchange } = setup();
    api.addRun({ runId: id(1), person: { email: 'a@contoso.com' } });
    const original = api.getRun.bind(api);
    api.getRun = async (step, runId) => {
      const run = await original(step, runId);
      return run ? { ...run, waitingAtStep: false, status: 'Completed' } : run;
    };
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs[0]).toMatchObject({
      outcome: 'skipped',
      detail: expect.stringContaining('no longer waiting'),
    });
    expect(exchange.plans).toHaveLength(0);
  });

  it('warns when the certificate expires within 30 days', async () => {
    const { deps, api, clock } = setup();
    deps.certificates = new FakeCertificateSource(new Date(clock.now().getTime() + 10 * 24 * 3600 * 1000));
    api.addRun({ runId: id(1), person: { email: 'a@contoso.com' } });
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.warnings).toEqual([expect.stringMatching(/expires in 10 days/)]);
  });

  it('throws a setup error when the certificate cannot be loaded, and closes the shell', async () => {
    const { deps, api, exchange } = setup();
    deps.certificates = {
      load: async () => Promise.reject(new CertificateError('KeyVaultForbidden', 'forbidden')),
    };
    api.addRun({ runId: id(1), person: { email: 'a@contoso.com' } });
    await expect(runSweep(deps, settings, { dryRun: false })).rejects.toThrow(CertificateError);
    expect(exchange.closed).toBe(1);
    expect(api.signalled).toEqual([]);
  });

  it('propagates a workflow that cannot be resolved as a setup error', async () => {
    const { deps } = setup();
    deps.workflowApi.resolveStep = async () => {
      throw new WorkflowApiError('WorkflowNotFound', "no workflow named 'Terminate Users'", { setup: true });
    };
    await expect(runSweep(deps, settings, { dryRun: false })).rejects.toMatchObject({
      code: 'WorkflowNotFound',
      isSetupError: true,
    });
  });

  it('leaves runs for the next sweep once the time budget is spent', async () => {
    const { deps, api, exchange, clock } = setup();
    for (let n = 1; n <= 5; n += 1) api.addRun({ runId: id(n), person: { email: `u${n}@contoso.com` } });
    const original = exchange.runPlan.bind(exchange);
    exchange.runPlan = async (...args) => {
      clock.advance(30_000);
      return original(...args);
    };
    const report = await runSweep(deps, settings, {
      dryRun: false,
      deadline: new Date(clock.now().getTime() + 100_000),
      reserveMs: 20_000,
    });
    expect(report.runs).toHaveLength(3);
    expect(report.deferred).toBe(2);
    expect(report.warnings.join(' ')).toMatch(/2 waiting run\(s\) were left for the next sweep/);
  });

  it('starts a run ahead of the sessions only while it could wait for one and still finish in time', async () => {
    const { deps, api, exchange, clock } = setup();
    for (let n = 1; n <= 4; n += 1) api.addRun({ runId: id(n), person: { email: `u${n}@contoso.com` } });
    const original = exchange.runPlan.bind(exchange);
    exchange.runPlan = async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      clock.advance(30_000);
      return original(...args);
    };
    // One session and one run ahead of it: a run ahead may first wait for the other run's call.
    const pool = new SessionPool({ size: 1, createSession: () => exchange });
    const started = clock.now().getTime();
    const deadline = new Date(started + 100_000);
    const report = await runSweep({ ...deps, exchange: pool, admission: pool }, settings, {
      dryRun: false,
      deadline,
      reserveMs: 40_000,
    });
    // Run 2 went ahead at 0 s (80 s of reserves left), run 3 waited for a free session at 30 s and
    // started at 60 s, run 4 found no time at 90 s. Every run ended by the deadline.
    expect(report.runs.map((run) => run.runId)).toEqual([id(1), id(2), id(3)]);
    expect(report.deferred).toBe(1);
    expect(clock.now().getTime() - started).toBe(90_000);
    expect(clock.now().getTime()).toBeLessThanOrEqual(deadline.getTime());
    expect(report.stats.peakRunsInFlight).toBe(2);
  });

  describe('rerun', () => {
    it('processes just the named run', async () => {
      const { deps, api } = setup();
      api.addRun({ runId: id(1), person: { email: 'a@contoso.com' } });
      api.addRun({ runId: id(2), person: { email: 'b@contoso.com' } });
      const report = await runSweep(deps, settings, { dryRun: false, runId: id(2) });
      expect(api.signalled).toEqual([id(2)]);
      expect(report.runs.map((r) => r.runId)).toEqual([id(2)]);
    });

    it('says 404 for an unknown run and 409 for a run not waiting at the step', async () => {
      const { deps, api } = setup();
      api.addRun({
        runId: id(3),
        person: { email: 'a@contoso.com' },
        waitingAtStep: false,
        status: 'Completed',
      });
      await expect(runSweep(deps, settings, { dryRun: false, runId: id(9) })).rejects.toMatchObject({
        code: 'RunNotFound',
        httpStatus: 404,
      });
      await expect(runSweep(deps, settings, { dryRun: false, runId: id(3) })).rejects.toMatchObject({
        code: 'RunNotWaiting',
        httpStatus: 409,
      });
    });
  });

  it('connects with the managed identity and loads no certificate in managed-identity mode', async () => {
    const { deps, api, exchange, certificates } = setup();
    api.addRun({ runId: id(1), person: { email: 'a@contoso.com' } });
    await runSweep(
      deps,
      { ...settings, exchange: { auth: 'managedIdentity', organization: 'contoso.onmicrosoft.com' } },
      { dryRun: false },
    );
    expect(exchange.connections[0]).toEqual({
      auth: 'managedIdentity',
      organization: 'contoso.onmicrosoft.com',
    });
    expect(certificates.loads).toBe(0);
  });
});

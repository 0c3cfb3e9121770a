/**
 * The triggers in-process, as the Functions host calls them: a real InvocationContext (logs
 * captured through its logHandler) and a real HttpRequest, against the SaaS Manager simulator, the
 * stub Exchange module and real PowerShell. Settings come from process.env, as app settings do.
 */
import { HttpRequest, InvocationContext, type Timer } from '@azure/functions';
import { rerunHttp, sweepHttp } from '../../functions/sweepHttp';
import { sweepTimer } from '../../functions/sweepTimer';
import { EndToEndWorld } from '../support/cliHarness';

const LEAVER = {
  name: 'Pat Leaver',
  email: 'pat.leaver@contoso.com',
  lineManager: { email: 'boss@contoso.com' },
};

interface Captured {
  level: string;
  text: string;
}

function context(functionName: string): { context: InvocationContext; logs: Captured[] } {
  const logs: Captured[] = [];
  const ctx = new InvocationContext({
    invocationId: 'test-invocation',
    functionName,
    logHandler: (level, ...args) =>
      logs.push({ level, text: args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ') }),
  });
  return { context: ctx, logs };
}

function post(route: string, params: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({ method: 'POST', url: `http://localhost:7071/api/${route}`, params });
}

const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};

describe('Functions triggers (in-process)', () => {
  let world: EndToEndWorld;
  const savedEnv = { ...process.env };

  beforeEach(async () => {
    world = await EndToEndWorld.create({
      mailboxes: [{ address: 'pat.leaver@contoso.com' }, { address: 'boss@contoso.com' }],
    });
    const env = world.env({ AzureWebJobsStorage: '', SWEEP_MODE: 'inline' });
    for (const [key, value] of Object.entries(env)) if (value !== undefined) process.env[key] = value;
  });
  afterEach(async () => {
    process.env = { ...savedEnv };
    await world.dispose();
  });

  describe('POST /api/sweep', () => {
    it('answers 200 with the report and logs one line per run and the summary', async () => {
      const runId = world.addWaitingRun(LEAVER);
      const { context: ctx, logs } = context('sweepHttp');
      const response = await sweepHttp(post('sweep'), ctx);
      expect(response.status).toBe(200);
      const report = response.jsonBody as {
        runs: { runId: string; outcome: string; signalled: boolean }[];
        summary: object;
      };
      expect(report.runs).toEqual([
        expect.objectContaining({ runId, outcome: 'completed', signalled: true }),
      ]);
      expect(logs.some((l) => l.text.startsWith(`run ${runId} (Terminate Users) completed, signalled`))).toBe(
        true,
      );
      expect(logs.some((l) => l.text.startsWith('sweep summary: 1 completed, 0 failed'))).toBe(true);
      expect(logs.map((l) => l.text).join('\n')).not.toContain(world.clientSecret);
    });

    it('plans without changing or signalling with ?dryRun=true', async () => {
      world.addWaitingRun(LEAVER);
      const response = await sweepHttp(
        new HttpRequest({ method: 'POST', url: 'http://localhost:7071/api/sweep?dryRun=true' }),
        context('sweepHttp').context,
      );
      expect(response.status).toBe(200);
      expect((response.jsonBody as { dryRun: boolean; summary: { planned: number } }).summary.planned).toBe(
        1,
      );
      expect(world.simulator.signals).toEqual([]);
      expect(world.tenant.mailbox('pat.leaver@contoso.com').recipientTypeDetails).toBe('UserMailbox');
    });

    it('answers 400 for a dryRun value that is not true or false', async () => {
      const response = await sweepHttp(
        new HttpRequest({ method: 'POST', url: 'http://localhost:7071/api/sweep?dryRun=yes' }),
        context('sweepHttp').context,
      );
      expect(response.status).toBe(400);
    });

    it('answers 500 with every bad setting named, logged once, secret-free', async () => {
      process.env.EXO_ORGANIZATION = 'not-a-tenant';
      process.env.TRELICA_CLIENT_ID = '';
      const { context: ctx, logs } = context('sweepHttp');
      const response = await sweepHttp(post('sweep'), ctx);
      expect(response.status).toBe(500);
      const body = response.jsonBody as { title: string; detail: string };
      expect(body.title).toBe('ConfigInvalid');
      expect(body.detail).toMatch(/EXO_ORGANIZATION/);
      expect(body.detail).toMatch(/TRELICA_CLIENT_ID/);
      const errors = logs.filter((l) => l.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]?.text).not.toMatch(/\n/);
      expect(JSON.stringify(response.jsonBody) + errors[0]?.text).not.toContain(world.clientSecret);
    });
  });

  describe('POST /api/runs/{runId}/rerun', () => {
    it('processes the one run and answers 200', async () => {
      const other = world.addWaitingRun({ ...LEAVER, name: 'Other' });
      const runId = world.addWaitingRun(LEAVER);
      const response = await rerunHttp(post(`runs/${runId}/rerun`, { runId }), context('rerunHttp').context);
      expect(response.status).toBe(200);
      expect((response.jsonBody as { runs: { runId: string }[] }).runs.map((r) => r.runId)).toEqual([runId]);
      expect(world.simulator.apiSignalsFor(other)).toEqual([]);
    });

    it.each([
      ['a malformed id', "x'; drop", 400, 'RunIdInvalid'],
      ['an unknown run', 'ffffffffffffffffffffffff', 404, 'RunNotFound'],
    ])('answers %s with %i', async (_label, runId, status, title) => {
      const response = await rerunHttp(post(`runs/x/rerun`, { runId }), context('rerunHttp').context);
      expect(response).toMatchObject({ status, jsonBody: { title } });
      expect(world.tenant.calls()).toEqual([]);
    });

    it('answers 409 when the run is not waiting at our step', async () => {
      const runId = world.addWaitingRun(LEAVER);
      world.simulator.fireSignal(runId);
      const response = await rerunHttp(post(`runs/${runId}/rerun`, { runId }), context('rerunHttp').context);
      expect(response).toMatchObject({ status: 409, jsonBody: { title: 'RunNotWaiting' } });
    });
  });

  describe('timer', () => {
    it('sweeps, logging each run and the summary, and succeeds even when a run failed', async () => {
      const ok = world.addWaitingRun(LEAVER);
      const missing = world.addWaitingRun({ name: 'Ghost', email: 'ghost@contoso.com' });
      const { context: ctx, logs } = context('sweepTimer');
      await expect(sweepTimer(timer, ctx)).resolves.toBeUndefined();
      expect(logs.some((l) => l.text.startsWith(`run ${ok} (Terminate Users) completed`))).toBe(true);
      // No mailbox for the address: retrying cannot fix it, so the run is given up at once and its
      // line is an error (what the alert in docs/deploy.md catches).
      expect(
        logs.some(
          // No such mailbox cannot be fixed by retrying: given up at once, logged as an error.
          (l) =>
            l.level === 'error' &&
            l.text.startsWith(`run ${missing} (Terminate Users) failed`) &&
            l.text.includes('gave up after 1 attempt: retrying cannot fix this failure'),
        ),
      ).toBe(true);
      expect(logs.some((l) => l.text.startsWith('sweep summary: 1 completed, 1 failed'))).toBe(true);
      // Each run is logged once (the report's run line), so a query over "run ..." lines counts it once.
      for (const runId of [ok, missing]) {
        expect(logs.filter((l) => l.level !== 'debug' && l.text.includes(runId))).toHaveLength(1);
      }
    });

    it('fails the invocation, with one clear log line, on a setup error', async () => {
      process.env.WORKFLOW_NAMES = 'No Such Workflow';
      const { context: ctx, logs } = context('sweepTimer');
      await expect(sweepTimer(timer, ctx)).rejects.toMatchObject({ code: 'WorkflowNotFound' });
      const errors = logs.filter((l) => l.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]?.text).toMatch(/No Such Workflow/);
    });
  });
});

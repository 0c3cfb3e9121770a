/**
 * The SaaS Manager client against the simulator: real HTTP on 127.0.0.1, injected sleep (records
 * the delays and returns at once), fixed jitter. Every scenario ends by checking that no signal
 * was lost or fired twice.
 */
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { WorkflowApiError } from '../../shared/errors';
import type { Logger, WaitingStep, WorkflowRun } from '../../shared/ports';
import { SaasManagerClient, type SaasManagerClientOptions } from '../../shared/saasManager/saasManagerClient';
import { Secret } from '../../shared/secret';
import { SaasManagerSimulator, type SimWorkflow } from '../support/saasManagerSimulator';

const CLIENT_ID = 'exo-workflow-sync';
const CLIENT_SECRET = 'cs_Q8f!x2/Lp+9s:very-secret';

let sim: SaasManagerSimulator;
let workflow: SimWorkflow;

beforeEach(async () => {
  sim = new SaasManagerSimulator();
  await sim.start();
  sim.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  workflow = sim.addWorkflow({
    name: 'Terminate Users',
    steps: [
      { name: 'Create task', type: 'CreateTask' },
      { name: 'Signal' },
      { name: 'Notify', type: 'SendEmail' },
    ],
  });
});

afterEach(async () => {
  await sim.stop();
});

interface Harness {
  client: SaasManagerClient;
  sleeps: number[];
  lines: string[];
  /** Access tokens the client was issued (read off the wire), to prove none leaks. */
  tokens: string[];
}

function harness(overrides: Partial<SaasManagerClientOptions> = {}): Harness {
  const sleeps: number[] = [];
  const lines: string[] = [];
  const tokens: string[] = [];
  const record =
    (level: string) =>
    (message: string, properties?: Record<string, unknown>): void => {
      lines.push(`${level} ${message} ${properties ? JSON.stringify(properties) : ''}`);
    };
  const logger: Logger = {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
  const baseFetch = overrides.fetch ?? fetch;
  const watchingFetch: typeof fetch = async (input, init) => {
    const response = await baseFetch(input, init);
    if (String(input).endsWith('/connect/token') && response.ok) {
      const body = (await response.clone().json()) as { access_token?: string };
      if (body.access_token) tokens.push(body.access_token);
    }
    return response;
  };
  const client = new SaasManagerClient({
    baseUrl: sim.baseUrl,
    clientId: CLIENT_ID,
    clientSecret: new Secret(CLIENT_SECRET),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    logger,
    ...overrides,
    fetch: watchingFetch,
  });
  return { client, sleeps, lines, tokens };
}

async function collect(runs: AsyncIterable<WorkflowRun>): Promise<string[]> {
  const ids: string[] = [];
  for await (const run of runs) ids.push(run.runId);
  return ids;
}

async function caught(promise: Promise<unknown>): Promise<WorkflowApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowApiError);
    return error as WorkflowApiError;
  }
  throw new Error('expected the call to fail');
}

function stepOf(h: Harness): Promise<WaitingStep> {
  return h.client.resolveStep('Terminate Users', 'Signal', 'Continue');
}

function addWaiting(count: number): string[] {
  return sim.addWaitingRuns(workflow.id, { count, stepName: 'Signal' });
}

/** Exactly one API signal per run in `ids`, and none anywhere else. */
function expectSignalledOnce(ids: string[]): void {
  const fired = sim.signals.filter((s) => s.by === CLIENT_ID).map((s) => s.runId);
  expect(fired.sort()).toEqual([...ids].sort());
}

function statuses(route: Parameters<SaasManagerSimulator['requestsTo']>[0]): Array<number | 'reset'> {
  return sim.requestsTo(route).map((r) => r.status);
}

// ---------------------------------------------------------------------------------------------

describe('finding the workflow, the step and the action', () => {
  it('resolves the workflow and its step by exact name', async () => {
    const step = await stepOf(harness());
    expect(step).toEqual({
      workflowId: workflow.id,
      workflowName: 'Terminate Users',
      stepId: workflow.steps[1]?.id,
      stepName: 'Signal',
      actionName: 'Continue',
    });
  });

  it('names the workflow and the workflows it can see when none matches', async () => {
    sim.addWorkflow({ name: 'Onboarding', steps: [{ name: 'Signal' }] });
    const error = await caught(harness().client.resolveStep('Offboard people', 'Signal', 'Continue'));
    expect(error.code).toBe('WorkflowNotFound');
    expect(error.isSetupError).toBe(true);
    expect(error.message).toContain('"Offboard people"');
    expect(error.message).toContain('"Terminate Users", "Onboarding"');
  });

  it('does not take a workflow whose name differs only in letter case', async () => {
    const error = await caught(harness().client.resolveStep('terminate users', 'Signal', 'Continue'));
    expect(error.code).toBe('WorkflowNotFound');
    expect(error.message).toContain('"Terminate Users"');
  });

  it('refuses to guess between two workflows with the same name', async () => {
    const twin = sim.addWorkflow({ name: 'Terminate Users', steps: [{ name: 'Signal' }] });
    const error = await caught(stepOf(harness()));
    expect(error.code).toBe('WorkflowAmbiguous');
    expect(error.isSetupError).toBe(true);
    expect(error.message).toContain(workflow.id);
    expect(error.message).toContain(twin.id);
  });

  it('names the steps that exist when the step is unknown', async () => {
    const error = await caught(
      harness().client.resolveStep('Terminate Users', 'Wait for Exchange', 'Continue'),
    );
    expect(error.code).toBe('StepNotFound');
    expect(error.isSetupError).toBe(true);
    expect(error.message).toContain('"Wait for Exchange"');
    expect(error.message).toContain('"Create task" (CreateTask), "Signal" (Signal), "Notify" (SendEmail)');
    expect(error.hint).toContain('WORKFLOW_STEP_NAME');
  });

  it('reports an unknown action on a run by name, with the actions the step offers, and posts nothing', async () => {
    const runId = sim.addRun(workflow.id, { waitingAtStepName: 'Signal', actions: ['Approve', 'Reject'] });
    const h = harness();
    const step = await stepOf(h);
    const run = (await h.client.getRun(step, runId)) as WorkflowRun;
    const error = await caught(h.client.signal(step, run));
    expect(error.code).toBe('ActionNotFound');
    expect(error.isSetupError).toBe(false);
    expect(error.message).toContain('"Continue"');
    expect(error.message).toContain('"Approve", "Reject"');
    expect(sim.requestsTo('signal')).toHaveLength(0);
    expect(sim.signals).toHaveLength(0);
  });
});

describe('getting a token', () => {
  it('uses one token for a whole sweep', async () => {
    const ids = addWaiting(3);
    const h = harness();
    const step = await stepOf(h);
    for await (const run of h.client.listWaitingRuns(step)) await h.client.signal(step, run);
    expect(statuses('token')).toEqual([200]);
    expectSignalledOnce(ids);
  });

  it('says the client was refused, with the scopes and where to create an API application', async () => {
    const h = harness({ clientSecret: new Secret('wrong-secret-value') });
    const error = await caught(stepOf(h));
    expect(error.code).toBe('ClientRefused');
    expect(error.isSetupError).toBe(true);
    expect(error.message).toContain(`"${CLIENT_ID}"`);
    expect(error.message).toContain('invalid_client');
    expect(error.hint).toContain('Workflows.Read, Workflows.Runs.Read, Workflows.Runs.Execute');
    expect(error.hint).toContain('API applications');
    expect(`${error.message} ${error.hint}`).not.toContain('wrong-secret-value');
    expect(statuses('token')).toEqual([400]); // an answer, not a transient failure: no retry
  });

  it('says which scopes are missing when the API application lacks one', async () => {
    sim.addClient({ clientId: 'read-only', clientSecret: 's3cret-read-only', scopes: ['Workflows.Read'] });
    const h = harness({ clientId: 'read-only', clientSecret: new Secret('s3cret-read-only') });
    const error = await caught(stepOf(h));
    expect(error.code).toBe('ClientRefused');
    expect(error.message).toContain('invalid_scope');
    expect(error.message).toContain('Workflows.Runs.Execute');
  });

  it('gets exactly one new token when the token expires in the middle of a sweep', async () => {
    const ids = addWaiting(250);
    const h = harness();
    const step = await stepOf(h);
    const seen: string[] = [];
    for await (const run of h.client.listWaitingRuns(step)) {
      seen.push(run.runId);
      if (seen.length === 100) sim.expireTokens();
    }
    expect(seen).toEqual(ids);
    expect(statuses('token')).toEqual([200, 200]);
    expect(statuses('listRuns')).toEqual([200, 401, 200, 200]);
    expect(h.sleeps).toEqual([]);
  });

  it('renews the token shortly before it expires, without waiting for a 401', async () => {
    addWaiting(2);
    let now = Date.parse('2025-01-06T09:00:00Z');
    const h = harness({ clock: { now: () => new Date(now) } });
    const step = await stepOf(h);
    now += 3600_000 - 30_000; // inside the last minute of the token's hour
    expect(await collect(h.client.listWaitingRuns(step))).toHaveLength(2);
    expect(statuses('token')).toEqual([200, 200]);
    expect(sim.requests.some((r) => r.status === 401)).toBe(false);
  });

  it('says the client secret was refused again after one fresh token, and stops', async () => {
    addWaiting(1);
    const h = harness();
    const step = await stepOf(h);
    sim.tokenLifetimeSeconds = 0; // every new token is born expired: the API keeps answering 401
    sim.expireTokens();
    const error = await caught(collect(h.client.listWaitingRuns(step)));
    expect(error.code).toBe('Unauthorized');
    expect(error.isSetupError).toBe(true);
    expect(statuses('listRuns')).toEqual([401, 401]);
    expect(statuses('token')).toEqual([200, 200]);
  });
});

describe('listing the runs waiting at the step', () => {
  it('follows next over many pages and yields only runs waiting at our step, in order', async () => {
    const before = addWaiting(120);
    sim.addRun(workflow.id, { waitingAtStepName: 'Create task' }); // waiting elsewhere
    sim.addRun(workflow.id, { person: { email: 'done@example.com' } }); // completed
    sim.addRun(workflow.id, { waitingAtStepName: 'Signal', status: 'Terminated' });
    const after = addWaiting(130);
    const h = harness();
    const step = await stepOf(h);
    expect(await collect(h.client.listWaitingRuns(step))).toEqual([...before, ...after]);
    expect(statuses('listRuns')).toEqual([200, 200, 200]);
    const filters = sim
      .requestsTo('listRuns')
      .map((r) => new URL(r.path, sim.baseUrl).searchParams.get('filter'));
    expect(new Set(filters)).toEqual(
      new Set([`status ne "Terminated" and steps[status eq "Waiting" and id eq "${step.stepId}"]`]),
    );
  });

  it('stops on an empty last page', async () => {
    const ids = addWaiting(200);
    sim.emptyLastPage = true;
    const h = harness();
    expect(await collect(h.client.listWaitingRuns(await stepOf(h)))).toEqual(ids);
    expect(statuses('listRuns')).toEqual([200, 200, 200]);
  });

  it('maps the person, the manager and the action to take', async () => {
    const runId = sim.addRun(workflow.id, {
      waitingAtStepName: 'Signal',
      actions: ['Continue', 'Skip'],
      person: {
        id: '67aa6cdf421044b49ad1d6dfded7bf21',
        name: 'Stephanie Mason',
        firstName: 'Stephanie',
        lastName: 'Mason',
        email: 'stephanie.mason@example.com',
        team: 'Sales',
        lineManager: { id: 'x', name: 'Sam Boss', email: 'sam.boss@example.com' },
      },
    });
    const h = harness();
    const step = await stepOf(h);
    const runs: WorkflowRun[] = [];
    for await (const run of h.client.listWaitingRuns(step)) runs.push(run);
    expect(runs).toEqual([
      {
        runId,
        workflowId: workflow.id,
        workflowName: 'Terminate Users',
        name: 'Stephanie Mason',
        status: 'Waiting',
        person: {
          id: '67aa6cdf421044b49ad1d6dfded7bf21',
          name: 'Stephanie Mason',
          firstName: 'Stephanie',
          lastName: 'Mason',
          email: 'stephanie.mason@example.com',
          lineManager: { name: 'Sam Boss', email: 'sam.boss@example.com' },
        },
        waitingAtStep: true,
        signalHref: `${sim.baseUrl}/api/workflows/v1/${workflow.id}/runs/${runId}/firedSignals/${step.stepId}/Continue`,
        availableActions: ['Continue', 'Skip'],
        actionHrefs: {
          Continue: `${sim.baseUrl}/api/workflows/v1/${workflow.id}/runs/${runId}/firedSignals/${step.stepId}/Continue`,
          Skip: `${sim.baseUrl}/api/workflows/v1/${workflow.id}/runs/${runId}/firedSignals/${step.stepId}/Skip`,
        },
      },
    ]);
  });

  it('loses no run when the runs it signals drop out of the filter while it pages', async () => {
    const ids = addWaiting(230);
    const h = harness({ pageSize: 50 });
    const step = await stepOf(h);
    for await (const run of h.client.listWaitingRuns(step))
      expect(await h.client.signal(step, run)).toBe('signalled');
    expectSignalledOnce(ids);
  });

  it('retries a 503 on a GET after a back-off', async () => {
    const ids = addWaiting(150);
    sim.inject({ route: 'listRuns', status: 503 });
    sim.inject({ route: 'listRuns', status: 502 });
    const h = harness();
    expect(await collect(h.client.listWaitingRuns(await stepOf(h)))).toEqual(ids);
    expect(statuses('listRuns')).toEqual([503, 502, 200, 200]);
    expect(h.sleeps).toEqual([375, 750]); // 500 and 1000 ms back-off, half of it jittered (random = 0.5)
  });

  it('waits as long as Retry-After says on a 429 (seconds)', async () => {
    const ids = addWaiting(3);
    sim.inject({ route: 'listRuns', status: 429, retryAfter: 7 });
    const h = harness();
    expect(await collect(h.client.listWaitingRuns(await stepOf(h)))).toEqual(ids);
    expect(h.sleeps).toEqual([7000]);
    expect(statuses('listRuns')).toEqual([429, 200]);
  });

  it('waits until the Retry-After date on a 429', async () => {
    addWaiting(1);
    const now = Date.parse('2025-01-06T09:00:00Z');
    sim.inject({ route: 'listWorkflows', status: 429, retryAfter: new Date(now + 12_000).toUTCString() });
    const h = harness({ clock: { now: () => new Date(now) } });
    await stepOf(h);
    expect(h.sleeps).toEqual([12_000]);
  });

  it('backs off exponentially on a 429 without Retry-After', async () => {
    addWaiting(1);
    sim.inject({ route: 'listRuns', status: 429, times: 3 });
    const h = harness({ random: () => 0 });
    expect(await collect(h.client.listWaitingRuns(await stepOf(h)))).toHaveLength(1);
    expect(h.sleeps).toEqual([250, 500, 1000]);
  });

  it('gives up after the attempts allowed, naming the call, the status and the trace id', async () => {
    addWaiting(1);
    sim.inject({ route: 'listRuns', status: 503, times: 10 });
    const h = harness({ retry: { maxAttempts: 3 } });
    const step = await stepOf(h);
    const error = await caught(collect(h.client.listWaitingRuns(step)));
    expect(error.code).toBe('ServerError');
    expect(error.status).toBe(503);
    expect(error.method).toBe('GET');
    expect(error.path).toMatch(new RegExp(`^/api/workflows/v1/${step.workflowId}/runs\\?`));
    expect(error.traceId).toMatch(/^00-/);
    expect(error.message).toContain(`GET /api/workflows/v1/${step.workflowId}/runs answered 503`);
    expect(error.message).toContain('after 3 attempts');
    expect(error.message).toContain(`traceId ${error.traceId}`);
    expect(statuses('listRuns')).toEqual([503, 503, 503]);
  });

  it('stops retrying when the next wait would pass the total time allowed', async () => {
    addWaiting(1);
    sim.inject({ route: 'listRuns', status: 429, retryAfter: 600, times: 5 });
    const h = harness({ retry: { maxTotalMs: 60_000 } });
    const error = await caught(collect(h.client.listWaitingRuns(await stepOf(h))));
    expect(error.code).toBe('RateLimited');
    expect(h.sleeps).toEqual([]);
    expect(statuses('listRuns')).toEqual([429]);
  });

  it('retries a request that gets no answer in time', async () => {
    const ids = addWaiting(2);
    sim.inject({ route: 'listRuns', delayMs: 1000 });
    const h = harness({ requestTimeoutMs: 150 });
    expect(await collect(h.client.listWaitingRuns(await stepOf(h)))).toEqual(ids);
    expect(h.sleeps).toHaveLength(1);
    expect(h.lines.some((line) => line.includes('no answer within 150 ms'))).toBe(true);
  });

  it('follows the Link header when a page has no next in its body', async () => {
    const ids = addWaiting(5);
    const linkOnly: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).includes('/runs?')) return response;
      const body = (await response.json()) as { next?: string };
      delete body.next;
      const link = response.headers.get('link') ?? '';
      return new Response(JSON.stringify(body), {
        status: 200,
        headers: { 'content-type': 'application/json', link },
      });
    };
    const h = harness({ fetch: linkOnly, pageSize: 2 });
    expect(await collect(h.client.listWaitingRuns(await stepOf(h)))).toEqual(ids);
    expect(statuses('listRuns')).toEqual([200, 200, 200]);
  });

  it('does not follow a next link to another host (the token would go with it)', async () => {
    addWaiting(3);
    const visited: string[] = [];
    const rewriting: typeof fetch = async (input, init) => {
      visited.push(String(input));
      const response = await fetch(input, init);
      if (!String(input).includes('/runs?')) return response;
      const body = (await response.json()) as { next?: string };
      body.next = 'https://attacker.example/api/workflows/v1/x/runs?after=abc';
      return new Response(JSON.stringify(body), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    };
    const h = harness({ fetch: rewriting, pageSize: 2 });
    const error = await caught(collect(h.client.listWaitingRuns(await stepOf(h))));
    expect(error.code).toBe('UnexpectedHost');
    expect(error.message).toContain('attacker.example');
    expect(visited.some((url) => url.includes('attacker'))).toBe(false);
  });
});

describe('getting one run', () => {
  it('returns the run and whether it waits at our step', async () => {
    const [waiting] = addWaiting(1) as [string];
    const moved = sim.addRun(workflow.id, { waitingAtStepName: 'Signal' });
    sim.fireSignal(moved);
    const terminated = sim.addRun(workflow.id, { waitingAtStepName: 'Signal', status: 'Terminated' });
    const h = harness();
    const step = await stepOf(h);
    expect(await h.client.getRun(step, waiting)).toMatchObject({ runId: waiting, waitingAtStep: true });
    expect(await h.client.getRun(step, moved)).toMatchObject({
      runId: moved,
      status: 'Completed',
      waitingAtStep: false,
    });
    expect(await h.client.getRun(step, terminated)).toMatchObject({
      status: 'Terminated',
      waitingAtStep: false,
    });
  });

  it('returns undefined for a run the workflow does not have', async () => {
    const h = harness();
    expect(await h.client.getRun(await stepOf(h), '6650ffffffffffffffffffff')).toBeUndefined();
  });
});

describe('signalling', () => {
  async function waitingRun(
    h: Harness,
    hrefStyle?: 'absolute' | 'relative',
  ): Promise<[WaitingStep, WorkflowRun]> {
    const runId = sim.addRun(workflow.id, {
      waitingAtStepName: 'Signal',
      person: { email: 'leaver@example.com' },
      ...(hrefStyle ? { hrefStyle } : {}),
    });
    const step = await stepOf(h);
    return [step, (await h.client.getRun(step, runId)) as WorkflowRun];
  }

  it('posts the action at an absolute href', async () => {
    const h = harness();
    const [step, run] = await waitingRun(h, 'absolute');
    expect(run.signalHref).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\//);
    expect(await h.client.signal(step, run)).toBe('signalled');
    expectSignalledOnce([run.runId]);
    expect(sim.signals[0]).toMatchObject({ action: 'Continue', stepId: step.stepId });
    expect(sim.run(run.runId)).toMatchObject({ status: 'Completed' });
  });

  it('posts the action at a host-relative href', async () => {
    const h = harness();
    const [step, run] = await waitingRun(h, 'relative');
    expect(run.signalHref).toMatch(/^\/api\//);
    expect(await h.client.signal(step, run)).toBe('signalled');
    expectSignalledOnce([run.runId]);
  });

  it('reports a step that someone else moved on just before our POST (409), without failing', async () => {
    const h = harness();
    const [step, run] = await waitingRun(h);
    sim.signalByOtherBeforeNextPost(run.runId);
    expect(await h.client.signal(step, run)).toBe('notWaiting');
    expect(statuses('signal')).toEqual([409]);
    expectSignalledOnce([]);
    expect(sim.signals.map((s) => s.by)).toEqual(['other']);
  });

  it('does not post again after a 500 from a signal that had taken effect', async () => {
    const h = harness();
    const [step, run] = await waitingRun(h);
    sim.clearLogs();
    sim.inject({ route: 'signal', status: 500, when: 'after' });
    expect(await h.client.signal(step, run)).toBe('signalled');
    expect(statuses('signal')).toEqual([500]);
    expect(statuses('getRun')).toEqual([200]);
    expectSignalledOnce([run.runId]);
  });

  it('does not post again when the connection drops after the signal took effect', async () => {
    const h = harness();
    const [step, run] = await waitingRun(h);
    sim.clearLogs();
    sim.inject({ route: 'signal', status: 'reset', when: 'after' });
    expect(await h.client.signal(step, run)).toBe('signalled');
    expect(statuses('signal')).toEqual(['reset']);
    expectSignalledOnce([run.runId]);
  });

  it('does not post again after a 503 while re-reads still show Waiting: bounded re-reads, then "signal uncertain"', async () => {
    const h = harness();
    const [step, run] = await waitingRun(h);
    sim.clearLogs();
    sim.inject({ route: 'signal', status: 503 });
    const error = await caught(h.client.signal(step, run));
    expect(error.code).toBe('SignalUncertain');
    expect(error.isSetupError).toBe(false);
    expect(error.status).toBe(503);
    expect(error.message).toContain('signal uncertain');
    expect(error.message).toContain('not posted again');
    expect(sim.requests.map((r) => `${r.route} ${r.status}`)).toEqual([
      'signal 503',
      'getRun 200',
      'getRun 200',
      'getRun 200',
    ]);
    expect(h.sleeps).toEqual([375, 750, 1500]);
    expectSignalledOnce([]);
    expect(sim.run(run.runId)).toMatchObject({ status: 'Waiting' });
  });

  it('reports signalled when a re-read after a 5xx shows the run moved on (the POST did act)', async () => {
    const h = harness();
    const [step, run] = await waitingRun(h);
    sim.clearLogs();
    sim.inject({ route: 'signal', status: 502, when: 'after' });
    expect(await h.client.signal(step, run)).toBe('signalled');
    expect(sim.requests.map((r) => `${r.route} ${r.status}`)).toEqual(['signal 502', 'getRun 200']);
    expectSignalledOnce([run.runId]);
  });

  it('stops re-reading at the deadline of an HTTP-triggered sweep', async () => {
    // A clock that stands still: the deadline leaves exactly 500 ms for waits.
    const at = new Date();
    const h = harness({ deadline: new Date(at.getTime() + 500), clock: { now: () => at } });
    const [step, run] = await waitingRun(h);
    sim.clearLogs();
    sim.inject({ route: 'signal', status: 503 });
    const error = await caught(h.client.signal(step, run));
    expect(error.code).toBe('SignalUncertain');
    // 375 ms fits before the deadline, 750 ms does not.
    expect(h.sleeps).toEqual([375]);
  });

  it('refuses an answer longer than maxBodyBytes without reading it into memory', async () => {
    const h = harness({ maxBodyBytes: 300 });
    const error = await caught(h.client.resolveStep('Terminate Users', 'Signal', 'Continue'));
    expect(error.code).toBe('BadResponse');
    expect(error.message).toMatch(/more than 300 bytes; not reading it/);
  });

  it('says the outcome is unknown when the run cannot be re-read after a failed signal', async () => {
    const h = harness({ retry: { maxAttempts: 2 } });
    const [step, run] = await waitingRun(h);
    sim.clearLogs();
    sim.inject({ route: 'signal', status: 'reset', when: 'after' });
    sim.inject({ route: 'getRun', status: 503, times: 2 });
    const error = await caught(h.client.signal(step, run));
    expect(error.code).toBe('SignalUncertain');
    expect(error.message).toContain('could not tell whether the "Continue" signal');
    expect(error.hint).toContain('next sweep');
    expect(statuses('signal')).toEqual(['reset']);
    expectSignalledOnce([run.runId]); // it did fire: exactly once, and the client did not post again
  });

  it('waits out a 429 on the signal and does not post when someone else moved the run on meanwhile', async () => {
    const sleeps: number[] = [];
    let runId = '';
    // Someone signals the run in the web app while we wait out the Retry-After.
    const h = harness({
      sleep: async (ms) => {
        sleeps.push(ms);
        sim.fireSignal(runId);
      },
    });
    const [step, run] = await waitingRun(h);
    runId = run.runId;
    sim.inject({ route: 'signal', status: 429, retryAfter: 3 });
    expect(await h.client.signal(step, run)).toBe('notWaiting');
    expect(sleeps).toEqual([3000]);
    expect(statuses('signal')).toEqual([429]);
    expectSignalledOnce([]);
  });

  it('gets a fresh token once when the signal POST meets an expired token', async () => {
    const h = harness();
    const [step, run] = await waitingRun(h);
    sim.expireTokens();
    expect(await h.client.signal(step, run)).toBe('signalled');
    expect(statuses('signal')).toEqual([401, 200]);
    expect(statuses('token')).toEqual([200, 200]);
    expectSignalledOnce([run.runId]);
  });

  it('says so when the run or its action no longer exists (404)', async () => {
    const h = harness();
    const [step, run] = await waitingRun(h);
    sim.inject({ route: 'signal', status: 404 });
    const error = await caught(h.client.signal(step, run));
    expect(error.code).toBe('RunNotFound');
    expect(error.traceId).toBeDefined();
    expectSignalledOnce([]);
  });

  it('does not post for a run that is no longer waiting at our step', async () => {
    const h = harness();
    const [step, run] = await waitingRun(h);
    expect(await h.client.signal(step, { ...run, waitingAtStep: false })).toBe('notWaiting');
    expect(sim.requestsTo('signal')).toHaveLength(0);
  });
});

describe('hosts', () => {
  it('reports an unreachable host as a setup problem pointing at TRELICA_BASE_URL', async () => {
    const port = await closedPort();
    const h = harness({ baseUrl: `http://127.0.0.1:${port}`, retry: { maxAttempts: 3 } });
    const error = await caught(stepOf(h));
    expect(error.code).toBe('Unreachable');
    expect(error.isSetupError).toBe(true);
    expect(error.message).toContain(`http://127.0.0.1:${port}`);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.hint).toContain('TRELICA_BASE_URL');
    expect(h.sleeps).toHaveLength(2);
  });

  it('works the same against the EU host (https://eu.trelica.com/, absolute links on that host)', async () => {
    await sim.stop();
    sim = new SaasManagerSimulator({ publicBaseUrl: 'https://eu.trelica.com' });
    await sim.start();
    sim.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    workflow = sim.addWorkflow({ name: 'Terminate Users', steps: [{ name: 'Signal' }] });
    const ids = addWaiting(5);
    const requested: string[] = [];
    // Stands in for DNS: the EU host is served by the simulator on loopback.
    const euFetch: typeof fetch = (input, init) => {
      requested.push(String(input));
      return fetch(String(input).replace('https://eu.trelica.com', sim.baseUrl), init);
    };
    const h = harness({ baseUrl: 'https://eu.trelica.com/', fetch: euFetch, pageSize: 2 });
    const step = await stepOf(h);
    for await (const run of h.client.listWaitingRuns(step)) {
      expect(run.signalHref).toMatch(/^https:\/\/eu\.trelica\.com\/api\/workflows\/v1\//);
      await h.client.signal(step, run);
    }
    expectSignalledOnce(ids);
    expect(requested.every((url) => url.startsWith('https://eu.trelica.com/'))).toBe(true);
    expect(requested[0]).toBe('https://eu.trelica.com/connect/token');
    expect(requested.filter((url) => url.includes('/runs?'))).toHaveLength(3);
  });
});

describe('errors and secrets', () => {
  it('reads problem details with the trace id at the top level', async () => {
    addWaiting(1);
    sim.inject({
      route: 'listRuns',
      status: 400,
      problem: {
        title: 'One or more validation errors occurred.',
        detail: 'limit is invalid',
        traceIdIn: 'top',
      },
    });
    const h = harness();
    const error = await caught(collect(h.client.listWaitingRuns(await stepOf(h))));
    expect(error).toMatchObject({
      code: 'RequestFailed',
      status: 400,
      method: 'GET',
      title: 'One or more validation errors occurred.',
      detail: 'limit is invalid',
    });
    expect(error.traceId).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(error.message).toContain(
      'answered 400 Bad Request: One or more validation errors occurred.: limit is invalid',
    );
  });

  it('reads problem details with the trace id under extensions', async () => {
    addWaiting(1);
    sim.inject({ route: 'listRuns', status: 409, problem: { title: 'Conflict', traceIdIn: 'extensions' } });
    const h = harness();
    const error = await caught(collect(h.client.listWaitingRuns(await stepOf(h))));
    expect(error.title).toBe('Conflict');
    expect(error.traceId).toMatch(/^00-/);
    expect(error.message).toContain(`(traceId ${error.traceId})`);
  });

  it('never puts the client secret or an access token in an error or a log line', async () => {
    const ids = addWaiting(3);
    const h = harness({ retry: { maxAttempts: 2 } });
    const errors: unknown[] = [];
    const attempt = async (promise: Promise<unknown>) => {
      try {
        await promise;
      } catch (error) {
        errors.push(error);
      }
    };
    const step = await stepOf(h);
    // A sweep with expiry, retries, an ambiguous signal and a 409, then failures of every kind.
    sim.inject({ route: 'listRuns', status: 503 });
    sim.inject({ route: 'signal', status: 500, when: 'after', runId: ids[0] as string });
    sim.signalByOtherBeforeNextPost(ids[1] as string);
    let n = 0;
    for await (const run of h.client.listWaitingRuns(step)) {
      if (++n === 2) sim.expireTokens();
      await attempt(h.client.signal(step, run));
    }
    sim.inject({ route: 'listRuns', status: 502, times: 2 });
    await attempt(collect(h.client.listWaitingRuns(step)));
    sim.inject({ route: 'getRun', status: 403 });
    await attempt(h.client.getRun(step, ids[0] as string));
    sim.tokenLifetimeSeconds = 0;
    sim.expireTokens();
    await attempt(h.client.getRun(step, ids[0] as string));
    await attempt(
      harness({ clientSecret: new Secret(`${CLIENT_SECRET}x`) }).client.resolveStep('x', 'y', 'z'),
    );
    await attempt(
      harness({
        baseUrl: `http://127.0.0.1:${await closedPort()}`,
        retry: { maxAttempts: 1 },
      }).client.resolveStep('x', 'y', 'z'),
    );

    expect(errors.length).toBeGreaterThanOrEqual(4);
    expect(h.tokens.length).toBeGreaterThanOrEqual(3);
    const texts = [
      ...errors.flatMap((error) => [
        String(error),
        JSON.stringify(error),
        inspect(error, { depth: 5 }),
        (error as Error).message,
      ]),
      ...h.lines,
      ...sim.requests.map((request) => request.path),
    ];
    expect(h.lines.length).toBeGreaterThan(3);
    for (const text of texts) {
      expect(text).not.toContain(CLIENT_SECRET);
      expect(text).not.toContain(encodeURIComponent(CLIENT_SECRET));
      for (const token of h.tokens) expect(text).not.toContain(token);
    }
    expectSignalledOnce([ids[0] as string, ids[2] as string]);
  });
});

/** A loopback port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

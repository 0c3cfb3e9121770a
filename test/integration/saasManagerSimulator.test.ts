/**
 * The simulator itself, with plain fetch: it is what the client, the end-to-end tests and the
 * sandbox trust to behave like SaaS Manager, so its contract is pinned here.
 */
import { SaasManagerSimulator, type SimWorkflow } from '../../sandbox/saasManagerSimulator';

const SECRET = 'sim-secret:with%odd+chars';
let sim: SaasManagerSimulator;
let workflow: SimWorkflow;

beforeEach(async () => {
  sim = new SaasManagerSimulator();
  await sim.start();
  sim.addClient({ clientId: 'app', clientSecret: SECRET });
  workflow = sim.addWorkflow({
    name: 'Terminate Users',
    steps: [{ name: 'Create task', type: 'CreateTask' }, { name: 'Signal' }],
  });
});

afterEach(async () => {
  await sim.stop();
});

async function tokenRequest(
  body: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${sim.baseUrl}/connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(body),
  });
}

async function token(scope?: string): Promise<string> {
  const response = await tokenRequest({
    grant_type: 'client_credentials',
    client_id: 'app',
    client_secret: SECRET,
    ...(scope ? { scope } : {}),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

async function api(path: string, init: RequestInit = {}, bearer?: string): Promise<Response> {
  const url = path.startsWith('http') ? path : `${sim.baseUrl}${path}`;
  return fetch(url, { ...init, headers: { authorization: `Bearer ${bearer ?? (await token())}` } });
}

function runsPath(query: Record<string, string> = {}): string {
  const params = new URLSearchParams(query);
  return `/api/workflows/v1/${workflow.id}/runs${params.size > 0 ? `?${params.toString()}` : ''}`;
}

const waitingFilter = () =>
  `status ne "Terminated" and steps[status eq "Waiting" and id eq "${workflow.steps[1]?.id}"]`;

describe('the simulated token endpoint', () => {
  it('issues a bearer token for form credentials, with the scopes asked for', async () => {
    const response = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: 'app',
      client_secret: SECRET,
      scope: 'Workflows.Read Workflows.Runs.Read',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      access_token: expect.stringMatching(/^[0-9a-f]{48}$/),
      expires_in: 3600,
      token_type: 'Bearer',
      scope: 'Workflows.Read Workflows.Runs.Read',
    });
  });

  it('accepts Basic credentials, raw or form-encoded first', async () => {
    for (const pair of [`app:${SECRET}`, `app:${encodeURIComponent(SECRET)}`]) {
      const basic = `Basic ${Buffer.from(pair).toString('base64')}`;
      const response = await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic });
      expect(response.status).toBe(200);
    }
  });

  it.each([
    [
      'a wrong secret',
      { grant_type: 'client_credentials', client_id: 'app', client_secret: 'nope' },
      'invalid_client',
    ],
    [
      'an unknown client',
      { grant_type: 'client_credentials', client_id: 'who', client_secret: SECRET },
      'invalid_client',
    ],
    [
      'a scope the app lacks',
      { grant_type: 'client_credentials', client_id: 'app', client_secret: SECRET, scope: 'People.Write' },
      'invalid_scope',
    ],
    [
      'another grant',
      { grant_type: 'password', client_id: 'app', client_secret: SECRET },
      'unsupported_grant_type',
    ],
  ])('answers 400 to %s', async (_case, body, error) => {
    const response = await tokenRequest(body);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error });
  });

  it('wants a form body, not JSON', async () => {
    const response = await fetch(`${sim.baseUrl}/connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'app', client_secret: SECRET }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('never logs credentials', async () => {
    await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: `Basic ${Buffer.from(`app:${SECRET}`).toString('base64')}` },
    );
    await token();
    expect(JSON.stringify(sim.requests)).not.toContain('sim-secret');
    expect(sim.requests.map((r) => r.path)).toEqual(['/connect/token', '/connect/token']);
  });
});

describe('the simulated API authorisation', () => {
  it('answers 401 without a token, and says when a token expired', async () => {
    const none = await fetch(`${sim.baseUrl}/api/workflows/v1`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const bearer = await token();
    sim.advance(3600_000);
    const expired = await api('/api/workflows/v1', {}, bearer);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toMatch(
      /^Bearer error="invalid_token", error_description="The token expired at '/,
    );
  });

  it('answers 403 with problem details when the token lacks the scope', async () => {
    const response = await api(runsPath(), {}, await token('Workflows.Read'));
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(await response.json()).toMatchObject({
      title: 'Forbidden',
      status: 403,
      traceId: expect.any(String),
    });
  });
});

describe('the simulated workflows and runs', () => {
  it('finds workflows by name and by id', async () => {
    sim.addWorkflow({ name: 'Onboarding', steps: [] });
    const list = await api(`/api/workflows/v1?filter=${encodeURIComponent('name eq "Terminate Users"')}`);
    expect(((await list.json()) as { results: unknown[] }).results).toEqual([
      expect.objectContaining({ id: workflow.id, name: 'Terminate Users', steps: workflow.steps }),
    ]);
    const one = await api(`/api/workflows/v1/${workflow.id}`);
    expect(await one.json()).toMatchObject({ id: workflow.id });
  });

  it('pages with a last-id cursor, the same URL in next and Link, and no next at the end', async () => {
    const ids = sim.addWaitingRuns(workflow.id, { count: 5, stepName: 'Signal' });
    const first = await api(runsPath({ limit: '2', filter: waitingFilter() }));
    const body = (await first.json()) as { next: string; results: Array<{ id: string }> };
    expect(body.results.map((r) => r.id)).toEqual(ids.slice(0, 2));
    expect(first.headers.get('link')).toBe(`<${body.next}>; rel="next"`);
    const next = new URL(body.next);
    expect(next.origin).toBe(sim.baseUrl);
    expect(next.searchParams.get('filter')).toBe(waitingFilter());
    expect(JSON.parse(Buffer.from(next.searchParams.get('after') as string, 'base64').toString())).toEqual({
      id: ids[1],
    });

    const second = (await (await api(body.next)).json()) as { next: string };
    const third = (await (await api(second.next)).json()) as {
      next?: string;
      results: Array<{ id: string }>;
    };
    expect(third.results.map((r) => r.id)).toEqual(ids.slice(4));
    expect(third.next).toBeUndefined();
  });

  it('skips nothing when earlier runs drop out of the filter between pages', async () => {
    const ids = sim.addWaitingRuns(workflow.id, { count: 6, stepName: 'Signal' });
    const first = (await (await api(runsPath({ limit: '3', filter: waitingFilter() }))).json()) as {
      next: string;
      results: Array<{ id: string }>;
    };
    for (const run of first.results) sim.fireSignal(run.id);
    const second = (await (await api(first.next)).json()) as { results: Array<{ id: string }> };
    expect(second.results.map((r) => r.id)).toEqual(ids.slice(3));
  });

  it('can keep next on a full last page, ending with an empty page', async () => {
    sim.emptyLastPage = true;
    sim.addWaitingRuns(workflow.id, { count: 2, stepName: 'Signal' });
    const first = (await (await api(runsPath({ limit: '2' }))).json()) as { next: string };
    expect(first.next).toBeDefined();
    expect(await (await api(first.next)).json()).toEqual({ results: [] });
  });

  it('rejects a filter it cannot parse, a bad limit and a foreign cursor with problem details', async () => {
    const badFilter = await api(runsPath({ filter: 'status eq' }));
    expect(badFilter.status).toBe(400);
    expect(await badFilter.json()).toMatchObject({
      title: 'Invalid filter',
      detail: expect.stringContaining('expected a value'),
    });
    expect((await api(runsPath({ limit: '1001' }))).status).toBe(400);
    expect((await api(runsPath({ after: 'bm90IGpzb24=' }))).status).toBe(400);
  });

  it('searches with q and returns only the variables asked for', async () => {
    const runId = sim.addRun(workflow.id, {
      person: { name: 'Ada Lovelace', email: 'ada@example.com' },
      waitingAtStepName: 'Signal',
      variables: { password: 'p@ss', ticket: 'T-1' },
    });
    sim.addRun(workflow.id, { person: { name: 'Grace Hopper' } });
    const found = (await (await api(runsPath({ q: 'lovelace', variables: 'ticket' }))).json()) as {
      results: Array<{ id: string; context: Record<string, unknown> }>;
    };
    expect(found.results.map((r) => r.id)).toEqual([runId]);
    expect(found.results[0]?.context.variables).toEqual({ ticket: 'T-1' });
    const plain = (await (await api(`${runsPath()}/${runId}`)).json()) as {
      context: Record<string, unknown>;
    };
    expect(plain.context.variables).toBeUndefined();
  });

  it('answers 404 with the trace id under extensions for an unknown run', async () => {
    const response = await api(`${runsPath()}/6650ffffffffffffffffffff`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({
      title: 'Not Found',
      extensions: { traceId: expect.any(String) },
    });
  });
});

describe('the simulated signal', () => {
  function hrefOf(runId: string, action = 'Continue'): string {
    const run = sim.run(runId) as {
      steps: Array<{ waiting?: { actions: Array<{ name: string; href: string }> } }>;
    };
    const waiting = run.steps.find((step) => step.waiting)?.waiting;
    return waiting?.actions.find((a) => a.name === action)?.href ?? '';
  }

  it('fires once: 200 moves the run on, a second POST gets 409', async () => {
    const [runId] = sim.addWaitingRuns(workflow.id, { count: 1, stepName: 'Signal' }) as [string];
    const href = hrefOf(runId);
    expect(href).toBe(
      `${sim.baseUrl}/api/workflows/v1/${workflow.id}/runs/${runId}/firedSignals/${workflow.steps[1]?.id}/Continue`,
    );
    expect((await api(href, { method: 'POST' })).status).toBe(200);
    expect(sim.run(runId)).toMatchObject({
      status: 'Completed',
      steps: [{ status: 'Completed' }, { status: 'Completed', completed: { nextStepIds: [] } }],
    });
    expect((await api(href, { method: 'POST' })).status).toBe(409);
    expect(sim.signals).toEqual([
      {
        workflowId: workflow.id,
        runId,
        stepId: workflow.steps[1]?.id,
        action: 'Continue',
        by: 'app',
        at: '2025-01-06T09:00:00.000Z',
      },
    ]);
  });

  it('answers 404 for an unknown action or run, and 405 to other methods', async () => {
    const [runId] = sim.addWaitingRuns(workflow.id, { count: 1, stepName: 'Signal' }) as [string];
    const href = hrefOf(runId);
    expect((await api(href.replace(/Continue$/, 'Approve'), { method: 'POST' })).status).toBe(404);
    expect((await api(href.replace(runId, '6650ffffffffffffffffffff'), { method: 'POST' })).status).toBe(404);
    const get = await api(href);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(sim.signals).toEqual([]);
  });

  it('acts before failing when a fault is injected "after", and not at all "before"', async () => {
    const [first, second] = sim.addWaitingRuns(workflow.id, { count: 2, stepName: 'Signal' }) as [
      string,
      string,
    ];
    sim.inject({ route: 'signal', status: 503, runId: second });
    sim.inject({ route: 'signal', status: 500, when: 'after', runId: first });
    expect((await api(hrefOf(second), { method: 'POST' })).status).toBe(503);
    expect((await api(hrefOf(first), { method: 'POST' })).status).toBe(500);
    expect(sim.signals.map((s) => s.runId)).toEqual([first]);
    expect(sim.requestsTo('signal').map((r) => [r.status, r.injected])).toEqual([
      [503, true],
      [500, true],
    ]);
  });

  it('sends Retry-After with an injected 429, for as many requests as asked', async () => {
    sim.inject({ route: 'listRuns', status: 429, retryAfter: 5, times: 2 });
    const bearer = await token();
    const answers = [
      await api(runsPath(), {}, bearer),
      await api(runsPath(), {}, bearer),
      await api(runsPath(), {}, bearer),
    ];
    expect(answers.map((a) => a.status)).toEqual([429, 429, 200]);
    expect(answers[0]?.headers.get('retry-after')).toBe('5');
  });

  it('moves a waiting step on by itself once its wait is over', async () => {
    const [runId] = sim.addWaitingRuns(workflow.id, { count: 1, stepName: 'Signal' }) as [string];
    sim.advance(7 * 24 * 3600 * 1000 - 1);
    expect(sim.run(runId)).toMatchObject({ status: 'Waiting' });
    sim.advance(1);
    expect(sim.run(runId)).toMatchObject({ status: 'Completed' });
    expect(sim.signals).toEqual([]);
  });
});

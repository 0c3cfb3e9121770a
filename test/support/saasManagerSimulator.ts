/**
 * An in-process HTTP simulator of the SaaS Manager (Trelica) workflow API, on 127.0.0.1 and a
 * random port, for the client's tests, the end-to-end tests and the sandbox.
 *
 * What it serves (see /work/shared/reference/saas-manager-api.md §8):
 *   POST /connect/token                                   client credentials (Basic or form), scopes, expiry
 *   GET  /api/workflows/v1[/{id}]                         workflows, filter + cursor paging
 *   GET  /api/workflows/v1/{id}/runs[/{runId}]            runs, filter (SCIM subset), q, variables, paging
 *   POST /api/workflows/v1/{id}/runs/{runId}/firedSignals/{stepId}/{signal}   200 / 404 / 409 (405 otherwise)
 *
 * Paging uses a cursor on the last id of the page (base64 of {"id": ...}, as the real API), so a
 * run that drops out of the filter while a client pages (because it was just signalled) never
 * makes the client skip another one. Errors are problem details. Every route can be made to fail
 * (before or after acting), to answer slowly or to drop the connection, to prove the client
 * neither loses nor doubles a signal.
 *
 * Its clock is frozen unless a test moves it (`advance`), so its output is deterministic.
 */
import { randomBytes } from 'node:crypto';
import {
  createServer,
  STATUS_CODES,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { FilterSyntaxError, matchesFilter, parseFilter, type FilterNode } from './saasManagerFilter';

export const SIM_SCOPES = ['Workflows.Read', 'Workflows.Runs.Read', 'Workflows.Runs.Execute'] as const;

export type SimRoute = 'token' | 'listWorkflows' | 'getWorkflow' | 'listRuns' | 'getRun' | 'signal';

export interface SimPersonRef {
  id?: string;
  name?: string;
  email?: string;
}

/** `context.person` of a run. Extra fields (team, jobTitle, customFields, ...) pass through as given. */
export interface SimPerson {
  id?: string;
  name?: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  lineManager?: SimPersonRef;
  [field: string]: unknown;
}

export interface SimWorkflowInput {
  name: string;
  steps: Array<{ name: string; type?: string }>;
}

export interface SimWorkflow {
  id: string;
  name: string;
  steps: Array<{ id: string; name: string; type: string }>;
}

export interface SimRunInput {
  person?: SimPerson;
  /** Run name; defaults to the person's name. */
  name?: string;
  /** The step the run waits at; earlier steps are completed. Without it the run has completed. */
  waitingAtStepName?: string;
  /** Actions the waiting step offers (default ["Continue"]). */
  actions?: string[];
  /** Run status (default Waiting when waiting at a step, else Completed); e.g. Terminated. */
  status?: string;
  /** Run variables, returned only when asked for with ?variables=name[,name]. */
  variables?: Record<string, unknown>;
  /** Override the simulator's `hrefStyle` for this run's action hrefs. */
  hrefStyle?: 'absolute' | 'relative';
  /** How long the step waits before moving on by itself (default 7 days of simulator time). */
  waitMs?: number;
}

export interface SimBulkRunsInput {
  count: number;
  stepName: string;
  actions?: string[];
  /** The person of run number i (0-based); defaults to a generated leaver. */
  person?: (index: number) => SimPerson;
}

export interface SimFault {
  route: SimRoute;
  /** How many matching requests it affects (default 1). */
  times?: number;
  /** The status to answer with, or 'reset' to drop the connection without an answer. */
  status?: number | 'reset';
  /** Retry-After header value: seconds, or an HTTP date string. */
  retryAfter?: number | string;
  /** 'before' (default): fail instead of acting. 'after': act (e.g. fire the signal), then fail. */
  when?: 'before' | 'after';
  /** Wait this long (real time) before handling the request. */
  delayMs?: number;
  /** Only requests about this run (getRun, signal). */
  runId?: string;
  /** Shape of the problem-details body of the injected answer. */
  problem?: { title?: string; detail?: string; traceIdIn?: 'top' | 'extensions' };
}

export interface SimRequest {
  route: SimRoute | 'unknown';
  method: string;
  /** Path and query (secret-looking query values redacted; the simulator never logs headers or bodies). */
  path: string;
  /** The status answered, or 'reset' when the connection was dropped. */
  status: number | 'reset';
  /** True when a fault injection decided the answer. */
  injected: boolean;
}

export interface SimSignal {
  workflowId: string;
  runId: string;
  stepId: string;
  action: string;
  /** The API client id that fired it, or 'other' (someone in the web app, `fireSignal`). */
  by: string;
  at: string;
}

export interface SimulatorOptions {
  /** The simulator's clock start (default 2025-01-06T09:00:00Z); only `advance` moves it. */
  startTime?: Date;
  /** The host put into `next` links and action hrefs instead of the loopback address (e.g. https://eu.trelica.com). */
  publicBaseUrl?: string;
  /** Action hrefs as absolute URLs (default, like the docs) or host-relative paths. */
  hrefStyle?: 'absolute' | 'relative';
  /** Keep `next` on a full last page, so clients must stop on the empty page that follows. */
  emptyLastPage?: boolean;
  tokenLifetimeSeconds?: number;
}

interface StoredStep {
  id: string;
  name: string;
  type: string;
  status: 'Waiting' | 'Completed';
  dtm: number;
  untilDtm?: number;
  actions?: string[];
  nextStepIds?: string[];
}

interface StoredRun {
  id: string;
  workflowId: string;
  name?: string;
  status: string;
  person?: SimPerson;
  variables?: Record<string, unknown>;
  createdDtm: number;
  lastModifiedDtm: number;
  steps: StoredStep[];
  hrefStyle?: 'absolute' | 'relative';
}

interface StoredWorkflow extends SimWorkflow {
  triggerId: string;
  createdDtm: number;
  runs: StoredRun[];
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  problem?: boolean;
}

interface RouteMatch {
  route: SimRoute;
  method: 'GET' | 'POST';
  params: { workflowId?: string; runId?: string; stepId?: string; signalName?: string };
}

const SYSTEM_USER = {
  userId: '7cbf8b34-a321-43f0-8c8f-275b41e30b14',
  name: 'System',
  email: 'admin@example.com',
};
const DEFAULT_START = Date.parse('2025-01-06T09:00:00.000Z');
const WEEK_MS = 7 * 24 * 3600 * 1000;
const MAX_BODY_BYTES = 64 * 1024;

export class SaasManagerSimulator {
  /** Every request, in arrival order. */
  readonly requests: SimRequest[] = [];
  /** Every signal that fired, through the API or by `fireSignal`. */
  readonly signals: SimSignal[] = [];
  tokenLifetimeSeconds: number;
  emptyLastPage: boolean;
  hrefStyle: 'absolute' | 'relative';

  readonly #server: Server;
  #port: number | undefined;
  readonly #publicBaseUrl: string | undefined;
  #now: number;
  #sequence = 0;
  readonly #clients = new Map<string, { secret: string; scopes: string[] }>();
  readonly #tokens = new Map<string, { clientId: string; scopes: string[]; expiresAt: number }>();

  /** Every access token this simulator issued (for tests that prove no token is stored anywhere). */
  issuedTokens(): string[] {
    return [...this.#tokens.keys()];
  }
  readonly #workflows: StoredWorkflow[] = [];
  readonly #runs = new Map<string, StoredRun>();
  #faults: Array<SimFault & { remaining: number }> = [];
  readonly #otherSignalsPending = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(options: SimulatorOptions = {}) {
    this.#now = options.startTime?.getTime() ?? DEFAULT_START;
    this.#publicBaseUrl = options.publicBaseUrl?.replace(/\/+$/, '');
    this.hrefStyle = options.hrefStyle ?? 'absolute';
    this.emptyLastPage = options.emptyLastPage ?? false;
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent)
          this.#write(res, this.#problem(500, 'Internal Server Error', 'simulator failure'));
      });
    });
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  /** The loopback address it listens on, e.g. http://127.0.0.1:41234. */
  get baseUrl(): string {
    if (this.#port === undefined) throw new Error('SaasManagerSimulator: call start() first');
    return `http://127.0.0.1:${this.#port}`;
  }

  /** The simulator's current time. */
  now(): Date {
    return new Date(this.#now);
  }

  /** Move the clock on. Waiting steps whose `untilDtm` has passed move on by themselves, as in SaaS Manager. */
  advance(ms: number): void {
    this.#now += ms;
    for (const run of this.#runs.values()) {
      const step = run.steps.find(
        (s) => s.status === 'Waiting' && s.untilDtm !== undefined && s.untilDtm <= this.#now,
      );
      if (step) this.#complete(run, step);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Seeding

  addClient(client: { clientId: string; clientSecret: string; scopes?: readonly string[] }): void {
    this.#clients.set(client.clientId, {
      secret: client.clientSecret,
      scopes: [...(client.scopes ?? SIM_SCOPES)],
    });
  }

  addWorkflow(input: SimWorkflowInput): SimWorkflow {
    const workflow: StoredWorkflow = {
      id: this.#newId(),
      name: input.name,
      steps: input.steps.map((step) => ({ id: this.#newId(), name: step.name, type: step.type ?? 'Signal' })),
      triggerId: this.#newId(),
      createdDtm: this.#now,
      runs: [],
    };
    this.#workflows.push(workflow);
    return { id: workflow.id, name: workflow.name, steps: workflow.steps.map((step) => ({ ...step })) };
  }

  /** Add one run; returns its id. */
  addRun(workflowId: string, input: SimRunInput = {}): string {
    const workflow = this.#workflow(workflowId);
    const id = this.#newId();
    let steps: StoredStep[];
    if (input.waitingAtStepName !== undefined) {
      const index = workflow.steps.findIndex((step) => step.name === input.waitingAtStepName);
      if (index < 0)
        throw new Error(
          `SaasManagerSimulator: workflow "${workflow.name}" has no step "${input.waitingAtStepName}"`,
        );
      steps = workflow.steps.slice(0, index + 1).map((step, i) =>
        i < index
          ? {
              ...step,
              status: 'Completed' as const,
              dtm: this.#now,
              nextStepIds: [workflow.steps[i + 1]?.id ?? ''],
            }
          : {
              ...step,
              status: 'Waiting' as const,
              dtm: this.#now,
              untilDtm: this.#now + (input.waitMs ?? WEEK_MS),
              actions: [...(input.actions ?? ['Continue'])],
            },
      );
    } else {
      steps = workflow.steps.map((step, i) => ({
        ...step,
        status: 'Completed' as const,
        dtm: this.#now,
        nextStepIds: workflow.steps[i + 1] ? [(workflow.steps[i + 1] as { id: string }).id] : [],
      }));
    }
    const run: StoredRun = {
      id,
      workflowId,
      status: input.status ?? (input.waitingAtStepName !== undefined ? 'Waiting' : 'Completed'),
      createdDtm: this.#now,
      lastModifiedDtm: this.#now,
      steps,
    };
    const name = input.name ?? input.person?.name;
    if (name !== undefined) run.name = name;
    if (input.person) run.person = structuredClone(input.person);
    if (input.variables) run.variables = structuredClone(input.variables);
    if (input.hrefStyle) run.hrefStyle = input.hrefStyle;
    workflow.runs.push(run); // ids only grow, so the list stays sorted by id (the cursor relies on it)
    this.#runs.set(id, run);
    return id;
  }

  /** Add many runs waiting at one step; returns their ids in order. */
  addWaitingRuns(workflowId: string, input: SimBulkRunsInput): string[] {
    const ids: string[] = [];
    for (let i = 0; i < input.count; i++) {
      const person = input.person ? input.person(i) : this.#samplePerson(i);
      ids.push(
        this.addRun(workflowId, {
          person,
          waitingAtStepName: input.stepName,
          ...(input.actions ? { actions: input.actions } : {}),
        }),
      );
    }
    return ids;
  }

  // -------------------------------------------------------------------------------------------
  // Inspection and outside events

  /** The run as GET …/runs/{id} returns it (a copy), or undefined. */
  run(runId: string): Record<string, unknown> | undefined {
    const run = this.#runs.get(runId);
    return run ? this.#renderRun(run, Object.keys(run.variables ?? {})) : undefined;
  }

  /** Signals fired through the API for one run (not counting `fireSignal`). */
  apiSignalsFor(runId: string): SimSignal[] {
    return this.signals.filter((signal) => signal.runId === runId && signal.by !== 'other');
  }

  /** Requests made to one route. */
  requestsTo(route: SimRoute): SimRequest[] {
    return this.requests.filter((request) => request.route === route);
  }

  clearLogs(): void {
    this.requests.length = 0;
    this.signals.length = 0;
  }

  /** Someone else fires the waiting step's action now (e.g. an admin in the web app). */
  fireSignal(runId: string, action?: string): void {
    const run = this.#runs.get(runId);
    const step = run?.steps.find((s) => s.status === 'Waiting');
    if (!run || !step) throw new Error(`SaasManagerSimulator: run ${runId} is not waiting`);
    this.#complete(run, step, action ?? step.actions?.[0] ?? 'Continue', 'other');
  }

  /** Someone else signals the run just before the next signal POST for it arrives (that POST then gets 409). */
  signalByOtherBeforeNextPost(runId: string): void {
    this.#otherSignalsPending.add(runId);
  }

  terminateRun(runId: string): void {
    const run = this.#runs.get(runId);
    if (!run) throw new Error(`SaasManagerSimulator: no run ${runId}`);
    run.status = 'Terminated';
    run.lastModifiedDtm = this.#now;
  }

  /** Make the next matching requests fail, answer slowly or drop the connection. */
  inject(fault: SimFault): void {
    this.#faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.#faults = [];
  }

  /** Every token issued so far is expired from now on (a 401 on its next use). */
  expireTokens(): void {
    for (const token of this.#tokens.values()) token.expiresAt = Math.min(token.expiresAt, this.#now);
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const match = matchRoute(url.pathname);
    const entry: SimRequest = {
      route: match?.route ?? 'unknown',
      method,
      path: safePath(url),
      status: 0,
      injected: false,
    };
    this.requests.push(entry);
    const body = await readBody(req);

    if (body === undefined) return this.#send(res, entry, this.#problem(413, 'Payload Too Large'));
    if (!match)
      return this.#send(res, entry, this.#problem(404, 'Not Found', `No route for ${url.pathname}`));
    if (method !== match.method) {
      return this.#send(res, entry, {
        ...this.#problem(405, 'Method Not Allowed', `Use ${match.method} for this URL`),
        headers: { allow: match.method },
      });
    }

    const fault = this.#takeFault(match);
    if (fault?.delayMs) await this.#pause(fault.delayMs);
    const failNow = fault !== undefined && fault.status !== undefined;
    if (failNow && fault.when !== 'after') return this.#sendFault(req, res, entry, fault);

    const reply = this.#dispatch(match, url, req.headers, body);
    if (failNow && fault.when === 'after') return this.#sendFault(req, res, entry, fault);
    this.#send(res, entry, reply);
  }

  #dispatch(match: RouteMatch, url: URL, headers: IncomingHttpHeaders, body: string): Reply {
    if (match.route === 'token') return this.#issueToken(headers, body);
    const scope =
      match.route === 'listWorkflows' || match.route === 'getWorkflow'
        ? 'Workflows.Read'
        : match.route === 'signal'
          ? 'Workflows.Runs.Execute'
          : 'Workflows.Runs.Read';
    const caller = this.#authenticate(headers, scope);
    if ('status' in caller) return caller;

    const { workflowId = '', runId = '' } = match.params;
    switch (match.route) {
      case 'listWorkflows':
        return this.#page(url, this.#workflows, (workflow) => this.#renderWorkflow(workflow));
      case 'getWorkflow': {
        const workflow = this.#workflows.find((w) => w.id === workflowId);
        return workflow
          ? { status: 200, body: this.#renderWorkflow(workflow) }
          : this.#problem(404, 'Not Found');
      }
      case 'listRuns': {
        const workflow = this.#workflows.find((w) => w.id === workflowId);
        if (!workflow) return this.#problem(404, 'Not Found', `No workflow ${workflowId}`);
        const variables = parseVariables(url);
        return this.#page(url, workflow.runs, (run) => this.#renderRun(run, variables));
      }
      case 'getRun': {
        const run = this.#runs.get(runId);
        if (!run || run.workflowId !== workflowId) return this.#problem(404, 'Not Found', `No run ${runId}`);
        return { status: 200, body: this.#renderRun(run, parseVariables(url)) };
      }
      case 'signal':
        return this.#fireFromApi(match, caller.clientId);
    }
  }

  #issueToken(headers: IncomingHttpHeaders, body: string): Reply {
    const oauthError = (error: string, description: string, status = 400): Reply => ({
      status,
      headers: { 'cache-control': 'no-store' },
      body: { error, error_description: description },
    });
    if (!(headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      return oauthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials') {
      return oauthError('unsupported_grant_type', 'only client_credentials is supported');
    }
    const basic = basicCredentials(headers.authorization);
    // RFC 6749 §2.3.1 form-encodes both parts of Basic credentials; Trelica's own scripts do not. Accept both.
    const candidates = basic
      ? [basic, formDecoded(basic)]
      : [{ id: form.get('client_id') ?? '', secret: form.get('client_secret') ?? '' }];
    const credentials = candidates.find((c) => this.#clients.get(c.id)?.secret === c.secret);
    const client = credentials ? this.#clients.get(credentials.id) : undefined;
    if (!credentials || !client) return oauthError('invalid_client', 'unknown client or wrong secret');
    const requested = (form.get('scope') ?? '').split(/\s+/).filter((scope) => scope !== '');
    const scopes = requested.length > 0 ? requested : client.scopes;
    if (scopes.some((scope) => !client.scopes.includes(scope))) {
      return oauthError('invalid_scope', 'a requested scope is not enabled for this API application');
    }
    const token = randomBytes(24).toString('hex');
    this.#tokens.set(token, {
      clientId: credentials.id,
      scopes,
      expiresAt: this.#now + this.tokenLifetimeSeconds * 1000,
    });
    return {
      status: 200,
      headers: { 'cache-control': 'no-store' },
      body: {
        access_token: token,
        expires_in: this.tokenLifetimeSeconds,
        token_type: 'Bearer',
        scope: scopes.join(' '),
      },
    };
  }

  #authenticate(headers: IncomingHttpHeaders, scope: string): { clientId: string } | Reply {
    const header = headers.authorization ?? '';
    const unauthorized = (challenge: string): Reply => ({
      status: 401,
      headers: { 'www-authenticate': challenge },
    });
    if (!/^Bearer\s+\S+$/i.test(header)) return unauthorized('Bearer');
    const token = this.#tokens.get(header.replace(/^Bearer\s+/i, ''));
    if (!token) return unauthorized('Bearer error="invalid_token"');
    if (token.expiresAt <= this.#now) {
      return unauthorized(
        `Bearer error="invalid_token", error_description="The token expired at '${new Date(token.expiresAt).toISOString()}'"`,
      );
    }
    if (!token.scopes.includes(scope)) {
      return this.#problem(403, 'Forbidden', `The access token does not carry the scope ${scope}`);
    }
    return { clientId: token.clientId };
  }

  #fireFromApi(match: RouteMatch, clientId: string): Reply {
    const { workflowId = '', runId = '', stepId = '', signalName = '' } = match.params;
    const run = this.#runs.get(runId);
    if (!run || run.workflowId !== workflowId) return this.#problem(404, 'Not Found', `No run ${runId}`);
    if (this.#otherSignalsPending.delete(runId)) {
      const waiting = run.steps.find((s) => s.status === 'Waiting');
      if (waiting) this.#complete(run, waiting, waiting.actions?.[0] ?? signalName, 'other');
    }
    const step = run.steps.find((s) => s.id === stepId && s.status === 'Waiting');
    if (!step) {
      return run.steps.some((s) => s.id === stepId)
        ? this.#problem(409, 'Conflict', 'The step is no longer waiting')
        : this.#problem(404, 'Not Found', `Run ${runId} has no step ${stepId}`);
    }
    if (run.status === 'Terminated') return this.#problem(409, 'Conflict', 'The run has been terminated');
    if (!(step.actions ?? []).includes(signalName)) {
      return this.#problem(404, 'Not Found', `The step has no action "${signalName}"`);
    }
    this.#complete(run, step, signalName, clientId);
    return { status: 200 };
  }

  /** Cursor paging over a list sorted by id; the filter is applied to each item's JSON. */
  #page<T extends { id: string }>(
    url: URL,
    items: readonly T[],
    render: (item: T) => Record<string, unknown>,
  ): Reply {
    const limitText = url.searchParams.get('limit');
    const limit = limitText === null ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      return this.#problem(400, 'Bad Request', 'limit must be a whole number from 1 to 1000');
    }
    let filter: FilterNode | undefined;
    const filterText = url.searchParams.get('filter');
    if (filterText !== null && filterText.trim() !== '') {
      try {
        filter = parseFilter(filterText);
      } catch (error) {
        if (error instanceof FilterSyntaxError) return this.#problem(400, 'Invalid filter', error.message);
        throw error;
      }
    }
    const after = decodeCursor(url.searchParams.get('after'));
    if (after === null) return this.#problem(400, 'Bad Request', 'after is not a cursor this API issued');
    const q = url.searchParams.get('q')?.toLowerCase();
    const matches = (json: Record<string, unknown>) =>
      (!filter || matchesFilter(filter, json)) &&
      (!q ||
        String(json.id).toLowerCase().includes(q) ||
        String(json.name ?? '')
          .toLowerCase()
          .includes(q));

    const results: Record<string, unknown>[] = [];
    let index = after === undefined ? 0 : firstAfter(items, after);
    for (; index < items.length && results.length < limit; index++) {
      const json = render(items[index] as T);
      if (matches(json)) results.push(json);
    }
    let more = false;
    if (results.length === limit) {
      more = this.emptyLastPage;
      for (let i = index; !more && i < items.length; i++) more = matches(render(items[i] as T));
    }
    if (!more) return { status: 200, body: { results } };

    const next = new URL(`${this.#advertisedBase()}${url.pathname}`);
    for (const [name, value] of url.searchParams)
      if (name !== 'after' && name !== 'limit') next.searchParams.append(name, value);
    const lastId = String((results[results.length - 1] as Record<string, unknown>).id);
    next.searchParams.set('after', Buffer.from(JSON.stringify({ id: lastId })).toString('base64'));
    next.searchParams.set('limit', String(limit));
    return {
      status: 200,
      headers: { link: `<${next.href}>; rel="next"` },
      body: { next: next.href, results },
    };
  }

  #takeFault(match: RouteMatch): (SimFault & { remaining: number }) | undefined {
    const fault = this.#faults.find(
      (f) =>
        f.route === match.route &&
        f.remaining > 0 &&
        (f.runId === undefined || f.runId === match.params.runId),
    );
    if (!fault) return undefined;
    fault.remaining--;
    this.#faults = this.#faults.filter((f) => f.remaining > 0);
    return fault;
  }

  #sendFault(req: IncomingMessage, res: ServerResponse, entry: SimRequest, fault: SimFault): void {
    entry.injected = true;
    if (fault.status === 'reset') {
      entry.status = 'reset';
      req.socket.destroy();
      return;
    }
    const status = fault.status ?? 500;
    const reply = this.#problem(
      status,
      fault.problem?.title ?? STATUS_CODES[status] ?? 'Error',
      fault.problem?.detail,
      fault.problem?.traceIdIn,
    );
    if (fault.retryAfter !== undefined)
      reply.headers = { ...reply.headers, 'retry-after': String(fault.retryAfter) };
    this.#send(res, entry, reply);
  }

  #send(res: ServerResponse, entry: SimRequest, reply: Reply): void {
    entry.status = reply.status;
    this.#write(res, reply);
  }

  #write(res: ServerResponse, reply: Reply): void {
    const headers: Record<string, string> = { ...reply.headers };
    let payload = '';
    if (reply.body !== undefined) {
      payload = JSON.stringify(reply.body);
      headers['content-type'] = reply.problem
        ? 'application/problem+json; charset=utf-8'
        : 'application/json; charset=utf-8';
    }
    headers['content-length'] = String(Buffer.byteLength(payload));
    res.writeHead(reply.status, headers);
    res.end(payload);
  }

  /** RFC 9457 problem details. The real API puts `traceId` under `extensions` on 404s and at the top level elsewhere. */
  #problem(status: number, title: string, detail?: string, traceIdIn?: 'top' | 'extensions'): Reply {
    const traceId = `00-${this.#hex(32)}-${this.#hex(16)}-01`;
    const where = traceIdIn ?? (status === 404 || status === 405 ? 'extensions' : 'top');
    const section = status >= 500 ? `15.6.${status - 499}` : `15.5.${status - 399}`;
    const known = (status >= 400 && status <= 417) || (status >= 500 && status <= 505);
    return {
      status,
      problem: true,
      body: {
        type: known ? `https://tools.ietf.org/html/rfc9110#section-${section}` : 'about:blank',
        title,
        status,
        ...(detail !== undefined ? { detail } : {}),
        ...(where === 'top' ? { traceId } : { extensions: { traceId } }),
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // State changes and rendering

  /** The step moves on (by an action, or by itself when `action` is absent) and the run completes. */
  #complete(run: StoredRun, step: StoredStep, action?: string, by?: string): void {
    const workflow = this.#workflow(run.workflowId);
    const later = workflow.steps.slice(workflow.steps.findIndex((s) => s.id === step.id) + 1);
    step.status = 'Completed';
    step.dtm = this.#now;
    delete step.untilDtm;
    delete step.actions;
    step.nextStepIds = later[0] ? [later[0].id] : [];
    later.forEach((next, i) =>
      run.steps.push({
        ...next,
        status: 'Completed',
        dtm: this.#now,
        nextStepIds: later[i + 1] ? [(later[i + 1] as { id: string }).id] : [],
      }),
    );
    // A step's "Failed" action (offered with `actions: ['Continue', 'Failed']`) ends the run as Failed.
    run.status = action === 'Failed' ? 'Failed' : 'Completed';
    run.lastModifiedDtm = this.#now;
    if (action !== undefined && by !== undefined) {
      this.signals.push({
        workflowId: run.workflowId,
        runId: run.id,
        stepId: step.id,
        action,
        by,
        at: new Date(this.#now).toISOString(),
      });
    }
  }

  #renderWorkflow(workflow: StoredWorkflow): Record<string, unknown> {
    return {
      id: workflow.id,
      name: workflow.name,
      enabled: true,
      deleted: false,
      createdBy: SYSTEM_USER,
      createdDtm: new Date(workflow.createdDtm).toISOString(),
      lastModifiedDtm: new Date(workflow.createdDtm).toISOString(),
      trigger: { id: workflow.triggerId, name: 'Person leaves', type: 'PersonLeaves' },
      steps: workflow.steps.map((step) => ({ ...step })),
    };
  }

  #renderRun(run: StoredRun, variables: readonly string[]): Record<string, unknown> {
    const workflow = this.#workflow(run.workflowId);
    const waiting = run.steps.find((step) => step.status === 'Waiting');
    const context: Record<string, unknown> = {};
    if (run.person) context.person = structuredClone(run.person);
    const chosen = Object.entries(run.variables ?? {}).filter(([name]) => variables.includes(name));
    if (chosen.length > 0) context.variables = structuredClone(Object.fromEntries(chosen));
    return {
      id: run.id,
      ...(run.name !== undefined ? { name: run.name } : {}),
      status: run.status,
      ...(waiting?.untilDtm !== undefined && run.status === 'Waiting'
        ? { waitingUntilDtm: new Date(waiting.untilDtm).toISOString() }
        : {}),
      createdBy: SYSTEM_USER,
      createdDtm: new Date(run.createdDtm).toISOString(),
      deleted: false,
      lastModifiedDtm: new Date(run.lastModifiedDtm).toISOString(),
      context,
      trigger: {
        id: workflow.triggerId,
        type: 'PersonLeaves',
        status: 'Completed',
        completed: {
          dtm: new Date(run.createdDtm).toISOString(),
          nextStepIds: workflow.steps[0] ? [workflow.steps[0].id] : [],
        },
      },
      steps: run.steps.map((step) => {
        const rendered: Record<string, unknown> = {
          id: step.id,
          type: step.type,
          name: step.name,
          status: step.status,
        };
        if (step.status === 'Waiting') {
          rendered.waiting = {
            dtm: new Date(step.dtm).toISOString(),
            ...(step.untilDtm !== undefined ? { untilDtm: new Date(step.untilDtm).toISOString() } : {}),
            actions: (step.actions ?? []).map((action) => ({
              name: action,
              label: action,
              href: this.#href(run, step, action),
            })),
          };
        } else {
          rendered.completed = { dtm: new Date(step.dtm).toISOString(), nextStepIds: step.nextStepIds ?? [] };
        }
        return rendered;
      }),
    };
  }

  #href(run: StoredRun, step: StoredStep, action: string): string {
    const path = `/api/workflows/v1/${run.workflowId}/runs/${run.id}/firedSignals/${step.id}/${encodeURIComponent(action)}`;
    return (run.hrefStyle ?? this.hrefStyle) === 'relative' ? path : `${this.#advertisedBase()}${path}`;
  }

  #advertisedBase(): string {
    return this.#publicBaseUrl ?? this.baseUrl;
  }

  #workflow(workflowId: string): StoredWorkflow {
    const workflow = this.#workflows.find((w) => w.id === workflowId);
    if (!workflow) throw new Error(`SaasManagerSimulator: no workflow ${workflowId}`);
    return workflow;
  }

  /** 24 lowercase hex digits like the real ids, increasing so that sorting by id is sorting by age. */
  #newId(): string {
    this.#sequence++;
    return `6650${this.#sequence.toString(16).padStart(20, '0')}`;
  }

  #hex(length: number): string {
    this.#sequence++;
    return this.#sequence.toString(16).padStart(length, '0');
  }

  #samplePerson(index: number): SimPerson {
    const n = index + 1;
    return {
      id: this.#hex(32),
      name: `Leaver ${n}`,
      firstName: 'Leaver',
      lastName: String(n),
      email: `leaver${n}@example.com`,
      lineManager: { name: 'Sam Boss', email: 'sam.boss@example.com' },
    };
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function matchRoute(pathname: string): RouteMatch | undefined {
  if (pathname === '/connect/token') return { route: 'token', method: 'POST', params: {} };
  let segments: string[];
  try {
    segments = pathname.replace(/\/+$/, '').split('/').slice(1).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  if (segments[0] !== 'api' || segments[1] !== 'workflows' || segments[2] !== 'v1') return undefined;
  const [workflowId, runs, runId, fired, stepId, signalName, ...extra] = segments.slice(3);
  if (extra.length > 0) return undefined;
  if (workflowId === undefined) return { route: 'listWorkflows', method: 'GET', params: {} };
  if (runs === undefined) return { route: 'getWorkflow', method: 'GET', params: { workflowId } };
  if (runs !== 'runs') return undefined;
  if (runId === undefined) return { route: 'listRuns', method: 'GET', params: { workflowId } };
  if (fired === undefined) return { route: 'getRun', method: 'GET', params: { workflowId, runId } };
  if (fired !== 'firedSignals' || stepId === undefined || signalName === undefined) return undefined;
  return { route: 'signal', method: 'POST', params: { workflowId, runId, stepId, signalName } };
}

/** Index of the first item whose id sorts after `id` (items are sorted by id). */
function firstAfter(items: readonly { id: string }[], id: string): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((items[mid] as { id: string }).id <= id) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** undefined: no cursor; null: not a cursor we issued. */
function decodeCursor(after: string | null): string | undefined | null {
  if (after === null || after === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(after, 'base64').toString('utf8')) as unknown;
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      typeof (parsed as { id?: unknown }).id === 'string'
    ) {
      return (parsed as { id: string }).id;
    }
  } catch {
    // fall through
  }
  return null;
}

function parseVariables(url: URL): string[] {
  return (url.searchParams.get('variables') ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

function formDecoded(raw: { id: string; secret: string }): { id: string; secret: string } {
  try {
    const decode = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));
    return { id: decode(raw.id), secret: decode(raw.secret) };
  } catch {
    return raw;
  }
}

function safePath(url: URL): string {
  const copy = new URL(url.href);
  for (const name of [...copy.searchParams.keys()]) {
    if (/secret|token|password/i.test(name)) copy.searchParams.set(name, '[redacted]');
  }
  return `${copy.pathname}${copy.search}`;
}

/** The request body as text, or undefined when it is larger than the simulator accepts. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

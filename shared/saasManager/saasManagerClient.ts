/**
 * WorkflowApi over the 1Password SaaS Manager (Trelica) REST API: OAuth2 client credentials,
 * workflow and step lookup by name, the waiting-runs listing as an async iterator over `next`
 * links, and the signal POST that never fires twice.
 *
 * Redaction by construction: the client secret only ever goes into the token request body and
 * the access token only into the Authorization header. Errors and log lines are built from the
 * method, the path, the status, the problem-details title/detail/traceId and error codes (never
 * from bodies, headers or the message of a transport error, which can quote a header value).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowApiError, type WorkflowApiErrorDetails } from '../errors';
import type {
  Clock,
  Logger,
  RunReadOptions,
  SignalResult,
  Sleep,
  WaitingStep,
  WorkflowApi,
  WorkflowRun,
} from '../ports';
import { Secret } from '../secret';
import { parseProblemDetails, summarizeProblem } from './problemDetails';
import {
  isRetryableStatus,
  parseRetryAfter,
  resolveRetryPolicy,
  retryDelay,
  type RetryOptions,
  type RetryPolicy,
} from './retry';
import { isRecord, runIdOf, toWorkflowRun } from './runMapping';

/** Exactly what a sweep needs: find workflows, read runs, fire the step's action. */
export const SAAS_MANAGER_SCOPES = [
  'Workflows.Read',
  'Workflows.Runs.Read',
  'Workflows.Runs.Execute',
] as const;

const WORKFLOWS_PATH = '/api/workflows/v1';
const DEFAULT_PAGE_SIZE = 100;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** A safety net against a server whose cursor never ends; 100,000 pages is far beyond any tenant. */
const MAX_PAGES = 100_000;
/** Largest answer read into memory: a page of 1,000 runs is well below it. */
const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
/** After a signal POST that may have acted (5xx, no answer): re-reads before calling it uncertain. */
const SIGNAL_REREADS = 3;
/** Longest server-sent name (workflow, step, action) that goes into a message. */
const MAX_NAME = 100;
const BASE_URL_HINT =
  'check TRELICA_BASE_URL (https://app.trelica.com, or https://eu.trelica.com in the EU) and that this machine can reach it';
const SCOPES_HINT = `the API application needs the scopes ${SAAS_MANAGER_SCOPES.join(', ')}; create or edit it in SaaS Manager under Admin → Settings → API applications (save it before using its credentials)`;

export interface SaasManagerClientOptions {
  /** Host of the tenant, e.g. https://app.trelica.com or https://eu.trelica.com. */
  baseUrl: string;
  clientId: string;
  clientSecret: Secret<string>;
  /** Runs per page when listing (1-1000; the API's own default is 100). */
  pageSize?: number;
  fetch?: typeof fetch;
  sleep?: Sleep;
  clock?: Clock;
  logger?: Logger;
  /** Jitter source in [0, 1); injected so tests see fixed delays. */
  random?: () => number;
  retry?: RetryOptions;
  /** Time allowed for one HTTP exchange, body included. */
  requestTimeoutMs?: number;
  /** No request, retry or wait goes past this moment (HTTP-triggered sweeps must answer in time). */
  deadline?: Date;
  /** Answers longer than this are refused before they are read into memory (default 8 MiB). */
  maxBodyBytes?: number;
}

type Method = 'GET' | 'POST';

/** One HTTP exchange: an answer with its parsed JSON body, or a transport failure. */
type Exchange = Answer | { kind: 'network'; reason: string; timedOut: boolean };

interface Answer {
  kind: 'response';
  status: number;
  statusText: string;
  headers: Headers;
  /** Parsed JSON, or undefined when the body was empty or not JSON. */
  body: unknown;
  /** The body was longer than maxBodyBytes and was not read. */
  tooLarge?: boolean;
}

interface AccessToken {
  value: Secret<string>;
  /** When to stop using it (clock ms): shortly before the server's expiry. */
  refreshAt: number;
}

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export class SaasManagerClient implements WorkflowApi {
  /** HTTP requests sent so far, token requests included (reports and benchmarks). */
  get requestsMade(): number {
    return this.#requestsMade;
  }

  readonly #base: string;
  readonly #origin: string;
  readonly #clientId: string;
  readonly #clientSecret: Secret<string>;
  readonly #pageSize: number;
  readonly #fetch: typeof fetch;
  readonly #sleep: Sleep;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #deadline: number | undefined;
  readonly #maxBodyBytes: number;
  #token: AccessToken | undefined;
  #requestsMade = 0;
  #pendingToken: Promise<AccessToken> | undefined;

  constructor(options: SaasManagerClientOptions) {
    const base = parseBaseUrl(options.baseUrl);
    this.#base = base.href.replace(/\/+$/, '');
    this.#origin = base.origin;
    this.#clientId = options.clientId;
    this.#clientSecret = options.clientSecret;
    this.#pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1 || this.#pageSize > 1000) {
      throw new RangeError(`pageSize must be a whole number from 1 to 1000 (got ${this.#pageSize})`);
    }
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, signal ? { signal } : undefined));
    this.#clock = options.clock ?? { now: () => new Date() };
    this.#logger = options.logger ?? silentLogger;
    this.#random = options.random ?? Math.random;
    this.#retry = resolveRetryPolicy(options.retry);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#deadline = options.deadline?.getTime();
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  // -------------------------------------------------------------------------------------------
  // WorkflowApi

  async resolveStep(workflowName: string, stepName: string, actionName: string): Promise<WaitingStep> {
    const url = this.#apiUrl(WORKFLOWS_PATH, {
      filter: `name eq ${scimString(workflowName)}`,
      limit: String(this.#pageSize),
    });
    const exact: Record<string, unknown>[] = [];
    // The server's `eq` may ignore case; "exact name" is checked here, and near misses named.
    const nearMisses = new Set<string>();
    for await (const { results } of this.#pages(url, true)) {
      for (const workflow of results) {
        if (!isRecord(workflow) || typeof workflow.name !== 'string') continue;
        if (workflow.name === workflowName) exact.push(workflow);
        else nearMisses.add(workflow.name);
      }
    }

    if (exact.length === 0) {
      const seen = nearMisses.size > 0 ? [...nearMisses] : await this.#someWorkflowNames();
      const found =
        seen.length > 0
          ? `; workflows this API client can see: ${quoteList(seen)}`
          : '; this API client sees no workflows at all';
      throw new WorkflowApiError(
        'WorkflowNotFound',
        `No SaaS Manager workflow is named "${workflowName}"${found}`,
        {
          setup: true,
          hint: 'set WORKFLOW_NAMES to the exact workflow name (letter case matters)',
        },
      );
    }
    if (exact.length > 1) {
      const ids = exact.map((workflow) => String(workflow.id)).join(', ');
      throw new WorkflowApiError(
        'WorkflowAmbiguous',
        `${exact.length} SaaS Manager workflows are named "${workflowName}" (ids ${ids})`,
        { setup: true, hint: 'give each workflow a unique name, so a sweep knows which one to drive' },
      );
    }

    const workflow = exact[0] as Record<string, unknown>;
    const workflowId = typeof workflow.id === 'string' && workflow.id !== '' ? workflow.id : undefined;
    if (!workflowId) {
      throw new WorkflowApiError(
        'BadResponse',
        `SaaS Manager listed workflow "${workflowName}" without an id`,
        {
          method: 'GET',
          path: safePath(url),
          setup: true,
        },
      );
    }
    const steps = (Array.isArray(workflow.steps) ? workflow.steps : []).filter(isRecord);
    const matches = steps.filter((step) => step.name === stepName || step.customName === stepName);
    if (matches.length === 0) {
      const existing = steps
        .slice(0, 20)
        .map((step) => `"${clip(String(step.name))}"${step.type ? ` (${clip(String(step.type))})` : ''}`);
      if (steps.length > 20) existing.push(`and ${steps.length - 20} more`);
      const list = existing.length > 0 ? `; its steps are: ${existing.join(', ')}` : '; it has no steps';
      throw new WorkflowApiError(
        'StepNotFound',
        `Workflow "${workflowName}" has no step named "${stepName}"${list}`,
        {
          setup: true,
          hint: 'set WORKFLOW_STEP_NAME to the name of the Signal step that waits for this app',
        },
      );
    }
    if (matches.length > 1) {
      const ids = matches.map((step) => String(step.id)).join(', ');
      throw new WorkflowApiError(
        'StepAmbiguous',
        `Workflow "${workflowName}" has ${matches.length} steps named "${stepName}" (ids ${ids})`,
        { setup: true, hint: 'give the Signal step that waits for this app a unique name' },
      );
    }
    const stepId = (matches[0] as Record<string, unknown>).id;
    if (typeof stepId !== 'string' || stepId === '') {
      throw new WorkflowApiError(
        'BadResponse',
        `Workflow "${workflowName}" lists step "${stepName}" without an id`,
        {
          method: 'GET',
          path: safePath(url),
          setup: true,
        },
      );
    }
    return { workflowId, workflowName, stepId, stepName, actionName };
  }

  async *listWaitingRuns(step: WaitingStep): AsyncGenerator<WorkflowRun> {
    const url = this.#apiUrl(`${WORKFLOWS_PATH}/${encodeURIComponent(step.workflowId)}/runs`, {
      limit: String(this.#pageSize),
      filter: `status ne "Terminated" and steps[status eq "Waiting" and id eq ${scimString(step.stepId)}]`,
    });
    for await (const { results } of this.#pages(url, false)) {
      for (const item of results) {
        if (!isRecord(item) || runIdOf(item) === undefined) {
          this.#logger.warn('SaaS Manager listed a run without an id; skipping it', {
            workflowId: step.workflowId,
          });
          continue;
        }
        const run = toWorkflowRun(item, step);
        // The server filter should have excluded it; never hand the use case a run we must not touch.
        if (!run.waitingAtStep) continue;
        yield run;
      }
    }
  }

  async getRun(
    step: WaitingStep,
    runId: string,
    options: RunReadOptions = {},
  ): Promise<WorkflowRun | undefined> {
    // Run variables come only when asked for by name (?variables=a,b); the profile names them.
    const variables = [...new Set(options.variables ?? [])];
    const url = this.#apiUrl(
      `${WORKFLOWS_PATH}/${encodeURIComponent(step.workflowId)}/runs/${encodeURIComponent(runId)}`,
      variables.length > 0 ? { variables: variables.join(',') } : {},
    );
    const answer = await this.#get(url, false, true);
    if (answer.status === 404) return undefined;
    let json = answer.body;
    // Tolerate a list-shaped answer (the published docs show one for this endpoint).
    if (isRecord(json) && Array.isArray(json.results))
      json = json.results.find((item) => runIdOf(item) === runId);
    if (!isRecord(json) || runIdOf(json) !== runId) {
      throw new WorkflowApiError(
        'BadResponse',
        `SaaS Manager GET ${url.pathname} did not return run ${runId}`,
        {
          method: 'GET',
          path: safePath(url),
          status: answer.status,
        },
      );
    }
    return toWorkflowRun(json, step, variables);
  }

  async signal(step: WaitingStep, run: WorkflowRun): Promise<SignalResult> {
    if (!run.waitingAtStep) return 'notWaiting';
    const started = this.#now();
    let current = run;
    for (let attempt = 1; ; attempt++) {
      if (current.signalHref === undefined) throw actionNotFound(step, current);
      const url = this.#resolveReference(current.signalHref, 'action href');
      const exchange = await this.#authorized('POST', url);
      if (exchange.kind === 'response') {
        if (isSuccess(exchange.status)) {
          // The use case logs the run's outcome; this is the wire-level detail.
          this.#logger.debug(
            'SaaS Manager signal fired',
            this.#runProps(step, current, { action: step.actionName }),
          );
          return 'signalled';
        }
        if (exchange.status === 409) {
          this.#logger.info(
            'SaaS Manager step no longer waiting (409); not signalled',
            this.#runProps(step, current),
          );
          return 'notWaiting';
        }
        if (exchange.status !== 429 && exchange.status < 500)
          throw this.#signalRefused(step, current, url, exchange);
      }

      // 429, 5xx or no answer. A 429 proves nothing happened: wait, re-read, and POST again.
      if (exchange.kind === 'response' && exchange.status === 429) {
        const wait = this.#delayAfter(exchange, attempt);
        if (this.#now() - started + wait > this.#retry.maxTotalMs || this.#pastDeadline(wait)) {
          throw this.#signalGaveUp(step, current, url, exchange, attempt, false);
        }
        this.#logger.warn(
          `SaaS Manager POST ${url.pathname} ${describeExchange(exchange)}; re-reading the run in ${wait} ms before signalling again`,
          this.#runProps(step, current, { attempt }),
        );
        await this.#sleep(wait);
        const fresh = await this.#reReadAfterSignal(step, current, url, exchange);
        if (!fresh.waitingAtStep) {
          this.#logger.info(
            'SaaS Manager step moved on while we waited to retry; not signalling',
            this.#runProps(step, fresh),
          );
          return 'notWaiting';
        }
        if (attempt >= this.#retry.maxAttempts)
          throw this.#signalGaveUp(step, fresh, url, exchange, attempt, false);
        current = fresh;
        continue;
      }

      // A 5xx or no answer may hide a signal that fired. A re-read that still says Waiting does not
      // prove otherwise (the workflow may move on a moment later), so no second POST now: a bounded
      // number of re-reads, then "uncertain"; the run stays as it is for the next sweep.
      let reads = 0;
      for (let read = 1; read <= SIGNAL_REREADS; read++) {
        const wait = this.#delayAfter(exchange, read);
        if (this.#now() - started + wait > this.#retry.maxTotalMs || this.#pastDeadline(wait)) break;
        this.#logger.warn(
          `SaaS Manager POST ${url.pathname} ${describeExchange(exchange)}; re-reading the run in ${wait} ms to see whether the signal took effect`,
          this.#runProps(step, current, { read }),
        );
        await this.#sleep(wait);
        const fresh = await this.#reReadAfterSignal(step, current, url, exchange);
        reads = read;
        if (!fresh.waitingAtStep) {
          this.#logger.info(
            'SaaS Manager signal took effect although its answer was an error; not signalling again',
            this.#runProps(step, fresh),
          );
          return 'signalled';
        }
      }
      throw new WorkflowApiError(
        'SignalUncertain',
        `signal uncertain: the "${clip(step.actionName)}" signal for run ${current.runId} got POST ${url.pathname} ${describeExchange(exchange)} and the run still showed Waiting after ${reads} re-read(s); it was not posted again, so the next sweep checks the run and signals it only if it is still waiting`,
        {
          method: 'POST',
          path: safePath(url),
          ...(exchange.kind === 'response' ? { status: exchange.status } : {}),
          ...(exchange.kind === 'network' ? { hint: BASE_URL_HINT } : {}),
        },
      );
    }
  }

  /** The run after a signal POST that went wrong: fresh, or an error that says what is unknown. */
  async #reReadAfterSignal(
    step: WaitingStep,
    current: WorkflowRun,
    url: URL,
    exchange: Exchange,
  ): Promise<WorkflowRun> {
    let fresh: WorkflowRun | undefined;
    try {
      fresh = await this.getRun(step, current.runId);
    } catch (error) {
      throw new WorkflowApiError(
        'SignalUncertain',
        `signal uncertain: could not tell whether the "${clip(step.actionName)}" signal for run ${current.runId} took effect: the POST ${describeExchange(exchange)} and re-reading the run failed (${error instanceof Error ? clip(error.message, 300) : 'unknown error'})`,
        {
          method: 'POST',
          path: safePath(url),
          hint: 'the run is left as it is; if it is still waiting, the next sweep processes it again',
          ...(exchange.kind === 'response' ? { status: exchange.status } : {}),
        },
      );
    }
    if (!fresh) {
      throw new WorkflowApiError(
        'RunNotFound',
        `Run ${current.runId} of workflow "${clip(step.workflowName)}" no longer exists (re-read after the signal POST ${describeExchange(exchange)})`,
        { method: 'GET', path: `${WORKFLOWS_PATH}/${step.workflowId}/runs/${current.runId}`, status: 404 },
      );
    }
    return fresh;
  }

  /** True when waiting `ms` more would pass the deadline. */
  #pastDeadline(ms: number): boolean {
    return this.#deadline !== undefined && this.#now() + ms > this.#deadline;
  }

  // -------------------------------------------------------------------------------------------
  // Paging

  async *#pages(first: URL, setup: boolean): AsyncGenerator<{ results: unknown[] }> {
    let url: URL | undefined = first;
    const visited = new Set<string>();
    for (let page = 1; url !== undefined; page++) {
      if (page > MAX_PAGES || visited.has(url.href)) {
        throw new WorkflowApiError(
          'PagingLoop',
          `SaaS Manager paging for ${first.pathname} did not come to an end`,
          {
            method: 'GET',
            path: safePath(url),
          },
        );
      }
      visited.add(url.href);
      const answer = await this.#get(url, setup, false);
      const body = answer.body;
      if (!isRecord(body) || !Array.isArray(body.results)) {
        throw new WorkflowApiError(
          'BadResponse',
          `SaaS Manager GET ${url.pathname} did not return a list of results`,
          {
            method: 'GET',
            path: safePath(url),
            status: answer.status,
            setup,
          },
        );
      }
      // Stop on an empty page even if it carries a `next` (the documented end condition).
      if (body.results.length === 0) return;
      const next =
        typeof body.next === 'string' && body.next.trim() !== '' ? body.next : linkNext(answer.headers);
      const nextUrl = next === undefined ? undefined : this.#resolveReference(next, 'next page URL');
      yield { results: body.results };
      url = nextUrl;
    }
  }

  async #someWorkflowNames(): Promise<string[]> {
    try {
      const answer = await this.#get(this.#apiUrl(WORKFLOWS_PATH, { limit: '50' }), true, false);
      const results = isRecord(answer.body) && Array.isArray(answer.body.results) ? answer.body.results : [];
      return results
        .filter(isRecord)
        .flatMap((workflow) => (typeof workflow.name === 'string' ? [workflow.name] : []));
    } catch {
      // Only decoration for the "not found" message; the real error is that one.
      return [];
    }
  }

  // -------------------------------------------------------------------------------------------
  // HTTP: GET with retries, token, one exchange

  /** A GET with retries; resolves with a 2xx answer (or a 404 when `allow404`), else throws. */
  async #get(url: URL, setup: boolean, allow404: boolean): Promise<Answer> {
    const { exchange, attempts } = await this.#withRetries('GET', url, () => this.#authorized('GET', url));
    if (exchange.kind === 'network') throw this.#networkError('GET', url, exchange, attempts, setup);
    if (exchange.tooLarge) {
      throw new WorkflowApiError(
        'BadResponse',
        `SaaS Manager GET ${url.pathname} answered ${exchange.status} with more than ${this.#maxBodyBytes} bytes; not reading it`,
        { method: 'GET', path: safePath(url), status: exchange.status, setup },
      );
    }
    if (isSuccess(exchange.status) || (allow404 && exchange.status === 404)) {
      if (isSuccess(exchange.status) && exchange.body === undefined) {
        throw new WorkflowApiError(
          'BadResponse',
          `SaaS Manager GET ${url.pathname} answered ${exchange.status} without JSON`,
          {
            method: 'GET',
            path: safePath(url),
            status: exchange.status,
            setup,
          },
        );
      }
      return exchange;
    }
    throw this.#statusError('GET', url, exchange, attempts, setup);
  }

  async #withRetries(
    method: Method,
    url: URL,
    attempt: () => Promise<Exchange>,
  ): Promise<{ exchange: Exchange; attempts: number }> {
    const started = this.#now();
    for (let n = 1; ; n++) {
      const exchange = await attempt();
      const transient = exchange.kind === 'network' || isRetryableStatus(exchange.status);
      if (!transient || n >= this.#retry.maxAttempts) return { exchange, attempts: n };
      const wait = this.#delayAfter(exchange, n);
      if (this.#now() - started + wait > this.#retry.maxTotalMs || this.#pastDeadline(wait))
        return { exchange, attempts: n };
      this.#logger.warn(
        `SaaS Manager ${method} ${url.pathname} ${describeExchange(exchange)}; retrying in ${wait} ms`,
        {
          attempt: n,
          maxAttempts: this.#retry.maxAttempts,
        },
      );
      await this.#sleep(wait);
    }
  }

  #delayAfter(exchange: Exchange, attempt: number): number {
    const retryAfter =
      exchange.kind === 'response'
        ? parseRetryAfter(exchange.headers.get('retry-after'), this.#clock.now())
        : undefined;
    return retryDelay(this.#retry, attempt, retryAfter, this.#random);
  }

  /** One exchange with a bearer token; on 401 one fresh token and one more try (401 means nothing was done). */
  async #authorized(method: Method, url: URL): Promise<Exchange> {
    const token = await this.#accessToken();
    const exchange = await this.#send(method, url, { authorization: `Bearer ${token.value.reveal()}` });
    if (exchange.kind !== 'response' || exchange.status !== 401) return exchange;
    this.#logger.debug(`SaaS Manager ${method} ${url.pathname} answered 401; requesting a new access token`);
    if (this.#token === token) this.#token = undefined;
    const fresh = await this.#accessToken();
    return this.#send(method, url, { authorization: `Bearer ${fresh.value.reveal()}` });
  }

  async #accessToken(): Promise<AccessToken> {
    if (this.#token && this.#now() < this.#token.refreshAt) return this.#token;
    // Concurrent callers share one token request.
    this.#pendingToken ??= this.#requestToken().finally(() => {
      this.#pendingToken = undefined;
    });
    return this.#pendingToken;
  }

  async #requestToken(): Promise<AccessToken> {
    const url = new URL(`${this.#base}/connect/token`);
    // Credentials as form fields (client_secret_post), like the official SDK: no Basic-header
    // encoding questions for secrets with ':' or '%' in them.
    const form = () =>
      new URLSearchParams({
        grant_type: 'client_credentials',
        scope: SAAS_MANAGER_SCOPES.join(' '),
        client_id: this.#clientId,
        client_secret: this.#clientSecret.reveal(),
      });
    const { exchange, attempts } = await this.#withRetries('POST', url, () =>
      this.#send('POST', url, { 'content-type': 'application/x-www-form-urlencoded' }, form()),
    );
    if (exchange.kind === 'network') throw this.#networkError('POST', url, exchange, attempts, true);

    const body = isRecord(exchange.body) ? exchange.body : {};
    if (isSuccess(exchange.status)) {
      const accessToken = typeof body.access_token === 'string' ? body.access_token : '';
      const tokenType = typeof body.token_type === 'string' ? body.token_type : 'Bearer';
      if (accessToken === '' || tokenType.toLowerCase() !== 'bearer') {
        throw new WorkflowApiError(
          'BadResponse',
          'SaaS Manager /connect/token answered without a bearer access token',
          {
            method: 'POST',
            path: url.pathname,
            status: exchange.status,
            setup: true,
          },
        );
      }
      const expiresIn = Number(body.expires_in);
      const lifetimeMs = (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 3600) * 1000;
      // Refresh a little early (a minute, or a tenth of a short lifetime) so no call carries an expiring token.
      const margin = Math.min(60_000, lifetimeMs / 10);
      this.#token = { value: new Secret(accessToken), refreshAt: this.#now() + lifetimeMs - margin };
      this.#logger.debug('SaaS Manager access token obtained', { expiresInSeconds: lifetimeMs / 1000 });
      return this.#token;
    }

    const oauthError = typeof body.error === 'string' ? body.error : undefined;
    if (
      oauthError === 'invalid_client' ||
      oauthError === 'unauthorized_client' ||
      oauthError === 'invalid_scope'
    ) {
      const why =
        oauthError === 'invalid_scope'
          ? `does not allow the scopes ${SAAS_MANAGER_SCOPES.join(', ')} (invalid_scope)`
          : `refused client id "${this.#clientId}" and its secret (${oauthError})`;
      throw new WorkflowApiError('ClientRefused', `SaaS Manager ${why}`, {
        method: 'POST',
        path: url.pathname,
        status: exchange.status,
        title: oauthError,
        setup: true,
        hint: `check TRELICA_CLIENT_ID and TRELICA_CLIENT_SECRET; ${SCOPES_HINT}`,
      });
    }
    throw this.#statusError('POST', url, exchange, attempts, true, 'TokenRequestFailed');
  }

  async #send(
    method: Method,
    url: URL,
    headers: Record<string, string>,
    body?: URLSearchParams,
  ): Promise<Exchange> {
    // Never past the deadline: a sweep that must answer an HTTP request gives up in time.
    const left = this.#deadline === undefined ? this.#timeoutMs : this.#deadline - this.#now();
    if (left <= 0) return { kind: 'network', reason: 'no time left in this sweep', timedOut: true };
    const timeoutMs = Math.min(this.#timeoutMs, left);
    const signal = AbortSignal.timeout(timeoutMs);
    this.#requestsMade += 1;
    try {
      const response = await this.#fetch(url, {
        method,
        headers: { accept: 'application/json', ...headers },
        ...(body ? { body } : {}),
        // A redirect would carry the bearer token to wherever it points; treat it as an answer instead.
        redirect: 'manual',
        signal,
      });
      const text = await readCapped(response, this.#maxBodyBytes);
      return {
        kind: 'response',
        status: response.status,
        statusText: clip(response.statusText, 60),
        headers: response.headers,
        body: text === undefined ? undefined : parseJson(text),
        ...(text === undefined ? { tooLarge: true } : {}),
      };
    } catch (error) {
      return { kind: 'network', ...describeNetworkError(error, timeoutMs) };
    }
  }

  // -------------------------------------------------------------------------------------------
  // Errors

  #networkError(
    method: Method,
    url: URL,
    exchange: { reason: string; timedOut: boolean },
    attempts: number,
    setup: boolean,
  ): WorkflowApiError {
    const tries = attempts > 1 ? ` (${attempts} attempts)` : '';
    const message = exchange.timedOut
      ? `SaaS Manager at ${this.#origin} did not answer ${method} ${url.pathname}: ${exchange.reason}${tries}`
      : `Cannot reach SaaS Manager at ${this.#origin} (${method} ${url.pathname}: ${exchange.reason})${tries}`;
    return new WorkflowApiError(exchange.timedOut ? 'Timeout' : 'Unreachable', message, {
      method,
      path: safePath(url),
      setup,
      hint: BASE_URL_HINT,
    });
  }

  #statusError(
    method: Method,
    url: URL,
    answer: Answer,
    attempts: number,
    setup: boolean,
    code?: string,
  ): WorkflowApiError {
    const problem = parseProblemDetails(answer.body);
    const summary = summarizeProblem(problem);
    const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
    const trace = problem?.traceId ? ` (traceId ${problem.traceId})` : '';
    const message = `SaaS Manager ${method} ${url.pathname} answered ${answer.status}${answer.statusText ? ` ${answer.statusText}` : ''}${summary ? `: ${summary}` : ''}${tries}${trace}`;
    const details: WorkflowApiErrorDetails = {
      method,
      path: safePath(url),
      status: answer.status,
      setup,
      ...(problem?.title !== undefined ? { title: problem.title } : {}),
      ...(problem?.detail !== undefined ? { detail: problem.detail } : {}),
      ...(problem?.traceId !== undefined ? { traceId: problem.traceId } : {}),
    };
    const status = answer.status;
    if (status === 401) {
      return new WorkflowApiError(code ?? 'Unauthorized', message, {
        ...details,
        setup: true,
        hint: 'a freshly issued access token was refused; check that the API application is still enabled',
      });
    }
    if (status === 403)
      return new WorkflowApiError(code ?? 'Forbidden', message, {
        ...details,
        setup: true,
        hint: SCOPES_HINT,
      });
    if (status >= 300 && status < 400) {
      return new WorkflowApiError(code ?? 'Redirected', message, { ...details, hint: BASE_URL_HINT });
    }
    const fallback =
      status === 404
        ? 'NotFound'
        : status === 429
          ? 'RateLimited'
          : status >= 500
            ? 'ServerError'
            : 'RequestFailed';
    return new WorkflowApiError(code ?? fallback, message, details);
  }

  #signalRefused(step: WaitingStep, run: WorkflowRun, url: URL, answer: Answer): WorkflowApiError {
    if (answer.status === 404) {
      const problem = parseProblemDetails(answer.body);
      return new WorkflowApiError(
        'RunNotFound',
        `SaaS Manager has no run ${run.runId} with a "${step.actionName}" action at step "${step.stepName}" any more (POST ${url.pathname} answered 404)${problem?.traceId ? ` (traceId ${problem.traceId})` : ''}`,
        {
          method: 'POST',
          path: safePath(url),
          status: 404,
          ...(problem?.traceId ? { traceId: problem.traceId } : {}),
        },
      );
    }
    const error = this.#statusError('POST', url, answer, 1, false);
    if (answer.status === 401 || answer.status === 403) return error;
    return new WorkflowApiError(
      'SignalRejected',
      `The "${step.actionName}" signal for run ${run.runId} was refused: ${error.message}`,
      {
        method: 'POST',
        path: safePath(url),
        status: answer.status,
        ...pick(error),
      },
    );
  }

  #signalGaveUp(
    step: WaitingStep,
    run: WorkflowRun,
    url: URL,
    exchange: Exchange,
    attempts: number,
    uncertain: boolean,
  ): WorkflowApiError {
    const outcome = uncertain
      ? 'whether the last attempt took effect is unknown; if the run is still waiting, the next sweep tries again'
      : 'the run is still waiting, so the next sweep tries again';
    return new WorkflowApiError(
      uncertain ? 'SignalUncertain' : 'SignalFailed',
      `The "${step.actionName}" signal for run ${run.runId} did not go through: POST ${url.pathname} ${describeExchange(exchange)} (${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}); ${outcome}`,
      {
        method: 'POST',
        path: safePath(url),
        ...(exchange.kind === 'response' ? { status: exchange.status } : {}),
        ...(exchange.kind === 'network' ? { hint: BASE_URL_HINT } : {}),
      },
    );
  }

  // -------------------------------------------------------------------------------------------
  // URLs and small helpers

  #apiUrl(path: string, query: Record<string, string> = {}): URL {
    const url = new URL(`${this.#base}${path}`);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return url;
  }

  /**
   * Resolve an `href` or `next` from the server (absolute, host-relative or relative). It must stay
   * on the configured host: the bearer token goes with the request.
   */
  #resolveReference(reference: string, what: string): URL {
    const text = reference.trim();
    let url: URL;
    try {
      url =
        text.startsWith('/') && !text.startsWith('//')
          ? new URL(`${this.#base}${text}`) // keeps a path prefix of the base URL (e.g. behind a proxy)
          : new URL(text, `${this.#base}/`);
    } catch {
      throw new WorkflowApiError('BadResponse', `SaaS Manager sent an unusable ${what}`, {});
    }
    if (url.origin !== this.#origin) {
      throw new WorkflowApiError(
        'UnexpectedHost',
        `SaaS Manager sent a ${what} on another host (${url.protocol}//${url.host}); not following it, so the access token stays with ${this.#origin}`,
        { path: url.pathname, hint: BASE_URL_HINT },
      );
    }
    return url;
  }

  #runProps(
    step: WaitingStep,
    run: WorkflowRun,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> {
    return { workflowId: step.workflowId, workflowName: step.workflowName, runId: run.runId, ...extra };
  }

  #now(): number {
    return this.#clock.now().getTime();
  }
}

function parseBaseUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new WorkflowApiError('InvalidBaseUrl', `TRELICA_BASE_URL "${value}" is not a URL`, {
      setup: true,
      hint: BASE_URL_HINT,
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new WorkflowApiError(
      'InvalidBaseUrl',
      `TRELICA_BASE_URL must be an https:// URL (got ${url.protocol})`,
      {
        setup: true,
        hint: BASE_URL_HINT,
      },
    );
  }
  url.search = '';
  url.hash = '';
  return url;
}

function actionNotFound(step: WaitingStep, run: WorkflowRun): WorkflowApiError {
  const actions =
    run.availableActions.length > 0
      ? `its actions are ${quoteList(run.availableActions)}`
      : 'it offers no actions';
  return new WorkflowApiError(
    'ActionNotFound',
    `Run ${run.runId}${run.name ? ` (${run.name})` : ''} waits at step "${step.stepName}" but has no action named "${step.actionName}"; ${actions}`,
    { hint: 'set WORKFLOW_ACTION_NAME to the action this app should fire when its work is done' },
  );
}

/** A SCIM filter string literal (JSON string syntax: quotes and backslashes escaped). */
function scimString(value: string): string {
  return JSON.stringify(value);
}

function quoteList(items: readonly string[], max = 10): string {
  const shown = items.slice(0, max).map((item) => `"${clip(item)}"`);
  return items.length > max ? `${shown.join(', ')} and ${items.length - max} more` : shown.join(', ');
}

/** Server-sent text for a message or log line: no control characters, bounded length. */
function clip(value: string, max = MAX_NAME): string {
  // eslint-disable-next-line no-control-regex
  const printable = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}

/**
 * The body as text, or undefined when it is longer than `max` bytes: read chunk by chunk and
 * cancelled as soon as it passes the limit, so an endless or huge answer never fills memory.
 */
async function readCapped(response: Response, max: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** `Link: <url>; rel="next"` (the API sends it alongside `next`). */
function linkNext(headers: Headers): string | undefined {
  const link = headers.get('link');
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (match && /\brel="?next"?/i.test(match[2] ?? '')) return match[1];
  }
  return undefined;
}

/** Path and query for errors, with any secret-looking query value blanked. */
function safePath(url: URL): string {
  const copy = new URL(url.href);
  for (const name of [...copy.searchParams.keys()]) {
    if (/secret|token|password|code|key|signature|sig/i.test(name)) copy.searchParams.set(name, '[redacted]');
  }
  return `${copy.pathname}${copy.search}`;
}

function describeExchange(exchange: Exchange): string {
  if (exchange.kind === 'network')
    return exchange.timedOut ? `got no answer (${exchange.reason})` : `failed (${exchange.reason})`;
  const problem = parseProblemDetails(exchange.body);
  const retryAfter = exchange.headers.get('retry-after');
  return `answered ${exchange.status}${exchange.statusText ? ` ${exchange.statusText}` : ''}${problem?.traceId ? ` (traceId ${problem.traceId})` : ''}${retryAfter ? ` (Retry-After ${retryAfter.slice(0, 40)})` : ''}`;
}

/**
 * Name a transport failure by its error code only. The messages of fetch errors can quote header
 * values (an invalid Authorization header is reported verbatim), so they are never copied.
 */
function describeNetworkError(error: unknown, timeoutMs: number): { reason: string; timedOut: boolean } {
  // Duck-typed: errors from fetch may come from another realm (e.g. a test sandbox), so no instanceof.
  const name = isObject(error) && typeof error.name === 'string' ? error.name : '';
  if (name === 'TimeoutError') return { reason: `no answer within ${timeoutMs} ms`, timedOut: true };
  if (name === 'AbortError') return { reason: 'request aborted', timedOut: false };
  const cause = isObject(error) ? error.cause : undefined;
  const nested = isObject(cause) && Array.isArray(cause.errors) ? (cause.errors as unknown[])[0] : undefined;
  const code = errorCode(cause) ?? errorCode(error) ?? errorCode(nested);
  return { reason: code ?? 'network error', timedOut: false };
}

function errorCode(value: unknown): string | undefined {
  const code = isObject(value) ? value.code : undefined;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? code : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function pick(error: WorkflowApiError): WorkflowApiErrorDetails {
  return {
    ...(error.title !== undefined ? { title: error.title } : {}),
    ...(error.detail !== undefined ? { detail: error.detail } : {}),
    ...(error.traceId !== undefined ? { traceId: error.traceId } : {}),
  };
}

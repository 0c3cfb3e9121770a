/**
 * WorkflowApi over the 1Password SaaS Manager (Trelica) REST API: workflow and step lookup by
 * name, the waiting-runs listing as an async iterator over `next` links, and the signal POST that
 * never fires twice. The HTTP exchange and its retries live in transport.ts, the access token in
 * accessToken.ts, the error factories in workflowApiErrors.ts.
 */
import { WorkflowApiError } from '../errors';
import type { RunReadOptions, SignalResult, WaitingStep, WorkflowRun } from '../domain';
import { isRecord } from '../guards';
import { silentLogger } from '../logging';
import type { Clock, Logger, Sleep, WorkflowApi } from '../ports';
import type { Secret } from '../secret';
import { AccessTokens } from './accessToken';
import type { RetryOptions } from './retry';
import { runIdOf, toWorkflowRun } from './runMapping';
import {
  clip,
  describeExchange,
  isSuccess,
  linkNext,
  safePath,
  Transport,
  type Answer,
  type Exchange,
  type Method,
} from './transport';
import {
  actionNotFound,
  BASE_URL_HINT,
  networkError,
  parseBaseUrl,
  quoteList,
  signalGaveUp,
  signalRefused,
  statusError,
} from './workflowApiErrors';

export { SAAS_MANAGER_SCOPES } from './workflowApiErrors';

const WORKFLOWS_PATH = '/api/workflows/v1';
const DEFAULT_PAGE_SIZE = 100;
/** A safety net against a server whose cursor never ends; 100,000 pages is far beyond any tenant. */
const MAX_PAGES = 100_000;
/** After a signal POST that may have acted (5xx, no answer): re-reads before calling it uncertain. */
const SIGNAL_REREADS = 3;

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

export class SaasManagerClient implements WorkflowApi {
  /** HTTP requests sent so far, token requests included (reports and benchmarks). */
  get requestsMade(): number {
    return this.#http.requestsMade;
  }

  readonly #base: string;
  readonly #origin: string;
  readonly #pageSize: number;
  readonly #logger: Logger;
  readonly #http: Transport;
  readonly #tokens: AccessTokens;

  constructor(options: SaasManagerClientOptions) {
    const base = parseBaseUrl(options.baseUrl);
    this.#base = base.href.replace(/\/+$/, '');
    this.#origin = base.origin;
    this.#pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1 || this.#pageSize > 1000) {
      throw new RangeError(`pageSize must be a whole number from 1 to 1000 (got ${this.#pageSize})`);
    }
    this.#logger = options.logger ?? silentLogger;
    this.#http = new Transport({
      logger: this.#logger,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.sleep ? { sleep: options.sleep } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.random ? { random: options.random } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.deadline ? { deadline: options.deadline } : {}),
      ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
    });
    this.#tokens = new AccessTokens({
      base: this.#base,
      origin: this.#origin,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      transport: this.#http,
      logger: this.#logger,
    });
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
        .map(
          (step) =>
            `"${clip(String(step.name))}"${typeof step.type === 'string' && step.type ? ` (${clip(step.type)})` : ''}`,
        );
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
          upstreamStatus: answer.status,
        },
      );
    }
    return toWorkflowRun(json, step, variables);
  }

  async signal(step: WaitingStep, run: WorkflowRun): Promise<SignalResult> {
    if (!run.waitingAtStep) return 'notWaiting';
    const started = this.#http.now();
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
          throw signalRefused(step, current, url, exchange);
      }

      // 429, 5xx or no answer. A 429 proves nothing happened: wait, re-read, and POST again.
      if (exchange.kind === 'response' && exchange.status === 429) {
        const wait = this.#http.delayAfter(exchange, attempt);
        if (
          this.#http.now() - started + wait > this.#http.retry.maxTotalMs ||
          this.#http.pastDeadline(wait)
        ) {
          throw signalGaveUp(step, current, url, exchange, attempt, false);
        }
        this.#logger.warn(
          `SaaS Manager POST ${url.pathname} ${describeExchange(exchange)}; re-reading the run in ${wait} ms before signalling again`,
          this.#runProps(step, current, { attempt }),
        );
        await this.#http.sleep(wait);
        const fresh = await this.#reReadAfterSignal(step, current, url, exchange);
        if (!fresh.waitingAtStep) {
          this.#logger.info(
            'SaaS Manager step moved on while we waited to retry; not signalling',
            this.#runProps(step, fresh),
          );
          return 'notWaiting';
        }
        if (attempt >= this.#http.retry.maxAttempts)
          throw signalGaveUp(step, fresh, url, exchange, attempt, false);
        current = fresh;
        continue;
      }

      // A 5xx or no answer may hide a signal that fired. A re-read that still says Waiting does not
      // prove otherwise (the workflow may move on a moment later), so no second POST now: a bounded
      // number of re-reads, then "uncertain"; the run stays as it is for the next sweep.
      let reads = 0;
      for (let read = 1; read <= SIGNAL_REREADS; read++) {
        const wait = this.#http.delayAfter(exchange, read);
        if (this.#http.now() - started + wait > this.#http.retry.maxTotalMs || this.#http.pastDeadline(wait))
          break;
        this.#logger.warn(
          `SaaS Manager POST ${url.pathname} ${describeExchange(exchange)}; re-reading the run in ${wait} ms to see whether the signal took effect`,
          this.#runProps(step, current, { read }),
        );
        await this.#http.sleep(wait);
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
          ...(exchange.kind === 'response' ? { upstreamStatus: exchange.status } : {}),
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
          ...(exchange.kind === 'response' ? { upstreamStatus: exchange.status } : {}),
        },
      );
    }
    if (!fresh) {
      throw new WorkflowApiError(
        'RunGone',
        `Run ${current.runId} of workflow "${clip(step.workflowName)}" no longer exists (re-read after the signal POST ${describeExchange(exchange)})`,
        {
          method: 'GET',
          path: `${WORKFLOWS_PATH}/${step.workflowId}/runs/${current.runId}`,
          upstreamStatus: 404,
        },
      );
    }
    return fresh;
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
            upstreamStatus: answer.status,
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
  // HTTP: a GET with retries, and every exchange with the bearer token

  /** A GET with retries; resolves with a 2xx answer (or a 404 when `allow404`), else throws. */
  async #get(url: URL, setup: boolean, allow404: boolean): Promise<Answer> {
    const { exchange, attempts } = await this.#http.withRetries('GET', url, () =>
      this.#authorized('GET', url),
    );
    if (exchange.kind === 'network') throw networkError(this.#origin, 'GET', url, exchange, attempts, setup);
    if (exchange.tooLarge) {
      throw new WorkflowApiError(
        'BadResponse',
        `SaaS Manager GET ${url.pathname} answered ${exchange.status} with more than ${this.#http.maxBodyBytes} bytes; not reading it`,
        { method: 'GET', path: safePath(url), upstreamStatus: exchange.status, setup },
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
            upstreamStatus: exchange.status,
            setup,
          },
        );
      }
      return exchange;
    }
    throw statusError('GET', url, exchange, attempts, setup);
  }

  /** One exchange with a bearer token; on 401 one fresh token and one more try (401 means nothing was done). */
  async #authorized(method: Method, url: URL): Promise<Exchange> {
    const token = await this.#tokens.get();
    const exchange = await this.#http.send(method, url, { authorization: `Bearer ${token.value.reveal()}` });
    if (exchange.kind !== 'response' || exchange.status !== 401) return exchange;
    this.#logger.debug(`SaaS Manager ${method} ${url.pathname} answered 401; requesting a new access token`);
    this.#tokens.discard(token);
    const fresh = await this.#tokens.get();
    return this.#http.send(method, url, { authorization: `Bearer ${fresh.value.reveal()}` });
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
}

/** A SCIM filter string literal (JSON string syntax: quotes and backslashes escaped). */
function scimString(value: string): string {
  return JSON.stringify(value);
}

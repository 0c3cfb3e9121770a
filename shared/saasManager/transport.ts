/**
 * One HTTP exchange with SaaS Manager, and the retry loop around it: timeouts, the sweep's
 * deadline, capped bodies, Retry-After, jittered back-off. Knows nothing of workflows or tokens;
 * the caller passes the headers (the bearer token goes only into the Authorization header).
 *
 * Redaction by construction: an exchange is described by method, path, status, the
 * problem-details trace id and error codes, never by bodies, headers or a transport error's
 * message (which can quote a header value).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isRecord } from '../guards';
import type { Clock, Logger, Sleep } from '../ports';
import { parseProblemDetails } from './problemDetails';
import {
  isRetryableStatus,
  parseRetryAfter,
  resolveRetryPolicy,
  retryDelay,
  type RetryOptions,
  type RetryPolicy,
} from './retry';

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Largest answer read into memory: a page of 1,000 runs is well below it. */
const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Longest server-sent name (workflow, step, action) that goes into a message. */
const MAX_NAME = 100;

export type Method = 'GET' | 'POST';

/** One HTTP exchange: an answer with its parsed JSON body, or a transport failure. */
export type Exchange = Answer | NetworkFailure;

export interface NetworkFailure {
  kind: 'network';
  reason: string;
  timedOut: boolean;
}

export interface Answer {
  kind: 'response';
  status: number;
  statusText: string;
  headers: Headers;
  /** Parsed JSON, or undefined when the body was empty or not JSON. */
  body: unknown;
  /** The body was longer than maxBodyBytes and was not read. */
  tooLarge?: boolean;
}

export interface TransportOptions {
  fetch?: typeof fetch;
  sleep?: Sleep;
  clock?: Clock;
  logger: Logger;
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

export class Transport {
  readonly retry: RetryPolicy;
  readonly maxBodyBytes: number;
  readonly sleep: Sleep;
  readonly #fetch: typeof fetch;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #timeoutMs: number;
  readonly #deadline: number | undefined;
  #requestsMade = 0;

  constructor(options: TransportOptions) {
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, signal ? { signal } : undefined));
    this.#clock = options.clock ?? { now: () => new Date() };
    this.#logger = options.logger;
    this.#random = options.random ?? Math.random;
    this.retry = resolveRetryPolicy(options.retry);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#deadline = options.deadline?.getTime();
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  /** HTTP requests sent so far, token requests included (reports and benchmarks). */
  get requestsMade(): number {
    return this.#requestsMade;
  }

  now(): number {
    return this.#clock.now().getTime();
  }

  /** True when waiting `ms` more would pass the deadline. */
  pastDeadline(ms: number): boolean {
    return this.#deadline !== undefined && this.now() + ms > this.#deadline;
  }

  /** `attempt` again while the answer is transient, within the retry policy and the deadline. */
  async withRetries(
    method: Method,
    url: URL,
    attempt: () => Promise<Exchange>,
  ): Promise<{ exchange: Exchange; attempts: number }> {
    const started = this.now();
    for (let n = 1; ; n++) {
      const exchange = await attempt();
      const transient = exchange.kind === 'network' || isRetryableStatus(exchange.status);
      if (!transient || n >= this.retry.maxAttempts) return { exchange, attempts: n };
      const wait = this.delayAfter(exchange, n);
      if (this.now() - started + wait > this.retry.maxTotalMs || this.pastDeadline(wait))
        return { exchange, attempts: n };
      this.#logger.warn(
        `SaaS Manager ${method} ${url.pathname} ${describeExchange(exchange)}; retrying in ${wait} ms`,
        {
          attempt: n,
          maxAttempts: this.retry.maxAttempts,
        },
      );
      await this.sleep(wait);
    }
  }

  /** How long to wait before attempt `attempt + 1`: Retry-After when the server sent one. */
  delayAfter(exchange: Exchange, attempt: number): number {
    const retryAfter =
      exchange.kind === 'response'
        ? parseRetryAfter(exchange.headers.get('retry-after'), this.#clock.now())
        : undefined;
    return retryDelay(this.retry, attempt, retryAfter, this.#random);
  }

  /** One exchange; never throws (a transport failure is a `network` exchange). */
  async send(
    method: Method,
    url: URL,
    headers: Record<string, string>,
    body?: URLSearchParams,
  ): Promise<Exchange> {
    // Never past the deadline: a sweep that must answer an HTTP request gives up in time.
    const left = this.#deadline === undefined ? this.#timeoutMs : this.#deadline - this.now();
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
      const text = await readCapped(response, this.maxBodyBytes);
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
}

/** Server-sent text for a message or log line: no control characters, bounded length. */
export function clip(value: string, max = MAX_NAME): string {
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
  const reader = response.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
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

export function isSuccess(status: number): boolean {
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
export function linkNext(headers: Headers): string | undefined {
  const link = headers.get('link');
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (match && /\brel="?next"?/i.test(match[2] ?? '')) return match[1];
  }
  return undefined;
}

/** Path and query for errors, with any secret-looking query value blanked. */
export function safePath(url: URL): string {
  const copy = new URL(url.href);
  for (const name of [...copy.searchParams.keys()]) {
    if (/secret|token|password|code|key|signature|sig/i.test(name)) copy.searchParams.set(name, '[redacted]');
  }
  return `${copy.pathname}${copy.search}`;
}

export function describeExchange(exchange: Exchange): string {
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
  const name = isRecord(error) && typeof error.name === 'string' ? error.name : '';
  if (name === 'TimeoutError') return { reason: `no answer within ${timeoutMs} ms`, timedOut: true };
  if (name === 'AbortError') return { reason: 'request aborted', timedOut: false };
  const cause = isRecord(error) ? error.cause : undefined;
  const nested = isRecord(cause) && Array.isArray(cause.errors) ? (cause.errors as unknown[])[0] : undefined;
  const code = errorCode(cause) ?? errorCode(error) ?? errorCode(nested);
  return { reason: code ?? 'network error', timedOut: false };
}

function errorCode(value: unknown): string | undefined {
  const code = isRecord(value) ? value.code : undefined;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? code : undefined;
}

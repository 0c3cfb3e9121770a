/**
 * Retry policy for SaaS Manager calls, as data plus two pure functions, so tests can check the
 * delays without waiting for them (the client takes `sleep` and `random` as seams).
 *
 * Only idempotent requests go through the generic loop (GETs and the token request). The signal
 * POST has its own loop in the client, because it must re-read the run before it tries again.
 */

export interface RetryOptions {
  /** Attempts in all, the first one included (1 = never retry). */
  maxAttempts?: number;
  /** Back-off before the first retry; doubles for each retry after that. */
  baseDelayMs?: number;
  /** Cap on one computed back-off (a server's `Retry-After` may ask for longer). */
  maxDelayMs?: number;
  /** Stop retrying when the next wait would take the whole call past this. */
  maxTotalMs?: number;
}

export type RetryPolicy = Required<RetryOptions>;

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  maxTotalMs: 120_000,
};

export function resolveRetryPolicy(options: RetryOptions = {}): RetryPolicy {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...stripUndefined(options) };
  const check = (name: keyof RetryPolicy, min: number, max: number) => {
    const value = policy[name];
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new RangeError(`retry.${name} must be a number from ${min} to ${max} (got ${value})`);
    }
  };
  // Upper bounds keep every loop bounded even when a caller passes something silly.
  check('maxAttempts', 1, 20);
  check('baseDelayMs', 0, 60_000);
  check('maxDelayMs', 0, 600_000);
  check('maxTotalMs', 0, 3_600_000);
  policy.maxAttempts = Math.floor(policy.maxAttempts);
  return policy;
}

/**
 * 429 and server-side failures are worth another try; 501 and 505 will not change by waiting.
 * Everything else (4xx) is an answer, not a transient failure.
 */
export function isRetryableStatus(status: number): boolean {
  if (status === 429) return true;
  return status >= 500 && status <= 599 && status !== 501 && status !== 505;
}

/**
 * The wait before retry number `retry` (1 for the first retry). A `Retry-After` from the server
 * wins: it says when trying again makes sense. Otherwise exponential back-off with "equal jitter"
 * (half fixed, half random), so many clients that failed together do not come back together.
 */
export function retryDelay(
  policy: RetryPolicy,
  retry: number,
  retryAfterMs: number | undefined,
  random: () => number,
): number {
  if (retryAfterMs !== undefined) return Math.max(0, Math.ceil(retryAfterMs));
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  const jitter = Math.min(1, Math.max(0, random()));
  return Math.round(exponential / 2 + (exponential / 2) * jitter);
}

/** `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

function stripUndefined(options: RetryOptions): RetryOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

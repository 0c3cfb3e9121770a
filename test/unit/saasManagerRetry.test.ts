import { parseProblemDetails, summarizeProblem } from '../../shared/saasManager/problemDetails';
import {
  DEFAULT_RETRY,
  isRetryableStatus,
  parseRetryAfter,
  resolveRetryPolicy,
  retryDelay,
} from '../../shared/saasManager/retry';

const NOW = new Date('2025-01-06T09:00:00Z');

describe('the SaaS Manager retry policy', () => {
  it('retries 429 and server failures, not answers', () => {
    expect([429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 409, 501, 505].some(isRetryableStatus)).toBe(false);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('7', NOW)).toBe(7000);
    expect(parseRetryAfter('Mon, 06 Jan 2025 09:00:12 GMT', NOW)).toBe(12_000);
    expect(parseRetryAfter('Mon, 06 Jan 2025 08:59:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
  });

  it('doubles the back-off per retry up to the cap, half of it jittered', () => {
    const policy = resolveRetryPolicy({ baseDelayMs: 1000, maxDelayMs: 5000 });
    expect([1, 2, 3, 4].map((retry) => retryDelay(policy, retry, undefined, () => 0))).toEqual([
      500, 1000, 2000, 2500,
    ]);
    expect([1, 2, 3, 4].map((retry) => retryDelay(policy, retry, undefined, () => 0.999999))).toEqual([
      1000, 2000, 4000, 5000,
    ]);
  });

  it('lets Retry-After decide the wait', () => {
    expect(retryDelay(DEFAULT_RETRY, 1, 30_000, () => 0.5)).toBe(30_000);
  });

  it('can be made instant for tests, and refuses unbounded settings', () => {
    expect(retryDelay(resolveRetryPolicy({ baseDelayMs: 0 }), 3, undefined, Math.random)).toBe(0);
    expect(() => resolveRetryPolicy({ maxAttempts: 0 })).toThrow(
      'retry.maxAttempts must be a number from 1 to 20',
    );
    expect(() => resolveRetryPolicy({ maxTotalMs: Number.POSITIVE_INFINITY })).toThrow('retry.maxTotalMs');
  });
});

describe('SaaS Manager problem details', () => {
  it('reads the documented validation problem with a top-level trace id', () => {
    const problem = parseProblemDetails({
      type: 'about:blank',
      title: 'One or more validation errors occurred.',
      status: 400,
      detail: 'The request body failed validation.',
      errors: { email: ['The email field is required.'] },
      traceId: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(problem).toEqual({
      type: 'about:blank',
      title: 'One or more validation errors occurred.',
      status: 400,
      detail: 'The request body failed validation.',
      errors: { email: ['The email field is required.'] },
      traceId: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(summarizeProblem(problem)).toBe(
      'One or more validation errors occurred.: The request body failed validation.: email: The email field is required.',
    );
  });

  it('reads the trace id under extensions, and message when there is no title', () => {
    expect(
      parseProblemDetails({ message: 'Not Found', status: 404, extensions: { traceId: '00-2x-01' } }),
    ).toEqual({
      title: 'Not Found',
      status: 404,
      traceId: '00-2x-01',
    });
  });

  it('keeps text short and on one line, and ignores bodies that are not problems', () => {
    const problem = parseProblemDetails({ title: `a\nb${'x'.repeat(500)}` });
    expect(problem?.title).toMatch(/^a bx+…$/);
    expect(problem?.title?.length).toBe(301);
    expect(parseProblemDetails('oops')).toBeUndefined();
    expect(parseProblemDetails([])).toBeUndefined();
    expect(parseProblemDetails({ results: [] })).toBeUndefined();
  });
});

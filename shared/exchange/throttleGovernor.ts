/**
 * The throttle governor (issue 14): one per session pool. Exchange's throttling signals (a throttled
 * or "server busy" call, a `Micro delay applied` warning), as ExoActions reports them, lower the
 * number of runs allowed in flight (multiplicative decrease: halved, at most once per `decreaseGuardMs`
 * so one burst counts once); after `quietMs` without a signal the limit rises by one (additive
 * increase), up to the number of sessions. The session that saw the signal has already waited (the
 * Retry-After, inside ExoActions); the time is counted here as back-off.
 *
 * At full speed (no throttling, the limit at the number of sessions) `runsAhead` more runs are
 * admitted. They take no session of their own: a run spends part of its time on our side (its claim,
 * the re-read, the journal, the signal), and a run ahead uses a session that would sit idle meanwhile.
 * Exchange still sees at most one call per session. Once Exchange throttles, no runs are admitted
 * ahead: the limit is then on all runs in flight, so it bounds Exchange's calls at once as well.
 */
import type { Logger } from '../ports';

/** One throttling signal, as ExoActions reports it in a result's `throttle` list. */
export interface ThrottleEvent {
  cmdlet: string;
  kind: 'throttled' | 'microDelay';
  /** How long the session waited before trying again (or Exchange delayed the call), in ms. */
  waitMs: number;
  /** What Exchange asked for (Retry-After), in ms; 0 when it said nothing. */
  retryAfterMs: number;
  /** True when ExoActions stopped trying: the call failed, and the pool tries the run's call again. */
  gaveUp: boolean;
}

export interface ThrottleGovernorOptions {
  /** The number of sessions: the most runs in flight once Exchange has throttled. */
  maxInFlight: number;
  /** Runs admitted beyond maxInFlight at full speed (default 0); see above. */
  runsAhead?: number;
  /** No signal for this long raises the limit by one (default 60 s). */
  quietMs?: number;
  /** Signals within this long of a decrease do not halve the limit again (default 2 s). */
  decreaseGuardMs?: number;
  /** Monotonic milliseconds (tests pass their own). */
  now?: () => number;
  logger?: Logger;
}

export class ThrottleGovernor {
  readonly maxInFlight: number;
  readonly runsAhead: number;
  readonly #quietMs: number;
  readonly #decreaseGuardMs: number;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  #limit: number;
  #inFlight = 0;
  #peak = 0;
  #events = 0;
  #backoffMs = 0;
  #lastSignal = Number.NEGATIVE_INFINITY;
  #lastDecrease = Number.NEGATIVE_INFINITY;
  #lastIncrease = Number.NEGATIVE_INFINITY;
  readonly #waiting: Array<() => void> = [];

  constructor(options: ThrottleGovernorOptions) {
    this.maxInFlight = Math.max(1, Math.floor(options.maxInFlight));
    this.runsAhead = Math.max(0, Math.floor(options.runsAhead ?? 0));
    this.#limit = this.maxInFlight;
    this.#quietMs = options.quietMs ?? 60_000;
    this.#decreaseGuardMs = options.decreaseGuardMs ?? 2_000;
    this.#now = options.now ?? (() => performance.now());
    this.#logger = options.logger;
  }

  /** Runs that may be in flight now: the sessions and the runs ahead at full speed, fewer once throttled. */
  get limit(): number {
    return this.#limit >= this.maxInFlight ? this.maxInFlight + this.runsAhead : this.#limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get peakInFlight(): number {
    return this.#peak;
  }

  get events(): number {
    return this.#events;
  }

  get backoffMs(): number {
    return this.#backoffMs;
  }

  /** Resolves when one more run may start; the returned function ends it (idempotent). */
  admit(): Promise<() => void> {
    this.#maybeRaise();
    return new Promise((resolve) => {
      const start = () => {
        this.#inFlight += 1;
        this.#peak = Math.max(this.#peak, this.#inFlight);
        let ended = false;
        resolve(() => {
          if (ended) return;
          ended = true;
          this.#inFlight -= 1;
          this.#maybeRaise();
          this.#wake();
        });
      };
      if (this.#waiting.length === 0 && this.#inFlight < this.limit) start();
      else this.#waiting.push(start);
    });
  }

  /** Signals from one call; `waitedMs` is extra back-off the pool spent before trying a call again. */
  record(events: readonly ThrottleEvent[], waitedMs = 0): void {
    this.#backoffMs += waitedMs;
    if (events.length === 0) return;
    const now = this.#now();
    this.#events += events.length;
    this.#backoffMs += events.reduce((sum, event) => sum + Math.max(0, event.waitMs), 0);
    this.#lastSignal = now;
    if (now - this.#lastDecrease < this.#decreaseGuardMs) return;
    this.#lastDecrease = now;
    const before = this.limit;
    this.#limit = Math.max(1, Math.floor(this.#limit / 2));
    const cmdlets = [...new Set(events.map((event) => event.cmdlet))].join(', ');
    const kinds = [...new Set(events.map((event) => event.kind))].join(', ');
    this.#logger?.warn(
      before === this.limit
        ? `Exchange is throttling (${kinds} on ${cmdlets}); staying at ${this.limit} run(s) in flight`
        : `Exchange is throttling (${kinds} on ${cmdlets}); slowing down from ${before} to ${this.limit} run(s) in flight`,
      { throttleEvents: this.#events, runsInFlightLimit: this.limit },
    );
  }

  #maybeRaise(): void {
    if (this.#limit >= this.maxInFlight) return;
    const now = this.#now();
    if (now - this.#lastSignal < this.#quietMs || now - this.#lastIncrease < this.#quietMs) return;
    if (now - this.#lastDecrease < this.#quietMs) return;
    this.#lastIncrease = now;
    this.#limit += 1;
    this.#logger?.info(
      `no throttling for ${Math.round(this.#quietMs / 1000)} s; raising to ${this.limit} run(s) in flight`,
      {
        runsInFlightLimit: this.limit,
      },
    );
    this.#wake();
  }

  #wake(): void {
    while (this.#waiting.length > 0 && this.#inFlight < this.limit) this.#waiting.shift()?.();
  }
}

/** The `throttle` list of an ExoActions result, as typed events (anything malformed is dropped). */
export function throttleEventsOf(value: unknown): ThrottleEvent[] {
  if (!Array.isArray(value)) return [];
  const events: ThrottleEvent[] = [];
  for (const entry of value.slice(0, 100)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const record = entry as Record<string, unknown>;
    const number = (key: string) =>
      typeof record[key] === 'number' && Number.isFinite(record[key]) ? Math.max(0, record[key]) : 0;
    events.push({
      cmdlet: typeof record.cmdlet === 'string' ? record.cmdlet.slice(0, 60) : 'unknown',
      kind: record.kind === 'microDelay' ? 'microDelay' : 'throttled',
      waitMs: number('waitMs'),
      retryAfterMs: number('retryAfterMs'),
      gaveUp: record.gaveUp === true,
    });
  }
  return events;
}

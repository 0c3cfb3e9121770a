/**
 * A pool of Exchange sessions (issue 14): up to EXO_SESSIONS long-lived sessions (each one PowerShell
 * process, started and connected once, by PowerShellExchangeShell), behind the one ExchangeShell port.
 * A call goes to an idle session (the ones already started first; a new one only when every started
 * one is busy), so a slow run never holds up the others. A session whose process dies or times out
 * fails the run it had in flight and starts a fresh process on its next call (PowerShellExchangeShell
 * does that), so it is replaced, never reused broken.
 *
 * The pool is also the sweep's RunAdmission: its ThrottleGovernor decides how many runs may be in
 * flight. A call whose throttled cmdlet ExoActions gave up on is tried again here, after the
 * Retry-After, so a throttled run is retried, not failed.
 *
 * A run holds a session only for its calls (look, apply), not for its claim, re-read, journal rows
 * and signal. So that a session does not sit idle while its last run does that work, the governor
 * admits as many runs again as there are sessions while Exchange is not throttling (`runsAhead`): one
 * waits for the next free session while another finishes. Measured on the offboardingBacklog bench
 * (200 leavers, BENCH_QUICK=1, 2 cores, medians of 3 runs taken in turn with the pool as it was):
 * 4 sessions 20.9 s -> 19.6 s, 8 sessions 17.4 s -> 16.1 s. Half as many runs ahead gained less,
 * twice as many lost it again (CPU contention). In Azure a run's own side is Table Storage and SaaS
 * Manager round trips rather than local files, so more of a session's time is at stake (not measured
 * here). Still at most one call per session, so never more Exchange sessions than EXO_SESSIONS.
 *
 * Between a run's look and its apply the session is held for that run (up to `holdMs`, while the look
 * is journalled), not lent to a run waiting ahead: the apply must run in the process that holds the
 * look, so a look slipped in between would make the apply wait for it, and a crash of that process
 * would then cost two runs instead of one.
 */
import type { ExchangeShell, Logger, RunAdmission, Sleep } from '../ports';
import type {
  ExchangeApply,
  ExchangeConnection,
  ExchangeLoad,
  ExchangeLook,
  ExchangeRunResult,
  ExchangeUndoApply,
  ExchangeUndoLook,
  RunPlan,
  ShellProbe,
  UndoPlan,
} from '../domain';
import { ThrottleGovernor, type ThrottleEvent } from './throttleGovernor';

export const MAX_SESSIONS = 8;

/** A session the pool can stop synchronously when the worker exits (PowerShellExchangeShell). */
export type PooledSession = ExchangeShell & { killNow?(): void };

// Every pool with sessions: when the worker exits (or is told to stop), their processes go with it.
const livePools = new Set<SessionPool>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const killAll = () => {
    for (const pool of livePools) pool.killNow();
  };
  process.once('exit', killAll);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      // Our listener is gone (once): the signal's default (or the host's own listener) now applies.
      process.kill(process.pid, signal);
    });
  }
}

export interface SessionHooks {
  /** Pass to the session's adapter: the throttling signals of each of its calls. */
  onThrottle: (events: ThrottleEvent[]) => void;
}

export interface SessionPoolOptions {
  /** EXO_SESSIONS (1 to 8). */
  size: number;
  /** Runs admitted beyond `size` while Exchange is not throttling (default: `size`; see above). */
  runsAhead?: number;
  /** Longest a session is kept for a look's apply before others may use it (default 5 s). */
  holdMs?: number;
  /** Builds one session (a PowerShellExchangeShell); called lazily, at most `size` times. */
  createSession: (hooks: SessionHooks) => PooledSession;
  /** See ThrottleGovernor (defaults: 60 s quiet period). */
  quietMs?: number;
  decreaseGuardMs?: number;
  /** How often a call whose throttled cmdlet was given up on is tried again (default 3). */
  throttleRetries?: number;
  /** Longest wait before such a retry (default 60 s). */
  maxRetryWaitMs?: number;
  sleep?: Sleep;
  now?: () => number;
  logger?: Logger;
}

interface Slot {
  readonly index: number;
  readonly shell: PooledSession;
  busy: boolean;
  /** Calls that must run on this session (an apply after its look), served before anyone else. */
  readonly pinned: Array<() => void>;
  /** Signals of the call in flight on this slot. */
  events: ThrottleEvent[];
  /** The look whose apply this idle session is kept for, and when it stops waiting for it. */
  heldFor?: string;
  holdTimer?: ReturnType<typeof setTimeout>;
}

const defaultSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class SessionPool implements ExchangeShell, RunAdmission {
  /** Sessions at most (EXO_SESSIONS): PowerShell processes, and Exchange calls at once. */
  readonly size: number;
  readonly maxRunsInFlight: number;
  readonly governor: ThrottleGovernor;
  readonly #createSession: SessionPoolOptions['createSession'];
  readonly #throttleRetries: number;
  readonly #maxRetryWaitMs: number;
  readonly #holdMs: number;
  readonly #sleep: Sleep;
  readonly #logger: Logger | undefined;
  readonly #slots: Slot[] = [];
  readonly #waiting: Array<(slot: Slot) => void> = [];
  /** Which session holds each look: its apply must run in the same PowerShell process. */
  readonly #looks = new Map<string, Slot>();
  #closing: Promise<void> | undefined;
  /** Sessions started, and processes of sessions already closed (the figures outlive close()). */
  #sessionsStarted = 0;
  #retiredProcesses = 0;

  constructor(options: SessionPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1 || options.size > MAX_SESSIONS) {
      throw new RangeError(`a session pool has 1 to ${MAX_SESSIONS} sessions, not ${options.size}`);
    }
    const runsAhead = options.runsAhead ?? options.size;
    if (!Number.isInteger(runsAhead) || runsAhead < 0) {
      throw new RangeError(
        `runs ahead of the sessions must be a whole number of at least 0, not ${runsAhead}`,
      );
    }
    this.size = options.size;
    this.maxRunsInFlight = options.size + runsAhead;
    this.#createSession = options.createSession;
    this.#throttleRetries = options.throttleRetries ?? 3;
    this.#maxRetryWaitMs = options.maxRetryWaitMs ?? 60_000;
    this.#holdMs = options.holdMs ?? 5_000;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#logger = options.logger;
    this.governor = new ThrottleGovernor({
      maxInFlight: options.size,
      runsAhead,
      ...(options.quietMs === undefined ? {} : { quietMs: options.quietMs }),
      ...(options.decreaseGuardMs === undefined ? {} : { decreaseGuardMs: options.decreaseGuardMs }),
      ...(options.now ? { now: options.now } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  get processesStarted(): number {
    return this.#slots.reduce((sum, slot) => sum + slot.shell.processesStarted, this.#retiredProcesses);
  }

  /** Sessions started so far. */
  get sessionsUsed(): number {
    return this.#sessionsStarted;
  }

  admit(): Promise<() => void> {
    return this.governor.admit();
  }

  load(): ExchangeLoad {
    return {
      sessions: this.size,
      sessionsUsed: this.#sessionsStarted,
      throttleEvents: this.governor.events,
      backoffMs: Math.round(this.governor.backoffMs),
      runsInFlightLimit: this.governor.limit,
    };
  }

  runPlan(
    plan: RunPlan,
    connection: () => Promise<ExchangeConnection>,
    whatIf: boolean,
  ): Promise<ExchangeRunResult> {
    return this.#governed(plan.runId, (shell) => shell.runPlan(plan, connection, whatIf));
  }

  /** Phase 1 on any free session; the session is remembered for the look's apply. */
  look(plan: RunPlan, connection: () => Promise<ExchangeConnection>, dryRun: boolean): Promise<ExchangeLook> {
    return this.#lookOnAnySession(plan.runId, (shell) => shell.look(plan, connection, dryRun));
  }

  /**
   * Phase 2 on the session that made the look (waiting for it if it is busy with another run). A
   * session that has been replaced since has lost the look: its apply is refused by ExoActions
   * (LookNotFound), nothing changes.
   */
  apply(
    plan: RunPlan,
    lookId: string,
    connection: () => Promise<ExchangeConnection>,
  ): Promise<ExchangeApply> {
    return this.#applyOnLookSession(plan.runId, lookId, (shell) => shell.apply(plan, lookId, connection));
  }

  /** Undo, phase 1, on any free session; remembered for its apply like a run's look. */
  undoLook(
    plan: UndoPlan,
    connection: () => Promise<ExchangeConnection>,
    dryRun: boolean,
  ): Promise<ExchangeUndoLook> {
    return this.#lookOnAnySession(plan.undoId, (shell) => shell.undoLook(plan, connection, dryRun));
  }

  /** Undo, phase 2, on the session that made the look (as apply). */
  undoApply(
    plan: UndoPlan,
    lookId: string,
    connection: () => Promise<ExchangeConnection>,
  ): Promise<ExchangeUndoApply> {
    return this.#applyOnLookSession(plan.undoId, lookId, (shell) =>
      shell.undoApply(plan, lookId, connection),
    );
  }

  probe(): Promise<ShellProbe> {
    return this.#withSlot(async (slot) => slot.shell.probe());
  }

  /** Disconnect and stop every session; the pool can be used again afterwards (sessions start anew). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const slots = this.#slots.splice(0);
      livePools.delete(this);
      for (const slot of slots) this.#stopHolding(slot);
      this.#looks.clear();
      // An apply still waiting for its session goes on and is refused (the look dies with the process).
      for (const slot of slots) for (const waiter of slot.pinned.splice(0)) waiter();
      await Promise.all(slots.map((slot) => slot.shell.close().catch(() => undefined)));
      for (const slot of slots) this.#retiredProcesses += slot.shell.processesStarted;
    })().finally(() => {
      this.#closing = undefined;
    });
    return this.#closing;
  }

  /** SIGKILL every session's process now (the worker is exiting). */
  killNow(): void {
    for (const slot of this.#slots) slot.shell.killNow?.();
  }

  /**
   * The same pool behind a port whose close() leaves the sessions running: a worker-lifetime pool
   * lent to one sweep (the queue trigger's), which closes its ExchangeShell when it ends.
   */
  lend(): ExchangeShell & RunAdmission {
    const processes = () => this.processesStarted;
    return {
      maxRunsInFlight: this.maxRunsInFlight,
      get processesStarted() {
        return processes();
      },
      admit: () => this.admit(),
      load: () => this.load(),
      runPlan: (plan, connection, whatIf) => this.runPlan(plan, connection, whatIf),
      look: (plan, connection, dryRun) => this.look(plan, connection, dryRun),
      apply: (plan, lookId, connection) => this.apply(plan, lookId, connection),
      undoLook: (plan, connection, dryRun) => this.undoLook(plan, connection, dryRun),
      undoApply: (plan, lookId, connection) => this.undoApply(plan, lookId, connection),
      probe: () => this.probe(),
      close: () => Promise.resolve(),
    };
  }

  /** A look (a run's or an undo's) on any free session, which is then kept for its apply. */
  async #lookOnAnySession<T extends { lookId?: string }>(
    id: string,
    call: (shell: ExchangeShell) => Promise<T>,
  ): Promise<T> {
    let holder: Slot | undefined;
    const result = await this.#governed(
      id,
      (shell, slot) => {
        holder = slot;
        return call(shell);
      },
      (look) => look.lookId,
    );
    if (result.lookId !== undefined && holder) {
      // Bounded like the module's own store of looks (an apply that never comes is forgotten).
      if (this.#looks.size >= 256) this.#looks.delete(this.#looks.keys().next().value as string);
      this.#looks.set(result.lookId, holder);
    }
    return result;
  }

  /** The apply of a look, on the session that holds the look (any session when that one is gone). */
  async #applyOnLookSession<T>(
    id: string,
    lookId: string,
    call: (shell: ExchangeShell) => Promise<T>,
  ): Promise<T> {
    const slot = this.#looks.get(lookId);
    this.#looks.delete(lookId);
    if (!slot || !this.#slots.includes(slot)) return this.#governed(id, call);
    await this.#acquireSlot(slot, lookId);
    try {
      slot.events = [];
      const value = await call(slot.shell);
      this.governor.record(slot.events);
      return value;
    } finally {
      slot.events = [];
      this.#release(slot);
    }
  }

  /**
   * One run call, tried again (after the Retry-After) while ExoActions gave up on a throttled cmdlet.
   * `holdFor` names the look whose apply the session is then kept for (see holdMs).
   */
  async #governed<T>(
    runId: string,
    call: (shell: ExchangeShell, slot: Slot) => Promise<T>,
    holdFor?: (value: T) => string | undefined,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const { value, events } = await this.#withSlot(
        async (slot) => {
          slot.events = [];
          try {
            return { value: await call(slot.shell, slot), events: slot.events };
          } finally {
            slot.events = [];
          }
        },
        // A call tried again does not keep its session: the next attempt takes any.
        (outcome) => (outcome.events.some((event) => event.gaveUp) ? undefined : holdFor?.(outcome.value)),
      );
      const gaveUp = events.filter((event) => event.gaveUp);
      if (gaveUp.length === 0 || attempt >= this.#throttleRetries) {
        this.governor.record(events);
        return value;
      }
      const waitMs = Math.min(
        this.#maxRetryWaitMs,
        Math.max(1000, ...gaveUp.map((event) => event.retryAfterMs)) * 2 ** attempt,
      );
      this.governor.record(events, waitMs);
      this.#logger?.warn(`run ${runId}: Exchange kept throttling; trying its call again in ${waitMs} ms`, {
        runId,
        attempt: attempt + 1,
      });
      await this.#sleep(waitMs);
    }
  }

  async #withSlot<T>(
    work: (slot: Slot) => Promise<T>,
    holdFor?: (value: T) => string | undefined,
  ): Promise<T> {
    if (this.#closing) await this.#closing;
    const slot = await this.#acquire();
    let held: string | undefined;
    try {
      const value = await work(slot);
      held = holdFor?.(value);
      return value;
    } finally {
      if (held !== undefined && this.#slots.includes(slot)) this.#hold(slot, held);
      else this.#release(slot);
    }
  }

  /** Keep the (busy) session for the apply of `lookId`, for holdMs at most. */
  #hold(slot: Slot, lookId: string): void {
    slot.heldFor = lookId;
    slot.holdTimer = setTimeout(() => {
      if (slot.heldFor !== lookId) return;
      this.#stopHolding(slot);
      this.#release(slot);
    }, this.#holdMs);
    slot.holdTimer.unref?.();
  }

  /** The session is no longer kept for an apply (it came, it is overdue, or the pool closes). */
  #stopHolding(slot: Slot): void {
    clearTimeout(slot.holdTimer);
    slot.heldFor = undefined;
    slot.holdTimer = undefined;
  }

  #acquire(): Promise<Slot> {
    const idle = this.#slots.find((slot) => !slot.busy);
    if (idle) {
      idle.busy = true;
      return Promise.resolve(idle);
    }
    if (this.#slots.length < this.size) {
      const index = this.#slots.length;
      const slot: Slot = {
        index,
        busy: true,
        events: [],
        pinned: [],
        shell: this.#createSession({
          onThrottle: (events) => {
            slot.events.push(...events);
          },
        }),
      };
      this.#slots.push(slot);
      this.#sessionsStarted += 1;
      livePools.add(this);
      installExitHooks();
      this.#logger?.debug(`Exchange session ${index + 1} of at most ${this.size} started`, {
        session: index + 1,
      });
      return Promise.resolve(slot);
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /**
   * Take this very session: at once when it is kept for this look, else after the call it is running
   * now (pinned callers go first).
   */
  #acquireSlot(slot: Slot, lookId: string): Promise<void> {
    if (slot.heldFor === lookId) {
      this.#stopHolding(slot);
      return Promise.resolve();
    }
    if (!slot.busy) {
      slot.busy = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => slot.pinned.push(resolve));
  }

  #release(slot: Slot): void {
    const pinned = slot.pinned.shift();
    if (pinned && this.#slots.includes(slot)) {
      pinned();
      return;
    }
    const next = this.#waiting.shift();
    if (next && this.#slots.includes(slot)) {
      next(slot);
      return;
    }
    slot.busy = false;
    if (next) void this.#acquire().then(next);
  }
}

/**
 * The session pool's bookkeeping without PowerShell (the real pwsh is in
 * test/integration/sessionPool.test.ts): runs ahead of the sessions, and what they may never do,
 * which is make more Exchange calls at once than there are sessions or move an apply off its look's
 * session.
 */
import type { ExchangeApply, ExchangeConnection, ExchangeLook, RunPlan } from '../../shared/domain';
import { SessionPool, type PooledSession } from '../../shared/exchange/sessionPool';
import type { ThrottleEvent } from '../../shared/exchange/throttleGovernor';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const connection = (): Promise<ExchangeConnection> => Promise.reject(new Error('not used by the fakes'));
const plan = (runId: string) => ({ runId }) as RunPlan;

/** Fake sessions that count the calls they are making at once, and which session made each look. */
function fakeSessions(throttleOn?: string) {
  let callsNow = 0;
  let peakCalls = 0;
  let created = 0;
  const lookedOn = new Map<string, number>();
  const appliedOn = new Map<string, number>();
  /** Per session, its calls in order: `look run-1`, `apply run-1`, ... */
  const sequence = new Map<number, string[]>();
  const call = async <T>(work: () => T): Promise<T> => {
    callsNow += 1;
    peakCalls = Math.max(peakCalls, callsNow);
    try {
      await pause(4);
      return work();
    } finally {
      callsNow -= 1;
    }
  };
  const createSession = (hooks: { onThrottle: (events: ThrottleEvent[]) => void }): PooledSession => {
    const session = ++created;
    return {
      processesStarted: 1,
      look: (run: RunPlan, _connection: unknown, dryRun: boolean) =>
        call(() => {
          lookedOn.set(run.runId, session);
          sequence.set(session, [...(sequence.get(session) ?? []), `look ${run.runId}`]);
          if (run.runId === throttleOn) {
            hooks.onThrottle([
              {
                cmdlet: 'Get-MailboxPermission',
                kind: 'throttled',
                waitMs: 10,
                retryAfterMs: 10,
                gaveUp: false,
              },
            ]);
          }
          return {
            actions: [],
            ...(dryRun ? {} : { lookId: `look-${run.runId}` }),
            cmdletCalls: 1,
          } satisfies ExchangeLook;
        }),
      apply: (run: RunPlan) =>
        call(() => {
          appliedOn.set(run.runId, session);
          sequence.set(session, [...(sequence.get(session) ?? []), `apply ${run.runId}`]);
          return { actions: [], cmdletCalls: 1 } satisfies ExchangeApply;
        }),
      runPlan: () => Promise.reject(new Error('not used')),
      undoLook: () => Promise.reject(new Error('not used')),
      undoApply: () => Promise.reject(new Error('not used')),
      probe: () => Promise.reject(new Error('not used')),
      close: () => Promise.resolve(),
    };
  };
  return {
    createSession,
    lookedOn,
    appliedOn,
    sequence,
    get peakCalls() {
      return peakCalls;
    },
    get created() {
      return created;
    },
  };
}

/** What runSweep does per run: admitted, its own side (claim, journal), look, journal, apply, signal. */
async function runAll(pool: SessionPool, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const release = await pool.admit();
      try {
        const runId = `run-${i + 1}`;
        await pause(3);
        const look = await pool.look(plan(runId), connection, false);
        await pause(3);
        await pool.apply(plan(runId), look.lookId as string, connection);
        await pause(3);
      } finally {
        release();
      }
    }),
  );
}

describe('SessionPool', () => {
  it('admits as many runs again as there are sessions, but never makes more calls at once than sessions', async () => {
    const sessions = fakeSessions();
    const pool = new SessionPool({ size: 2, createSession: sessions.createSession });
    expect(pool.maxRunsInFlight).toBe(4);

    await runAll(pool, 12);

    expect(pool.governor.peakInFlight).toBe(4);
    expect(sessions.peakCalls).toBe(2);
    expect(sessions.created).toBe(2);
    expect(pool.load()).toMatchObject({ sessions: 2, sessionsUsed: 2, runsInFlightLimit: 4 });
    // Every apply ran on the session that made its look, right after it: no run waiting ahead
    // slipped its look in between.
    expect(sessions.appliedOn.size).toBe(12);
    for (const [runId, session] of sessions.appliedOn) expect(sessions.lookedOn.get(runId)).toBe(session);
    for (const calls of sessions.sequence.values()) {
      for (let i = 0; i < calls.length; i += 2) {
        expect(calls[i + 1]).toBe((calls[i] as string).replace('look', 'apply'));
      }
    }
    await pool.close();
  });

  it('lends a session kept for an apply to others once holdMs has passed without it', async () => {
    const sessions = fakeSessions();
    const pool = new SessionPool({ size: 1, holdMs: 40, createSession: sessions.createSession });
    const first = await pool.look(plan('run-1'), connection, false);
    expect(first.lookId).toBe('look-run-1');

    // run-1's apply never comes (its journal write failed, say): run-2 gets the session after 40 ms.
    const started = performance.now();
    await pool.look(plan('run-2'), connection, false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
    // The late apply still runs on that session, after run-2's apply (which it was kept for).
    const lateApply = pool.apply(plan('run-1'), 'look-run-1', connection);
    await pool.apply(plan('run-2'), 'look-run-2', connection);
    await lateApply;
    expect(sessions.sequence.get(1)).toEqual(['look run-1', 'look run-2', 'apply run-2', 'apply run-1']);
    await pool.close();
  });

  it('keeps no session after a dry run look, which no apply follows', async () => {
    const sessions = fakeSessions();
    const pool = new SessionPool({ size: 1, holdMs: 60_000, createSession: sessions.createSession });
    const dry = await pool.look(plan('run-1'), connection, true);
    expect(dry.lookId).toBeUndefined();
    const started = performance.now();
    await pool.look(plan('run-2'), connection, true);
    expect(performance.now() - started).toBeLessThan(1000);
    await pool.close();
  });

  it('keeps runs in flight to the sessions when told to run none ahead', async () => {
    const sessions = fakeSessions();
    const pool = new SessionPool({ size: 3, runsAhead: 0, createSession: sessions.createSession });

    await runAll(pool, 9);

    expect(pool.maxRunsInFlight).toBe(3);
    expect(pool.governor.peakInFlight).toBe(3);
    expect(sessions.peakCalls).toBeLessThanOrEqual(3);
    await pool.close();
  });

  it('drops the runs ahead once Exchange throttles', async () => {
    const sessions = fakeSessions('run-1');
    const pool = new SessionPool({ size: 4, createSession: sessions.createSession, quietMs: 60_000 });
    expect(pool.load().runsInFlightLimit).toBe(8);

    await runAll(pool, 10);

    // Halved from the 4 sessions, with nobody ahead: 2 runs in flight until a quiet minute.
    expect(pool.load()).toMatchObject({ throttleEvents: 1, runsInFlightLimit: 2 });
    expect(sessions.appliedOn.size).toBe(10);
    await pool.close();
  });

  it('refuses a number of runs ahead that is not a whole number of at least 0', () => {
    const { createSession } = fakeSessions();
    expect(() => new SessionPool({ size: 2, runsAhead: -1, createSession })).toThrow(/at least 0, not -1/);
    expect(() => new SessionPool({ size: 2, runsAhead: 1.5, createSession })).toThrow(RangeError);
  });
});

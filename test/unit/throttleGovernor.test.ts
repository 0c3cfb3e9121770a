import {
  ThrottleGovernor,
  throttleEventsOf,
  type ThrottleEvent,
} from '../../shared/exchange/throttleGovernor';
import type { Logger } from '../../shared/ports';

const throttled = (cmdlet = 'Get-MailboxPermission', waitMs = 500): ThrottleEvent => ({
  cmdlet,
  kind: 'throttled',
  waitMs,
  retryAfterMs: waitMs,
  gaveUp: false,
});

function governor(maxInFlight: number, quietMs = 10_000, runsAhead = 0) {
  let now = 0;
  const warnings: string[] = [];
  const infos: string[] = [];
  const logger: Logger = {
    debug() {},
    info: (message) => void infos.push(message),
    warn: (message) => void warnings.push(message),
    error() {},
  };
  const g = new ThrottleGovernor({
    maxInFlight,
    runsAhead,
    quietMs,
    decreaseGuardMs: 1000,
    now: () => now,
    logger,
  });
  return { g, warnings, infos, advance: (ms: number) => (now += ms) };
}

describe('ThrottleGovernor', () => {
  it('admits up to the number of sessions and queues the rest until one ends', async () => {
    const { g } = governor(2);
    const a = await g.admit();
    await g.admit();
    let third = false;
    const waiting = g.admit().then((release) => {
      third = true;
      return release;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    a();
    a(); // ending twice counts once
    (await waiting)();
    expect(third).toBe(true);
    expect(g.inFlight).toBe(1);
    expect(g.peakInFlight).toBe(2);
  });

  it('halves the runs in flight on throttling, once per burst, and says so', () => {
    const { g, warnings, advance } = governor(8);
    g.record([throttled(), throttled()]);
    expect(g.limit).toBe(4);
    advance(500);
    g.record([throttled('Add-MailboxPermission')]);
    expect(g.limit).toBe(4); // the same burst
    advance(1000);
    g.record([{ ...throttled('Set-Mailbox', 1200), kind: 'microDelay' }]);
    expect(g.limit).toBe(2);
    expect(g.events).toBe(4);
    expect(g.backoffMs).toBe(500 + 500 + 500 + 1200);
    expect(warnings[0]).toMatch(
      /Exchange is throttling \(throttled on Get-MailboxPermission\); slowing down from 8 to 4/,
    );
    expect(warnings).toHaveLength(2);
  });

  it('raises the limit by one per quiet period, up to the number of sessions', async () => {
    const { g, infos, advance } = governor(4, 10_000);
    g.record([throttled()]);
    g.record([throttled()]);
    expect(g.limit).toBe(2);
    advance(9_000);
    (await g.admit())();
    expect(g.limit).toBe(2);
    advance(1_000);
    (await g.admit())();
    expect(g.limit).toBe(3);
    advance(5_000);
    (await g.admit())();
    expect(g.limit).toBe(3);
    advance(5_000);
    (await g.admit())();
    advance(10_000);
    (await g.admit())();
    expect(g.limit).toBe(4);
    expect(infos[0]).toMatch(/no throttling for 10 s; raising to 3 run\(s\) in flight/);
  });

  it('admits the runs ahead only at full speed: once throttled, the limit bounds the sessions in use too', async () => {
    const { g, warnings, infos, advance } = governor(4, 10_000, 4);
    expect(g.limit).toBe(8);
    const releases = await Promise.all(Array.from({ length: 8 }, () => g.admit()));
    let ninth = false;
    const waiting = g.admit().then((release) => {
      ninth = true;
      return release;
    });
    await Promise.resolve();
    expect(ninth).toBe(false);
    expect(g.inFlight).toBe(8);

    g.record([throttled()]);
    // Halved from the 4 sessions, and no runs ahead: 2 in flight at most from now on.
    expect(g.limit).toBe(2);
    expect(warnings[0]).toMatch(/slowing down from 8 to 2 run\(s\) in flight/);
    for (const release of releases.slice(0, 6)) release();
    await Promise.resolve();
    expect(ninth).toBe(false); // 2 still in flight: not below the limit
    releases[6]?.();
    (await waiting)();
    expect(ninth).toBe(true);

    // Back at the number of sessions after two quiet periods: the runs ahead come back with it.
    advance(10_000);
    (await g.admit())();
    expect(g.limit).toBe(3);
    advance(10_000);
    (await g.admit())();
    expect(g.limit).toBe(8);
    expect(infos.at(-1)).toMatch(/raising to 8 run\(s\) in flight/);
    releases[7]?.();
    expect(g.inFlight).toBe(0);
    expect(g.peakInFlight).toBe(8);
  });

  it('never goes below one run in flight', () => {
    const { g, advance } = governor(2);
    for (let i = 0; i < 5; i++) {
      g.record([throttled()]);
      advance(2000);
    }
    expect(g.limit).toBe(1);
  });

  it('reads only well-formed events from an ExoActions result', () => {
    expect(throttleEventsOf(undefined)).toEqual([]);
    expect(
      throttleEventsOf([
        { cmdlet: 'Get-Recipient', kind: 'microDelay', waitMs: 30, retryAfterMs: 0, gaveUp: false },
        { cmdlet: 5, kind: 'other', waitMs: -1, gaveUp: 'yes' },
        'noise',
      ]),
    ).toEqual([
      { cmdlet: 'Get-Recipient', kind: 'microDelay', waitMs: 30, retryAfterMs: 0, gaveUp: false },
      { cmdlet: 'unknown', kind: 'throttled', waitMs: 0, retryAfterMs: 0, gaveUp: false },
    ]);
  });
});

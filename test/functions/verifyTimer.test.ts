/**
 * The verify timer in-process, as the Functions host calls it (a real InvocationContext, settings
 * from process.env), after a real sweep against the SaaS Manager simulator, the stub Exchange module
 * and real PowerShell, the journal in Azurite's table: it logs each drift and a summary, and changes
 * nothing. (Azurite, not local folders: lock-file claims live in the real TMPDIR, which a parallel
 * in-process test with the simulator's same run ids would share.)
 */
import { InvocationContext, type Timer } from '@azure/functions';
import { runHistory } from '../../shared/composition';
import { loadHistoryConfig } from '../../shared/config';
import { sweepTimer } from '../../functions/sweepTimer';
import { verifyTimer } from '../../functions/verifyTimer';
import { startAzuriteStorage, type AzuriteStorage } from '../support/azurite';
import { EndToEndWorld } from '../support/cliHarness';

const LEAVER = { name: 'Pat Leaver', email: 'pat@contoso.com', lineManager: { email: 'boss@contoso.com' } };

const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};

function context(functionName: string): {
  context: InvocationContext;
  logs: { level: string; text: string }[];
} {
  const logs: { level: string; text: string }[] = [];
  const ctx = new InvocationContext({
    invocationId: 'test-invocation',
    functionName,
    logHandler: (level, ...args) =>
      logs.push({ level, text: args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ') }),
  });
  return { context: ctx, logs };
}

describe('verifyTimer (in-process)', () => {
  let world: EndToEndWorld;
  let azurite: AzuriteStorage;
  const savedEnv = { ...process.env };

  beforeEach(async () => {
    azurite = await startAzuriteStorage();
    world = await EndToEndWorld.create({
      mailboxes: [{ address: 'pat@contoso.com' }, { address: 'boss@contoso.com' }],
      groups: [{ name: 'All Staff', members: ['pat@contoso.com'] }],
    });
    const env = world.env({
      AzureWebJobsStorage: azurite.connectionString,
      SWEEP_MODE: 'inline',
      VERIFY_SCHEDULE: '0 30 5 * * *',
      VERIFY_SINCE_DAYS: '7',
    });
    for (const [key, value] of Object.entries(env)) if (value !== undefined) process.env[key] = value;
  }, 60_000);
  afterEach(async () => {
    process.env = { ...savedEnv };
    await world.dispose();
    await azurite.stop();
  });

  it('logs each drift and a summary, and changes nothing (no repair without --repair)', async () => {
    const runId = world.addWaitingRun(LEAVER);
    await sweepTimer(timer, context('sweepTimer').context);
    const pat = world.tenant.mailbox('pat@contoso.com');
    world.tenant.update((state) => {
      state.groups.find((g) => g.name === 'All Staff')?.members.push(pat.guid);
    });
    world.tenant.clearCalls();
    const signals = world.simulator.signals.length;

    const { context: ctx, logs } = context('verifyTimer');
    await expect(verifyTimer(timer, ctx)).resolves.toBeUndefined();

    const drift = logs.filter((l) => l.text.startsWith(`verify: run ${runId} (Terminate Users) drift:`));
    expect(drift).toEqual([
      {
        level: 'warning',
        text: expect.stringMatching(
          /^verify: run \S+ \(Terminate Users\) drift: removeFromDistributionGroups: .*All Staff/,
        ),
      },
    ]);
    expect(logs.filter((l) => l.text.startsWith('verify summary:')).map((l) => l.text)).toEqual([
      'verify summary: 1 verified, 0 clean, 1 with drift, 0 repaired, 0 failed, 0 not verified (nothing changed) {"verified":1,"clean":0,"drift":1,"repaired":0,"failed":0,"notVerified":0,"repair":false}',
    ]);
    // Nothing changed in Exchange, nothing was signalled, no repair attempt was journalled.
    expect(world.tenant.calls().filter((c) => !/^(Get-|Connect-|Disconnect-)/.test(c.cmdlet))).toEqual([]);
    expect(world.tenant.groupsOf('pat@contoso.com')).toEqual(['All Staff']);
    expect(world.simulator.signals).toHaveLength(signals);
    const history = await runHistory(loadHistoryConfig(process.env), runId);
    expect(history?.attempts.map((a) => [a.attempt, a.purpose ?? 'sweep'])).toEqual([[1, 'sweep']]);
  }, 180_000);

  it('fails the invocation, with one clear log line, on a setup error', async () => {
    process.env.EXO_ORGANIZATION = '';
    const { context: ctx, logs } = context('verifyTimer');
    await expect(verifyTimer(timer, ctx)).rejects.toMatchObject({ code: 'ConfigInvalid' });
    const errors = logs.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.text).toMatch(/^verify failed before checking runs: .*EXO_ORGANIZATION/);
  }, 60_000);
});

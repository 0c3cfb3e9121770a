/**
 * Expiring delegation (issue 17) through the composition root with real adapters: the SaaS Manager
 * simulator, the stub Exchange module in real PowerShell, the journal in Azurite's table, and an
 * injected clock that the test moves. A profile with delegationDays makes the run's grants expire;
 * the first sweep after they are due removes exactly those (never another run's grants, never a
 * grant that existed before), journals it, and its report lists them; `history` shows the expiry.
 */
import { writeFileSync } from 'node:fs';
import { InvocationContext, type Timer } from '@azure/functions';
import { sweepTimer } from '../../functions/sweepTimer';
import { createTestCertificate } from '../../sandbox/certificates';
import { join } from 'node:path';
import { runHistory, sweep } from '../../shared/composition';
import { loadConfig } from '../../shared/config';
import { silentLogger } from '../../shared/logging';
import type { Clock } from '../../shared/ports';
import { renderHistory } from '../../shared/journal/historyView';
import { startAzuriteStorage, type AzuriteStorage } from '../support/azurite';
import { EndToEndWorld } from '../support/cliHarness';

const DAY = 24 * 3600 * 1000;

describe('expiring delegation (delegationDays)', () => {
  let world: EndToEndWorld;
  let azurite: AzuriteStorage;
  beforeEach(async () => {
    azurite = await startAzuriteStorage({ queue: true });
  }, 30_000);
  afterEach(async () => {
    await world?.dispose();
    await azurite?.stop();
  });

  it('removes a run’s grants with the first sweep after they are due, and only those', async () => {
    world = await EndToEndWorld.create({
      mailboxes: [
        { address: 'boss@contoso.com', displayName: 'The Boss' },
        { address: 'deputy@contoso.com', displayName: 'The Deputy' },
        { address: 'pat@contoso.com', displayName: 'Pat Leaver' },
        { address: 'carl@contoso.com', displayName: 'Carl Contractor' },
      ],
    });
    // The deputy already had FullAccess to Pat's mailbox: no run granted it, so nothing removes it.
    world.tenant.update((state) => {
      const pat = state.mailboxes.find((m) => m.primarySmtpAddress === 'pat@contoso.com');
      const deputy = state.mailboxes.find((m) => m.primarySmtpAddress === 'deputy@contoso.com');
      state.mailboxPermissions.push({
        mailbox: pat?.guid ?? '',
        user: deputy?.guid ?? '',
        accessRights: ['FullAccess'],
        inheritanceType: 'All',
        autoMapping: true,
        deny: false,
      });
    });
    const profiles = join(world.workDir, 'profiles.json');
    writeFileSync(
      profiles,
      JSON.stringify({
        profiles: {
          'Terminate Users': {
            delegationDays: 90,
            actions: ['grantManagerFullAccess', 'grantManagerSendAs', 'convertToShared'],
          },
          'Contractor Exit': { actions: ['grantManagerFullAccess'] },
        },
      }),
    );
    const contractors = world.simulator.addWorkflow({
      name: 'Contractor Exit',
      steps: [{ name: 'Offboard person from apps', type: 'OffboardPersonApps' }, { name: 'Signal' }],
    }).id;
    const boss = { email: 'boss@contoso.com' };
    const pat = world.addWaitingRun({ name: 'Pat Leaver', email: 'pat@contoso.com', lineManager: boss });
    const carl = world.simulator.addRun(contractors, {
      person: { name: 'Carl Contractor', email: 'carl@contoso.com', lineManager: boss },
      waitingAtStepName: 'Signal',
    });

    const config = loadConfig(
      world.env({
        AzureWebJobsStorage: azurite.connectionString,
        EXO_PROFILES_PATH: profiles,
        WORKFLOW_NAMES: 'Terminate Users,Contractor Exit',
      }),
    );
    const journalConfig = { storage: config.storage, retentionDays: config.journal.retentionDays };
    // Starts at the real time: the world's certificate is valid from a day ago for a year, and the
    // clock moves 92 days on, so a fixed date here would stop working a day after it was written.
    let now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const clock: Clock = { now: () => now };
    const runtime = { logger: silentLogger, env: world.env(), clock };
    const run = () => sweep(config, runtime, { dryRun: false });

    const first = await run();
    expect(first.runs.map((r) => r.outcome)).toEqual(['completed', 'completed']);
    expect(first.expired).toBeUndefined();
    expect(world.tenant.fullAccessOn('pat@contoso.com').sort()).toEqual([
      'boss@contoso.com',
      'deputy@contoso.com',
    ]);
    expect(world.tenant.sendAsOn('pat@contoso.com')).toEqual(['boss@contoso.com']);
    expect(world.tenant.fullAccessOn('carl@contoso.com')).toEqual(['boss@contoso.com']);

    // history shows when each grant expires.
    const journal = await runHistory(journalConfig, pat);
    const expiresAt = new Date(now.getTime() + 90 * DAY).toISOString();
    expect(journal?.state?.nextExpiryAt).toBe(expiresAt);
    expect(journal?.attempts[0]?.actions.map((a) => [a.name, a.result?.expiresAt])).toEqual([
      ['grantManagerFullAccess', expiresAt],
      ['grantManagerSendAs', expiresAt],
      ['convertToShared', undefined],
    ]);
    expect(renderHistory(journal!)).toContain(`Expires ${expiresAt}.`);
    expect((await runHistory(journalConfig, carl))?.state?.nextExpiryAt).toBeUndefined();

    // Not due yet: nothing is removed.
    now = new Date(now.getTime() + 89 * DAY);
    expect((await run()).expired).toBeUndefined();
    expect(world.tenant.fullAccessOn('pat@contoso.com')).toContain('boss@contoso.com');

    // The first sweep after the expiry removes exactly the two grants Pat's run made.
    now = new Date(now.getTime() + 2 * DAY);
    world.tenant.clearCalls();
    const due = await run();
    expect(due.expired?.map((g) => [g.runId, g.action, g.status])).toEqual([
      [pat, 'grantManagerSendAs', 'done'],
      [pat, 'grantManagerFullAccess', 'done'],
    ]);
    expect(world.tenant.fullAccessOn('pat@contoso.com')).toEqual(['deputy@contoso.com']);
    expect(world.tenant.sendAsOn('pat@contoso.com')).toEqual([]);
    expect(world.tenant.fullAccessOn('carl@contoso.com')).toEqual(['boss@contoso.com']);
    // The mailbox stays shared: only the grants expire.
    expect(world.tenant.mailbox('pat@contoso.com').recipientTypeDetails).toBe('SharedMailbox');
    const changes = world.tenant.calls().filter((c) => /^(Remove|Add|Set)-/.test(c.cmdlet));
    expect(changes.map((c) => c.cmdlet)).toEqual(['Remove-RecipientPermission', 'Remove-MailboxPermission']);

    // Journalled (in the run's undo journal), and the run has nothing left to expire.
    const removal = await runHistory(journalConfig, `undo-${pat}`);
    expect(removal?.attempts[0]?.sweepId).toMatch(/^expiry-/);
    expect(removal?.attempts[0]?.actions.map((a) => [a.name, a.result?.status])).toEqual([
      ['grantManagerSendAs', 'done'],
      ['grantManagerFullAccess', 'done'],
    ]);
    expect((await runHistory(journalConfig, pat))?.state?.nextExpiryAt).toBeUndefined();

    now = new Date(now.getTime() + DAY);
    expect((await run()).expired).toBeUndefined();
  }, 240_000);

  it('is done by the timer in queue mode too, after the fan-out, one log line per grant', async () => {
    // A certificate valid since before the clock is set back.
    world = await EndToEndWorld.create(
      { mailboxes: [{ address: 'boss@contoso.com' }, { address: 'pat@contoso.com' }] },
      {},
      createTestCertificate({ keySize: 1024, notBefore: new Date(Date.now() - 10 * DAY) }),
    );
    const profiles = join(world.workDir, 'profiles.json');
    writeFileSync(
      profiles,
      JSON.stringify({
        profiles: { 'Terminate Users': { delegationDays: 1, actions: ['grantManagerFullAccess'] } },
      }),
    );
    const pat = world.addWaitingRun({
      name: 'Pat',
      email: 'pat@contoso.com',
      lineManager: { email: 'boss@contoso.com' },
    });
    const env = world.env({ AzureWebJobsStorage: azurite.connectionString, EXO_PROFILES_PATH: profiles });
    // Offboarded two days ago (an inline sweep with the clock set back): the grant expired yesterday.
    const then = new Date(Date.now() - 2 * DAY);
    const offboarded = await sweep(
      loadConfig(env),
      { logger: silentLogger, env, clock: { now: () => then } },
      { dryRun: false },
    );
    expect(offboarded.runs[0]?.outcome).toBe('completed');
    expect(world.tenant.fullAccessOn('pat@contoso.com')).toEqual(['boss@contoso.com']);

    const saved = { ...process.env };
    try {
      for (const [key, value] of Object.entries({ ...env, SWEEP_MODE: 'queue' }))
        if (value !== undefined) process.env[key] = value;
      const logs: string[] = [];
      const context = new InvocationContext({
        invocationId: 'timer',
        functionName: 'sweepTimer',
        logHandler: (_level, ...args) => logs.push(args.map(String).join(' ')),
      });
      const timer: Timer = {
        isPastDue: false,
        schedule: { adjustForDST: false },
        scheduleStatus: { last: '', next: '', lastUpdated: '' },
      };
      await sweepTimer(timer, context);
      expect(world.tenant.fullAccessOn('pat@contoso.com')).toEqual([]);
      expect(
        logs.some((line) => line.includes(`expired delegation: run ${pat} grantManagerFullAccess done`)),
      ).toBe(true);
    } finally {
      process.env = saved;
    }
  }, 240_000);
});

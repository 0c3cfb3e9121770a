/**
 * Issue 17, undo, end to end: the compiled CLI, the SaaS Manager simulator, real pwsh with the stub
 * Exchange module, and the journal in Azurite's table. A basic leaver is offboarded by a sweep, then
 * `undo` restores the stub tenant's state file to what it was; a second undo finds everything
 * `already`; a property someone changed after the run is reported as drift and left alone (or
 * restored with --force); an undo of an undo and an unknown run are refused.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunHistory } from '../../shared/domain';
import type { UndoReport } from '../../shared/undo/runUndo';
import type { ExchangeStubTenant } from '../../sandbox/exchangeStubTenant';
import { startAzuriteStorage, type AzuriteStorage } from '../support/azurite';
import { EndToEndWorld, parseJsonDocument, parseReport, runCli } from '../support/cliHarness';

const TENANT = {
  mailboxes: [
    { address: 'boss@contoso.com', displayName: 'The Boss' },
    { address: 'pat@contoso.com', displayName: 'Pat Leaver' },
    { address: 'kim@contoso.com', displayName: 'Kim Colleague' },
  ],
  groups: [
    { name: 'All Staff', members: ['kim@contoso.com', 'pat@contoso.com'] },
    { name: 'Sales', members: ['pat@contoso.com', 'kim@contoso.com'] },
    { name: 'Admins', type: 'MailUniversalSecurityGroup' as const, members: ['pat@contoso.com'] },
  ],
};
const PAT = { name: 'Pat Leaver', email: 'pat@contoso.com', lineManager: { email: 'boss@contoso.com' } };

/**
 * The tenant's state file, with each group's members as a set: Exchange's membership has no order,
 * and a member added back is listed last.
 */
function stateFile(tenant: ExchangeStubTenant): unknown {
  const state = tenant.state();
  for (const group of state.groups) group.members = [...group.members].sort();
  return state;
}

function parseUndo(stdout: string): UndoReport {
  return parseJsonDocument<UndoReport>(stdout);
}

describe('undo of a run (CLI, Azurite table, real pwsh, stub Exchange)', () => {
  let world: EndToEndWorld;
  let azurite: AzuriteStorage;
  beforeEach(async () => {
    azurite = await startAzuriteStorage();
  }, 30_000);
  afterEach(async () => {
    await world?.dispose();
    await azurite?.stop();
  });
  const env = (extra: NodeJS.ProcessEnv = {}) =>
    world.env({ AzureWebJobsStorage: azurite.connectionString, ...extra });

  it('restores the basic leaver to exactly the state before the run, and a second undo is already', async () => {
    world = await EndToEndWorld.create(TENANT);
    const runId = world.addWaitingRun(PAT);
    const before = stateFile(world.tenant);

    const sweep = parseReport((await runCli(['sweep', '--json'], env(), 120_000)).stdout);
    expect(sweep.runs[0]).toMatchObject({ runId, outcome: 'completed', signalled: true });
    const offboarded = stateFile(world.tenant);
    expect(offboarded).not.toEqual(before);
    const signalsAfterSweep = world.simulator.signals.length;

    // Dry run: the plan, nothing changed, nothing journalled.
    const dry = await runCli(['undo', runId, '--dry-run', '--json'], env(), 120_000);
    expect({ code: dry.code, stderr: dry.stderr }).toMatchObject({ code: 0 });
    const plan = parseUndo(dry.stdout);
    expect(plan).toMatchObject({ runId, dryRun: true, outcome: 'planned', signalled: false });
    expect(plan.steps.map((s) => [s.action, s.status])).toEqual([
      ['removeFromDistributionGroups', 'planned'],
      ['grantManagerSendAs', 'planned'],
      ['grantManagerFullAccess', 'planned'],
      ['convertToShared', 'planned'],
    ]);
    expect(stateFile(world.tenant)).toEqual(offboarded);
    expect((await runCli(['history', `undo-${runId}`, '--json'], env())).code).toBe(2);

    world.tenant.clearCalls();
    const first = await runCli(['undo', runId, '--json'], env(), 120_000);
    expect(first.code).toBe(0);
    const undone = parseUndo(first.stdout);
    expect(undone).toMatchObject({ outcome: 'completed', attempt: 1, signalled: false });
    expect(undone.steps.every((s) => s.status === 'done')).toBe(true);
    expect(undone.cmdletCalls).toBe(
      world.tenant
        .calls()
        .filter((c) => c.cmdlet !== 'Connect-ExchangeOnline' && c.cmdlet !== 'Disconnect-ExchangeOnline')
        .length,
    );
    // Only the two distribution groups the run left; the security group was never touched.
    expect(world.tenant.calls().filter((c) => c.cmdlet === 'Add-DistributionGroupMember')).toHaveLength(2);
    expect(stateFile(world.tenant)).toEqual(before);
    // Undo never signals the workflow.
    expect(world.simulator.signals.length).toBe(signalsAfterSweep);

    // The undo is journalled (kind undo, linked to the run), and an undo of it is refused.
    const journal = JSON.parse(
      (await runCli(['history', `undo-${runId}`, '--json'], env())).stdout,
    ) as RunHistory;
    expect(journal.state).toMatchObject({ kind: 'undo', undoOf: runId, lastOutcome: 'completed' });
    expect(journal.attempts[0]?.actions.map((a) => [a.name, a.status, a.result?.status])).toEqual([
      ['removeFromDistributionGroups', 'planned', 'done'],
      ['grantManagerSendAs', 'planned', 'done'],
      ['grantManagerFullAccess', 'planned', 'done'],
      ['convertToShared', 'planned', 'done'],
    ]);
    const undoOfUndo = await runCli(['undo', `undo-${runId}`, '--json'], env());
    expect(undoOfUndo.code).toBe(2);
    expect(JSON.parse(undoOfUndo.stdout)).toMatchObject({ error: { code: 'UndoOfUndo' } });

    const second = parseUndo((await runCli(['undo', runId, '--json'], env(), 120_000)).stdout);
    expect(second.steps.map((s) => s.status)).toEqual(['already', 'already', 'already', 'already']);
    expect(second).toMatchObject({ outcome: 'completed', attempt: 2 });
    expect(stateFile(world.tenant)).toEqual(before);
  }, 240_000);

  it('reports a property someone changed after the run as drift and leaves it, unless --force', async () => {
    world = await EndToEndWorld.create(TENANT);
    const runId = world.addWaitingRun(PAT);
    expect(parseReport((await runCli(['sweep', '--json'], env(), 120_000)).stdout).runs[0]?.outcome).toBe(
      'completed',
    );
    // An admin turned the shared mailbox into a room mailbox after the run.
    world.tenant.updateMailbox('pat@contoso.com', (mailbox) => {
      mailbox.recipientTypeDetails = 'RoomMailbox';
    });

    world.tenant.clearCalls();
    const undo = parseUndo((await runCli(['undo', runId, '--json'], env(), 120_000)).stdout);
    expect(undo.steps.map((s) => [s.action, s.status])).toEqual([
      ['removeFromDistributionGroups', 'done'],
      ['grantManagerSendAs', 'done'],
      ['grantManagerFullAccess', 'done'],
      ['convertToShared', 'drift'],
    ]);
    expect(undo.steps[3]?.detail).toMatch(/changed by someone else after the run \(now RoomMailbox\)/);
    expect(undo.outcome).toBe('completed');
    expect(world.tenant.mailbox('pat@contoso.com').recipientTypeDetails).toBe('RoomMailbox');
    expect(world.tenant.calls().some((c) => c.cmdlet === 'Set-Mailbox')).toBe(false);

    const forced = parseUndo((await runCli(['undo', runId, '--force', '--json'], env(), 120_000)).stdout);
    expect(forced.steps.map((s) => s.status)).toEqual(['already', 'already', 'already', 'done']);
    expect(world.tenant.mailbox('pat@contoso.com').recipientTypeDetails).toBe('UserMailbox');
  }, 240_000);

  it('restores the catalogue (auto-reply, forwarding, visibility, protocols, rules, hold, SendOnBehalf) and says meetings cannot come back', async () => {
    const inDays = (days: number) => new Date(Date.now() + days * 24 * 3600 * 1000).toISOString();
    world = await EndToEndWorld.create({
      mailboxes: [
        { address: 'boss@contoso.com', displayName: 'The Boss' },
        {
          address: 'pat@contoso.com',
          displayName: 'Pat Leaver',
          catalogue: {
            autoReply: {
              autoReplyState: 'Disabled',
              internalMessage: '<html><body>Back soon</body></html>',
              externalMessage: '',
              externalAudience: 'Known',
            },
            cas: {
              owaEnabled: true,
              activeSyncEnabled: true,
              popEnabled: false,
              imapEnabled: true,
              ewsEnabled: true,
              mapiEnabled: true,
            },
            inboxRules: [
              { ruleIdentity: '1', name: 'To my gmail', enabled: true, forwardTo: ['pat@gmail.com'] },
              { ruleIdentity: '2', name: 'Newsletters', enabled: true, moveToFolder: 'News' },
            ],
            calendarEvents: [
              { id: 'e1', subject: 'Weekly 1:1', start: inDays(2), end: inDays(2), isOrganizer: true },
            ],
          },
        },
      ],
      groups: [],
    });
    const profiles = join(world.workDir, 'profiles.json');
    writeFileSync(
      profiles,
      JSON.stringify({
        profiles: {
          'Terminate Users': {
            actions: [
              'hideFromAddressLists',
              {
                name: 'setAutoReply',
                internalMessage: '{leaver.name} has left.',
                externalMessage: '{leaver.name} has left.',
                externalAudience: 'All',
              },
              'forwardToManager',
              'grantManagerSendOnBehalf',
              { name: 'disableProtocols', protocols: ['OWA', 'ActiveSync', 'POP', 'IMAP', 'EWS'] },
              { name: 'disableInboxRules', scope: 'forwardingOrDeleting' },
              'cancelMeetings',
              { name: 'litigationHold', durationDays: 365 },
            ],
          },
        },
      }),
    );
    const runId = world.addWaitingRun(PAT);
    const before = world.tenant.mailbox('pat@contoso.com');
    const sweep = parseReport(
      (await runCli(['sweep', '--json'], env({ EXO_PROFILES_PATH: profiles }), 120_000)).stdout,
    );
    expect(sweep.runs[0]?.actions.map((a) => a.status)).toEqual(Array(8).fill('done'));

    const dry = await runCli(['undo', runId, '--dry-run'], env({ EXO_PROFILES_PATH: profiles }), 120_000);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/skipped +cancelMeetings\n +Cancelled meetings cannot be restored/);

    const undo = parseUndo(
      (await runCli(['undo', runId, '--json'], env({ EXO_PROFILES_PATH: profiles }), 120_000)).stdout,
    );
    expect(undo.steps.map((s) => [s.action, s.status])).toEqual([
      ['litigationHold', 'done'],
      ['cancelMeetings', 'skipped'],
      ['disableInboxRules', 'done'],
      ['disableProtocols', 'done'],
      ['grantManagerSendOnBehalf', 'done'],
      ['forwardToManager', 'done'],
      ['setAutoReply', 'done'],
      ['hideFromAddressLists', 'done'],
    ]);
    const after = world.tenant.mailbox('pat@contoso.com');
    expect(after.autoReply).toEqual(before.autoReply);
    expect(after.cas).toEqual(before.cas);
    expect(after.inboxRules).toEqual(before.inboxRules);
    expect(after.hiddenFromAddressListsEnabled ?? false).toBe(false);
    expect(after.forwardingAddress ?? '').toBe('');
    expect(after.deliverToMailboxAndForward ?? false).toBe(false);
    expect(after.grantSendOnBehalfTo ?? []).toEqual([]);
    expect(after.litigationHoldEnabled ?? false).toBe(false);
    // The meeting stays cancelled: the plan said so.
    expect(after.calendarEvents?.[0]?.cancelled).toBe(true);

    const again = parseUndo(
      (await runCli(['undo', runId, '--json'], env({ EXO_PROFILES_PATH: profiles }), 120_000)).stdout,
    );
    expect(again.steps.map((s) => s.status)).toEqual([
      'already',
      'skipped',
      'already',
      'already',
      'already',
      'already',
      'already',
      'already',
    ]);
  }, 240_000);

  it('refuses a run the journal does not know (exit 2, RunNotFound)', async () => {
    world = await EndToEndWorld.create(TENANT);
    const result = await runCli(['undo', '0123456789abcdef01234567', '--json'], env());
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'RunNotFound' } });
  }, 60_000);
});

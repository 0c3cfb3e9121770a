/**
 * Issue 17 (verify), end to end through the compiled CLI, the SaaS Manager simulator, real pwsh
 * and the stub Exchange module, with the journal in Azurite's table: runs completed by a sweep,
 * then the tenant changed behind their back (as an admin would), then `verify` and `verify --repair`.
 */
import type { RunHistory } from '../../shared/domain';
import type { VerifyReport } from '../../shared/verify/verifyReport';
import { startAzuriteStorage, type AzuriteStorage } from '../support/azurite';
import { EndToEndWorld, parseReport, runCli, type CliResult } from '../support/cliHarness';

const TENANT = {
  mailboxes: [
    { address: 'boss@contoso.com', displayName: 'The Boss' },
    { address: 'pat@contoso.com', displayName: 'Pat Leaver' },
  ],
  groups: [{ name: 'All Staff', members: ['pat@contoso.com'] }],
};
const PAT = { name: 'Pat Leaver', email: 'pat@contoso.com', lineManager: { email: 'boss@contoso.com' } };

/** Exactly one JSON document on stdout (the --json contract), parsed as a verify report. */
function verifyReport(result: CliResult): VerifyReport {
  const lines = result.stdout.split('\n').filter((line) => line.trim() !== '');
  expect({ lines: lines.length, stdout: lines.length === 1 ? '' : result.stdout }).toEqual({
    lines: 1,
    stdout: '',
  });
  return JSON.parse(lines[0] as string) as VerifyReport;
}

/** The cmdlets that change something (everything but lookups, connect and disconnect). */
const CHANGING = /^(?!Get-|Connect-|Disconnect-)/;

describe('verify: drift of completed runs (CLI, Azurite table, real pwsh)', () => {
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
  const verify = (...args: string[]) => runCli(['verify', ...args], env(), 120_000);
  const completedRun = async (settings: NodeJS.ProcessEnv = {}): Promise<string> => {
    const runId = world.addWaitingRun(PAT);
    const sweep = parseReport((await runCli(['sweep', '--json'], env(settings), 120_000)).stdout);
    expect(sweep.runs.find((r) => r.runId === runId)).toMatchObject({
      outcome: 'completed',
      signalled: true,
    });
    return runId;
  };
  const changingCalls = () => world.tenant.calls().filter((call) => CHANGING.test(call.cmdlet));

  it('verifies a clean completed run with no drift, and does not verify a run that is not completed', async () => {
    world = await EndToEndWorld.create(TENANT);
    const ghost = world.addWaitingRun({ name: 'Ghost', email: 'ghost@contoso.com' });
    const runId = await completedRun();
    world.tenant.clearCalls();

    const result = await verify('--json');
    expect(result.code).toBe(0);
    const report = verifyReport(result);
    expect(report.repair).toBe(false);
    expect(report.runs.find((r) => r.runId === runId)).toEqual({
      runId,
      workflowId: world.workflowId,
      workflowName: 'Terminate Users',
      email: 'pat@contoso.com',
      verdict: 'clean',
      attempt: 1,
      drift: [],
    });
    // The ghost run was given up (no such mailbox): not completed, so not looked at in Exchange.
    expect(report.runs.find((r) => r.runId === ghost)).toMatchObject({
      verdict: 'notVerified',
      detail: expect.stringMatching(/^not completed/),
      drift: [],
    });
    expect(report.summary).toEqual({
      verified: 1,
      clean: 1,
      drift: 0,
      repaired: 0,
      failed: 0,
      notVerified: 1,
    });
    expect(changingCalls()).toEqual([]);
    // Bound to the pinned Guids: the look resolved pat's own mailbox, nobody else's.
    const lookups = world.tenant.calls().filter((c) => c.cmdlet === 'Get-Mailbox');
    expect(lookups.map((c) => c.parameters.Identity)).toContain('pat@contoso.com');
    expect(lookups.map((c) => c.parameters.Identity)).not.toContain('ghost@contoso.com');
  }, 300_000);

  it('finds a re-added list membership, and --repair removes it again without signalling', async () => {
    world = await EndToEndWorld.create(TENANT);
    const runId = await completedRun();
    const pat = world.tenant.mailbox('pat@contoso.com');
    expect(world.tenant.groupsOf('pat@contoso.com')).toEqual([]);
    // Someone puts the leaver back in the list.
    world.tenant.update((state) => {
      state.groups.find((g) => g.name === 'All Staff')?.members.push(pat.guid);
    });
    world.tenant.clearCalls();
    const signalsBefore = world.simulator.signals.length;

    const found = await verify('--json');
    expect(found.code).toBe(1);
    const drifted = verifyReport(found).runs[0];
    expect(drifted).toMatchObject({ runId, verdict: 'drift', attempt: 1 });
    expect(drifted?.drift).toEqual([
      {
        name: 'removeFromDistributionGroups',
        detail: expect.stringContaining('All Staff'),
        changes: [expect.stringMatching(/^Remove-DistributionGroupMember .*-Member/)],
      },
    ]);
    // verify without --repair changed nothing.
    expect(changingCalls()).toEqual([]);
    expect(world.tenant.groupsOf('pat@contoso.com')).toEqual(['All Staff']);

    const repaired = await verify('--repair', '--json');
    expect(repaired.code).toBe(0);
    const report = verifyReport(repaired);
    expect(report.repair).toBe(true);
    expect(report.runs[0]).toMatchObject({
      runId,
      verdict: 'repaired',
      repairAttempt: 2,
      repairs: [{ name: 'removeFromDistributionGroups', status: 'done' }],
    });
    expect(report.summary).toMatchObject({ verified: 1, repaired: 1, drift: 0 });
    expect(world.tenant.groupsOf('pat@contoso.com')).toEqual([]);
    expect(changingCalls().map((c) => c.cmdlet)).toEqual(['Remove-DistributionGroupMember']);
    // SaaS Manager is never signalled again.
    expect(world.simulator.signals).toHaveLength(signalsBefore);

    // The repair is an attempt of the run in its journal, and the run stays completed.
    const history = await runCli(['history', runId, '--json'], env());
    const journal = JSON.parse(history.stdout) as RunHistory;
    expect(journal.state).toMatchObject({ attempts: 2, failedAttempts: 0, lastOutcome: 'completed' });
    const repair = journal.attempts[1];
    expect(repair).toMatchObject({ attempt: 2, purpose: 'repair', signals: [] });
    expect(repair?.end).toMatchObject({ outcome: 'completed', signalled: false });
    expect(repair?.actions.map((a) => [a.name, a.status, a.result?.status ?? '-'])).toEqual([
      ['convertToShared', 'already', '-'],
      ['grantManagerFullAccess', 'already', '-'],
      ['grantManagerSendAs', 'already', '-'],
      ['removeFromDistributionGroups', 'planned', 'done'],
    ]);

    const historyText = await runCli(['history', runId], env());
    expect(historyText.stdout).toMatch(/^Attempt 2 \(repair, verify --repair\) {2}\S+ → \S+ {2}completed$/m);

    // Verified again: clean; the readable form says so.
    const again = await verify();
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^✔ clean {2}run \S+ {2}Terminate Users {2}\(attempt 2\)$/m);
    for (const line of again.stdout.split('\n')) expect([...line].length).toBeLessThanOrEqual(100);
  }, 300_000);

  it("reports the manager's access removed and the mailbox turned back to Regular, changing nothing; --repair restores both", async () => {
    world = await EndToEndWorld.create(TENANT);
    const runId = await completedRun();
    const pat = world.tenant.mailbox('pat@contoso.com');
    const boss = world.tenant.mailbox('boss@contoso.com');
    expect(world.tenant.fullAccessOn('pat@contoso.com')).toEqual(['boss@contoso.com']);
    world.tenant.update((state) => {
      state.mailboxPermissions = state.mailboxPermissions.filter(
        (p) => !(p.mailbox === pat.guid && p.user === boss.guid),
      );
      const mailbox = state.mailboxes.find((m) => m.guid === pat.guid);
      if (mailbox) mailbox.recipientTypeDetails = 'UserMailbox';
    });
    world.tenant.clearCalls();

    const result = await verify('--json');
    expect(result.code).toBe(1);
    const run = verifyReport(result).runs[0];
    expect(run).toMatchObject({ runId, verdict: 'drift' });
    expect(run?.drift.map((d) => d.name)).toEqual(['convertToShared', 'grantManagerFullAccess']);
    expect(run?.drift[0]?.changes).toEqual([expect.stringMatching(/^Set-Mailbox .*-Type Shared/)]);
    expect(run?.drift[1]?.changes).toEqual([expect.stringMatching(/^Add-MailboxPermission .*FullAccess/)]);
    expect(changingCalls()).toEqual([]);
    expect(world.tenant.mailbox('pat@contoso.com').recipientTypeDetails).toBe('UserMailbox');
    expect(world.tenant.fullAccessOn('pat@contoso.com')).toEqual([]);

    // The readable form, one block per run with each drift and the repair it would run.
    const text = await verify();
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^✘ drift {2}run \S+ {2}Terminate Users {2}\(attempt 1\)$/m);
    expect(text.stdout).toMatch(/^ {2}drift {2}convertToShared +\S/m);
    expect(text.stdout).toMatch(/^ {4}repair would run: Add-MailboxPermission/m);
    expect(text.stdout).toMatch(
      /^Summary: 1 verified: 0 clean, 1 with drift, 0 repaired, 0 failed; 0 not verified$/m,
    );
    for (const line of text.stdout.split('\n')) expect([...line].length).toBeLessThanOrEqual(100);
    process.stdout.write(`\n[verify of a run that drifted]\n${text.stdout}\n`);

    // --repair puts both back, in the run's order, and says so.
    const repaired = await verify('--repair');
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toMatch(/^↺ repaired {2}run \S+ {2}Terminate Users {2}\(attempt 1\)$/m);
    expect(repaired.stdout).toMatch(/^ {4}repair done: Converted Pat Leaver/m);
    expect(repaired.stdout).toMatch(/^ {2}journalled as repair attempt 2$/m);
    for (const line of repaired.stdout.split('\n')) expect([...line].length).toBeLessThanOrEqual(100);
    expect(world.tenant.mailbox('pat@contoso.com').recipientTypeDetails).toBe('SharedMailbox');
    expect(world.tenant.fullAccessOn('pat@contoso.com')).toEqual(['boss@contoso.com']);
    expect(changingCalls().map((c) => c.cmdlet)).toEqual(['Set-Mailbox', 'Add-MailboxPermission']);
    process.stdout.write(`\n[verify --repair of that run]\n${repaired.stdout}\n`);
  }, 300_000);

  it("checks the run's own journalled plan: an auto-reply turned off is drift, against the very message the run set", async () => {
    world = await EndToEndWorld.create(TENANT);
    const runId = await completedRun({ EXO_ACTIONS: 'convertToShared,setAutoReply' });
    expect(world.tenant.mailbox('pat@contoso.com').autoReply?.autoReplyState).toBe('Enabled');
    world.tenant.updateMailbox('pat@contoso.com', (mailbox) => {
      if (mailbox.autoReply) mailbox.autoReply.autoReplyState = 'Disabled';
    });
    world.tenant.clearCalls();

    // verify runs with today's settings (EXO_ACTIONS back at the basic four): the plan is the run's.
    const result = await verify('--json');
    expect(result.code).toBe(1);
    const run = verifyReport(result).runs[0];
    expect(run).toMatchObject({ runId, verdict: 'drift' });
    expect(run?.drift.map((d) => d.name)).toEqual(['setAutoReply']);
    const history = JSON.parse((await runCli(['history', runId, '--json'], env())).stdout) as RunHistory;
    const original = history.attempts[0]?.actions.find((a) => a.name === 'setAutoReply')?.changes?.[0]?.line;
    expect(original).toMatch(/^Set-MailboxAutoReplyConfiguration .*-AutoReplyState Enabled/);
    expect(run?.drift[0]?.changes).toEqual([original]);
    expect(changingCalls()).toEqual([]);
  }, 300_000);

  it('answers a usage error, or --repair under DRY_RUN, as one JSON document with exit 2', async () => {
    world = await EndToEndWorld.create(TENANT);
    const result = await verify('--since', 'soon', '--json');
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'UsageError' } });
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    // DRY_RUN=true: no repair may change Exchange.
    const dry = await runCli(['verify', '--repair', '--json'], env({ DRY_RUN: 'true' }));
    expect(dry.code).toBe(2);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      error: { code: 'UsageError', message: expect.stringMatching(/DRY_RUN/) },
    });
    expect(world.tenant.calls()).toEqual([]);
  }, 60_000);
});

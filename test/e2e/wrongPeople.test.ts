/**
 * Issue 13, end to end through the compiled CLI, the SaaS Manager simulator, real pwsh and the stub
 * Exchange module: HR data is hostile input. Every case found by editing a person record, in one
 * sweep next to an ordinary leaver who completes. For each: not signalled, nothing granted to a
 * non-person, no other mailbox changed, a clear message. Then pinning: a later attempt whose address
 * now belongs to another mailbox fails, with run records in a local folder and in Azurite's table.
 */
import { startAzuriteStorage, type AzuriteStorage } from '../support/azurite';
import { EndToEndWorld, parseReport, runCli } from '../support/cliHarness';
import type { StubRecipient } from '../../sandbox/exchangeStubTenant';

const TENANT = {
  mailboxes: [
    { address: 'boss@contoso.com', displayName: 'The Boss' },
    { address: 'ordinary@contoso.com', displayName: 'Ordinary Leaver' },
    { address: 'finance@contoso.com', displayName: 'Finance', type: 'SharedMailbox' as const },
    { address: 'room1@contoso.com', displayName: 'Room 1', type: 'RoomMailbox' as const },
    // Bob left long ago; his old address is now a secondary address of Jane's mailbox.
    { address: 'jane@contoso.com', displayName: 'Jane Doe', emailAddresses: ['bob@contoso.com'] },
    { address: 'leaver4@contoso.com', displayName: 'Leaver Four' },
    { address: 'leaver5@contoso.com', displayName: 'Leaver Five' },
    { address: 'leaver6@contoso.com', displayName: 'Leaver Six' },
    { address: 'helpdesk@contoso.com', displayName: 'Helpdesk', type: 'SharedMailbox' as const },
    { address: 'bystander@contoso.com' },
  ],
  groups: [
    {
      name: 'All Staff',
      members: ['ordinary@contoso.com', 'jane@contoso.com', 'leaver6@contoso.com', 'bystander@contoso.com'],
    },
    {
      name: 'IT Admins',
      address: 'it-admins@contoso.com',
      type: 'MailUniversalSecurityGroup' as const,
      members: ['bystander@contoso.com'],
    },
  ],
};

const boss = { email: 'boss@contoso.com' };
const PEOPLE = {
  ordinary: { name: 'Ordinary Leaver', email: 'ordinary@contoso.com', lineManager: boss },
  shared: { name: 'Finance', email: 'finance@contoso.com', lineManager: boss },
  room: { name: 'Room 1', email: 'room1@contoso.com', lineManager: boss },
  secondary: { name: 'Bob Old', email: 'bob@contoso.com', lineManager: boss },
  groupManager: {
    name: 'Leaver Four',
    email: 'leaver4@contoso.com',
    lineManager: { email: 'it-admins@contoso.com' },
  },
  sharedManager: {
    name: 'Leaver Five',
    email: 'leaver5@contoso.com',
    lineManager: { email: 'helpdesk@contoso.com' },
  },
  notMember: { name: 'Leaver Six', email: 'leaver6@contoso.com', lineManager: boss },
};

/** The CLI's environment as a user has it (no TERM: the PowerShell child gets its own). */
const cliEnv = (world: EndToEndWorld, extra: NodeJS.ProcessEnv = {}) => world.env(extra);

const typeOf = (world: EndToEndWorld) =>
  Object.fromEntries(
    world.tenant.state().mailboxes.map((m) => [m.primarySmtpAddress, m.recipientTypeDetails]),
  );

describe('hostile person records (CLI sweep, end to end)', () => {
  let world: EndToEndWorld;
  afterEach(async () => world?.dispose());

  it('refuses every wrong person before any change, and still completes the ordinary leaver', async () => {
    world = await EndToEndWorld.create(TENANT);
    const ids = Object.fromEntries(
      Object.entries(PEOPLE).map(([key, person]) => [key, world.addWaitingRun(person)]),
    ) as Record<keyof typeof PEOPLE, string>;
    // An unrelated error whose English text contains "is not a member", with Exchange's shape.
    world.tenant.setFault({
      cmdlet: 'Remove-DistributionGroupMember',
      identity: world.tenant.mailbox('leaver6@contoso.com').guid,
      mode: 'error',
      exception: 'RecipientTaskException',
      category: 'PermissionDenied',
      message: 'The calling app is not a member of a role group that can run Remove-DistributionGroupMember.',
      times: -1,
    });
    const before = world.tenant.state();
    const typesBefore = typeOf(world);

    const result = await runCli(['sweep', '--json'], cliEnv(world), 120_000);
    expect({ code: result.code, stderr: result.code === 1 ? '' : result.stderr }).toEqual({
      code: 1,
      stderr: '',
    });
    const report = parseReport(result.stdout);
    const run = (key: keyof typeof PEOPLE) => report.runs.find((r) => r.runId === ids[key]);

    // The ordinary leaver completes in the same sweep.
    expect(run('ordinary')).toMatchObject({ outcome: 'completed', signalled: true });
    expect(world.tenant.mailbox('ordinary@contoso.com').recipientTypeDetails).toBe('SharedMailbox');
    expect(world.tenant.fullAccessOn('ordinary@contoso.com')).toEqual(['boss@contoso.com']);
    expect(world.tenant.groupsOf('ordinary@contoso.com')).toEqual([]);

    const expected: Record<Exclude<keyof typeof PEOPLE, 'ordinary'>, RegExp> = {
      shared:
        /finance@contoso\.com belongs to Finance <finance@contoso\.com> \([0-9a-f-]{36}\), which is already a shared mailbox.*EXO_ACCEPT_SHARED_LEAVERS=true/,
      room: /room1@contoso\.com belongs to Room 1 <room1@contoso\.com> \([0-9a-f-]{36}\), a RoomMailbox, not a person's mailbox; nothing was changed/,
      secondary:
        /bob@contoso\.com is not the primary address of any recipient: it is a secondary address of Jane Doe <jane@contoso\.com> \([0-9a-f-]{36}\) \(UserMailbox\)/,
      groupManager:
        /line manager's address it-admins@contoso\.com belongs to IT Admins <it-admins@contoso\.com> \([0-9a-f-]{36}\), a MailUniversalSecurityGroup, not a person's mailbox; nothing was changed or granted/,
      sharedManager:
        /line manager's address helpdesk@contoso\.com belongs to Helpdesk <helpdesk@contoso\.com> \([0-9a-f-]{36}\), a SharedMailbox, not a person's mailbox/,
      notMember:
        /Could not remove Leaver Six <leaver6@contoso\.com> .* All Staff <AllStaff@contoso\.com> .*The calling app is not a member of a role group/,
    };
    for (const [key, message] of Object.entries(expected)) {
      const report = run(key as keyof typeof PEOPLE);
      expect({ key, outcome: report?.outcome, signalled: report?.signalled }).toEqual({
        key,
        outcome: 'failed',
        signalled: false,
      });
      expect({ key, error: report?.error }).toEqual({ key, error: expect.stringMatching(message) });
    }
    // Refused runs: every action failed with the reason, none ran.
    for (const key of ['shared', 'room', 'secondary', 'groupManager', 'sharedManager'] as const) {
      expect(run(key)?.actions.map((a) => a.status)).toEqual(['failed', 'failed', 'failed', 'failed']);
    }
    // "is not a member" in an unrelated error is a failure, not "already": the leaver is still listed.
    expect(run('notMember')?.actions.find((a) => a.name === 'removeFromDistributionGroups')?.status).toBe(
      'failed',
    );
    expect(world.tenant.groupsOf('leaver6@contoso.com')).toEqual(['All Staff']);

    // Signalled: the ordinary leaver only.
    expect(world.simulator.signals.map((s) => s.runId)).toEqual([ids.ordinary]);
    // Nothing granted to a non-person, and nothing granted on anyone but the two real leavers.
    const state = world.tenant.state();
    const person = (guid: string) => state.mailboxes.find((m: StubRecipient) => m.guid === guid);
    for (const grant of [
      ...state.mailboxPermissions.map((p) => ({ on: p.mailbox, to: p.user })),
      ...state.recipientPermissions.map((p) => ({ on: p.recipient, to: p.trustee })),
    ]) {
      expect(person(grant.to)?.primarySmtpAddress).toBe('boss@contoso.com');
      expect(['ordinary@contoso.com', 'leaver6@contoso.com']).toContain(person(grant.on)?.primarySmtpAddress);
    }
    // No other mailbox changed: only the two real leavers were converted.
    const typesAfter = typeOf(world);
    expect(
      Object.keys(typesAfter)
        .filter((address) => typesAfter[address] !== typesBefore[address])
        .sort(),
    ).toEqual(['leaver6@contoso.com', 'ordinary@contoso.com']);
    expect(world.tenant.groupsOf('jane@contoso.com')).toEqual(['All Staff']);
    expect(world.tenant.group('IT Admins').members).toEqual(
      before.groups.find((g) => g.name === 'IT Admins')?.members,
    );
  }, 180_000);

  it('fails a run about a protected recipient (listed, or a member of a listed group) before any change', async () => {
    world = await EndToEndWorld.create({
      mailboxes: [
        { address: 'boss@contoso.com' },
        { address: 'ceo@contoso.com', displayName: 'The CEO' },
        { address: 'breakglass@contoso.com' },
        { address: 'ordinary@contoso.com' },
      ],
      groups: [{ name: 'VIPs', address: 'vips@contoso.com', members: ['ceo@contoso.com'] }],
    });
    const ceo = world.addWaitingRun({ name: 'The CEO', email: 'ceo@contoso.com', lineManager: boss });
    const manager = world.addWaitingRun({
      name: 'Ordinary',
      email: 'ordinary@contoso.com',
      lineManager: { email: 'breakglass@contoso.com' },
    });
    const result = await runCli(
      ['sweep', '--json'],
      cliEnv(world, { EXO_PROTECTED_RECIPIENTS: 'vips@contoso.com, Breakglass@contoso.com' }),
      120_000,
    );
    expect(result.code).toBe(1);
    const report = parseReport(result.stdout);
    expect(report.runs.find((r) => r.runId === ceo)).toMatchObject({
      outcome: 'failed',
      signalled: false,
      error: expect.stringMatching(
        /The leaver The CEO <ceo@contoso\.com> \([0-9a-f-]{36}\) is a member of the protected group VIPs <vips@contoso\.com>/,
      ),
    });
    expect(report.runs.find((r) => r.runId === manager)).toMatchObject({
      outcome: 'failed',
      error: expect.stringContaining('protected recipient (EXO_PROTECTED_RECIPIENTS)'),
    });
    expect(world.tenant.calls().filter((c) => /^(Set|Add|Remove)-/.test(c.cmdlet))).toEqual([]);
    expect(world.tenant.mailbox('ceo@contoso.com').recipientTypeDetails).toBe('UserMailbox');
    expect(world.simulator.signals).toEqual([]);
  }, 120_000);

  describe.each([
    ['a local folder (CLI without storage)', false],
    ['Azure Table Storage (Azurite)', true],
  ])('pinning, with run records in %s', (_label, useStorage) => {
    // A fresh storage per test: the simulator numbers runs the same way in every world.
    let azurite: AzuriteStorage | undefined;
    beforeEach(async () => {
      if (useStorage) azurite = await startAzuriteStorage();
    }, 30_000);
    afterEach(async () => {
      await azurite?.stop();
      azurite = undefined;
    });

    it('fails a later attempt when the address now belongs to a different mailbox, and changes nothing on it', async () => {
      world = await EndToEndWorld.create({
        mailboxes: [
          { address: 'boss@contoso.com' },
          { address: 'pat@contoso.com', displayName: 'Pat Leaver' },
        ],
      });
      const runId = world.addWaitingRun({ name: 'Pat Leaver', email: 'pat@contoso.com', lineManager: boss });
      const env = cliEnv(world, azurite ? { AzureWebJobsStorage: azurite.connectionString } : {});
      // First attempt: pins Pat, converts, then fails on SendAs, so the run stays waiting.
      world.tenant.setFault({
        cmdlet: 'Add-RecipientPermission',
        mode: 'error',
        message: 'Active Directory operation failed on AM6PR04A010DC02.',
      });
      const first = parseReport((await runCli(['sweep', '--json'], env, 120_000)).stdout);
      expect(first.runs[0]).toMatchObject({
        outcome: 'failed',
        subjects: { leaver: { address: 'pat@contoso.com' } },
      });
      const pat = world.tenant.mailbox('pat@contoso.com');

      // Meanwhile the address moves to another person's new mailbox (a rehire, a reused alias).
      world.tenant.update((state) => {
        const old = state.mailboxes.find((m) => m.guid === pat.guid) as StubRecipient;
        old.primarySmtpAddress = 'pat.old@contoso.com';
        old.userPrincipalName = 'pat.old@contoso.com';
        state.mailboxes.push({
          ...old,
          guid: '0f0e0d0c-0b0a-4909-8807-060504030201',
          dn: 'CN=pat2,OU=contoso.onmicrosoft.com',
          name: 'pat2',
          alias: 'pat2',
          displayName: 'Pat Newcomer',
          primarySmtpAddress: 'pat@contoso.com',
          userPrincipalName: 'pat@contoso.com',
          recipientTypeDetails: 'UserMailbox',
        });
      });
      world.tenant.clearCalls();
      const result = await runCli(['sweep', '--json'], env, 120_000);
      expect(result.code).toBe(1);
      const second = parseReport(result.stdout).runs[0];
      expect(second).toMatchObject({
        runId,
        outcome: 'failed',
        signalled: false,
        error: expect.stringContaining('now belongs to a different mailbox'),
      });
      expect(second?.error).toContain(pat.guid);
      expect(world.tenant.mailbox('pat@contoso.com').recipientTypeDetails).toBe('UserMailbox');
      expect(world.tenant.fullAccessOn('pat@contoso.com')).toEqual([]);
      expect(world.tenant.calls().filter((c) => /^(Set|Add|Remove)-/.test(c.cmdlet))).toEqual([]);
      expect(world.simulator.signals).toEqual([]);
    }, 180_000);

    it('completes a later attempt on the same mailbox, already shared by the first', async () => {
      world = await EndToEndWorld.create({
        mailboxes: [{ address: 'boss@contoso.com' }, { address: 'sam@contoso.com' }],
      });
      world.addWaitingRun({ name: 'Sam', email: 'sam@contoso.com', lineManager: boss });
      const env = cliEnv(world, azurite ? { AzureWebJobsStorage: azurite.connectionString } : {});
      world.tenant.setFault({
        cmdlet: 'Add-RecipientPermission',
        mode: 'error',
        message: 'Active Directory operation failed on AM6PR04A010DC02.',
      });
      expect((await runCli(['sweep', '--json'], env, 120_000)).code).toBe(1);
      expect(world.tenant.mailbox('sam@contoso.com').recipientTypeDetails).toBe('SharedMailbox');
      const result = await runCli(['sweep', '--json'], env, 120_000);
      expect(result.code).toBe(0);
      expect(parseReport(result.stdout).runs[0]).toMatchObject({ outcome: 'completed', signalled: true });
    }, 180_000);
  });
});

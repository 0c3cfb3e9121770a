/**
 * The offboarding catalogue end to end below the use case: planRun (profile, run variables,
 * templates) -> PowerShellExchangeShell -> the real pwsh -> ExoActions.psm1 + ExoCatalogue.ps1 ->
 * the stub ExchangeOnlineManagement module. Each action: done, already, a failure, dry run and a
 * hostile value; assertions are on the stub's state and call log, and on what the shell reports.
 */
import type { PowerShellExchangeShell } from '../../shared/exchange/powerShellExchangeShell';
import { CATALOGUE_ACTIONS, defaultProfile, type Profile } from '../../shared/profiles';
import type {
  ActionName,
  ActionResult,
  ExchangeConnection,
  ExchangeLook,
  RunPlan,
  WorkflowRun,
} from '../../shared/domain';
import { planRun } from '../../shared/sweep/plan';
import { createTestCertificate } from '../../sandbox/certificates';
import { newShell } from '../support/exchangeShellTesting';
import { ExchangeStubTenant, type StubMailboxCatalogue } from '../../sandbox/exchangeStubTenant';

const cert = createTestCertificate({ keySize: 1024 });
const DAY = 24 * 3600 * 1000;
const inDays = (days: number) => new Date(Date.now() + days * DAY).toISOString();
const CHANGE_CMDLETS = new Set([
  'Set-Mailbox',
  'Set-MailboxAutoReplyConfiguration',
  'Set-CASMailbox',
  'Remove-MobileDevice',
  'Disable-InboxRule',
]);
const ACTIONS: ActionName[] = ['convertToShared', ...CATALOGUE_ACTIONS];

function leaverState(): StubMailboxCatalogue {
  return {
    totalItemSizeBytes: 60 * 1024 ** 3,
    archiveStatus: 'Active',
    mobileDevices: [
      {
        guid: '0b7a3c1e-1111-4c1e-9a51-0a0a0a0a0a01',
        deviceId: 'APPL1',
        friendlyName: 'iPhone 15',
        deviceModel: 'iPhone',
        deviceOS: 'iOS 18',
      },
      {
        guid: '0b7a3c1e-2222-4c1e-9a51-0a0a0a0a0a02',
        deviceId: 'ANDR2',
        friendlyName: 'Pixel 9',
        deviceModel: 'Pixel',
        deviceOS: 'Android 15',
      },
    ],
    inboxRules: [
      {
        ruleIdentity: '101',
        name: 'Forward to home',
        enabled: true,
        forwardTo: ['"me" [SMTP:me@gmail.com]'],
      },
      { ruleIdentity: '102', name: 'Delete spam', enabled: true, deleteMessage: true },
      { ruleIdentity: '103', name: 'File newsletters', enabled: true, moveToFolder: 'News' },
    ],
    calendarEvents: [
      { id: 'm1', subject: 'Team sync', start: inDays(2), end: inDays(2), isOrganizer: true },
      { id: 'm2', subject: 'Board prep', start: inDays(400), end: inDays(400), isOrganizer: true },
      { id: 'm3', subject: 'Their meeting', start: inDays(5), end: inDays(5), isOrganizer: false },
    ],
  };
}

function person(email: string, manager?: string, variables?: WorkflowRun['variables']): WorkflowRun {
  return {
    runId: `run-${email}`,
    workflowId: 'wf-1',
    workflowName: 'Leavers',
    status: 'Waiting',
    waitingAtStep: true,
    availableActions: ['Continue'],
    signalHref: 'https://example.invalid/signal',
    person: {
      name: 'Adele Vance',
      firstName: 'Adele',
      email,
      ...(manager ? { lineManager: { name: 'Bob <Boss> & Co', email: manager } } : {}),
    },
    ...(variables ? { variables } : {}),
  };
}

function profile(overrides: Partial<Profile> = {}): Profile {
  const base = defaultProfile(ACTIONS, true);
  return { ...base, ...overrides, options: { ...base.options, ...(overrides.options ?? {}) } };
}

function planFor(run: WorkflowRun, chosen: Profile = profile(), protectedRecipients: string[] = []): RunPlan {
  const planned = planRun(run, {
    actions: [],
    autoMapping: true,
    profile: chosen,
    today: new Date('2026-12-01T09:00:00Z'),
    policy: { acceptSharedLeavers: false, protectedRecipients },
  });
  if (!planned.ok) throw new Error(planned.error);
  return planned.plan;
}

const byName = <T extends ActionResult>(actions: T[]) => new Map(actions.map((a) => [a.name, a]));

let tenant: ExchangeStubTenant;
let shell: PowerShellExchangeShell;
const connection = async (): Promise<ExchangeConnection> => tenant.certificateConnection(cert);

beforeAll(() => {
  tenant = ExchangeStubTenant.create({
    certificate: cert,
    mailboxes: [
      { address: 'adele@contoso.com', name: 'Adele', displayName: 'Adele Vance', catalogue: leaverState() },
      {
        address: 'fail@contoso.com',
        name: 'Fail',
        catalogue: { ...leaverState(), litigationHoldLicensed: false },
      },
      { address: 'small@contoso.com', name: 'Small', catalogue: { totalItemSizeBytes: 1024 } },
      { address: 'boss@contoso.com', name: 'Boss', displayName: 'Bob Boss' },
      { address: 'deputy@contoso.com', name: 'Deputy', emailAddresses: ['old.deputy@contoso.com'] },
      { address: 'vip@contoso.com', name: 'Vip' },
      { address: 'shared-inbox@contoso.com', name: 'SharedInbox', type: 'SharedMailbox' },
      { address: 'partner@fabrikam.com', name: 'Partner', type: 'MailContact' },
    ],
  });
  shell = newShell(tenant, { callTimeoutMs: 60_000 });
});

afterAll(async () => {
  await shell.close();
  tenant.dispose();
});

describe('a dry run (the look phase)', () => {
  let result: ExchangeLook;
  beforeAll(async () => {
    tenant.clearCalls();
    result = await shell.look(planFor(person('adele@contoso.com', 'boss@contoso.com')), connection, true);
  }, 90_000);

  it('plans every action with the exact change cmdlets, and calls none of them', () => {
    const actions = byName(result.actions);
    for (const name of ACTIONS) expect(actions.get(name)?.status).toBe('planned');
    expect(tenant.calls().filter((c) => CHANGE_CMDLETS.has(c.cmdlet))).toEqual([]);
    const leaver = tenant.mailbox('adele@contoso.com');
    const boss = tenant.mailbox('boss@contoso.com');
    const cmdlets = (name: ActionName) => actions.get(name)?.cmdlets ?? [];
    expect(cmdlets('hideFromAddressLists')).toEqual([
      `Set-Mailbox -Identity '${leaver.guid}' -HiddenFromAddressListsEnabled $true -Confirm:$false`,
    ]);
    expect(cmdlets('forwardToManager')).toEqual([
      `Set-Mailbox -Identity '${leaver.guid}' -ForwardingAddress '${boss.guid}' -DeliverToMailboxAndForward $true -Confirm:$false`,
    ]);
    expect(cmdlets('grantManagerSendOnBehalf')).toEqual([
      `Set-Mailbox -Identity '${leaver.guid}' -GrantSendOnBehalfTo @{Add='${boss.guid}'} -Confirm:$false`,
    ]);
    expect(cmdlets('disableProtocols')).toEqual([
      `Get-CASMailbox -Identity '${leaver.guid}'`,
      `Set-CASMailbox -Identity '${leaver.guid}' -OWAEnabled $false -ActiveSyncEnabled $false -PopEnabled $false -ImapEnabled $false -Confirm:$false`,
    ]);
    expect(cmdlets('removeMobileDevices')).toEqual([
      `Get-MobileDevice -Mailbox '${leaver.guid}'`,
      `Remove-MobileDevice -Identity '0b7a3c1e-1111-4c1e-9a51-0a0a0a0a0a01' -Confirm:$false`,
      `Remove-MobileDevice -Identity '0b7a3c1e-2222-4c1e-9a51-0a0a0a0a0a02' -Confirm:$false`,
    ]);
    expect(cmdlets('disableInboxRules')).toEqual([
      `Get-InboxRule -Mailbox '${leaver.guid}'`,
      `Disable-InboxRule -Identity 'Adele\\101' -Mailbox '${leaver.guid}' -Confirm:$false`,
      `Disable-InboxRule -Identity 'Adele\\102' -Mailbox '${leaver.guid}' -Confirm:$false`,
    ]);
    expect(cmdlets('cancelMeetings')).toEqual([
      `Remove-CalendarEvents -Identity '${leaver.guid}' -CancelOrganizedMeetings -QueryWindowInDays 365 -PreviewOnly -Confirm:$false`,
      `Remove-CalendarEvents -Identity '${leaver.guid}' -CancelOrganizedMeetings -QueryWindowInDays 365 -Confirm:$false`,
    ]);
    expect(cmdlets('litigationHold')).toEqual([
      `Set-Mailbox -Identity '${leaver.guid}' -LitigationHoldEnabled $true -LitigationHoldDuration Unlimited -Confirm:$false`,
    ]);
    const autoReply = cmdlets('setAutoReply');
    expect(autoReply[0]).toBe(`Get-MailboxAutoReplyConfiguration -Identity '${leaver.guid}'`);
    expect(autoReply[1]).toMatch(
      /^Set-MailboxAutoReplyConfiguration -Identity '[0-9a-f-]+' -AutoReplyState Enabled -InternalMessage '/,
    );
    expect(autoReply[1]).toContain('-ExternalAudience All -Confirm:$false');
  });

  it('names each device, rule and meeting it would touch, and leaves rules that only file mail', () => {
    const actions = byName(result.actions);
    expect(actions.get('removeMobileDevices')?.detail).toContain(
      "'iPhone 15' (iPhone, iOS 18, APPL1), 'Pixel 9' (Pixel, Android 15, ANDR2)",
    );
    expect(actions.get('removeMobileDevices')?.detail).toContain('no wipe');
    expect(actions.get('disableInboxRules')?.detail).toMatch(
      /2 inbox rules .*'Forward to home', 'Delete spam'\.$/,
    );
    expect(actions.get('cancelMeetings')?.detail).toMatch(/1 meeting .*'Team sync'/);
    expect(actions.get('cancelMeetings')?.detail).not.toContain('Board prep');
  });

  it('records what each action is about to change (the before image)', () => {
    const actions = byName(result.actions);
    expect(actions.get('hideFromAddressLists')?.before).toEqual({
      mailbox: tenant.mailbox('adele@contoso.com').guid,
      hiddenFromAddressListsEnabled: false,
    });
    expect(actions.get('disableProtocols')?.before).toEqual({
      mailbox: tenant.mailbox('adele@contoso.com').guid,
      OWAEnabled: true,
      ActiveSyncEnabled: true,
      PopEnabled: true,
      ImapEnabled: true,
    });
    expect(actions.get('setAutoReply')?.before).toMatchObject({ autoReplyState: 'Disabled' });
    expect(actions.get('litigationHold')?.before).toEqual({
      mailbox: tenant.mailbox('adele@contoso.com').guid,
      litigationHoldEnabled: false,
      litigationHoldDuration: 'Unlimited',
    });
    expect(actions.get('removeMobileDevices')?.before).toMatchObject({
      mobileDevices: [{ friendlyName: 'iPhone 15' }, { friendlyName: 'Pixel 9' }],
    });
  });

  it('warns before convertToShared that the shared mailbox still needs a Plan 2 licence', () => {
    const convert = byName(result.actions).get('convertToShared');
    expect(convert?.status).toBe('planned');
    expect(convert?.warnings?.join(' ')).toMatch(
      /still need an Exchange Online Plan 2 licence .*over 50 GB; it has an archive mailbox; this run puts it on litigation hold/,
    );
  });
});

describe('a real run, then the same run again', () => {
  let first: Awaited<ReturnType<PowerShellExchangeShell['runPlan']>>;
  let second: Awaited<ReturnType<PowerShellExchangeShell['runPlan']>>;
  let secondCalls: string[];
  beforeAll(async () => {
    const plan = planFor(person('adele@contoso.com', 'boss@contoso.com'));
    first = await shell.runPlan(plan, connection, false);
    tenant.clearCalls();
    // As the sweep does: a later attempt is pinned to the leaver the first one resolved (now shared).
    const subjects = first.subjects;
    if (!subjects) throw new Error('the first run reported no subjects');
    second = await shell.runPlan({ ...plan, pinned: subjects }, connection, false);
    secondCalls = tenant.calls().map((c) => c.cmdlet);
  }, 90_000);

  it('costs 20 cmdlets for this leaver: 2 lookups, 6 looks and 12 changes (2 devices, 2 rules); then 7', () => {
    expect(first.cmdletCalls).toBe(20);
    expect(second.cmdletCalls).toBe(7);
  });

  it('does every action and the tenant shows it', () => {
    for (const action of first.actions) expect([action.name, action.status]).toEqual([action.name, 'done']);
    const leaver = tenant.mailbox('adele@contoso.com');
    const boss = tenant.mailbox('boss@contoso.com');
    expect(leaver.recipientTypeDetails).toBe('SharedMailbox');
    expect(leaver.hiddenFromAddressListsEnabled).toBe(true);
    expect(leaver.forwardingAddress).toBe(boss.guid);
    expect(leaver.deliverToMailboxAndForward).toBe(true);
    expect(leaver.grantSendOnBehalfTo).toEqual([boss.guid]);
    expect(leaver.cas).toMatchObject({
      owaEnabled: false,
      activeSyncEnabled: false,
      popEnabled: false,
      imapEnabled: false,
    });
    expect(leaver.cas?.ewsEnabled ?? true).toBe(true);
    expect(leaver.mobileDevices).toEqual([]);
    expect(leaver.inboxRules?.map((r) => [r.name, r.enabled])).toEqual([
      ['Forward to home', false],
      ['Delete spam', false],
      ['File newsletters', true],
    ]);
    expect(leaver.calendarEvents?.filter((e) => e.cancelled).map((e) => e.id)).toEqual(['m1']);
    expect(leaver.litigationHoldEnabled).toBe(true);
    expect(leaver.litigationHoldDuration).toBe('Unlimited');
    expect(leaver.autoReply?.autoReplyState).toBe('Enabled');
    // Templates rendered with the person's values, HTML-encoded.
    expect(leaver.autoReply?.internalMessage).toContain(
      'Adele Vance has left the organisation and this mailbox is no longer monitored. Please contact Bob &lt;Boss&gt; &amp; Co (boss@contoso.com) instead.',
    );
  });

  it('finds nothing to change the second time: every action already, no change cmdlet called', () => {
    for (const action of second.actions)
      expect([action.name, action.status]).toEqual([action.name, 'already']);
    expect(secondCalls.filter((name) => CHANGE_CMDLETS.has(name))).toEqual([]);
    // Look-only calls: the mailbox, the manager, auto-reply, CAS, devices, rules, the meetings preview.
    expect(secondCalls).toEqual([
      'Get-Mailbox',
      'Get-Recipient',
      'Get-MailboxAutoReplyConfiguration',
      'Get-CASMailbox',
      'Get-MobileDevice',
      'Get-InboxRule',
      'Remove-CalendarEvents',
    ]);
    expect(tenant.calls().find((c) => c.cmdlet === 'Remove-CalendarEvents')?.parameters.PreviewOnly).toBe(
      true,
    );
  });
});

describe('failures', () => {
  it('fails each action whose change Exchange refuses, with the reason, and carries on with the others', async () => {
    for (const cmdlet of ['Set-MailboxAutoReplyConfiguration', 'Set-CASMailbox', 'Disable-InboxRule']) {
      tenant.setFault({
        cmdlet,
        mode: 'error',
        exception: 'RecipientTaskException',
        message: `${cmdlet} is blocked by policy`,
      });
    }
    tenant.setFault({
      cmdlet: 'Remove-MobileDevice',
      identity: '0b7a3c1e-2222-4c1e-9a51-0a0a0a0a0a02',
      mode: 'nonTerminating',
      exception: 'RecipientTaskException',
      message: 'device busy',
    });
    try {
      const result = await shell.runPlan(
        planFor(person('fail@contoso.com', 'boss@contoso.com'), profile({ actions: [...CATALOGUE_ACTIONS] })),
        connection,
        false,
      );
      const actions = byName(result.actions);
      expect(actions.get('setAutoReply')).toMatchObject({ status: 'failed' });
      expect(actions.get('setAutoReply')?.detail).toContain(
        'Set-MailboxAutoReplyConfiguration is blocked by policy',
      );
      expect(actions.get('disableProtocols')?.detail).toContain('Set-CASMailbox is blocked by policy');
      expect(actions.get('disableInboxRules')?.status).toBe('failed');
      expect(actions.get('removeMobileDevices')?.status).toBe('failed');
      expect(actions.get('removeMobileDevices')?.detail).toMatch(/'Pixel 9'.*device busy/);
      expect(actions.get('litigationHold')?.status).toBe('failed');
      expect(actions.get('litigationHold')?.detail).toContain('Exchange Online Plan 2');
      // The others went through.
      expect(actions.get('hideFromAddressLists')?.status).toBe('done');
      expect(actions.get('cancelMeetings')?.status).toBe('done');
      expect(tenant.mailbox('fail@contoso.com').mobileDevices?.map((d) => d.friendlyName)).toEqual([
        'Pixel 9',
      ]);
    } finally {
      tenant.clearFaults();
    }
  }, 90_000);

  it('skips the manager actions without a manager, and gives no licence warning for a small plain mailbox', async () => {
    const result = await shell.runPlan(
      planFor(
        person('small@contoso.com'),
        profile({ actions: ACTIONS.filter((a) => a !== 'litigationHold') }),
      ),
      connection,
      true,
    );
    const actions = byName(result.actions);
    expect(actions.get('forwardToManager')?.status).toBe('skipped');
    expect(actions.get('grantManagerSendOnBehalf')?.status).toBe('skipped');
    expect(actions.get('convertToShared')?.warnings ?? []).not.toContainEqual(
      expect.stringContaining('Plan 2 licence'),
    );
    // Without a manager the default auto-reply has no manager sentence.
    expect(actions.get('setAutoReply')?.cmdlets?.[1]).toContain(
      "'Adele Vance has left the organisation and this mailbox is no longer monitored.'",
    );
  }, 90_000);
});

describe('run variables and hostile values', () => {
  const withVariables = profile({
    variables: {
      forwardTo: 'forward_to',
      delegateTo: 'delegate_to',
      autoReplyMessage: 'oof',
      holdDays: 'hold_days',
    },
  });

  it('forwards and delegates to the people the run names, with its own message and hold length', async () => {
    const result = await shell.runPlan(
      planFor(
        person('small@contoso.com', 'boss@contoso.com', {
          forward_to: 'deputy@contoso.com',
          delegate_to: 'deputy@contoso.com',
          oof: "Out for good <script>alert('x')</script>\nAsk Deputy.",
          hold_days: '730',
        }),
        withVariables,
      ),
      connection,
      true,
    );
    const actions = byName(result.actions);
    const deputy = tenant.mailbox('deputy@contoso.com');
    expect(actions.get('forwardToManager')?.cmdlets).toEqual([
      expect.stringContaining(`-ForwardingAddress '${deputy.guid}'`),
    ]);
    expect(actions.get('grantManagerSendOnBehalf')?.cmdlets).toEqual([
      expect.stringContaining(`@{Add='${deputy.guid}'}`),
    ]);
    expect(actions.get('litigationHold')?.cmdlets).toEqual([
      expect.stringContaining('-LitigationHoldDuration 730 '),
    ]);
    expect(actions.get('setAutoReply')?.cmdlets?.[1]).toContain(
      "-InternalMessage 'Out for good &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;<br>Ask Deputy.'",
    );
  }, 90_000);

  it.each([
    ['an external contact', 'partner@fabrikam.com', /MailContact, not a person's mailbox/],
    ['a shared mailbox', 'shared-inbox@contoso.com', /SharedMailbox, not a person's mailbox/],
    ['a secondary address', 'old.deputy@contoso.com', /not the primary address/],
    ['nobody', 'ghost@contoso.com', /No recipient was found/],
  ])(
    'refuses the whole run when forwardTo is %s',
    async (_what, address, reason) => {
      tenant.clearCalls();
      const result = await shell.runPlan(
        planFor(person('small@contoso.com', 'boss@contoso.com', { forward_to: address }), withVariables),
        connection,
        false,
      );
      expect(result.refusal).toMatch(reason);
      expect(result.actions.every((a) => a.status === 'failed')).toBe(true);
      expect(tenant.calls().filter((c) => CHANGE_CMDLETS.has(c.cmdlet))).toEqual([]);
    },
    90_000,
  );

  it('refuses a delegate that is a protected recipient, before any change', async () => {
    const result = await shell.runPlan(
      {
        ...planFor(person('small@contoso.com', 'boss@contoso.com'), withVariables),
        delegate: 'vip@contoso.com',
        policy: { acceptSharedLeavers: false, protectedRecipients: ['vip@contoso.com'] },
      },
      connection,
      false,
    );
    expect(result.refusal).toMatch(/delegate \(run variable delegateTo\) .*is a protected recipient/);
  }, 90_000);

  it('checks options again on the PowerShell side (a forged payload changes nothing)', async () => {
    const base = planFor(person('small@contoso.com', 'boss@contoso.com'));
    const result = await shell.runPlan(
      {
        ...base,
        actions: [
          { name: 'disableProtocols' },
          { name: 'cancelMeetings' },
          { name: 'litigationHold' },
          { name: 'setAutoReply' },
        ],
        options: {
          ...base.options,
          protocols: ['OWA; Remove-Mailbox x' as never],
          meetingWindowDays: 99_999,
          holdDurationDays: 0.5,
          autoReply: { internalMessage: 'x', externalMessage: 'y'.repeat(9000), externalAudience: 'All' },
        },
      },
      connection,
      false,
    );
    const actions = byName(result.actions);
    expect(actions.get('disableProtocols')?.detail).toContain("Unknown protocol 'OWA; Remove-Mailbox x'");
    expect(actions.get('cancelMeetings')?.detail).toContain('from 1 to 1825');
    expect(actions.get('litigationHold')?.detail).toContain('from 1 to 36500');
    expect(actions.get('setAutoReply')?.detail).toContain('1 to 8000 characters');
    for (const action of result.actions) expect(action.status).toBe('failed');
  }, 90_000);

  it('shows hostile rule and device names as data, cleaned, and acts on them by identity', async () => {
    tenant.updateMailbox('small@contoso.com', (mailbox) => {
      mailbox.inboxRules = [
        {
          ruleIdentity: '7',
          name: "x'; Remove-Mailbox -Identity boss; '\u001b[31m",
          enabled: true,
          redirectTo: ['a@b.com'],
        },
      ];
      mailbox.mobileDevices = [
        {
          guid: '0b7a3c1e-3333-4c1e-9a51-0a0a0a0a0a03',
          deviceId: 'D3',
          friendlyName: '$(Remove-Mailbox boss)',
          deviceModel: 'x',
          deviceOS: 'y',
        },
      ];
    });
    const result = await shell.runPlan(
      planFor(
        person('small@contoso.com', 'boss@contoso.com'),
        profile({ actions: ['disableInboxRules', 'removeMobileDevices'] }),
      ),
      connection,
      false,
    );
    const actions = byName(result.actions);
    expect(actions.get('disableInboxRules')?.status).toBe('done');
    expect(actions.get('disableInboxRules')?.detail).toContain("'x'; Remove-Mailbox -Identity boss; ' [31m'");
    expect(actions.get('removeMobileDevices')?.detail).toContain("'$(Remove-Mailbox boss)'");
    expect(tenant.mailbox('boss@contoso.com').recipientTypeDetails).toBe('UserMailbox');
    expect(tenant.calls().some((c) => c.cmdlet === 'Remove-Mailbox')).toBe(false);
  }, 90_000);
});

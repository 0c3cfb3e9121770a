/**
 * The Exchange boundary end to end below the use case: PowerShellExchangeShell -> node-powershell ->
 * the resolved PowerShell (the real pwsh) -> ExoActions.psm1 -> the stub ExchangeOnlineManagement
 * module loaded by name from PSModulePath. Assertions are on what Exchange saw (the stub's call log) and
 * what it holds afterwards (the stub's state), plus what the shell reports.
 */
import { BASIC_ACTIONS } from '../../shared/config';
import {
  CATALOGUE_CMDLETS,
  CHANGE_CMDLETS as CHANGE_CMDLET_NAMES,
  RUN_CMDLETS,
  UNDO_CMDLETS,
} from '../support/exchangeCmdlets';
import path from 'node:path';
import {
  PowerShellExchangeShell,
  type PowerShellExchangeShellOptions,
} from '../../shared/exchange/powerShellExchangeShell';
import type { Logger } from '../../shared/ports';
import type { ExchangeConnection, RunPlan } from '../../shared/domain';
import { createTestCertificate } from '../../sandbox/certificates';
import {
  executable,
  expectSetupError,
  newShell,
  powerShell,
  processGone,
} from '../support/exchangeShellTesting';
import {
  ExchangeStubTenant,
  type ExchangeStubTenantOptions,
  type StubCall,
} from '../../sandbox/exchangeStubTenant';

const cert = createTestCertificate({ keySize: 1024 });
const CHANGE_CMDLETS = new Set(CHANGE_CMDLET_NAMES);
const OUR_CMDLETS = [...RUN_CMDLETS, ...CATALOGUE_CMDLETS, ...UNDO_CMDLETS];

interface LogEntry {
  level: string;
  message: string;
  properties?: Record<string, unknown>;
}

function recordingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: string) =>
    (message: string, properties?: Record<string, unknown>): void => {
      entries.push({ level, message, ...(properties ? { properties } : {}) });
    };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, entries };
}

function plan(mailbox: string, manager: string | undefined, overrides: Partial<RunPlan> = {}): RunPlan {
  return {
    runId: `run-${mailbox}`,
    mailbox,
    ...(manager === undefined ? {} : { manager }),
    actions: BASIC_ACTIONS.map((name) =>
      manager === undefined && (name === 'grantManagerFullAccess' || name === 'grantManagerSendAs')
        ? { name, skipReason: 'the person has no line manager in SaaS Manager' }
        : { name },
    ),
    options: { autoMapping: true },
    ...overrides,
  };
}

function statuses(result: { actions: { name: string; status: string }[] }): Record<string, string> {
  return Object.fromEntries(result.actions.map((action) => [action.name, action.status]));
}

function callsSince(tenant: ExchangeStubTenant, before: number): StubCall[] {
  return tenant.calls().slice(before);
}

const TENANT: ExchangeStubTenantOptions = {
  certificate: cert,
  mailboxes: [
    { address: 'boss@contoso.com', displayName: 'The Boss' },
    { address: 'adele@contoso.com', displayName: 'Adele Vance' },
    { address: 'ben@contoso.com' },
    { address: 'carla@contoso.com' },
    { address: 'dan@contoso.com' },
    { address: 'erin@contoso.com' },
    { address: 'finn@contoso.com' },
    { address: 'gina@contoso.com' },
    { address: 'hugo@contoso.com' },
    { address: 'shared@contoso.com', type: 'SharedMailbox' },
    { address: 'colleague@contoso.com' },
  ],
  groups: [
    { name: 'Sales', members: ['adele@contoso.com', 'carla@contoso.com', 'colleague@contoso.com'] },
    { name: 'Newsletter', members: ['adele@contoso.com', 'carla@contoso.com', 'gina@contoso.com'] },
    {
      name: 'Finance Access',
      type: 'MailUniversalSecurityGroup',
      members: ['adele@contoso.com', 'carla@contoso.com'],
    },
    { name: 'Project Falcon', type: 'GroupMailbox', members: ['adele@contoso.com', 'carla@contoso.com'] },
    { name: 'Everyone Else', members: ['colleague@contoso.com', 'boss@contoso.com'] },
    { name: 'Dynamic All', type: 'DynamicDistributionGroup', members: [] },
  ],
};

describe('one connected PowerShell session serving many runs', () => {
  let tenant: ExchangeStubTenant;
  let shell: PowerShellExchangeShell;
  let connects = 0;
  const log = recordingLogger();

  beforeAll(() => {
    tenant = ExchangeStubTenant.create(TENANT);
    shell = newShell(tenant, { logger: log.logger });
  });

  afterAll(async () => {
    await shell.close();
    tenant.dispose();
  });

  const connection = async (): Promise<ExchangeConnection> => {
    connects += 1;
    return tenant.certificateConnection(cert);
  };

  it('converts the mailbox, grants the manager FullAccess and SendAs, and removes it from its distribution groups', async () => {
    const result = await shell.runPlan(plan('adele@contoso.com', 'boss@contoso.com'), connection, false);

    expect(statuses(result)).toEqual({
      convertToShared: 'done',
      grantManagerFullAccess: 'done',
      grantManagerSendAs: 'done',
      removeFromDistributionGroups: 'done',
    });
    expect(tenant.mailbox('adele@contoso.com').recipientTypeDetails).toBe('SharedMailbox');
    expect(tenant.fullAccessOn('adele@contoso.com')).toEqual(['boss@contoso.com']);
    expect(tenant.state().mailboxPermissions[0]).toMatchObject({ inheritanceType: 'All', autoMapping: true });
    expect(tenant.sendAsOn('adele@contoso.com')).toEqual(['boss@contoso.com']);
    expect(tenant.groupsOf('adele@contoso.com').sort()).toEqual(['Finance Access', 'Project Falcon']);
    const groups = result.actions.find((action) => action.name === 'removeFromDistributionGroups');
    // Each detail names the object changed: display name, primary address and Guid.
    const adele = tenant.mailbox('adele@contoso.com');
    expect(groups?.detail).toContain(
      `Removed Adele Vance <adele@contoso.com> (${adele.guid}) from 2 distribution groups: Sales <Sales@contoso.com> (${tenant.group('Sales').guid}), Newsletter <Newsletter@contoso.com> (${tenant.group('Newsletter').guid}).`,
    );
    expect(result.actions[1]?.detail).toBe(
      `Granted The Boss <boss@contoso.com> (${tenant.mailbox('boss@contoso.com').guid}) FullAccess to Adele Vance <adele@contoso.com> (${adele.guid}) (AutoMapping on).`,
    );
    expect(result.subjects).toEqual({
      leaver: {
        guid: adele.guid,
        address: 'adele@contoso.com',
        displayName: 'Adele Vance',
        type: 'UserMailbox',
      },
      manager: {
        guid: tenant.mailbox('boss@contoso.com').guid,
        address: 'boss@contoso.com',
        displayName: 'The Boss',
        type: 'UserMailbox',
      },
    });
    expect(groups?.detail).toContain('Left alone (security-enabled): Finance Access');
    expect(groups?.detail).toContain('Left alone (Microsoft 365 group): Project Falcon');
  });

  it('reports already on a second attempt (pinned to the same mailbox, now shared) and makes no change cmdlet call', async () => {
    const before = tenant.calls().length;
    const stateBefore = tenant.state();
    const adele = tenant.mailbox('adele@contoso.com');
    const boss = tenant.mailbox('boss@contoso.com');
    const pinned = {
      leaver: { guid: adele.guid, address: adele.primarySmtpAddress, displayName: '', type: 'UserMailbox' },
      manager: { guid: boss.guid, address: boss.primarySmtpAddress, displayName: '', type: 'UserMailbox' },
    };

    const result = await shell.runPlan(
      plan('adele@contoso.com', 'boss@contoso.com', { pinned }),
      connection,
      false,
    );

    expect(statuses(result)).toEqual({
      convertToShared: 'already',
      grantManagerFullAccess: 'already',
      grantManagerSendAs: 'already',
      removeFromDistributionGroups: 'already',
    });
    const calls = callsSince(tenant, before);
    expect(calls.filter((call) => CHANGE_CMDLETS.has(call.cmdlet))).toEqual([]);
    expect(calls.length).toBe(result.cmdletCalls);
    expect(tenant.state()).toEqual(stateBefore);
  });

  it('removes the person from exactly the distribution groups they are in, found by one membership query', async () => {
    const before = tenant.calls().length;
    const salesBefore = tenant.group('Sales').members.length;

    const result = await shell.runPlan(
      plan('carla@contoso.com', undefined, { actions: [{ name: 'removeFromDistributionGroups' }] }),
      connection,
      false,
    );

    expect(statuses(result)).toEqual({ removeFromDistributionGroups: 'done' });
    const calls = callsSince(tenant, before);
    const carla = tenant.mailbox('carla@contoso.com');
    // One lookup of the person, one membership query, one removal per distribution group, and the
    // membership query again to see the removals took effect: nothing that walks the tenant's groups.
    expect(calls.map((call) => call.cmdlet)).toEqual([
      'Get-Mailbox',
      'Get-Recipient',
      'Remove-DistributionGroupMember',
      'Remove-DistributionGroupMember',
      'Get-Recipient',
    ]);
    expect(calls[1]?.parameters).toMatchObject({
      Filter: `Members -eq '${carla.dn}'`,
      RecipientTypeDetails: ['MailUniversalDistributionGroup', 'MailUniversalSecurityGroup', 'GroupMailbox'],
      ResultSize: 'Unlimited',
    });
    const removals = calls.filter((call) => call.cmdlet === 'Remove-DistributionGroupMember');
    expect(removals.map((call) => call.parameters.Identity).sort()).toEqual(
      [tenant.group('Sales').guid, tenant.group('Newsletter').guid].sort(),
    );
    for (const removal of removals) {
      expect(removal.parameters).toMatchObject({
        Member: carla.guid,
        BypassSecurityGroupManagerCheck: true,
        Confirm: false,
      });
    }
    expect(tenant.groupsOf('carla@contoso.com').sort()).toEqual(['Finance Access', 'Project Falcon']);
    expect(tenant.group('Sales').members.length).toBe(salesBefore - 1);
    expect(tenant.groupsOf('colleague@contoso.com').sort()).toEqual(['Everyone Else', 'Sales']);
  });

  it('skips the manager actions with the planner reason when there is no line manager', async () => {
    const before = tenant.calls().length;

    const result = await shell.runPlan(plan('ben@contoso.com', undefined), connection, false);

    expect(statuses(result)).toEqual({
      convertToShared: 'done',
      grantManagerFullAccess: 'skipped',
      grantManagerSendAs: 'skipped',
      removeFromDistributionGroups: 'already',
    });
    expect(result.actions[1]?.detail).toBe('the person has no line manager in SaaS Manager');
    const cmdlets = callsSince(tenant, before).map((call) => call.cmdlet);
    expect(cmdlets).not.toContain('Get-MailboxPermission');
    expect(cmdlets).not.toContain('Get-RecipientPermission');
  });

  it('fails every action of the run with a clear message when the mailbox does not exist, and changes nothing', async () => {
    const before = tenant.calls().length;
    const stateBefore = tenant.state();

    const result = await shell.runPlan(plan('nobody@contoso.com', 'boss@contoso.com'), connection, false);

    for (const action of result.actions) {
      expect(action).toMatchObject({
        status: 'failed',
        detail:
          "No mailbox was found in Exchange Online for the leaver's address nobody@contoso.com; nothing was changed.",
      });
    }
    expect(callsSince(tenant, before).map((call) => call.cmdlet)).toEqual(['Get-Mailbox']);
    expect(tenant.state()).toEqual(stateBefore);
  });

  it('fails the whole run before any change when the line manager address resolves to nobody', async () => {
    const result = await shell.runPlan(plan('dan@contoso.com', 'gone@contoso.com'), connection, false);

    expect(statuses(result)).toEqual({
      convertToShared: 'failed',
      grantManagerFullAccess: 'failed',
      grantManagerSendAs: 'failed',
      removeFromDistributionGroups: 'failed',
    });
    expect(result.refusal).toBe(
      "No recipient was found in Exchange Online for the line manager's address gone@contoso.com; nothing was changed.",
    );
    expect(result.actions[1]?.detail).toBe(result.refusal);
    expect(tenant.mailbox('dan@contoso.com').recipientTypeDetails).toBe('UserMailbox');
    expect(tenant.fullAccessOn('dan@contoso.com')).toEqual([]);
  });

  it('with whatIf looks things up but changes nothing, and reports planned actions with the cmdlets they would run', async () => {
    const before = tenant.calls().length;
    const stateBefore = tenant.state();
    const gina = tenant.mailbox('gina@contoso.com');
    const boss = tenant.mailbox('boss@contoso.com');

    const result = await shell.runPlan(plan('gina@contoso.com', 'boss@contoso.com'), connection, true);

    expect(statuses(result)).toEqual({
      convertToShared: 'planned',
      grantManagerFullAccess: 'planned',
      grantManagerSendAs: 'planned',
      removeFromDistributionGroups: 'planned',
    });
    expect(tenant.state()).toEqual(stateBefore);
    const calls = callsSince(tenant, before);
    expect(calls.every((call) => call.cmdlet.startsWith('Get-'))).toBe(true);
    expect(result.cmdletCalls).toBe(calls.length);
    expect(result.actions[0]?.cmdlets).toEqual([
      "Get-Mailbox -Identity 'gina@contoso.com'",
      "Get-Recipient -Identity 'boss@contoso.com'",
      // The licence check before the conversion (a shared mailbox over 50 GB still needs Plan 2).
      `Get-MailboxStatistics -Identity '${gina.guid}'`,
      `Set-Mailbox -Identity '${gina.guid}' -Type Shared -Confirm:$false`,
    ]);
    expect(result.actions[1]?.cmdlets).toContain(
      `Add-MailboxPermission -Identity '${gina.guid}' -User '${boss.guid}' -AccessRights FullAccess -InheritanceType All -AutoMapping $true -Confirm:$false`,
    );
    expect(result.actions[2]?.cmdlets).toContain(
      `Add-RecipientPermission -Identity '${gina.guid}' -Trustee '${boss.guid}' -AccessRights SendAs -Confirm:$false`,
    );
    expect(result.actions[3]?.cmdlets).toContain(
      `Remove-DistributionGroupMember -Identity '${tenant.group('Newsletter').guid}' -Member '${gina.guid}' -BypassSecurityGroupManagerCheck -Confirm:$false`,
    );
    expect(result.actions[3]?.detail).toBe(
      `Would remove gina <gina@contoso.com> (${gina.guid}) from 1 distribution group: Newsletter <Newsletter@contoso.com> (${tenant.group('Newsletter').guid}).`,
    );
  });

  it('passes AutoMapping from the plan options to Add-MailboxPermission', async () => {
    const before = tenant.calls().length;

    const result = await shell.runPlan(
      plan('erin@contoso.com', 'boss@contoso.com', {
        actions: [{ name: 'grantManagerFullAccess' }],
        options: { autoMapping: false },
      }),
      connection,
      false,
    );

    expect(statuses(result)).toEqual({ grantManagerFullAccess: 'done' });
    expect(result.actions[0]?.detail).toMatch(
      /^Granted The Boss <boss@contoso\.com> \([0-9a-f-]{36}\) FullAccess to erin <erin@contoso\.com> \([0-9a-f-]{36}\) \(AutoMapping off\)\.$/,
    );
    const add = callsSince(tenant, before).find((call) => call.cmdlet === 'Add-MailboxPermission');
    expect(add?.parameters).toMatchObject({
      AccessRights: ['FullAccess'],
      InheritanceType: 'All',
      AutoMapping: false,
      Confirm: false,
    });
    const erin = tenant.mailbox('erin@contoso.com');
    expect(tenant.state().mailboxPermissions.find((p) => p.mailbox === erin.guid)).toMatchObject({
      autoMapping: false,
    });
  });

  it('refuses a leaver whose mailbox is already shared, unless the admin accepts shared leavers', async () => {
    const refused = await shell.runPlan(
      plan('shared@contoso.com', undefined, { actions: [{ name: 'convertToShared' }] }),
      connection,
      false,
    );
    expect(refused.actions[0]?.status).toBe('failed');
    expect(refused.refusal).toMatch(/already a shared mailbox.*EXO_ACCEPT_SHARED_LEAVERS=true/);

    const accepted = await shell.runPlan(
      plan('shared@contoso.com', undefined, {
        actions: [{ name: 'convertToShared' }],
        policy: { acceptSharedLeavers: true, protectedRecipients: [] },
      }),
      connection,
      false,
    );
    expect(accepted.actions).toEqual([
      expect.objectContaining({
        name: 'convertToShared',
        status: 'already',
        detail: `shared <shared@contoso.com> (${tenant.mailbox('shared@contoso.com').guid}) is already a shared mailbox.`,
      }),
    ]);
  });

  it('captures Exchange warnings into the action result instead of printing them', async () => {
    tenant.setFault({ cmdlet: 'Get-Mailbox', identity: 'finn@contoso.com', mode: 'warning' });

    const result = await shell.runPlan(
      plan('finn@contoso.com', undefined, { actions: [{ name: 'convertToShared' }] }),
      connection,
      false,
    );

    expect(result.actions[0]).toMatchObject({
      status: 'done',
      warnings: ['Micro delay applied. Actual delayed: 2 msecs, Enforced: True, Capacity: 50, Current: 0.'],
    });
  });

  it('fails the group action when one removal fails, after still removing the person from the other groups', async () => {
    tenant.update((state) => {
      const hugo = state.mailboxes.find((m) => m.primarySmtpAddress === 'hugo@contoso.com');
      for (const group of state.groups.filter((g) => g.name === 'Sales' || g.name === 'Newsletter'))
        group.members.push(hugo?.guid as string);
    });
    tenant.setFault({
      cmdlet: 'Remove-DistributionGroupMember',
      identity: tenant.group('Sales').guid,
      mode: 'error',
      message: 'Active Directory operation failed on AM6PR04A010DC02.',
    });

    const result = await shell.runPlan(
      plan('hugo@contoso.com', undefined, { actions: [{ name: 'removeFromDistributionGroups' }] }),
      connection,
      false,
    );

    expect(result.actions[0]?.status).toBe('failed');
    const hugo = tenant.mailbox('hugo@contoso.com');
    expect(result.actions[0]?.detail).toContain(
      `Removed hugo <hugo@contoso.com> (${hugo.guid}) from 1 distribution group: Newsletter <Newsletter@contoso.com> (${tenant.group('Newsletter').guid}).`,
    );
    expect(result.actions[0]?.detail).toContain(
      `Could not remove hugo <hugo@contoso.com> (${hugo.guid}) from 1 distribution group: Sales <Sales@contoso.com> (${tenant.group('Sales').guid}) (Active Directory operation failed on AM6PR04A010DC02.).`,
    );
    expect(tenant.groupsOf('hugo@contoso.com')).toEqual(['Sales']);
  });

  it('fails the run when PowerShell prints a second JSON line, because the result cannot be trusted', async () => {
    tenant.setFault({
      cmdlet: 'Get-Mailbox',
      identity: 'colleague@contoso.com',
      mode: 'noise',
      message: '{"ok":true,"actions":[]}',
    });

    const result = await shell.runPlan(
      plan('colleague@contoso.com', undefined, { actions: [{ name: 'convertToShared' }] }),
      connection,
      true,
    );

    expect(result.actions[0]?.status).toBe('failed');
    expect(result.actions[0]?.detail).toMatch(
      /did not answer with exactly one JSON result line \(got 2 JSON lines\)/,
    );
  });

  it('tolerates stray console text next to the one JSON line and logs it', async () => {
    tenant.setFault({
      cmdlet: 'Get-Mailbox',
      identity: 'colleague@contoso.com',
      mode: 'noise',
      message: 'VERBOSE-ish chatter',
    });

    const result = await shell.runPlan(
      plan('colleague@contoso.com', undefined, { actions: [{ name: 'convertToShared' }] }),
      connection,
      true,
    );

    expect(result.actions[0]?.status).toBe('planned');
    expect(log.entries).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'PowerShell printed lines besides its JSON result' }),
    );
  });

  it('started one process and connected once, loading only the cmdlets it uses', () => {
    expect(shell.processesStarted).toBe(1);
    expect(connects).toBe(1);
    const connectCalls = tenant.calls().filter((call) => call.cmdlet === 'Connect-ExchangeOnline');
    expect(connectCalls).toHaveLength(1);
    expect(connectCalls[0]?.parameters).toMatchObject({
      AppId: tenant.appId,
      Organization: 'contoso.onmicrosoft.com',
      ShowBanner: false,
      SkipLoadingFormatData: true,
      Certificate: { thumbprint: cert.thumbprint, hasPrivateKey: true },
    });
    expect([...(connectCalls[0]?.parameters.CommandName as string[])].sort()).toEqual(
      [...OUR_CMDLETS].sort(),
    );
    const pids = new Set(tenant.calls().map((call) => call.pid));
    expect(pids.size).toBe(1);
  });
});

describe('connecting', () => {
  const tenants: ExchangeStubTenant[] = [];
  const shells: PowerShellExchangeShell[] = [];
  afterAll(async () => {
    for (const shell of shells) await shell.close();
    for (const tenant of tenants) tenant.dispose();
  });
  function setup(
    options: ExchangeStubTenantOptions = {},
    shellOptions: Partial<PowerShellExchangeShellOptions> = {},
  ) {
    const tenant = ExchangeStubTenant.create({
      certificate: cert,
      mailboxes: [{ address: 'leaver@contoso.com' }, { address: 'boss@contoso.com' }],
      ...options,
    });
    const log = recordingLogger();
    const shell = newShell(tenant, { logger: log.logger, ...shellOptions });
    tenants.push(tenant);
    shells.push(shell);
    return { tenant, shell, log };
  }
  const pfxBase64Start = cert.pfx.toString('base64').slice(0, 40);

  it('connects with a PEM certificate (certificate and key in one text) built in memory', async () => {
    const { tenant, shell } = setup();

    const result = await shell.runPlan(
      plan('leaver@contoso.com', 'boss@contoso.com'),
      async () => tenant.certificateConnection(cert, { format: 'pem' }),
      false,
    );

    expect(result.actions.every((action) => action.status === 'done' || action.status === 'already')).toBe(
      true,
    );
    expect(tenant.calls()[0]).toMatchObject({
      cmdlet: 'Connect-ExchangeOnline',
      parameters: { Certificate: { thumbprint: cert.thumbprint, hasPrivateKey: true } },
    });
  });

  it('connects with a password-protected PFX', async () => {
    const { tenant, shell } = setup();

    const result = await shell.runPlan(
      plan('leaver@contoso.com', undefined, { actions: [{ name: 'convertToShared' }] }),
      async () =>
        tenant.certificateConnection(cert, {
          material: cert.pfxWithPassword('s3cret pass'),
          password: 's3cret pass',
        }),
      false,
    );

    expect(statuses(result)).toEqual({ convertToShared: 'done' });
  });

  it('refuses a certificate without a private key before calling Exchange, without echoing the certificate', async () => {
    const { tenant, shell, log } = setup();

    const error = await expectSetupError(
      shell.runPlan(
        plan('leaver@contoso.com', undefined),
        async () => tenant.certificateConnection(cert, { material: cert.pfxWithoutKey }),
        false,
      ),
    );

    expect(error.code).toBe('CertificateNoPrivateKey');
    expect(error.message).toContain(`thumbprint ${cert.thumbprint}`);
    expect(error.hint).toMatch(/private key/);
    expect(tenant.calls()).toEqual([]);
    expect(JSON.stringify([error.message, error.hint, log.entries])).not.toContain(
      cert.pfxWithoutKey.toString('base64').slice(0, 40),
    );
  });

  it('refuses a certificate that is not registered on the app, with a hint naming its thumbprint', async () => {
    const other = createTestCertificate({ keySize: 1024 });
    const { tenant, shell, log } = setup();

    const error = await expectSetupError(
      shell.runPlan(
        plan('leaver@contoso.com', undefined),
        async () => tenant.certificateConnection(other),
        false,
      ),
    );

    expect(error.code).toBe('ExchangeConnectFailed');
    expect(error.message).toContain('AADSTS700027');
    expect(error.hint).toContain(other.thumbprint);
    expect(tenant.calls().map((call) => call.cmdlet)).toEqual(['Connect-ExchangeOnline']);
    expect(JSON.stringify([error.message, error.hint, log.entries])).not.toContain(
      other.pfx.toString('base64').slice(0, 40),
    );
    // The process holding the key is gone; the next attempt starts afresh.
    expect(shell.processesStarted).toBe(1);
  });

  it('refuses an unknown app id with a hint about EXO_APP_ID', async () => {
    const { tenant, shell, log } = setup();

    const error = await expectSetupError(
      shell.runPlan(
        plan('leaver@contoso.com', undefined),
        async () => tenant.certificateConnection(cert, { appId: '00000000-1111-2222-3333-444444444444' }),
        false,
      ),
    );

    expect(error.message).toContain('AADSTS700016');
    expect(error.hint).toContain('EXO_APP_ID');
    expect(JSON.stringify(log.entries)).not.toContain(pfxBase64Start);
  });

  it('connects with a managed identity, passing the user-assigned client id', async () => {
    const accountId = '7d2b5a44-1c3e-4f6a-8b9c-0d1e2f3a4b5c';
    const { tenant, shell } = setup(
      { managedIdentity: { accountId } },
      {
        exchangeAuth: 'managedIdentity',
        env: { ...process.env, IDENTITY_ENDPOINT: 'http://127.0.0.1:9/msi', IDENTITY_HEADER: 'h' },
      },
    );

    const result = await shell.runPlan(
      plan('leaver@contoso.com', undefined, { actions: [{ name: 'convertToShared' }] }),
      async () => tenant.managedIdentityConnection(accountId),
      false,
    );

    expect(statuses(result)).toEqual({ convertToShared: 'done' });
    expect(tenant.calls()[0]?.parameters).toMatchObject({
      ManagedIdentity: true,
      ManagedIdentityAccountId: accountId,
      Organization: tenant.organization,
    });
  });

  it('reports a missing ExchangeOnlineManagement module as a setup error', async () => {
    const { tenant, shell } = setup({}, {});
    const noModules = new PowerShellExchangeShell({
      powerShell,
      callTimeoutMs: 30_000,
      env: { ...process.env, ...tenant.env, PSModulePath: tenant.dir },
    });
    shells.push(noModules, shell);

    const error = await expectSetupError(
      noModules.runPlan(
        plan('leaver@contoso.com', undefined),
        async () => tenant.certificateConnection(cert),
        false,
      ),
    );

    expect(error.code).toBe('ExchangeModuleNotFound');
    expect(error.hint).toMatch(/PSModulePath/);
  });

  it('reports a PowerShell that cannot be started as a setup error', async () => {
    const { tenant } = setup();
    const missing = new PowerShellExchangeShell({
      powerShell: {
        executable: '/nonexistent/pwsh',
        source: 'NODE_POWERSHELL',
        launch: { command: '/nonexistent/pwsh', args: [] },
      },
      callTimeoutMs: 5000,
      env: { ...process.env, ...tenant.env },
    });
    shells.push(missing);

    const error = await expectSetupError(
      missing.runPlan(
        plan('leaver@contoso.com', undefined),
        async () => tenant.certificateConnection(cert),
        false,
      ),
    );

    expect(error.code).toBe('PowerShellStartFailed');
    expect(error.message).toContain('ENOENT');
    expect(missing.processesStarted).toBe(1);
  });

  it('probes PowerShell and the module PSModulePath resolves, without connecting', async () => {
    const { tenant, shell } = setup();

    const probe = await shell.probe();

    expect(probe.executable).toBe(executable);
    expect(probe.powerShellVersion).toMatch(/^7\.\d+/);
    expect(probe.exchangeModuleVersion).toBe('3.10.1');
    expect(probe.exchangeModulePath).toBe(path.join(tenant.modulesDir, 'ExchangeOnlineManagement'));
    expect(tenant.calls()).toEqual([]);
  });

  it('close() disconnects and stops the process; closing again, or a shell never started, is harmless', async () => {
    const { tenant, shell } = setup();
    const idle = newShell(tenant);
    await shell.runPlan(
      plan('leaver@contoso.com', undefined, { actions: [{ name: 'convertToShared' }] }),
      async () => tenant.certificateConnection(cert),
      false,
    );
    const pid = tenant.calls()[0]?.pid as number;

    await shell.close();
    await shell.close();
    await idle.close();

    expect(tenant.calls().map((call) => call.cmdlet)).toEqual([
      'Connect-ExchangeOnline',
      'Get-Mailbox',
      'Get-MailboxStatistics',
      'Set-Mailbox',
      'Disconnect-ExchangeOnline',
    ]);
    expect(tenant.calls()[3]?.parameters).toMatchObject({ Confirm: false });
    expect(processGone(pid)).toBe(true);
    expect(idle.processesStarted).toBe(0);
  });
});

/**
 * The stub's catalogue cmdlets (auto-reply, CAS protocols, mobile devices, inbox rules, calendar
 * cancellation, statistics, forwarding, SendOnBehalf, litigation hold) behave like Exchange Online:
 * parameter sets, warnings for unchanged settings, Exchange-shaped errors, and state that changes.
 * Called directly from a PowerShell script (no ExoActions), loaded by name through PSModulePath.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runStubScript } from '../support/exchangeShellTesting';
import { createTestCertificate } from '../../sandbox/certificates';
import { ExchangeStubTenant } from '../../sandbox/exchangeStubTenant';

const SCRIPT = String.raw`
$ErrorActionPreference = 'Stop'
$jsonOptions = [System.Text.Json.JsonSerializerOptions]::new()
function Out-Step([string]$Name, [string]$Value) { [Console]::Out.WriteLine($Name + [char]9 + [System.Text.Json.JsonSerializer]::Serialize($Value, [string], $jsonOptions)) }
function Invoke-Step([string]$Name, [scriptblock]$Block) {
  try {
    $result = @(& $Block)
    Out-Step $Name ('ok:' + ((@($result) | ForEach-Object { [string]$_ }) -join '|'))
  } catch {
    Out-Step $Name ('error:' + $_.Exception.GetType().Name + ':' + $_.Exception.Message)
  }
}
$pfx = [Convert]::FromBase64String($env:TEST_PFX)
$cert = [System.Security.Cryptography.X509Certificates.X509CertificateLoader]::LoadPkcs12($pfx, '', [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::EphemeralKeySet, $null)
$leaver = 'leaver@contoso.com'
Import-Module -Name ExchangeOnlineManagement
Connect-ExchangeOnline -Certificate $cert -AppId $env:TEST_APPID -Organization 'contoso.onmicrosoft.com' -ShowBanner:$false

Invoke-Step 'stats' { (Get-MailboxStatistics -Identity $leaver).TotalItemSize }
Invoke-Step 'stats-archive-missing' { Get-MailboxStatistics -Identity 'boss@contoso.com' -Archive }
Invoke-Step 'autoreply-before' { $c = Get-MailboxAutoReplyConfiguration -Identity $leaver; $c.AutoReplyState + '/' + $c.ExternalAudience }
Invoke-Step 'autoreply-bad-audience' { Set-MailboxAutoReplyConfiguration -Identity $leaver -AutoReplyState Enabled -ExternalAudience Everyone -Confirm:$false }
Invoke-Step 'autoreply-scheduled-needs-times' { Set-MailboxAutoReplyConfiguration -Identity $leaver -AutoReplyState Scheduled -Confirm:$false }
Set-MailboxAutoReplyConfiguration -Identity $leaver -AutoReplyState Enabled -InternalMessage 'Gone &amp; away' -ExternalMessage 'Left' -ExternalAudience Known -Confirm:$false
Invoke-Step 'autoreply-after' { $c = Get-MailboxAutoReplyConfiguration -Identity $leaver; $c.AutoReplyState + '/' + $c.ExternalAudience + '/' + $c.InternalMessage }
$w = $null; Set-MailboxAutoReplyConfiguration -Identity $leaver -AutoReplyState Enabled -InternalMessage 'Gone &amp; away' -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue; Out-Step 'autoreply-again' ([string]@($w)[0])
Invoke-Step 'cas-before' { $c = Get-CASMailbox -Identity $leaver; "$($c.OWAEnabled)/$($c.ActiveSyncEnabled)/$($c.PopEnabled)/$($c.ImapEnabled)/$($c.EwsEnabled)" }
Set-CASMailbox -Identity $leaver -OWAEnabled $false -PopEnabled $false -Confirm:$false
Invoke-Step 'cas-after' { $c = Get-CASMailbox -Identity $leaver; "$($c.OWAEnabled)/$($c.ActiveSyncEnabled)/$($c.PopEnabled)/$($c.ImapEnabled)/$($c.EwsEnabled)" }
$w = $null; Set-CASMailbox -Identity $leaver -OWAEnabled $false -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue; Out-Step 'cas-again' ([string]@($w)[0])
Invoke-Step 'devices' { Get-MobileDevice -Mailbox $leaver | ForEach-Object { $_.FriendlyName + '=' + $_.Guid } }
Invoke-Step 'device-remove' { Remove-MobileDevice -Identity 'dev-1' -Confirm:$false; @(Get-MobileDevice -Mailbox $leaver).Count }
Invoke-Step 'device-remove-again' { Remove-MobileDevice -Identity 'dev-1' -Confirm:$false }
Invoke-Step 'no-wipe-cmdlet' { Get-Command Clear-MobileDevice -Module ExchangeOnlineManagement }
Invoke-Step 'rules' { Get-InboxRule -Mailbox $leaver | ForEach-Object { $_.Identity + '=' + $_.Enabled + '=' + ($_.ForwardTo -join ',') } }
Invoke-Step 'rules-no-mailbox' { Get-InboxRule }
Invoke-Step 'rule-disable' { Disable-InboxRule -Identity 'Leaver\11' -Mailbox $leaver -Confirm:$false; (Get-InboxRule -Mailbox $leaver -Identity 'Leaver\11').Enabled }
$w = $null; Disable-InboxRule -Identity 'Leaver\11' -Mailbox $leaver -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue; Out-Step 'rule-disable-again' ([string]@($w)[0])
Invoke-Step 'rule-unknown' { Disable-InboxRule -Identity 'Leaver\99' -Mailbox $leaver -Confirm:$false }
Invoke-Step 'meetings-needs-switch' { Remove-CalendarEvents -Identity $leaver -QueryWindowInDays 30 -Confirm:$false }
Invoke-Step 'meetings-window-too-long' { Remove-CalendarEvents -Identity $leaver -CancelOrganizedMeetings -QueryWindowInDays 2000 -Confirm:$false }
Invoke-Step 'meetings-preview' { Remove-CalendarEvents -Identity $leaver -CancelOrganizedMeetings -QueryWindowInDays 365 -PreviewOnly -Confirm:$false | ForEach-Object { $_.Subject } }
Invoke-Step 'meetings-short-window' { Remove-CalendarEvents -Identity $leaver -CancelOrganizedMeetings -QueryWindowInDays 10 -PreviewOnly -Confirm:$false | ForEach-Object { $_.Subject } }
Invoke-Step 'meetings-cancel' { Remove-CalendarEvents -Identity $leaver -CancelOrganizedMeetings -QueryWindowInDays 365 -Confirm:$false | ForEach-Object { $_.Subject } }
Invoke-Step 'meetings-after' { Remove-CalendarEvents -Identity $leaver -CancelOrganizedMeetings -QueryWindowInDays 365 -PreviewOnly -Confirm:$false | ForEach-Object { $_.Subject } }
Set-Mailbox -Identity $leaver -ForwardingAddress 'boss@contoso.com' -DeliverToMailboxAndForward $true -GrantSendOnBehalfTo @{Add = 'boss@contoso.com' } -Confirm:$false
Invoke-Step 'forwarding' { $m = Get-Mailbox -Identity $leaver; $m.ForwardingAddress + '/' + $m.DeliverToMailboxAndForward + '/' + ($m.GrantSendOnBehalfTo -join ',') }
$w = $null; Set-Mailbox -Identity $leaver -GrantSendOnBehalfTo @{Add = 'boss@contoso.com' } -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue; Out-Step 'sendonbehalf-again' ([string]@($w)[0])
Invoke-Step 'forward-unknown' { Set-Mailbox -Identity $leaver -ForwardingAddress 'ghost@contoso.com' -Confirm:$false }
Invoke-Step 'hold-unlicensed' { Set-Mailbox -Identity 'boss@contoso.com' -LitigationHoldEnabled $true -Confirm:$false }
Set-Mailbox -Identity $leaver -LitigationHoldEnabled $true -LitigationHoldDuration 365 -Confirm:$false
Invoke-Step 'hold' { $m = Get-Mailbox -Identity $leaver; "$($m.LitigationHoldEnabled)/$($m.LitigationHoldDuration)/$($m.ArchiveStatus)" }
`;

const cert = createTestCertificate({ keySize: 1024 });
const inDays = (days: number) => new Date(Date.now() + days * 24 * 3600 * 1000).toISOString();
let tenant: ExchangeStubTenant;
let steps: Map<string, string>;

beforeAll(async () => {
  tenant = ExchangeStubTenant.create({
    certificate: cert,
    mailboxes: [
      {
        address: 'leaver@contoso.com',
        name: 'Leaver',
        catalogue: {
          totalItemSizeBytes: 1_610_612_736,
          mobileDevices: [
            {
              guid: 'dev-1',
              deviceId: 'A1',
              friendlyName: 'iPhone 15',
              deviceModel: 'iPhone',
              deviceOS: 'iOS 18',
            },
            {
              guid: 'dev-2',
              deviceId: 'B2',
              friendlyName: 'Pixel 9',
              deviceModel: 'Pixel',
              deviceOS: 'Android 15',
            },
          ],
          inboxRules: [
            {
              ruleIdentity: '11',
              name: 'To gmail',
              enabled: true,
              forwardTo: ['"x@gmail.com" [SMTP:x@gmail.com]'],
            },
            { ruleIdentity: '12', name: 'Newsletters', enabled: true, moveToFolder: 'News' },
          ],
          calendarEvents: [
            { id: 'e1', subject: 'Weekly 1:1', start: inDays(3), end: inDays(3), isOrganizer: true },
            { id: 'e2', subject: 'Quarterly review', start: inDays(60), end: inDays(60), isOrganizer: true },
            {
              id: 'e3',
              subject: 'Someone else’s meeting',
              start: inDays(4),
              end: inDays(4),
              isOrganizer: false,
            },
            { id: 'e4', subject: 'Last year', start: inDays(-30), end: inDays(-30), isOrganizer: true },
          ],
        },
      },
      { address: 'boss@contoso.com', catalogue: { litigationHoldLicensed: false } },
    ],
  });
  const script = path.join(tenant.dir, 'StubCatalogue.ps1');
  writeFileSync(script, SCRIPT);
  const stdout = await runStubScript(
    tenant,
    script,
    { TEST_PFX: cert.pfx.toString('base64'), TEST_APPID: tenant.appId },
    { timeoutMs: 40_000, stdoutOnFailure: true },
  );
  steps = new Map(
    stdout
      .split(/\r?\n/)
      .filter((line) => line.includes('\t'))
      .map((line) => {
        const [name = '', json = '""'] = line.split('\t');
        return [name, JSON.parse(json) as string];
      }),
  );
}, 90_000);

afterAll(() => tenant.dispose());

it('reports mailbox size as the REST module shows it, and refuses a missing archive', () => {
  expect(steps.get('stats')).toBe('ok:1.5 GB (1,610,612,736 bytes)');
  expect(steps.get('stats-archive-missing')).toMatch(
    /^error:RecipientTaskException:.*doesn't have an archive/,
  );
});

it('sets automatic replies with real parameter validation, stores them as HTML, warns when unchanged', () => {
  expect(steps.get('autoreply-before')).toBe('ok:Disabled/All');
  expect(steps.get('autoreply-bad-audience')).toMatch(/^error:.*ExternalAudience/);
  expect(steps.get('autoreply-scheduled-needs-times')).toMatch(/^error:RecipientTaskException:.*StartTime/);
  expect(steps.get('autoreply-after')).toBe(
    'ok:Enabled/Known/<html>\n<body>\nGone &amp; away\n</body>\n</html>\n',
  );
  expect(steps.get('autoreply-again')).toMatch(/no settings of 'Leaver' have been modified/);
  const stored = tenant.mailbox('leaver@contoso.com').autoReply;
  expect(stored?.externalMessage).toContain('Left');
});

it('turns client protocols off one by one and warns when nothing changes', () => {
  expect(steps.get('cas-before')).toBe('ok:True/True/True/True/True');
  expect(steps.get('cas-after')).toBe('ok:False/True/False/True/True');
  expect(steps.get('cas-again')).toMatch(/no settings of 'Leaver' have been modified/);
  expect(tenant.mailbox('leaver@contoso.com').cas).toMatchObject({ owaEnabled: false, popEnabled: false });
});

it('lists and removes mobile device partnerships, has no wipe cmdlet, and errors on an unknown device', () => {
  expect(steps.get('devices')).toBe('ok:iPhone 15=dev-1|Pixel 9=dev-2');
  expect(steps.get('device-remove')).toBe('ok:1');
  expect(steps.get('device-remove-again')).toMatch(/^error:ManagementObjectNotFoundException:.*dev-1/);
  expect(steps.get('no-wipe-cmdlet')).toMatch(/^error:/);
  expect(tenant.mailbox('leaver@contoso.com').mobileDevices?.map((d) => d.guid)).toEqual(['dev-2']);
});

it('disables (never removes) inbox rules, warns for an already disabled rule, needs -Mailbox', () => {
  expect(steps.get('rules')).toBe('ok:Leaver\\11=True="x@gmail.com" [SMTP:x@gmail.com]|Leaver\\12=True=');
  expect(steps.get('rules-no-mailbox')).toMatch(/^error:RecipientTaskException:.*Mailbox parameter/);
  expect(steps.get('rule-disable')).toBe('ok:False');
  expect(steps.get('rule-disable-again')).toMatch(/no settings of 'Leaver\\11' have been modified/);
  expect(steps.get('rule-unknown')).toMatch(/^error:ManagementObjectNotFoundException:/);
  expect(tenant.mailbox('leaver@contoso.com').inboxRules?.map((r) => [r.name, r.enabled])).toEqual([
    ['To gmail', false],
    ['Newsletters', true],
  ]);
});

it('cancels only organized meetings in the window; -PreviewOnly changes nothing', () => {
  expect(steps.get('meetings-needs-switch')).toMatch(
    /^error:RecipientTaskException:.*CancelOrganizedMeetings/,
  );
  expect(steps.get('meetings-window-too-long')).toMatch(/^error:.*QueryWindowInDays/);
  expect(steps.get('meetings-preview')).toBe('ok:Weekly 1:1|Quarterly review');
  expect(steps.get('meetings-short-window')).toBe('ok:Weekly 1:1');
  expect(steps.get('meetings-cancel')).toBe('ok:Weekly 1:1|Quarterly review');
  expect(steps.get('meetings-after')).toBe('ok:');
  const events = tenant.mailbox('leaver@contoso.com').calendarEvents ?? [];
  expect(events.filter((e) => e.cancelled).map((e) => e.id)).toEqual(['e1', 'e2']);
});

it('forwards to an internal recipient, adds SendOnBehalf, and refuses unknown or unlicensed changes', () => {
  expect(steps.get('forwarding')).toBe('ok:boss/True/boss');
  expect(steps.get('sendonbehalf-again')).toMatch(/no settings of 'Leaver' have been modified/);
  expect(steps.get('forward-unknown')).toMatch(
    /^error:ManagementObjectNotFoundException:.*ghost@contoso.com/,
  );
  expect(steps.get('hold-unlicensed')).toMatch(/^error:RecipientTaskException:.*Plan 2/);
  expect(steps.get('hold')).toBe('ok:True/365.00:00:00/None');
  const leaver = tenant.mailbox('leaver@contoso.com');
  const boss = tenant.mailbox('boss@contoso.com');
  expect(leaver.forwardingAddress).toBe(boss.guid);
  expect(leaver.grantSendOnBehalfTo).toEqual([boss.guid]);
  expect(boss.litigationHoldEnabled).toBeUndefined();
});

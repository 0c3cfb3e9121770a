/**
 * The stub ExchangeOnlineManagement module behaves like Exchange Online where the boundary depends on
 * it. Called directly from a PowerShell script (no ExoActions), loaded by name through PSModulePath.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runStubScript } from '../support/exchangeShellTesting';
import { createTestCertificate } from '../../sandbox/certificates';
import { ExchangeStubTenant } from '../../sandbox/exchangeStubTenant';

// Each step prints "<name>\t<json string>"; core commands only.
const SCRIPT = String.raw`
$ErrorActionPreference = 'Stop'
$jsonOptions = [System.Text.Json.JsonSerializerOptions]::new()
function Out-Step([string]$Name, [string]$Value) { [Console]::Out.WriteLine($Name + [char]9 + [System.Text.Json.JsonSerializer]::Serialize($Value, [string], $jsonOptions)) }
function Invoke-Step([string]$Name, [scriptblock]$Block) {
  try {
    $result = @(& $Block)
    Out-Step $Name ('ok:' + ((@($result) | ForEach-Object { [string]$_ }) -join '|'))
  } catch {
    Out-Step $Name ('error:' + $_.CategoryInfo.Category + ':' + $_.Exception.Message)
  }
}
$pfx = [Convert]::FromBase64String($env:TEST_PFX)
$cert = [System.Security.Cryptography.X509Certificates.X509CertificateLoader]::LoadPkcs12($pfx, '', [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::EphemeralKeySet, $null)
$publicOnly = [System.Security.Cryptography.X509Certificates.X509CertificateLoader]::LoadCertificate([Convert]::FromBase64String($env:TEST_DER))
$leaver = 'leaver@contoso.com'

Import-Module -Name ExchangeOnlineManagement
Invoke-Step 'module' { (Get-Module ExchangeOnlineManagement).Description }
Invoke-Step 'before-connect' { Get-Mailbox -Identity $leaver }
Invoke-Step 'no-key' { Connect-ExchangeOnline -Certificate $publicOnly -AppId $env:TEST_APPID -Organization 'contoso.onmicrosoft.com' -ShowBanner:$false }
Invoke-Step 'wrong-org' { Connect-ExchangeOnline -Certificate $cert -AppId $env:TEST_APPID -Organization 'fabrikam.onmicrosoft.com' -ShowBanner:$false }
Invoke-Step 'connect' { Connect-ExchangeOnline -Certificate $cert -AppId $env:TEST_APPID -Organization 'contoso.onmicrosoft.com' -ShowBanner:$false -CommandName Get-Mailbox, Get-Recipient, Set-Mailbox, Add-MailboxPermission, Add-RecipientPermission }
Invoke-Step 'connection' { (Get-ConnectionInformation).State }
Invoke-Step 'not-loaded' { Remove-DistributionGroupMember -Identity Sales -Member $leaver -BypassSecurityGroupManagerCheck -Confirm:$false }
Invoke-Step 'unknown' { Get-Mailbox -Identity 'nobody@contoso.com' }
Invoke-Step 'null-identity' { Get-Mailbox -Identity $null | ForEach-Object { $_.PrimarySmtpAddress } }
Invoke-Step 'wildcard' { Get-Recipient -Identity 'b*' | ForEach-Object { $_.PrimarySmtpAddress } }
Invoke-Step 'set-null' { Set-Mailbox -Identity $null -Type Shared }
Invoke-Step 'whatif' { Set-Mailbox -Identity $leaver -Type Shared -WhatIf }
Invoke-Step 'after-whatif' { (Get-Mailbox -Identity $leaver).RecipientTypeDetails }
$w = $null; Set-Mailbox -Identity 'shared@contoso.com' -Type Shared -WarningVariable w -WarningAction SilentlyContinue; Out-Step 'unchanged-warning' ([string]$w[0])
$w = $null; Add-MailboxPermission -Identity $leaver -User 'boss@contoso.com' -AccessRights FullAccess -InheritanceType All -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue | Out-Null; Out-Step 'first-grant' ([string]$w.Count)
$w = $null; Add-MailboxPermission -Identity $leaver -User 'boss@contoso.com' -AccessRights FullAccess -InheritanceType All -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue | Out-Null; Out-Step 'second-grant' ([string]$w[0])
$w = $null; Add-RecipientPermission -Identity $leaver -Trustee 'boss@contoso.com' -AccessRights SendAs -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue | Out-Null
$w = $null; Add-RecipientPermission -Identity $leaver -Trustee 'boss@contoso.com' -AccessRights SendAs -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue | Out-Null; Out-Step 'second-sendas' ([string]$w[0])
Invoke-Step 'grant-unknown-user' { Add-MailboxPermission -Identity $leaver -User 'ghost@contoso.com' -AccessRights FullAccess -Confirm:$false }
Invoke-Step 'bad-filter' { Get-Recipient -Filter "Members -eq 'CN=o'brien,OU=x'" }
Invoke-Step 'members-filter' { Get-Recipient -Filter ("Members -eq '" + (Get-Mailbox -Identity $leaver).DistinguishedName.Replace("'", "''") + "'") | ForEach-Object { $_.Name } }
Invoke-Step 'proxies' { (Get-Recipient -Identity 'old.ben@contoso.com').EmailAddresses }
Invoke-Step 'types' { foreach ($a in 'room@contoso.com', 'contact@fabrikam.com', 'guest@fabrikam.com', 'team@contoso.com') { $r = Get-Recipient -Identity $a; $r.RecipientType + '/' + $r.RecipientTypeDetails } }
Invoke-Step 'contact-is-not-a-mailbox' { Get-Mailbox -Identity 'contact@fabrikam.com' }
function Get-ErrorShape([scriptblock]$Block) { try { & $Block; 'no error' } catch { $_.Exception.GetType().Name + '|' + $_.CategoryInfo.Reason + '|' + ([regex]::Match([string]$_.FullyQualifiedErrorId, 'FailureCategory=[^\]]+').Value) } }
Out-Step 'not-found-shape' (Get-ErrorShape { Get-Recipient -Identity 'nobody@contoso.com' })
Invoke-Step 'disconnect' { Disconnect-ExchangeOnline -Confirm:$false }
Invoke-Step 'after-disconnect' { Get-Recipient -Identity $leaver }
`;

const cert = createTestCertificate({ keySize: 1024 });
let tenant: ExchangeStubTenant;
let steps: Map<string, string>;
let stdoutLines: string[];

beforeAll(async () => {
  tenant = ExchangeStubTenant.create({
    certificate: cert,
    mailboxes: [
      { address: 'leaver@contoso.com' },
      { address: 'boss@contoso.com' },
      { address: 'ben@contoso.com', emailAddresses: ['old.ben@contoso.com', 'X500:/o=ExchangeLabs/cn=ben'] },
      { address: 'shared@contoso.com', type: 'SharedMailbox' },
      { address: 'room@contoso.com', type: 'RoomMailbox' },
      { address: 'team@contoso.com', type: 'TeamMailbox' },
      { address: 'contact@fabrikam.com', type: 'MailContact' },
      { address: 'guest@fabrikam.com', type: 'GuestMailUser' },
    ],
    groups: [
      { name: 'Sales', members: ['leaver@contoso.com'] },
      { name: 'Finance', type: 'MailUniversalSecurityGroup', members: ['leaver@contoso.com'] },
    ],
  });
  const script = path.join(tenant.dir, 'Stub.ps1');
  writeFileSync(script, SCRIPT);
  const stdout = await runStubScript(
    tenant,
    script,
    {
      TEST_PFX: cert.pfx.toString('base64'),
      TEST_DER: cert.der.toString('base64'),
      TEST_APPID: tenant.appId,
    },
    { timeoutMs: 30_000 },
  );
  stdoutLines = stdout.split(/\r?\n/).filter((line) => line.length > 0);
  steps = new Map(
    stdoutLines
      .filter((line) => line.includes('\t'))
      .map((line) => {
        const [name = '', json = '""'] = line.split('\t');
        return [name, JSON.parse(json) as string];
      }),
  );
});

afterAll(() => tenant.dispose());

it('is loaded by name from PSModulePath and says it is a stub', () => {
  expect(steps.get('module')).toMatch(/^ok:STUB of the Exchange Online PowerShell V3 module/);
});

it('refuses every data cmdlet before Connect-ExchangeOnline', () => {
  expect(steps.get('before-connect')).toBe(
    'error:InvalidOperation:You must call the Connect-ExchangeOnline cmdlet before calling any other cmdlets.',
  );
  expect(steps.get('after-disconnect')).toBe(
    'error:InvalidOperation:You must call the Connect-ExchangeOnline cmdlet before calling any other cmdlets.',
  );
});

it('refuses a certificate without a private key and a wrong organization, as Entra would', () => {
  expect(steps.get('no-key')).toMatch(/^error:AuthenticationError:IDX10638: .*'key\.HasPrivateKey' is false/);
  expect(steps.get('wrong-org')).toMatch(
    /^error:AuthenticationError:AADSTS90002: Tenant 'fabrikam\.onmicrosoft\.com' not found/,
  );
  expect(steps.get('connect')).toBe('ok:');
  expect(steps.get('connection')).toBe('ok:Connected');
});

it('makes only the -CommandName cmdlets available after connecting', () => {
  expect(steps.get('not-loaded')).toMatch(
    /^error:ObjectNotFound:The term 'Remove-DistributionGroupMember' is not recognized/,
  );
  expect(tenant.groupsOf('leaver@contoso.com').sort()).toEqual(['Finance', 'Sales']);
});

it("answers an unknown identity with Exchange's couldn't-be-found error", () => {
  expect(steps.get('unknown')).toBe(
    "error:ObjectNotFound:The operation couldn't be performed because object 'nobody@contoso.com' couldn't be found on 'AM6PR04A010DC02.EURPRD04.PROD.OUTLOOK.COM'.",
  );
  expect(steps.get('grant-unknown-user')).toBe(
    'error:ObjectNotFound:User or group "ghost@contoso.com" wasn\'t found. Please make sure you\'ve typed it correctly.',
  );
});

it('returns everything for a $null identity on Get-Mailbox, and accepts wildcards on Get-*', () => {
  expect(steps.get('null-identity')).toBe(
    'ok:leaver@contoso.com|boss@contoso.com|ben@contoso.com|shared@contoso.com|room@contoso.com|team@contoso.com',
  );
  expect(steps.get('wildcard')).toBe('ok:boss@contoso.com|ben@contoso.com');
  expect(steps.get('set-null')).toMatch(
    /^error:InvalidData:Cannot bind argument to parameter 'Identity' because it is null/,
  );
});

it('supports -WhatIf on changes: it says what it would do and changes nothing', () => {
  expect(stdoutLines).toContain('What if: Performing the operation "Set-Mailbox" on target "leaver".');
  expect(steps.get('after-whatif')).toBe('ok:UserMailbox');
  expect(tenant.mailbox('leaver@contoso.com').recipientTypeDetails).toBe('UserMailbox');
});

it('warns like Exchange when a setting or permission is already there', () => {
  expect(steps.get('unchanged-warning')).toBe(
    "The command completed successfully but no settings of 'shared' have been modified.",
  );
  expect(steps.get('first-grant')).toBe('0');
  expect(steps.get('second-grant')).toBe('An existing permission entry was found for user: boss.');
  expect(steps.get('second-sendas')).toBe(
    'The appropriate access control entry is already present on object "leaver" for account "boss@contoso.com".',
  );
  expect(tenant.fullAccessOn('leaver@contoso.com')).toEqual(['boss@contoso.com']);
});

it('parses OPATH filters: an unescaped quote is a syntax error, Members finds the groups holding a DN', () => {
  expect(steps.get('bad-filter')).toMatch(
    /^error:InvalidArgument:Cannot bind parameter 'Filter' to the target\..*Invalid filter syntax/s,
  );
  expect(steps.get('members-filter')).toBe('ok:Sales|Finance');
});

it('logs every call with certificates as thumbprints only', () => {
  const calls = tenant.calls();
  const connects = calls.filter((call) => call.cmdlet === 'Connect-ExchangeOnline');
  expect(connects.map((call) => call.parameters.Certificate)).toEqual([
    { thumbprint: cert.thumbprint, hasPrivateKey: false },
    { thumbprint: cert.thumbprint, hasPrivateKey: true },
    { thumbprint: cert.thumbprint, hasPrivateKey: true },
  ]);
  expect(JSON.stringify(calls)).not.toContain(cert.pfx.toString('base64').slice(0, 40));
  expect(calls.map((call) => call.cmdlet)).toContain('Disconnect-ExchangeOnline');
});

it('carries EmailAddresses as Exchange does and finds a recipient by a secondary address', () => {
  expect(steps.get('proxies')).toBe(
    'ok:SMTP:ben@contoso.com|smtp:old.ben@contoso.com|X500:/o=ExchangeLabs/cn=ben',
  );
});

it('models every recipient type, and only mailboxes are found by Get-Mailbox', () => {
  expect(steps.get('types')).toBe(
    'ok:UserMailbox/RoomMailbox|MailContact/MailContact|MailUser/GuestMailUser|UserMailbox/TeamMailbox',
  );
  expect(steps.get('contact-is-not-a-mailbox')).toMatch(/^error:ObjectNotFound:.*couldn't be found/);
});

it("reports errors with Exchange's exception type, in the exception, the category reason and the error id", () => {
  expect(steps.get('not-found-shape')).toBe(
    'ManagementObjectNotFoundException|ManagementObjectNotFoundException|FailureCategory=Cmdlet-ManagementObjectNotFoundException',
  );
});

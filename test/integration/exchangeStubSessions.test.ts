/**
 * Several sessions (pwsh processes) share one stub tenant, as the session pool's do: every change by
 * one is seen by the others, none is lost, and they follow one another through the tenant's change
 * journal rather than re-reading the whole tenant after each write (StubTenant in StubNative.cs);
 * a write appends its change, and the whole state file is rewritten only now and then.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runStubScript } from '../support/exchangeShellTesting';
import { createTestCertificate } from '../../sandbox/certificates';
import { ExchangeStubTenant } from '../../sandbox/exchangeStubTenant';

const LEAVERS_PER_SESSION = 6;
const SESSIONS = 3;

// Every script's start: connect to the tenant with the test certificate (TEST_PFX, TEST_APPID).
const CONNECT = String.raw`
$ErrorActionPreference = 'Stop'
$WarningPreference = 'SilentlyContinue'
$pfx = [Convert]::FromBase64String($env:TEST_PFX)
$cert = [System.Security.Cryptography.X509Certificates.X509CertificateLoader]::LoadPkcs12($pfx, '', [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::EphemeralKeySet, $null)
Import-Module -Name ExchangeOnlineManagement
Connect-ExchangeOnline -Certificate $cert -AppId $env:TEST_APPID -Organization 'contoso.onmicrosoft.com' -ShowBanner:$false
`;

// Session $env:TEST_SESSION offboards its own leavers and takes each out of the two lists all of them
// share; then it waits for the others (their done files) and reports what it sees of the whole tenant.
const SCRIPT = `${CONNECT}${String.raw`
$session = [int]$env:TEST_SESSION
for ($i = 1; $i -le [int]$env:TEST_PER_SESSION; $i++) {
  $leaver = "s$session-leaver$i@contoso.com"
  Set-Mailbox -Identity $leaver -Type Shared
  $null = Add-MailboxPermission -Identity $leaver -User 'boss@contoso.com' -AccessRights FullAccess -InheritanceType All -AutoMapping $false -Confirm:$false
  foreach ($list in 'Sales', 'Everyone') { Remove-DistributionGroupMember -Identity $list -Member $leaver -BypassSecurityGroupManagerCheck -Confirm:$false }
}
[System.IO.File]::WriteAllText([System.IO.Path]::Combine($env:TEST_DONE, "$session.done"), '')
$deadline = [datetime]::UtcNow.AddSeconds(60)
while (@([System.IO.Directory]::GetFiles($env:TEST_DONE, '*.done')).Count -lt [int]$env:TEST_SESSIONS) {
  if ([datetime]::UtcNow -gt $deadline) { throw 'the other sessions did not finish within 60 s' }
  Start-Sleep -Milliseconds 50
}
# A change cmdlet always reads the latest state; a read may lag by up to 250 ms.
Start-Sleep -Milliseconds 300
$shared = @(Get-Mailbox -Identity $null | Where-Object { $_.RecipientTypeDetails -eq 'SharedMailbox' }).Count
$sales = @(Get-DistributionGroupMember -Identity 'Sales').Count
$granted = @(Get-MailboxPermission -Identity 's1-leaver1@contoso.com' | Where-Object { $_.User -eq 'boss@contoso.com' }).Count
$tenant = & (Get-Module ExchangeOnlineManagement) { $script:Tenant }
[Console]::Out.WriteLine("shared=$shared sales=$sales granted=$granted fullReads=$($tenant.FullReads)")
`}`;

const cert = createTestCertificate({ keySize: 1024 });
let tenant: ExchangeStubTenant;

beforeAll(() => {
  const leavers = Array.from({ length: SESSIONS }, (_, s) =>
    Array.from({ length: LEAVERS_PER_SESSION }, (_, i) => `s${s + 1}-leaver${i + 1}@contoso.com`),
  ).flat();
  tenant = ExchangeStubTenant.create({
    certificate: cert,
    mailboxes: [
      { address: 'boss@contoso.com' },
      { address: 'stays@contoso.com' },
      ...leavers.map((address) => ({ address })),
    ],
    groups: [
      { name: 'Sales', members: [...leavers, 'stays@contoso.com'] },
      { name: 'Everyone', members: [...leavers, 'stays@contoso.com', 'boss@contoso.com'] },
    ],
  });
});

afterAll(() => tenant.dispose());

function runSession(script: string, session: number, done: string): Promise<string> {
  return runStubScript(
    tenant,
    script,
    {
      TEST_PFX: cert.pfx.toString('base64'),
      TEST_APPID: tenant.appId,
      TEST_SESSION: String(session),
      TEST_SESSIONS: String(SESSIONS),
      TEST_PER_SESSION: String(LEAVERS_PER_SESSION),
      TEST_DONE: done,
    },
    { timeoutMs: 120_000 },
  );
}

it('keeps every session’s changes, shows each to the others, and follows them through the journal', async () => {
  const script = path.join(tenant.dir, 'Sessions.ps1');
  writeFileSync(script, SCRIPT);
  const outputs = await Promise.all(
    Array.from({ length: SESSIONS }, (_, s) => runSession(script, s + 1, tenant.dir)),
  );

  const all = SESSIONS * LEAVERS_PER_SESSION;
  for (const output of outputs) {
    const seen = /shared=(\d+) sales=(\d+) granted=(\d+) fullReads=(\d+)/.exec(output);
    expect(seen).not.toBeNull();
    const [, shared, sales, granted, fullReads] = (seen ?? []).map(Number);
    // Every session sees every other session's conversions and removals.
    expect(shared).toBe(all);
    expect(sales).toBe(1);
    expect(granted).toBe(1);
    // Read whole once at the start (and at most once more, should a read race the first writes),
    // never once per foreign write: there were (SESSIONS - 1) * LEAVERS_PER_SESSION * 4 of those.
    expect(fullReads).toBeLessThanOrEqual(2);
  }

  // And the file the tests read is the whole, current tenant: nothing lost to a concurrent write.
  const state = tenant.state();
  expect(state.mailboxes.filter((m) => m.recipientTypeDetails === 'SharedMailbox')).toHaveLength(all);
  expect(tenant.group('Sales').members).toHaveLength(1);
  expect(tenant.group('Everyone').members).toHaveLength(2);
  expect(state.mailboxPermissions.filter((p) => p.accessRights.includes('FullAccess'))).toHaveLength(all);
  expect(existsSync(path.join(tenant.dir, 'tenant.journal'))).toBe(true);
});

it('writes the whole state only now and then: a new session and the tests catch up through the journal', async () => {
  const small = ExchangeStubTenant.create({
    certificate: cert,
    mailboxes: ['a', 'b', 'c', 'boss'].map((name) => ({ address: `${name}@contoso.com` })),
  });
  try {
    const writer = path.join(small.dir, 'Writer.ps1');
    writeFileSync(
      writer,
      `${CONNECT}foreach ($name in 'a', 'b', 'c') { Set-Mailbox -Identity "$name@contoso.com" -Type Shared }\n`,
    );
    const reader = path.join(small.dir, 'Reader.ps1');
    writeFileSync(
      reader,
      `${CONNECT}[Console]::Out.WriteLine(@(Get-Mailbox -Identity $null | Where-Object { $_.RecipientTypeDetails -eq 'SharedMailbox' }).Count)\n`,
    );
    const env = { TEST_PFX: cert.pfx.toString('base64'), TEST_APPID: small.appId };
    await runStubScript(small, writer, env, { timeoutMs: 60_000 });

    // Three small writes: all in the journal, none rewrote the state file (still the seeded tenant).
    const file = JSON.parse(readFileSync(path.join(small.dir, 'tenant.json'), 'utf8')) as {
      mailboxes: Array<{ recipientTypeDetails: string }>;
      stubJournalOffset: number;
    };
    expect(file.mailboxes.filter((m) => m.recipientTypeDetails === 'SharedMailbox')).toHaveLength(0);
    expect(file.stubJournalOffset).toBe(0);
    expect(statSync(path.join(small.dir, 'tenant.journal')).size).toBeGreaterThan(0);

    // What the tests and a session started afterwards see is the journal's end.
    const shared = () => small.state().mailboxes.filter((m) => m.recipientTypeDetails === 'SharedMailbox');
    expect(
      shared()
        .map((m) => m.primarySmtpAddress)
        .sort(),
    ).toEqual(['a@contoso.com', 'b@contoso.com', 'c@contoso.com']);
    expect((await runStubScript(small, reader, env, { timeoutMs: 60_000 })).trim()).toBe('3');

    // A test's own change, on top of the journal, is what the next session sees.
    small.updateMailbox('a@contoso.com', (mailbox) => {
      mailbox.recipientTypeDetails = 'UserMailbox';
    });
    expect(shared()).toHaveLength(2);
    expect((await runStubScript(small, reader, env, { timeoutMs: 60_000 })).trim()).toBe('2');
  } finally {
    small.dispose();
  }
});

/**
 * The deployed configuration, end to end: the CLI in Key Vault mode with the App Service managed
 * identity endpoint, the real @azure/identity and @azure/keyvault-* clients against loopback stubs,
 * real PowerShell and the stub Exchange module. Exchange must see the vault's certificate.
 */
import { startAzureStubs, type AzureStubs } from '../support/azureStubs';
import { createTestCertificate, type TestCertificate } from '../../sandbox/certificates';
import { EndToEndWorld, parseReport, runCli } from '../support/cliHarness';

const LEAVER = {
  name: 'Kim Leaver',
  email: 'kim.leaver@contoso.com',
  lineManager: { email: 'boss@contoso.com' },
};
const tenant = { mailboxes: [{ address: 'kim.leaver@contoso.com' }, { address: 'boss@contoso.com' }] };

describe('Key Vault mode through a managed identity (CLI, end to end)', () => {
  let certificate: TestCertificate;
  let world: EndToEndWorld;
  let azure: AzureStubs;

  beforeAll(() => {
    certificate = createTestCertificate({ keySize: 1024, commonName: 'exo vault cert' });
  });
  afterEach(async () => {
    await azure?.close();
    await world?.dispose();
  });

  /** The CLI's settings in Key Vault mode: no certificate path or password anywhere. */
  const envFor = () => {
    const env = world.env(azure.env);
    delete env.EXO_CERTIFICATE_PATH;
    delete env.EXO_CERTIFICATE_PASSWORD;
    return env;
  };

  const thumbprintsExchangeSaw = () =>
    world.tenant
      .calls()
      .filter((call) => call.cmdlet === 'Connect-ExchangeOnline')
      .map((call) => (call.parameters.Certificate as { thumbprint: string } | undefined)?.thumbprint);

  it.each(['pfx', 'pem'] as const)(
    'connects Exchange with the certificate from the vault (%s)',
    async (format) => {
      world = await EndToEndWorld.create(tenant, {}, certificate);
      azure = await startAzureStubs({ certificate, format, userAssigned: format === 'pem' });
      world.addWaitingRun(LEAVER);
      const result = await runCli(['sweep', '--json'], envFor());
      expect(result.code).toBe(0);
      expect(parseReport(result.stdout).runs[0]).toMatchObject({ outcome: 'completed', signalled: true });
      expect(thumbprintsExchangeSaw()).toEqual([certificate.thumbprint]);
      expect(azure.identity.requests.length).toBeGreaterThan(0);
      expect(azure.vault.requests.length).toBeGreaterThan(0);
    },
  );

  it('makes no identity or Key Vault request when nothing is waiting', async () => {
    world = await EndToEndWorld.create(tenant, {}, certificate);
    azure = await startAzureStubs({ certificate });
    const result = await runCli(['sweep', '--json'], envFor());
    expect(result.code).toBe(0);
    expect(parseReport(result.stdout).runs).toEqual([]);
    expect(azure.identity.requests).toEqual([]);
    expect(azure.vault.requests).toEqual([]);
  });

  it('check names the certificate it found (thumbprint, expiry, version, source) and prints no secret', async () => {
    world = await EndToEndWorld.create(tenant, {}, certificate);
    azure = await startAzureStubs({ certificate });
    const result = await runCli(['check', '--json'], envFor());
    const { checks } = JSON.parse(result.stdout) as {
      checks: { name: string; ok: boolean; detail: string }[];
    };
    const cert = checks.find((c) => c.name === 'certificate');
    expect(cert).toMatchObject({ ok: true });
    expect(cert?.detail).toContain(certificate.thumbprint);
    expect(cert?.detail).toContain(azure.version as string);
    expect(cert?.detail).toContain(certificate.notAfter.toISOString().slice(0, 10));
    expect(cert?.detail).toMatch(/vault/i);
    expect(checks.every((c) => c.ok)).toBe(true);
    expect(result.code).toBe(0);
    const everything = result.stdout + result.stderr;
    expect(everything).not.toContain(certificate.pfx.toString('base64').slice(0, 40));
    expect(everything).not.toContain(azure.env.IDENTITY_HEADER as string);
    expect(everything).not.toContain(world.clientSecret);
    // check changes nothing: no Exchange change, no signal
    expect(world.simulator.signals).toEqual([]);
    expect(world.tenant.calls().filter((c) => /^(Set|Add|Remove)-/.test(c.cmdlet))).toEqual([]);
  });

  it('exits 2 naming the missing Key Vault role when the identity has none', async () => {
    world = await EndToEndWorld.create(tenant, {}, certificate);
    azure = await startAzureStubs({ certificate, roles: [] });
    world.addWaitingRun(LEAVER);
    const result = await runCli(['sweep', '--json'], envFor());
    expect(result.code).toBe(2);
    // With --json the setup error is the one JSON document on stdout.
    const { error } = JSON.parse(result.stdout) as { error: { message: string; hint: string } };
    const said = `${error.message} ${error.hint}`;
    expect(said).toMatch(/Key Vault (Secrets|Certificate) User/);
    expect(said).toMatch(/4633458b-17de-408a-b874-0445c86b69e6|db79e9a7-68ee-4b58-9aeb-b90e7c24fcba/);
    expect(world.simulator.signals).toEqual([]);
  });
});

/**
 * The Key Vault certificate source with the real @azure/identity and @azure/keyvault-* clients,
 * against the loopback Key Vault and managed identity stubs. The source runs in a child process
 * whose environment is what the Function App's would be (IDENTITY_ENDPOINT, IDENTITY_HEADER), plus
 * the standard NODE_EXTRA_CA_CERTS and HTTPS_PROXY that let it reach https://exo-test.vault.azure.net
 * on loopback (see test/support/keyVaultStub.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import { startAzureStubs } from '../support/azureStubs';
import { createTestCertificate, type TestCertificate } from '../../sandbox/certificates';
import { startIdentityStub, type IdentityStub } from '../support/identityStub';
import {
  startSourceProcess,
  type CreateSourceOptions,
  type LoadOutcome,
  type SourceProcess,
} from '../support/keyVaultSourceProcess';
import {
  closedLoopbackPort,
  keyVaultPem,
  startKeyVaultStub,
  startNotAVault,
  type KeyVaultStub,
} from '../support/keyVaultStub';

const DAY = 24 * 3600 * 1000;
const USER_ASSIGNED_READER = randomUUID();
const USER_ASSIGNED_SECRETS_USER = randomUUID();

let identity: IdentityStub;
let vault: KeyVaultStub;
let child: SourceProcess;
let nextSource = 0;

const extraCertificates: TestCertificate[] = [];
// Made once (PKCS#12 in pure JS is slow); each test stores them under its own certificate name.
const certificates = {
  valid: createTestCertificate({ keySize: 1024 }),
  renewed: createTestCertificate({ keySize: 1024, commonName: 'exo-workflow-sync renewed' }),
};

/** Everything that must never appear in an error, a log or a serialised certificate. */
function secretFragments(): string[] {
  const fragments: string[] = [identity.header, ...identity.issuedTokens()];
  const windows = (text: string) =>
    [0.1, 0.5, 0.9].map((at) => text.slice(Math.floor(text.length * at), Math.floor(text.length * at) + 24));
  for (const made of [...Object.values(certificates), ...extraCertificates]) {
    fragments.push(...windows(made.pfx.toString('base64')));
    for (const pem of [made.pem, keyVaultPem(made)]) {
      const keyBody =
        /-----BEGIN ([A-Z ]*)PRIVATE KEY-----([\s\S]*?)-----END \1PRIVATE KEY-----/.exec(pem)?.[2] ?? '';
      expect(keyBody.length).toBeGreaterThan(500);
      fragments.push(...windows(keyBody.replace(/\s+/g, '')));
      // Key lines as they appear in the PEM text.
      fragments.push(
        ...keyBody
          .split(/\r?\n/)
          .filter((line) => line.length === 64)
          .slice(0, 3),
      );
    }
  }
  return fragments.filter((fragment) => fragment.length >= 16);
}

function expectNoSecrets(text: string): void {
  for (const fragment of secretFragments()) expect(text).not.toContain(fragment);
}

async function newSource(
  options: Partial<CreateSourceOptions> & { certificateName: string },
): Promise<string> {
  const key = `source-${++nextSource}`;
  await child.create(key, {
    vaultUrl: vault.vaultUrl,
    keyVaultMaxRetries: 0,
    identityMaxRetries: 0,
    ...options,
  });
  return key;
}

async function load(key: string, into: SourceProcess = child): Promise<LoadOutcome> {
  const outcome = await into.load(key);
  expectNoSecrets(JSON.stringify(outcome));
  return outcome;
}

function loaded(outcome: LoadOutcome) {
  if (!outcome.ok)
    throw new Error(`expected a certificate, got ${outcome.error.code}: ${outcome.error.message}`);
  return outcome.certificate;
}

function failed(outcome: LoadOutcome) {
  if (outcome.ok) throw new Error(`expected an error, got certificate ${outcome.certificate.thumbprint}`);
  return outcome.error;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Certificate validity is stored in whole seconds. */
function seconds(date: Date): string {
  return new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString();
}

function vaultRequestsSince(mark: number) {
  return vault.requests.slice(mark).map((request) => `${request.path} ${request.status}`);
}

beforeAll(async () => {
  identity = await startIdentityStub({
    userAssignedClientIds: [USER_ASSIGNED_READER, USER_ASSIGNED_SECRETS_USER],
  });
  vault = await startKeyVaultStub({ verifyToken: (token) => identity.verifyToken(token) });
  vault.assignRole(identity.systemAssignedClientId, 'Key Vault Certificate User');
  vault.assignRole(USER_ASSIGNED_READER, 'Key Vault Reader');
  vault.assignRole(USER_ASSIGNED_SECRETS_USER, 'Key Vault Secrets User');
  child = await startSourceProcess({ ...identity.env(), ...vault.env() });
});

describe('the stubs as an end-to-end test starts them', () => {
  test('a process with only the environment from startAzureStubs loads the certificate (user-assigned identity, PEM)', async () => {
    const azure = await startAzureStubs({
      certificate: certificates.valid,
      userAssigned: true,
      format: 'pem',
    });
    const isolated = await startSourceProcess(azure.env);
    try {
      await isolated.create('e2e', {
        vaultUrl: azure.env.KEY_VAULT_URL as string,
        certificateName: azure.env.EXO_CERTIFICATE_NAME as string,
        managedIdentityClientId: azure.env.AZURE_CLIENT_ID,
      });
      const result = loaded(await isolated.load('e2e'));
      expect(result).toMatchObject({
        thumbprint: certificates.valid.thumbprint,
        version: azure.version,
        format: 'pem',
      });
      expect(azure.identity.requests.map((request) => request.clientId)).toEqual([azure.clientId]);
    } finally {
      await isolated.stop();
      await azure.close();
    }
  });
});

afterAll(async () => {
  await child?.stop();
  await vault?.close();
  await identity?.close();
});

describe('loading the certificate from Key Vault', () => {
  test('loads a PFX certificate with the managed identity and describes it', async () => {
    const made = certificates.valid;
    const version = vault.putCertificate('exo-pfx', made);
    const key = await newSource({ certificateName: 'exo-pfx' });

    const result = loaded(await load(key));

    expect(result).toMatchObject({
      format: 'pfx',
      thumbprint: made.thumbprint,
      subject: made.subject,
      notBefore: seconds(made.notBefore),
      expiresOn: seconds(made.notAfter),
      version,
      source: `Key Vault ${vault.vaultUrl} certificate 'exo-pfx' version ${version}`,
      materialSha256: sha256(made.pfx),
      passwordLength: 0,
      warnings: [],
    });
    // The token came from the App Service identity endpoint, for Key Vault, as the system-assigned identity.
    expect(identity.requests.at(-1)).toMatchObject({
      apiVersion: '2019-08-01',
      resource: 'https://vault.azure.net',
      headerValid: true,
      status: 200,
    });
    expect(identity.requests.at(-1)?.clientId).toBeUndefined();
  });

  test('loads a PEM certificate (key and certificate in one text)', async () => {
    const made = certificates.valid;
    const version = vault.putCertificate('exo-pem', made, { format: 'pem' });
    const key = await newSource({ certificateName: 'exo-pem' });

    const result = loaded(await load(key));

    expect(result).toMatchObject({
      format: 'pem',
      thumbprint: made.thumbprint,
      version,
      materialSha256: sha256(keyVaultPem(made)),
    });
  });

  test('answers the Key Vault challenge and asks for the secret of exactly the current version', async () => {
    const made = certificates.valid;
    const version = vault.putCertificate('exo-wire', made);
    const key = await newSource({ certificateName: 'exo-wire' });
    const mark = vault.requests.length;

    loaded(await load(key));

    const requests = vault.requests.slice(mark);
    expect(requests.map((r) => `${r.path} ${r.auth} ${r.status}`)).toEqual([
      '/certificates/exo-wire/ none 401',
      '/certificates/exo-wire/ valid 200',
      `/secrets/exo-wire/${version} none 401`,
      `/secrets/exo-wire/${version} valid 200`,
    ]);
    expect(requests.every((r) => r.apiVersion === '2025-07-01')).toBe(true);
    expect(vault.tunnels.every((tunnel) => tunnel.allowed)).toBe(true);
  });

  test('makes no request when the source is constructed', async () => {
    vault.putCertificate('exo-lazy', certificates.valid);
    const vaultMark = vault.requests.length;
    const identityMark = identity.requests.length;

    await newSource({ certificateName: 'exo-lazy' });

    expect(vault.requests.length).toBe(vaultMark);
    expect(identity.requests.length).toBe(identityMark);
  });
});

describe('caching and rotation', () => {
  afterEach(() => child.setNow(undefined));

  test('a second load within the check interval makes no request; after it, only the cheap version check', async () => {
    const made = certificates.valid;
    const version = vault.putCertificate('exo-cache', made);
    const key = await newSource({ certificateName: 'exo-cache', versionCheckIntervalMs: 60_000 });
    const start = new Date();
    await child.setNow(start);
    loaded(await load(key));

    let mark = vault.requests.length;
    const again = loaded(await load(key));
    expect(again.version).toBe(version);
    expect(vaultRequestsSince(mark)).toEqual([]);

    await child.setNow(new Date(start.getTime() + 61_000));
    mark = vault.requests.length;
    const later = loaded(await load(key));
    expect(later.version).toBe(version);
    expect(vaultRequestsSince(mark)).toEqual(['/certificates/exo-cache/ 200']);
  });

  test('picks up a new version from Key Vault without a restart', async () => {
    const first = certificates.valid;
    const firstVersion = vault.putCertificate('exo-rotate', first);
    const key = await newSource({ certificateName: 'exo-rotate', versionCheckIntervalMs: 60_000 });
    const start = new Date();
    await child.setNow(start);
    expect(loaded(await load(key)).thumbprint).toBe(first.thumbprint);

    const second = certificates.renewed;
    const secondVersion = vault.putCertificate('exo-rotate', second);
    // Within the interval the cached version is still used...
    expect(loaded(await load(key)).version).toBe(firstVersion);
    // ...and after it the new one.
    await child.setNow(new Date(start.getTime() + 61_000));
    const mark = vault.requests.length;
    const rotated = loaded(await load(key));

    expect(rotated).toMatchObject({
      version: secondVersion,
      thumbprint: second.thumbprint,
      materialSha256: sha256(second.pfx),
    });
    expect(vaultRequestsSince(mark)).toEqual([
      '/certificates/exo-rotate/ 200',
      `/secrets/exo-rotate/${secondVersion} 200`,
    ]);
    expect(
      (await child.logs(key)).some((line) => line.includes('new version') && line.includes(secondVersion)),
    ).toBe(true);
  });

  test('concurrent loads share one round trip', async () => {
    vault.putCertificate('exo-concurrent', certificates.valid);
    const key = await newSource({ certificateName: 'exo-concurrent' });
    const mark = vault.requests.length;

    const outcomes = await child.loadConcurrently(key, 5);

    expect(outcomes.every((outcome) => outcome.ok)).toBe(true);
    expect(vaultRequestsSince(mark).filter((line) => line.endsWith(' 200'))).toHaveLength(2);
  });

  test('keeps using the cached certificate when Key Vault is briefly unavailable, and says so', async () => {
    const made = certificates.valid;
    vault.putCertificate('exo-outage', made);
    const key = await newSource({ certificateName: 'exo-outage', versionCheckIntervalMs: 60_000 });
    const start = new Date();
    await child.setNow(start);
    loaded(await load(key));

    vault.failRequests(503);
    try {
      await child.setNow(new Date(start.getTime() + 61_000));
      expect(loaded(await load(key)).thumbprint).toBe(made.thumbprint);
    } finally {
      vault.failRequests(undefined);
    }
    expect(
      (await child.logs(key)).some((line) => line.startsWith('warn') && line.includes('cached version')),
    ).toBe(true);
  });
});

describe('certificates that are refused or warned about', () => {
  // The child's clock is moved instead of minting dated certificates: the source judges validity
  // by its injected clock, and PKCS#12 generation is the slow part of these tests.
  afterEach(() => child.setNow(undefined));
  const made = () => certificates.valid;

  test('refuses an expired certificate', async () => {
    vault.putCertificate('exo-expired', made());
    const key = await newSource({ certificateName: 'exo-expired' });
    await child.setNow(new Date(made().notAfter.getTime() + DAY));

    const error = failed(await load(key));

    expect(error).toMatchObject({ code: 'CertificateExpired', isSetupError: true });
    expect(error.message).toContain(`${made().thumbprint} from Key Vault`);
    expect(error.message).toContain('expired on');
    expect(error.hint).toContain('new version');
  });

  test('refuses a certificate that is not valid yet', async () => {
    vault.putCertificate('exo-future', made());
    const key = await newSource({ certificateName: 'exo-future' });
    await child.setNow(new Date(made().notBefore.getTime() - DAY));

    expect(failed(await load(key)).code).toBe('CertificateNotYetValid');
  });

  test('a cached certificate that expires is refused, and a renewal is picked up at once', async () => {
    vault.putCertificate('exo-lapsing', made());
    const key = await newSource({ certificateName: 'exo-lapsing', versionCheckIntervalMs: 3_600_000 });
    loaded(await load(key));

    const afterExpiry = new Date(made().notAfter.getTime() + 60_000);
    await child.setNow(afterExpiry);
    expect(failed(await load(key)).code).toBe('CertificateExpired');

    // The renewed certificate is valid at that moment; no need to wait for the check interval.
    const renewed = createTestCertificate({
      keySize: 1024,
      commonName: 'exo-workflow-sync renewed later',
      notBefore: new Date(afterExpiry.getTime() - DAY),
      notAfter: new Date(afterExpiry.getTime() + 365 * DAY),
    });
    extraCertificates.push(renewed);
    const version = vault.putCertificate('exo-lapsing', renewed);
    expect(loaded(await load(key))).toMatchObject({ version, thumbprint: renewed.thumbprint });
  });

  test('warns in the result when the certificate expires within 30 days (the report logs it, the source does not)', async () => {
    vault.putCertificate('exo-expiring', made());
    const key = await newSource({ certificateName: 'exo-expiring' });
    await child.setNow(new Date(made().notAfter.getTime() - 10 * DAY - 3600_000));

    const result = loaded(await load(key));

    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toContain('expires in 10 days');
    expect(result.warnings[0]).toContain(made().thumbprint);
    const warned = (await child.logs(key)).filter((line) => line.startsWith('warn'));
    expect(warned).toEqual([]);
  });

  test('refuses a PFX without a private key (non-exportable key) and says how to fix the policy', async () => {
    vault.putCertificate('exo-nonexportable', certificates.valid, { exportable: false });
    const key = await newSource({ certificateName: 'exo-nonexportable' });

    const error = failed(await load(key));

    expect(error.code).toBe('CertificateNoPrivateKey');
    expect(error.hint).toContain('non-exportable');
    expect(error.hint).toContain('exportable: true');
  });

  test('refuses a PEM without a private key', async () => {
    vault.putCertificate('exo-nonexportable-pem', certificates.valid, { format: 'pem', exportable: false });
    const key = await newSource({ certificateName: 'exo-nonexportable-pem' });

    expect(failed(await load(key)).code).toBe('CertificateNoPrivateKey');
  });

  test('refuses an unknown content type', async () => {
    vault.putCertificate('exo-octets', certificates.valid, { contentType: 'application/octet-stream' });
    const key = await newSource({ certificateName: 'exo-octets' });

    const error = failed(await load(key));

    expect(error.code).toBe('CertificateContentTypeUnknown');
    expect(error.message).toContain("'application/octet-stream'");
    expect(error.hint).toContain('application/x-pkcs12');
  });

  test('refuses a disabled current version', async () => {
    vault.putCertificate('exo-disabled', certificates.valid, { enabled: false });
    const key = await newSource({ certificateName: 'exo-disabled' });

    expect(failed(await load(key)).code).toBe('CertificateDisabled');
  });
});

describe('errors users will hit', () => {
  test('403 on the secret names the missing role and its id', async () => {
    vault.putCertificate('exo-forbidden-secret', certificates.valid);
    const key = await newSource({
      certificateName: 'exo-forbidden-secret',
      managedIdentityClientId: USER_ASSIGNED_READER,
    });

    const error = failed(await load(key));

    expect(error).toMatchObject({ code: 'KeyVaultForbidden', upstreamStatus: 403 });
    expect(error.message).toContain(USER_ASSIGNED_READER);
    expect(error.message).toContain('ForbiddenByRbac');
    expect(error.hint).toContain('Key Vault Secrets User (4633458b-17de-408a-b874-0445c86b69e6)');
    expect(identity.requests.at(-1)?.clientId).toBe(USER_ASSIGNED_READER);
  });

  test('403 on the certificate names Key Vault Certificate User', async () => {
    vault.putCertificate('exo-forbidden-certificate', certificates.valid);
    const key = await newSource({
      certificateName: 'exo-forbidden-certificate',
      managedIdentityClientId: USER_ASSIGNED_SECRETS_USER,
    });

    const error = failed(await load(key));

    expect(error).toMatchObject({ code: 'KeyVaultForbidden', upstreamStatus: 403 });
    expect(error.hint).toContain('Key Vault Certificate User (db79e9a7-68ee-4b58-9aeb-b90e7c24fcba)');
  });

  test('404: a certificate that does not exist is named, with the vault', async () => {
    const key = await newSource({ certificateName: 'exo-missing' });

    const error = failed(await load(key));

    expect(error).toMatchObject({ code: 'KeyVaultCertificateNotFound', upstreamStatus: 404 });
    expect(error.message).toContain("'exo-missing'");
    expect(error.message).toContain(vault.vaultUrl);
    expect(error.hint).toContain('EXO_CERTIFICATE_NAME');
  });

  test('404: a certificate whose backing secret is missing', async () => {
    vault.putCertificate('exo-no-secret', certificates.valid, { withoutSecret: true });
    const key = await newSource({ certificateName: 'exo-no-secret' });

    const error = failed(await load(key));

    expect(error).toMatchObject({ code: 'KeyVaultSecretNotFound', upstreamStatus: 404 });
    expect(error.message).toContain("'exo-no-secret'");
  });

  test('a vault URL that answers like a web site, not a vault', async () => {
    const site = await startNotAVault(vault.ca);
    try {
      const key = await newSource({ certificateName: 'exo', vaultUrl: site.url });
      const error = failed(await load(key));
      expect(error.code).toBe('KeyVaultUnreachable');
      expect(error.message).toContain('did not answer like an Azure Key Vault (HTTP 404');
      expect(error.hint).toContain('https://<vault-name>.vault.azure.net');
    } finally {
      await site.close();
    }
  });

  test('a vault URL whose host is not under the challenge resource', async () => {
    const key = await newSource({ certificateName: 'exo', vaultUrl: vault.directUrl });

    const error = failed(await load(key));

    expect(error.code).toBe('KeyVaultUnreachable');
    expect(error.message).toContain('did not answer like an Azure Key Vault');
  });

  test('a vault URL nothing listens on', async () => {
    const port = await closedLoopbackPort();
    const key = await newSource({ certificateName: 'exo', vaultUrl: `https://127.0.0.1:${port}` });

    const error = failed(await load(key));

    expect(error.code).toBe('KeyVaultUnreachable');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.hint).toContain('KEY_VAULT_URL');
  });

  test('the identity endpoint refuses an identity that is not attached to the app', async () => {
    vault.putCertificate('exo-unknown-identity', certificates.valid);
    const stranger = randomUUID();
    const key = await newSource({
      certificateName: 'exo-unknown-identity',
      managedIdentityClientId: stranger,
    });

    const error = failed(await load(key));

    expect(error.code).toBe('ManagedIdentityUnavailable');
    expect(error.message).toContain(stranger);
    expect(error.message).toContain('No User Assigned or Delegated Managed Identity found');
    expect(error.hint).toContain('AZURE_CLIENT_ID');
  });

  test('nothing secret appears in any log line or in the child process output', async () => {
    for (let index = 1; index <= nextSource; index++) {
      expectNoSecrets((await child.logs(`source-${index}`)).join('\n'));
    }
    expectNoSecrets(child.output());
    expectNoSecrets(JSON.stringify(vault.requests));
    expectNoSecrets(JSON.stringify(identity.requests));
  });
});

describe('when the managed identity endpoint is down or refusing', () => {
  test('unreachable: a clear error naming the identity, and no Key Vault secret request', async () => {
    const port = await closedLoopbackPort();
    const isolated = await startSourceProcess({
      ...vault.env(),
      IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`,
      IDENTITY_HEADER: identity.header,
    });
    try {
      vault.putCertificate('exo-identity-down', certificates.valid);
      await isolated.create('down', {
        vaultUrl: vault.vaultUrl,
        certificateName: 'exo-identity-down',
        keyVaultMaxRetries: 0,
        identityMaxRetries: 0,
      });
      const mark = vault.requests.length;

      const error = failed(await load('down', isolated));

      expect(error.code).toBe('ManagedIdentityUnavailable');
      expect(error.message).toContain('system-assigned managed identity');
      expect(error.message).toContain(
        `the identity endpoint http://127.0.0.1:${port}/msi/token (IDENTITY_ENDPOINT) cannot be reached`,
      );
      expect(vaultRequestsSince(mark).some((line) => line.startsWith('/secrets/'))).toBe(false);
      expectNoSecrets(isolated.output());
    } finally {
      await isolated.stop();
    }
  });

  test('refusing: the endpoint answers 500 and the error says what the identity service said', async () => {
    const refusing = await startIdentityStub();
    refusing.refuse(500, 'An unexpected error occured while fetching the AAD Token.');
    const isolated = await startSourceProcess({ ...vault.env(), ...refusing.env() });
    try {
      vault.putCertificate('exo-identity-refusing', certificates.valid);
      await isolated.create('refusing', {
        vaultUrl: vault.vaultUrl,
        certificateName: 'exo-identity-refusing',
        keyVaultMaxRetries: 0,
        identityMaxRetries: 0,
      });

      const error = failed(await load('refusing', isolated));

      expect(error.code).toBe('ManagedIdentityUnavailable');
      expect(error.message).toContain('An unexpected error occured while fetching the AAD Token');
      expect(refusing.requests.length).toBeGreaterThan(0);
      expect(refusing.requests.every((request) => request.headerValid)).toBe(true);
      expectNoSecrets(isolated.output());
      expect(isolated.output()).not.toContain(refusing.header);
    } finally {
      await isolated.stop();
      await refusing.close();
    }
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError, CertificateError } from '../../shared/errors';
import { createAzureCredential } from '../../shared/identity/azureCredential';

describe('choosing the credential', () => {
  test('describes the managed identity it will use, without any request at construction', () => {
    expect(createAzureCredential({ credential: 'managedIdentity' }).description).toBe(
      'the system-assigned managed identity',
    );
    expect(
      createAzureCredential({
        credential: 'managedIdentity',
        managedIdentityClientId: '0d3f1e9a-1111-4222-8333-944445555666',
      }).description,
    ).toBe('the user-assigned managed identity with client id 0d3f1e9a-1111-4222-8333-944445555666');
    expect(createAzureCredential({ credential: 'azureCli' }).description).toBe('your Azure CLI login');
  });
});

describe('the Azure CLI credential when the CLI is missing', () => {
  let emptyBin: string;
  let savedPath: string | undefined;

  beforeAll(() => {
    // An empty PATH makes `az` missing on every machine, including an admin's with the CLI installed.
    emptyBin = mkdtempSync(join(tmpdir(), 'exo-no-az-'));
    savedPath = process.env.PATH;
    process.env.PATH = emptyBin;
  });

  afterAll(() => {
    process.env.PATH = savedPath;
    rmSync(emptyBin, { recursive: true, force: true });
  });

  test('a Key Vault token request fails with a CertificateError that says to install the CLI and log in', async () => {
    const credential = createAzureCredential({ credential: 'azureCli' });

    const error = await credential
      .getToken('https://vault.azure.net/.default')
      .catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(CertificateError);
    expect(error).toMatchObject({ code: 'AzureCliCredentialUnavailable' });
    expect((error as CertificateError).message).toContain('could not get a token for Key Vault');
    expect((error as CertificateError).hint).toContain('az login');
    expect((error as CertificateError).isSetupError).toBe(true);
  });

  test('a storage token request fails with a plain AppError naming Azure Storage', async () => {
    const credential = createAzureCredential({ credential: 'azureCli' });

    const error = await credential
      .getToken('https://storage.azure.com/.default')
      .catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(AppError);
    expect(error).not.toBeInstanceOf(CertificateError);
    expect((error as AppError).message).toContain('Azure Storage');
  });
});

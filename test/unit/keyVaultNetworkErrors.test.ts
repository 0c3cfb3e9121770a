/**
 * Failures a loopback stub cannot produce honestly (DNS, TLS trust), given to the real Key Vault
 * clients through their documented httpClient seam.
 */
import { CertificateError } from '../../shared/errors';
import {
  KeyVaultCertificateSource,
  type KeyVaultClientOptions,
} from '../../shared/certificates/keyVaultCertificateSource';

type HttpClient = NonNullable<KeyVaultClientOptions['httpClient']>;

function failingWith(code: string, message: string): { httpClient: HttpClient; urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    httpClient: {
      sendRequest: async (request) => {
        urls.push(request.url);
        throw Object.assign(new Error(message), { name: 'RestError', code });
      },
    },
  };
}

const credential = { getToken: async () => ({ token: 'unused', expiresOnTimestamp: Date.now() + 3600_000 }) };

async function loadError(vaultUrl: string, httpClient: HttpClient): Promise<CertificateError> {
  const source = new KeyVaultCertificateSource({
    vaultUrl,
    certificateName: 'exo',
    credential,
    clientOptions: { httpClient, retryOptions: { maxRetries: 0 } },
  });
  try {
    await source.load();
  } catch (error) {
    if (error instanceof CertificateError) return error;
    throw error;
  }
  throw new Error('expected a CertificateError');
}

test('a vault name that does not resolve says to check KEY_VAULT_URL', async () => {
  const { httpClient, urls } = failingWith('ENOTFOUND', 'getaddrinfo ENOTFOUND exo-typo.vault.azure.net');

  const error = await loadError('https://exo-typo.vault.azure.net', httpClient);

  expect(urls).toHaveLength(1);
  expect(error.code).toBe('KeyVaultUnreachable');
  expect(error.message).toBe(
    "Key Vault https://exo-typo.vault.azure.net cannot be reached (ENOTFOUND) to read certificate 'exo'",
  );
  expect(error.hint).toContain('https://<vault-name>.vault.azure.net');
});

test('an untrusted TLS certificate points at TLS trust, not at the URL', async () => {
  const { httpClient } = failingWith(
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'unable to verify the first certificate',
  );

  const error = await loadError('https://exo.vault.azure.net', httpClient);

  expect(error.code).toBe('KeyVaultUnreachable');
  expect(error.message).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  expect(error.hint).toContain('NODE_EXTRA_CA_CERTS');
});

test('the error keeps no SDK payload: not as cause, not in its serialised form', async () => {
  const { httpClient } = failingWith('ECONNRESET', 'socket hang up; body: {"value":"c2VjcmV0LXZhbHVl"}');

  const error = await loadError('https://exo.vault.azure.net', httpClient);

  expect(error.cause).toBeUndefined();
  expect(`${error.message} ${JSON.stringify(error)}`).not.toContain('c2VjcmV0LXZhbHVl');
});

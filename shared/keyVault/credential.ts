/**
 * The credential the app uses for Key Vault, chosen explicitly by the composition root from
 * KEY_VAULT_CREDENTIAL (never by whatever a credential chain happens to find): the Function App's
 * managed identity in Azure, the admin's Azure CLI login on a workstation. This is the only file
 * that imports @azure/identity.
 *
 * The returned credential turns identity failures into a CertificateError that says what to do;
 * the Key Vault pipeline passes errors thrown by getToken through unchanged, so the source sees ours.
 */
import {
  AzureCliCredential,
  ManagedIdentityCredential,
  type AccessToken,
  type GetTokenOptions,
  type TokenCredential,
} from '@azure/identity';
import { CertificateError } from '../errors';

export interface KeyVaultCredentialOptions {
  credential: 'managedIdentity' | 'azureCli';
  /** Client id of a user-assigned managed identity (AZURE_CLIENT_ID); system-assigned when absent. */
  managedIdentityClientId?: string;
  /**
   * Retries of the identity endpoint call on network errors (SDK default 3, with back-off).
   * Key Vault calls have their own retry policy; see KeyVaultCertificateSource clientOptions.
   */
  maxRetries?: number;
}

/** A TokenCredential that also says, for error messages, which identity it is. */
export interface DescribedCredential extends TokenCredential {
  readonly description: string;
}

export function createKeyVaultCredential(options: KeyVaultCredentialOptions): DescribedCredential {
  const retryOptions = options.maxRetries === undefined ? {} : { retryOptions: { maxRetries: options.maxRetries } };
  if (options.credential === 'managedIdentity') {
    const clientId = options.managedIdentityClientId;
    // Construction reads IDENTITY_ENDPOINT/IDENTITY_HEADER but makes no request.
    const inner = clientId
      ? new ManagedIdentityCredential({ clientId, ...retryOptions })
      : new ManagedIdentityCredential({ ...retryOptions });
    const description = clientId
      ? `the user-assigned managed identity with client id ${clientId}`
      : 'the system-assigned managed identity';
    return wrap(inner, description, (reason) =>
      new CertificateError('ManagedIdentityUnavailable', `${capitalise(description)} could not get a token for Key Vault: ${reason}`, {
        hint: clientId
          ? `check that this identity is attached to the Function App and that AZURE_CLIENT_ID is its client id (not its object id); ${LOCAL_HINT}`
          : `turn on the Function App's system-assigned identity (Identity blade), or attach a user-assigned identity and set AZURE_CLIENT_ID to its client id; ${LOCAL_HINT}`,
      }),
    );
  }
  const inner = new AzureCliCredential({ ...retryOptions });
  const description = 'your Azure CLI login';
  return wrap(inner, description, (reason) =>
    new CertificateError('AzureCliCredentialUnavailable', `The Azure CLI could not get a token for Key Vault: ${reason}`, {
      hint: 'install the Azure CLI and run `az login` (with --tenant <the vault’s tenant> if you have several); your account needs Key Vault Certificate User on the vault. In Azure the app uses its managed identity (KEY_VAULT_CREDENTIAL=managedIdentity)',
    }),
  );
}

const LOCAL_HINT = 'outside Azure, set KEY_VAULT_CREDENTIAL=azureCli and run `az login`';

function wrap(
  inner: TokenCredential,
  description: string,
  toError: (reason: string) => CertificateError,
): DescribedCredential {
  return {
    description,
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      try {
        return await inner.getToken(scopes, options);
      } catch (error) {
        throw toError(reasonOf(error));
      }
    },
  };
}

/**
 * One line about why the identity failed. The identity SDK's messages are useful ("No User
 * Assigned ... Identity found", "Network unreachable ... ECONNREFUSED") but come from a remote
 * service, so anything token-like and the App Service IDENTITY_HEADER are cut out defensively.
 */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const network = networkCode(error);
  const text = scrub(error.message.replace(/\s+/g, ' ').trim());
  const line = text.length > 400 ? `${text.slice(0, 400)}…` : text;
  if (network && !line.includes(network)) return `${line} (${network})`;
  return line || error.name;
}

function networkCode(error: Error): string | undefined {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function scrub(text: string): string {
  let result = text
    // JWTs and bearer values.
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[redacted]')
    .replace(/(bearer\s+)\S+/gi, '$1[redacted]')
    .replace(/("?(access_token|token|secret|password)"?\s*[:=]\s*)("[^"]*"|\S+)/gi, '$1[redacted]');
  const header = process.env.IDENTITY_HEADER;
  if (header && header.length >= 4) result = result.split(header).join('[redacted]');
  return result;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

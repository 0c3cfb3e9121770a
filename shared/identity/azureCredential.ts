/**
 * The Azure credential the app uses (Key Vault, and the claims' blob storage), chosen explicitly by
 * the composition root from settings, never by whatever a credential chain happens to find: the
 * Function App's managed identity in Azure, the admin's Azure CLI login on a workstation. This is
 * the only file that imports @azure/identity.
 *
 * The returned credential turns identity failures into an AppError that says what to do (a
 * CertificateError when the token was for Key Vault). Azure SDK pipelines pass errors thrown by
 * getToken through unchanged, so the adapters see ours.
 */
import {
  AzureCliCredential,
  ManagedIdentityCredential,
  type AccessToken,
  type GetTokenOptions,
  type TokenCredential,
} from '@azure/identity';
import { AppError, CertificateError, type IdentityCode } from '../errors';

export interface AzureCredentialOptions {
  credential: 'managedIdentity' | 'azureCli';
  /** Client id of a user-assigned managed identity (AZURE_CLIENT_ID); system-assigned when absent. */
  managedIdentityClientId?: string;
  /** Retries of the token call on network errors (SDK default: 3, with back-off). */
  maxRetries?: number;
}

/** A TokenCredential that also says, for error messages, which identity it is. */
export interface DescribedCredential extends TokenCredential {
  readonly description: string;
}

export function createAzureCredential(options: AzureCredentialOptions): DescribedCredential {
  const retryOptions =
    options.maxRetries === undefined ? {} : { retryOptions: { maxRetries: options.maxRetries } };
  if (options.credential === 'managedIdentity') {
    const clientId = options.managedIdentityClientId;
    // Construction reads IDENTITY_ENDPOINT/IDENTITY_HEADER but makes no request.
    const inner = clientId
      ? new ManagedIdentityCredential({ clientId, ...retryOptions })
      : new ManagedIdentityCredential({ ...retryOptions });
    const description = clientId
      ? `the user-assigned managed identity with client id ${clientId}`
      : 'the system-assigned managed identity';
    return wrap(inner, description, unreachableIdentityEndpoint, (target, reason) =>
      failure(
        target,
        'ManagedIdentityUnavailable',
        `${capitalise(description)} could not get a token for ${target.name}: ${reason}`,
        {
          hint: clientId
            ? `check that this identity is attached to the Function App and that AZURE_CLIENT_ID is its client id (not its object id); ${LOCAL_HINT}`
            : `turn on the Function App's system-assigned identity, or attach a user-assigned identity and set AZURE_CLIENT_ID to its client id; ${LOCAL_HINT}`,
        },
      ),
    );
  }
  const inner = new AzureCliCredential({ ...retryOptions });
  return wrap(inner, 'your Azure CLI login', undefined, (target, reason) =>
    failure(
      target,
      'AzureCliCredentialUnavailable',
      `The Azure CLI could not get a token for ${target.name}: ${reason}`,
      {
        hint:
          'install the Azure CLI and run `az login` (with --tenant <tenant id> if you have several tenants)' +
          (target.isKeyVault ? '; your account needs Key Vault Certificate User on the vault' : '') +
          '. In Azure the app uses its managed identity (KEY_VAULT_CREDENTIAL=managedIdentity)',
      },
    ),
  );
}

const LOCAL_HINT = 'outside Azure, set KEY_VAULT_CREDENTIAL=azureCli and run `az login`';

interface Target {
  name: string;
  isKeyVault: boolean;
}

function targetOf(scopes: string | string[]): Target {
  const scope = (Array.isArray(scopes) ? scopes[0] : scopes) ?? '';
  if (/vault\.azure\.(net|cn|us)|vault\.usgovcloudapi|vault\.microsoftazure\.de/i.test(scope))
    return { name: 'Key Vault', isKeyVault: true };
  if (/storage\.azure\.com/i.test(scope)) return { name: 'Azure Storage', isKeyVault: false };
  return { name: scope.replace(/\/\.default$/, '') || 'Azure', isKeyVault: false };
}

function failure(target: Target, code: IdentityCode, message: string, options: { hint: string }): AppError {
  return target.isKeyVault
    ? new CertificateError(code, message, options)
    : new AppError(code, message, options);
}

function wrap(
  inner: TokenCredential,
  description: string,
  networkReason: ((code: string | undefined) => string) | undefined,
  toError: (target: Target, reason: string) => AppError,
): DescribedCredential {
  return {
    description,
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      try {
        return await inner.getToken(scopes, options);
      } catch (error) {
        const reason =
          networkReason && isNetworkFailure(error) ? networkReason(networkCode(error)) : reasonOf(error);
        throw toError(targetOf(scopes), reason);
      }
    },
  };
}

/** The endpoint is named (it is not secret; IDENTITY_HEADER is, and is never shown). */
function unreachableIdentityEndpoint(code: string | undefined): string {
  const endpoint = process.env.IDENTITY_ENDPOINT;
  const where = endpoint
    ? `the identity endpoint ${endpoint.split('?')[0]} (IDENTITY_ENDPOINT)`
    : 'the instance metadata endpoint (IMDS; IDENTITY_ENDPOINT is not set)';
  return `${where} cannot be reached${code ? ` (${code})` : ''}`;
}

/** MSAL reports a failed connection as errorCode network_error, without the socket's code. */
function isNetworkFailure(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    const shaped = current as { errorCode?: unknown; code?: unknown };
    if (shaped.errorCode === 'network_error') return true;
    if (
      typeof shaped.code === 'string' &&
      /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(shaped.code)
    )
      return true;
    if (/network unreachable/i.test(current.message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * One line about why the identity failed. The identity SDK's messages are useful ("No User
 * Assigned ... Identity found", "Network unreachable ... ECONNREFUSED") but quote a remote
 * service, so anything token-like and the App Service IDENTITY_HEADER are cut out defensively.
 */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const network = networkCode(error);
  let text = scrub(error.message.replace(/\s+/g, ' ').trim());
  // MSAL wraps the service's answer as "Error(s): ... - Description: <what it said> - Correlation ID: <id> - ...".
  const described = /Description: (.+?) - Correlation ID: ([\w-]+)/.exec(text);
  if (described) text = `${described[1]} (correlation id ${described[2]})`;
  const line = text.length > 400 ? `${text.slice(0, 400)}…` : text;
  if (network && !line.includes(network)) return `${line || error.name} (${network})`;
  return line || error.name;
}

function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function scrub(text: string): string {
  let result = text
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

/**
 * The Exchange certificate from Azure Key Vault (KEY_VAULT_URL + EXO_CERTIFICATE_NAME). This is
 * the only file that imports @azure/keyvault-secrets and @azure/keyvault-certificates.
 *
 * A Key Vault certificate has two faces: the certificate object (public: version, thumbprint,
 * policy) read with the certificates client, and its backing secret of the same name and version,
 * which holds the private key as base64 PFX (application/x-pkcs12) or PEM text
 * (application/x-pem-file), read with the secrets client.
 *
 * Lifecycle, for a worker that lives across many sweeps:
 * - Nothing happens at construction: no client, no token, no request. The first load() asks for
 *   the certificate's current version, then for the secret of exactly that version (so the two
 *   answers cannot straddle a rotation), checks it, and keeps it in memory.
 * - A later load() within `versionCheckIntervalMs` (default 5 minutes) returns the cached
 *   certificate without any request. After that, one small request (the certificate object,
 *   ~2 KB) tells whether Key Vault has a newer version; only then is the secret fetched again.
 *   So a rotated certificate is in use at most 5 minutes (plus one sweep) after Key Vault has it,
 *   without a restart, and an hourly sweep costs one metadata request.
 * - If that check fails for a transient reason (vault or identity endpoint unreachable, 429/5xx)
 *   while the cached certificate is still valid, the cached one is used and a warning logged.
 * - Validity is checked against the clock on every load, cached or not; an expired or not yet
 *   valid certificate is refused, and one expiring within 30 days is warned about every time.
 *
 * Roles: reading the certificate object needs certificates/read and the secret needs
 * secrets/getSecret: "Key Vault Certificate User" grants both (or "Key Vault Secrets User" plus
 * "Key Vault Reader"). Errors say which role is missing for which call.
 */
import { CertificateClient } from '@azure/keyvault-certificates';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { AppError, CertificateError } from '../errors';
import type { CertificateSource, Clock, Logger } from '../ports';
import type { ExchangeCertificate } from '../domain';
import { assertCertificateCurrent, openCertificate } from './certificateChecks';

/** What the Key Vault clients accept as a credential (a TokenCredential), optionally self-describing. */
export type KeyVaultCredential = ConstructorParameters<typeof SecretClient>[1] & {
  readonly description?: string;
};

/**
 * Pipeline options passed to both Key Vault clients (retry, proxy, user agent, ...). Challenge
 * resource verification cannot be turned off through here: the tests' vault stub answers the
 * real challenge (resource https://vault.azure.net) for a *.vault.azure.net host reached through
 * HTTPS_PROXY, so production and tests take the same path.
 */
export type KeyVaultClientOptions = Omit<SecretClientOptions, 'disableChallengeResourceVerification'>;

export interface KeyVaultCertificateSourceOptions {
  /** https://<name>.vault.azure.net */
  vaultUrl: string;
  certificateName: string;
  credential: KeyVaultCredential;
  clock?: Clock;
  logger?: Logger;
  /** How long a loaded version is used before Key Vault is asked for a newer one. Default 5 minutes. */
  versionCheckIntervalMs?: number;
  clientOptions?: KeyVaultClientOptions;
}

export const DEFAULT_VERSION_CHECK_INTERVAL_MS = 5 * 60 * 1000;

const CONTENT_TYPES: Record<string, 'pfx' | 'pem'> = {
  'application/x-pkcs12': 'pfx',
  'application/x-pem-file': 'pem',
};

const ROLE = {
  secretsUser: 'Key Vault Secrets User (4633458b-17de-408a-b874-0445c86b69e6)',
  certificateUser: 'Key Vault Certificate User (db79e9a7-68ee-4b58-9aeb-b90e7c24fcba)',
  reader: 'Key Vault Reader (21090545-7ca7-4776-b22c-e363652d74d2)',
};

type Operation = 'certificate' | 'secret';

interface CurrentVersion {
  version: string;
  exportable?: boolean;
}

export class KeyVaultCertificateSource implements CertificateSource {
  private readonly vaultUrl: string;
  private readonly name: string;
  private readonly credential: KeyVaultCredential;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly interval: number;
  private readonly clientOptions: KeyVaultClientOptions;
  private clients: { certificates: CertificateClient; secrets: SecretClient } | undefined;
  private cached: { certificate: ExchangeCertificate; checkedAt: number } | undefined;
  private inFlight: Promise<ExchangeCertificate> | undefined;

  constructor(options: KeyVaultCertificateSourceOptions) {
    this.vaultUrl = options.vaultUrl.replace(/\/+$/, '');
    this.name = options.certificateName;
    this.credential = options.credential;
    this.clock = options.clock ?? { now: () => new Date() };
    this.logger = options.logger;
    this.interval = options.versionCheckIntervalMs ?? DEFAULT_VERSION_CHECK_INTERVAL_MS;
    this.clientOptions = options.clientOptions ?? {};
  }

  /** Where the certificate comes from, for `check` before anything is loaded. Never secret. */
  get location(): string {
    return `Key Vault ${this.vaultUrl} certificate '${this.name}'`;
  }

  load(): Promise<ExchangeCertificate> {
    // Concurrent callers share one round trip.
    this.inFlight ??= this.refresh().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async refresh(): Promise<ExchangeCertificate> {
    const now = this.clock.now();
    const cached = this.cached;
    if (cached && now.getTime() - cached.checkedAt < this.interval && isCurrent(cached.certificate, now)) {
      return this.deliver(cached.certificate, now);
    }

    let certificate: ExchangeCertificate;
    try {
      const current = await this.currentVersion();
      if (cached && cached.certificate.version === current.version) {
        cached.checkedAt = now.getTime();
        return this.deliver(cached.certificate, now);
      }
      certificate = await this.fetch(current);
    } catch (error) {
      const mapped = this.mapError(error, 'certificate');
      if (cached && isTransient(mapped) && isCurrent(cached.certificate, now)) {
        this.logger?.warn(
          `Could not ask Key Vault for a newer version of the certificate; using the cached version: ${mapped.describe()}`,
          { version: cached.certificate.version, code: mapped.code },
        );
        cached.checkedAt = now.getTime();
        return this.deliver(cached.certificate, now);
      }
      throw mapped;
    }

    if (cached) {
      this.logger?.info('Key Vault has a new version of the Exchange certificate; using it', {
        previousVersion: cached.certificate.version,
        version: certificate.version,
        thumbprint: certificate.thumbprint,
      });
    } else {
      this.logger?.info('Loaded the Exchange certificate from Key Vault', {
        source: certificate.source,
        thumbprint: certificate.thumbprint,
        expiresOn: certificate.expiresOn.toISOString(),
      });
    }
    // Cached before the clock check: an expired version stays known, and the next load asks
    // Key Vault again at once (isCurrent fails above), so a renewal is picked up immediately.
    this.cached = { certificate, checkedAt: now.getTime() };
    return this.deliver(certificate, now);
  }

  private deliver(certificate: ExchangeCertificate, now: Date): ExchangeCertificate {
    assertCertificateCurrent(
      certificate,
      now,
      `create a new version of certificate '${this.name}' in Key Vault (it is picked up without a restart)`,
    );
    return certificate;
  }

  private async currentVersion(): Promise<CurrentVersion> {
    const bundle = await this.getClients().certificates.getCertificate(this.name);
    const version = bundle.properties.version;
    if (!version) {
      throw new CertificateError(
        'KeyVaultRequestFailed',
        `Key Vault ${this.vaultUrl} returned certificate '${this.name}' without a version`,
      );
    }
    if (bundle.properties.enabled === false) {
      throw new CertificateError(
        'CertificateDisabled',
        `The current version ${version} of certificate '${this.name}' in Key Vault ${this.vaultUrl} is disabled`,
        { hint: 'enable that version in Key Vault, or create a new version' },
      );
    }
    return {
      version,
      ...(bundle.policy?.exportable === undefined ? {} : { exportable: bundle.policy.exportable }),
    };
  }

  private async fetch(current: CurrentVersion): Promise<ExchangeCertificate> {
    let secret: Awaited<ReturnType<SecretClient['getSecret']>>;
    try {
      secret = await this.getClients().secrets.getSecret(this.name, { version: current.version });
    } catch (error) {
      throw this.mapError(error, 'secret');
    }
    const source = `${this.location} version ${current.version}`;
    const contentType = secret.properties.contentType ?? '';
    const format = CONTENT_TYPES[contentType.toLowerCase()];
    if (!format) {
      throw new CertificateError(
        'CertificateContentTypeUnknown',
        `The secret of ${source} has content type '${printable(contentType) || '(none)'}', which is neither a PFX nor a PEM certificate`,
        {
          hint: 'store the certificate as a Key Vault certificate (not a plain secret) with content type application/x-pkcs12 (the default) or application/x-pem-file',
        },
      );
    }
    const value = secret.value ?? '';
    const bytes = format === 'pfx' ? Buffer.from(value, 'base64') : Buffer.from(value, 'utf8');
    return openCertificate(
      { format, bytes, password: '' },
      {
        source,
        version: current.version,
        passwordHint:
          'Key Vault stores certificates without a PFX password; if this secret was set by hand, import the PFX as a Key Vault certificate instead',
        noPrivateKeyHint:
          (current.exportable === false
            ? 'the certificate policy marks its key non-exportable, so Key Vault keeps the private key out of the secret. '
            : 'Key Vault left the private key out of the secret, which happens when the key is not exportable. ') +
          'Create a new version (or certificate) whose policy has an exportable key (keyProperties.exportable: true); Exchange needs the private key',
      },
    );
  }

  private getClients(): { certificates: CertificateClient; secrets: SecretClient } {
    if (!this.clients) {
      const options = {
        ...this.clientOptions,
        userAgentOptions: { userAgentPrefix: 'exo-workflow-sync', ...this.clientOptions.userAgentOptions },
      };
      this.clients = {
        certificates: new CertificateClient(this.vaultUrl, this.credential, options),
        secrets: new SecretClient(this.vaultUrl, this.credential, options),
      };
    }
    return this.clients;
  }

  /**
   * Key Vault and network failures as CertificateErrors that say what to do. Built from status,
   * the service's error code and the Node error code only: SDK messages can quote response
   * bodies, so they are not copied, and the SDK error is not kept as `cause` either.
   */
  private mapError(error: unknown, operation: Operation): AppError {
    if (error instanceof AppError) return error; // e.g. the credential's ManagedIdentityUnavailable
    const what =
      operation === 'certificate'
        ? `read certificate '${this.name}'`
        : `read the secret (private key) of certificate '${this.name}'`;
    const identity = this.credential.description ?? 'the app’s identity';
    const details = restErrorDetails(error);

    if (details.statusCode !== undefined) {
      const status = details.statusCode;
      const serviceCode = details.code ? ` ${details.code}` : '';
      if (status === 403) {
        return new CertificateError(
          'KeyVaultForbidden',
          `Key Vault ${this.vaultUrl} refused to let ${identity} ${what} (403${serviceCode}${details.innerCode ? `/${details.innerCode}` : ''})`,
          {
            upstreamStatus: status,
            hint: this.forbiddenHint(operation, details.innerCode),
          },
        );
      }
      if (status === 404 && details.code === 'CertificateNotFound') {
        return new CertificateError(
          'KeyVaultCertificateNotFound',
          `Key Vault ${this.vaultUrl} has no certificate named '${this.name}' (404 CertificateNotFound)`,
          {
            upstreamStatus: status,
            hint: 'check EXO_CERTIFICATE_NAME (the name of a Key Vault *certificate*, not a secret) and KEY_VAULT_URL; a deleted certificate must be recovered first',
          },
        );
      }
      if (status === 404 && details.code === 'SecretNotFound') {
        return new CertificateError(
          'KeyVaultSecretNotFound',
          `Key Vault ${this.vaultUrl} has no secret behind certificate '${this.name}' (404 SecretNotFound)`,
          {
            upstreamStatus: status,
            hint: 'the certificate’s backing secret (same name and version) is missing: recover it, or create a new version of the certificate',
          },
        );
      }
      if (status === 404 || (status >= 300 && status < 400)) {
        return new CertificateError(
          'KeyVaultUnreachable',
          `${this.vaultUrl} did not answer like an Azure Key Vault (HTTP ${status} for ${what})`,
          {
            upstreamStatus: status,
            hint: 'check KEY_VAULT_URL: it is the vault URI from the portal, https://<vault-name>.vault.azure.net',
          },
        );
      }
      if (status === 401) {
        return new CertificateError(
          'KeyVaultUnauthorized',
          `Key Vault ${this.vaultUrl} did not accept the token of ${identity} (401${serviceCode})`,
          {
            upstreamStatus: status,
            hint: 'the identity must belong to the Entra tenant of the vault; check KEY_VAULT_URL points at your tenant’s vault',
          },
        );
      }
      return new CertificateError(
        'KeyVaultRequestFailed',
        `Key Vault ${this.vaultUrl} failed to ${what} (HTTP ${status}${serviceCode})`,
        {
          upstreamStatus: status,
          hint:
            status === 429 || status >= 500
              ? 'Key Vault is throttling or unavailable; the next sweep tries again'
              : 'see the Key Vault diagnostics for this request',
        },
      );
    }

    if (details.challengeMismatch) {
      return new CertificateError(
        'KeyVaultUnreachable',
        `${this.vaultUrl} did not answer like an Azure Key Vault (its authentication challenge is for another service)`,
        {
          hint: 'check KEY_VAULT_URL: it is the vault URI from the portal, https://<vault-name>.vault.azure.net',
        },
      );
    }
    if (details.networkCode) {
      return new CertificateError(
        'KeyVaultUnreachable',
        `Key Vault ${this.vaultUrl} cannot be reached (${details.networkCode}) to ${what}`,
        {
          hint: /CERT|SSL|TLS|UNABLE_TO_VERIFY|SIGNATURE/.test(details.networkCode)
            ? 'the vault’s TLS certificate is not trusted here; check KEY_VAULT_URL and any TLS-inspecting proxy (NODE_EXTRA_CA_CERTS)'
            : 'check KEY_VAULT_URL (https://<vault-name>.vault.azure.net), DNS, and the vault’s network rules (firewall, private endpoint) for this app',
        },
      );
    }
    const name = error instanceof Error ? error.name : typeof error;
    return new CertificateError(
      'KeyVaultRequestFailed',
      `Key Vault ${this.vaultUrl} failed to ${what} (${name})`,
      {
        hint: 'see the function logs for this invocation; the next sweep tries again',
      },
    );
  }

  private forbiddenHint(operation: Operation, innerCode: string | undefined): string {
    if (innerCode && /firewall|network|connection/i.test(innerCode)) {
      return 'the vault’s network rules block this app: allow its outbound addresses or virtual network in the vault’s Networking settings';
    }
    if (innerCode && /policy|accessdenied/i.test(innerCode)) {
      return 'the vault uses access policies: give the identity Get on certificates and secrets, or switch the vault to Azure RBAC and assign Key Vault Certificate User';
    }
    const propagation = 'Role assignments can take a few minutes to apply';
    return operation === 'certificate'
      ? `assign the identity ${ROLE.certificateUser} on the vault: it covers the certificate object and its secret (${ROLE.secretsUser} alone cannot read the certificate object; pair it with ${ROLE.reader}). ${propagation}`
      : `assign the identity ${ROLE.secretsUser} on the vault (or ${ROLE.certificateUser}, which also covers the certificate object). ${propagation}`;
  }
}

function isCurrent(certificate: ExchangeCertificate, now: Date): boolean {
  return now.getTime() >= certificate.notBefore.getTime() && now.getTime() <= certificate.expiresOn.getTime();
}

function isTransient(error: AppError): boolean {
  if (
    ['KeyVaultUnreachable', 'ManagedIdentityUnavailable', 'AzureCliCredentialUnavailable'].includes(
      error.code,
    )
  )
    return true;
  return (
    error.code === 'KeyVaultRequestFailed' &&
    error.upstreamStatus !== undefined &&
    (error.upstreamStatus === 429 || error.upstreamStatus >= 500)
  );
}

interface RestErrorDetails {
  statusCode?: number;
  code?: string;
  innerCode?: string;
  networkCode?: string;
  challengeMismatch?: boolean;
}

/** Reads an SDK RestError (or a Node network error) by shape, keeping only codes. */
function restErrorDetails(error: unknown): RestErrorDetails {
  if (!(error instanceof Error)) return {};
  const shaped = error as Error & {
    statusCode?: unknown;
    code?: unknown;
    details?: unknown;
    cause?: unknown;
  };
  const result: RestErrorDetails = {};
  if (typeof shaped.statusCode === 'number') result.statusCode = shaped.statusCode;
  if (typeof shaped.code === 'string' && isCodeLike(shaped.code)) {
    if (
      result.statusCode === undefined &&
      /^(E[A-Z]+|ERR_[A-Z_]+|[A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]+)$/.test(shaped.code)
    ) {
      result.networkCode = shaped.code;
    } else {
      result.code = shaped.code;
    }
  }
  // The SDK deserialises the service's "innererror" as innerError.
  const body = (
    shaped.details as
      { error?: { innerError?: { code?: unknown }; innererror?: { code?: unknown } } } | undefined
  )?.error;
  const inner = (body?.innerError ?? body?.innererror)?.code;
  if (typeof inner === 'string' && isCodeLike(inner)) result.innerCode = inner;
  if (result.statusCode === undefined && !result.networkCode) {
    if (/challenge resource .* does not match/i.test(error.message)) result.challengeMismatch = true;
    const causeCode = (shaped.cause as { code?: unknown } | undefined)?.code;
    if (typeof causeCode === 'string' && /^E[A-Z]+$/.test(causeCode)) result.networkCode = causeCode;
  }
  return result;
}

function isCodeLike(code: string): boolean {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(code);
}

function printable(text: string): string {
  const cleaned = text.replace(/[^\x20-\x7e]/g, '?');
  return cleaned.length > 80 ? `${cleaned.slice(0, 80)}…` : cleaned;
}

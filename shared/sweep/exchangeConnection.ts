/**
 * How a use case (sweep, verify, undo) gets its Exchange connection: lazily, on the first run that
 * needs Exchange, so a sweep with nothing to do loads no certificate.
 */
import { AppError } from '../errors';
import type { ExchangeConnection } from '../domain';
import type { CertificateSource } from '../ports';

/** The Exchange sign-in a use case is configured with (EXO_AUTH and its settings). */
export type ExchangeTarget =
  | { auth: 'certificate'; organization: string; appId: string }
  | { auth: 'managedIdentity'; organization: string; managedIdentityAccountId?: string };

/**
 * A connection factory for `target`. With certificate auth the certificate comes from `certificates`
 * (which caches it); `onFirstCertificate` sees it once, e.g. to report that it expires soon.
 */
export function exchangeConnection(
  target: ExchangeTarget,
  certificates: CertificateSource | undefined,
  onFirstCertificate?: (certificate: Awaited<ReturnType<CertificateSource['load']>>) => void,
): () => Promise<ExchangeConnection> {
  let seen = false;
  return async () => {
    if (target.auth === 'managedIdentity') return target;
    if (!certificates) {
      throw new AppError(
        'CertificateSourceMissing',
        'certificate authentication is configured but no certificate source was built',
      );
    }
    const certificate = await certificates.load();
    if (!seen) {
      seen = true;
      onFirstCertificate?.(certificate);
    }
    return { auth: 'certificate', organization: target.organization, appId: target.appId, certificate };
  };
}

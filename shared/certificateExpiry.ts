/**
 * The one certificate expiry rule: how many days are left, and the warning every report (and so
 * every log, once, through the report) carries when the certificate expires within 30 days. Pure:
 * the sweep and `check` call it; the certificate sources only load and refuse.
 */
import type { ExchangeCertificate } from './domain';

/** How close to expiry a certificate must be before every report warns about it. */
export const EXPIRY_WARNING_DAYS = 30;

const DAY_MS = 24 * 3600 * 1000;

/** Whole days until the certificate expires (negative once expired). */
export function daysUntilExpiry(certificate: ExchangeCertificate, now: Date): number {
  return Math.floor((certificate.expiresOn.getTime() - now.getTime()) / DAY_MS);
}

/** One warning when the certificate expires within `withinDays` (and has not yet), else none. */
export function certificateWarnings(
  certificate: ExchangeCertificate,
  now: Date,
  withinDays = EXPIRY_WARNING_DAYS,
): string[] {
  const left = certificate.expiresOn.getTime() - now.getTime();
  if (left < 0 || left > withinDays * DAY_MS) return [];
  const days = daysUntilExpiry(certificate, now);
  const when = days === 0 ? 'in less than a day' : `in ${days} day${days === 1 ? '' : 's'}`;
  return [
    `The Exchange certificate ${certificate.thumbprint} from ${certificate.source} expires ${when} (${certificate.expiresOn.toISOString()}): ` +
      'renew it and upload the new public key to the Entra app before then (see the README)',
  ];
}

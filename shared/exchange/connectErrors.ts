/**
 * Why Connect-ExoSession (or starting PowerShell) failed, in our error vocabulary, with the hint
 * that fixes it (e.g. AADSTS700027: the certificate is not registered on the Entra app).
 */
import type { ExchangeConnection } from '../domain';
import type { ExchangeCode } from '../errors';
import { EXCHANGE_MODULE_INSTALL } from '../exchangeModule';
import { isRecord } from '../guards';
import { redact } from './exoResults';

export function connectErrorCode(code: string): ExchangeCode {
  switch (code) {
    case 'ExchangeModuleNotFound':
    case 'CertificateInvalid':
    case 'CertificateNoPrivateKey':
    case 'CertificateExpired':
      return code;
    case 'PayloadInvalid':
      return 'ExchangeConnectInvalid';
    default:
      return 'ExchangeConnectFailed';
  }
}

export function connectHint(code: string, message: string, connection: ExchangeConnection): string {
  if (/AADSTS700027/.test(message)) {
    const thumbprint =
      connection.auth === 'certificate' ? ` (thumbprint ${connection.certificate.thumbprint})` : '';
    return `upload this certificate's public key${thumbprint} to the Entra app registration, or point the product at the certificate that is registered there`;
  }
  if (/AADSTS700016/.test(message))
    return 'check EXO_APP_ID: it must be the application (client) id of the Entra app registration in this tenant';
  if (/AADSTS90002/.test(message))
    return "check EXO_ORGANIZATION: use the tenant's primary .onmicrosoft.com domain";
  switch (code) {
    case 'ExchangeModuleNotFound':
      return `install the ExchangeOnlineManagement module where PSModulePath finds it, for the user running the app: ${EXCHANGE_MODULE_INSTALL}`;
    case 'CertificateNoPrivateKey':
      return 'use the certificate with its private key: a PFX (or PEM) that includes the key; in Key Vault, an exportable key';
    case 'CertificateInvalid':
      return 'check EXO_CERTIFICATE_PASSWORD and that the certificate is a PFX (PKCS#12) or a PEM holding certificate and key';
    case 'CertificateExpired':
      return 'renew the certificate and register the new one on the Entra app';
    case 'PayloadInvalid':
      return 'check EXO_ORGANIZATION (a domain such as contoso.onmicrosoft.com) and EXO_APP_ID (a GUID)';
  }
  return connection.auth === 'managedIdentity'
    ? 'check that the managed identity exists (AZURE_CLIENT_ID for a user-assigned one), has the Exchange.ManageAsApp permission and an Exchange administrator role'
    : 'check EXO_APP_ID, EXO_ORGANIZATION, that the certificate is registered on the app, and that the app has Exchange.ManageAsApp and an Exchange administrator role';
}

export function describeProcessError(error: unknown): string {
  if (!isRecord(error)) return 'the process ended';
  const original = isRecord(error.originalError) ? error.originalError : undefined;
  const code = original && typeof original.code === 'string' ? original.code : undefined;
  if (code === 'ENOENT') return 'the executable was not found (ENOENT)';
  if (code === 'EACCES') return 'the executable is not executable (EACCES)';
  const parts: string[] = [];
  if (typeof error.exitCode === 'number') parts.push(`exit code ${error.exitCode}`);
  if (typeof error.signalCode === 'string') parts.push(`signal ${error.signalCode}`);
  if (parts.length === 0 && typeof error.message === 'string')
    parts.push(redact(error.message.split('\n')[0] ?? '', 200));
  return parts.join(', ') || 'the process ended';
}

/**
 * File mode, for local development only (EXO_CERTIFICATE_PATH / EXO_CERTIFICATE_PASSWORD): a PFX
 * or PEM on the admin's disk. In Azure the certificate comes from Key Vault instead.
 *
 * The file is read at most once per load(), and not at all when its size and modification time
 * have not changed since the last read; replacing the file is picked up on the next load.
 */
import { promises as fs } from 'node:fs';
import { extname, resolve } from 'node:path';
import type { Clock, CertificateSource, Logger } from '../ports';
import type { ExchangeCertificate } from '../domain';
import type { Secret } from '../secret';
import { CertificateError } from '../errors';
import { assertCertificateCurrent, looksLikePem, openCertificate } from './certificateChecks';

export interface FileCertificateSourceOptions {
  path: string;
  password: Secret<string>;
  clock?: Clock;
  logger?: Logger;
}

const RENEW_HINT = 'replace the file EXO_CERTIFICATE_PATH with a current certificate';

export class FileCertificateSource implements CertificateSource {
  private readonly path: string;
  private readonly password: Secret<string>;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private cached: { stamp: string; certificate: ExchangeCertificate } | undefined;

  constructor(options: FileCertificateSourceOptions) {
    this.path = resolve(options.path);
    this.password = options.password;
    this.clock = options.clock ?? { now: () => new Date() };
    this.logger = options.logger;
  }

  async load(): Promise<ExchangeCertificate> {
    const source = `file ${this.path}`;
    const stats = await fs.stat(this.path).catch((error: unknown) => {
      throw this.fileError(error);
    });
    if (!stats.isFile()) {
      throw new CertificateError('CertificateFileNotFound', `The certificate ${source} is not a file`, {
        hint: 'set EXO_CERTIFICATE_PATH to a .pfx or .pem file',
      });
    }
    const stamp = `${stats.size}:${stats.mtimeMs}:${stats.ino}`;
    let certificate = this.cached?.stamp === stamp ? this.cached.certificate : undefined;
    if (!certificate) {
      const bytes = await fs.readFile(this.path).catch((error: unknown) => {
        throw this.fileError(error);
      });
      certificate = openCertificate(
        { format: this.formatOf(bytes), bytes, password: this.password.reveal() },
        {
          source,
          passwordHint:
            'set EXO_CERTIFICATE_PASSWORD to the password the file was exported with (leave it empty for a file exported without one)',
          noPrivateKeyHint:
            'export the certificate together with its private key: a .pfx with the key, or a .pem with a PRIVATE KEY block and the CERTIFICATE',
        },
      );
      this.cached = { stamp, certificate };
      this.logger?.info('Loaded the Exchange certificate from a file', {
        thumbprint: certificate.thumbprint,
        expiresOn: certificate.expiresOn.toISOString(),
        source,
      });
    }
    const now = this.clock.now();
    assertCertificateCurrent(certificate, now, RENEW_HINT);
    return certificate;
  }

  /** PEM is text with BEGIN markers whatever the file is called; anything else is treated as PFX. */
  private formatOf(bytes: Buffer): 'pfx' | 'pem' {
    if (looksLikePem(bytes)) return 'pem';
    const extension = extname(this.path).toLowerCase();
    if (['.pem', '.crt', '.cer', '.key'].includes(extension) && bytes.length > 0 && bytes[0] !== 0x30)
      return 'pem';
    return 'pfx';
  }

  private fileError(error: unknown): CertificateError {
    const code = (error as { code?: unknown } | undefined)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return new CertificateError(
        'CertificateFileNotFound',
        `The certificate file ${this.path} does not exist`,
        {
          hint: 'set EXO_CERTIFICATE_PATH to your .pfx or .pem (absolute, or relative to the working directory), or use KEY_VAULT_URL',
        },
      );
    }
    return new CertificateError(
      'CertificateFileUnreadable',
      `The certificate file ${this.path} cannot be read${typeof code === 'string' ? ` (${code})` : ''}`,
      { hint: 'check the file permissions for the account running the app' },
    );
  }
}

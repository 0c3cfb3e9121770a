/**
 * Opening and checking the Exchange certificate, shared by the Key Vault and file sources: the
 * same bytes are refused for the same reasons, with the same codes, whatever their origin.
 *
 * node-forge is used for one thing only, opening PKCS#12 (Node has no PFX parser); certificates
 * and keys are then handled by node:crypto, so PFX and PEM (RSA or EC) follow one path. Nothing
 * here writes bytes anywhere, and no message carries key material, passwords or PFX bytes.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { CertificateError } from '../errors';
import type { ExchangeCertificate } from '../domain';
import { Secret } from '../secret';

/** What the caller knows about where the bytes came from, to make messages and hints specific. */
export interface CertificateOrigin {
  /** Never secret, e.g. "Key Vault https://x.vault.azure.net certificate 'exo' version 1a2b" or "file /path/app.pfx". */
  source: string;
  version?: string;
  /** Hint for a wrong PFX password or an encrypted PEM key that cannot be opened. */
  passwordHint: string;
  /** Hint for material without a private key. */
  noPrivateKeyHint: string;
}

export interface CertificateMaterial {
  format: 'pfx' | 'pem';
  /** PFX bytes, or PEM text as UTF-8 bytes. Kept as given: this is what PowerShell receives. */
  bytes: Buffer;
  /** PFX password, or the passphrase of an encrypted PEM key; empty when there is none. */
  password: string;
}

/**
 * Open the material, find the certificate that belongs to the private key, and describe it.
 * Throws CertificateError: CertificatePasswordWrong, CertificateNoPrivateKey,
 * CertificateKeyMismatch or CertificateUnreadable. Does not look at the clock (see assertCertificateCurrent).
 */
export function openCertificate(
  material: CertificateMaterial,
  origin: CertificateOrigin,
): ExchangeCertificate {
  const { certificates, keys } =
    material.format === 'pfx' ? readPfx(material, origin) : readPem(material, origin);
  if (certificates.length === 0) {
    throw new CertificateError(
      'CertificateUnreadable',
      `The certificate from ${origin.source} holds a private key but no certificate`,
      {
        hint: 'the material must contain the X.509 certificate together with its private key',
      },
    );
  }
  if (keys.length === 0) {
    throw new CertificateError(
      'CertificateNoPrivateKey',
      `The certificate from ${origin.source} (thumbprint ${thumbprintOf(certificates[0] as X509Certificate)}) has no private key`,
      { hint: origin.noPrivateKeyHint },
    );
  }
  const leaf = certificates.find((certificate) => keys.some((key) => matches(certificate, key)));
  if (!leaf) {
    throw new CertificateError(
      'CertificateKeyMismatch',
      `The private key from ${origin.source} does not belong to its certificate (thumbprint ${thumbprintOf(certificates[0] as X509Certificate)})`,
      {
        hint: 'put the certificate and its own private key together (export them again from the same certificate)',
      },
    );
  }
  return {
    format: material.format,
    material: new Secret(material.bytes),
    password: new Secret(material.password),
    thumbprint: thumbprintOf(leaf),
    subject: subjectOf(leaf),
    notBefore: validityDate(leaf, 'from'),
    expiresOn: validityDate(leaf, 'to'),
    ...(origin.version === undefined ? {} : { version: origin.version }),
    source: origin.source,
  };
}

/**
 * The certificate's validity bound as a Date. `validFromDate` / `validToDate` are newer than Node 20,
 * which `engines` still allows; there only the text form exists ("Jan  1 00:00:00 2027 GMT"), which
 * `Date` reads.
 */
export function validityDate(certificate: X509Certificate, bound: 'from' | 'to'): Date {
  const withDates = certificate as X509Certificate & { validFromDate?: Date; validToDate?: Date };
  const date = bound === 'from' ? withDates.validFromDate : withDates.validToDate;
  if (date instanceof Date) return date;
  const parsed = new Date(bound === 'from' ? certificate.validFrom : certificate.validTo);
  if (Number.isNaN(parsed.getTime())) {
    throw new CertificateError(
      'CertificateUnreadable',
      `The certificate's validity (${bound}) could not be read`,
      {
        hint: 'export the certificate again as PFX or PEM',
      },
    );
  }
  return parsed;
}

/** Refuse a certificate that is expired or not yet valid at `now`. `renewHint` says how to replace it. */
export function assertCertificateCurrent(
  certificate: ExchangeCertificate,
  now: Date,
  renewHint: string,
): void {
  if (now.getTime() < certificate.notBefore.getTime()) {
    throw new CertificateError(
      'CertificateNotYetValid',
      `The Exchange certificate ${certificate.thumbprint} from ${certificate.source} is not valid before ${certificate.notBefore.toISOString()}`,
      {
        hint: `check this machine's clock; if the certificate was made with a future start date, use one valid now (${renewHint})`,
      },
    );
  }
  if (now.getTime() > certificate.expiresOn.getTime()) {
    throw new CertificateError(
      'CertificateExpired',
      `The Exchange certificate ${certificate.thumbprint} from ${certificate.source} expired on ${certificate.expiresOn.toISOString()}`,
      { hint: `${renewHint}, and upload its public key (.cer) to the Entra app EXO_APP_ID` },
    );
  }
}

/** What `check` and reports may show about a certificate: everything but the secret parts. */
export interface CertificateSummary {
  format: 'pfx' | 'pem';
  thumbprint: string;
  subject?: string;
  notBefore: string;
  expiresOn: string;
  version?: string;
  source: string;
}

export function describeCertificate(certificate: ExchangeCertificate): CertificateSummary {
  return {
    format: certificate.format,
    thumbprint: certificate.thumbprint,
    ...(certificate.subject === undefined ? {} : { subject: certificate.subject }),
    notBefore: certificate.notBefore.toISOString(),
    expiresOn: certificate.expiresOn.toISOString(),
    ...(certificate.version === undefined ? {} : { version: certificate.version }),
    source: certificate.source,
  };
}

/** True when the bytes look like PEM text rather than DER/PKCS#12. */
export function looksLikePem(bytes: Buffer): boolean {
  return bytes.subarray(0, 4096).toString('latin1').includes('-----BEGIN ');
}

// ---------------------------------------------------------------------------------------------

interface Contents {
  certificates: X509Certificate[];
  keys: KeyObject[];
}

const KEY_BAG_TYPES = new Set([forge.pki.oids['keyBag'], forge.pki.oids['pkcs8ShroudedKeyBag']]);
const CERT_BAG_TYPE = forge.pki.oids['certBag'];

function readPfx(material: CertificateMaterial, origin: CertificateOrigin): Contents {
  let asn1: forge.asn1.Asn1;
  try {
    asn1 = forge.asn1.fromDer(forge.util.createBuffer(material.bytes.toString('binary')));
  } catch {
    throw unreadable(origin, 'it is not a PKCS#12 (PFX) file');
  }
  const pkcs12 = openPkcs12(asn1, material.password, origin);
  const certificates: X509Certificate[] = [];
  const keys: KeyObject[] = [];
  for (const safeContents of pkcs12.safeContents) {
    for (const bag of safeContents.safeBags) {
      // forge parses RSA into its own objects and leaves other algorithms (EC) as ASN.1; both go
      // back to DER for node:crypto. A parsed certificate is re-encoded from forge's kept copy of
      // the signed TBSCertificate plus algorithm and signature, which gives the original bytes
      // (and so the right thumbprint) for the RSA and ECDSA signatures certificates use in practice.
      const raw = bag as forge.pkcs12.Bag & { asn1?: forge.asn1.Asn1 };
      if (bag.type === CERT_BAG_TYPE) {
        const asn1Cert = raw.cert ? forge.pki.certificateToAsn1(raw.cert) : raw.asn1;
        if (!asn1Cert) continue;
        certificates.push(parseX509(toDer(asn1Cert), origin));
      } else if (KEY_BAG_TYPES.has(bag.type)) {
        const asn1Key = raw.key ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(raw.key)) : raw.asn1;
        if (!asn1Key) continue;
        try {
          keys.push(createPrivateKey({ key: toDer(asn1Key), format: 'der', type: 'pkcs8' }));
        } catch {
          throw unreadable(origin, 'its private key is in a form Node cannot read');
        }
      }
    }
  }
  return { certificates, keys };
}

function openPkcs12(
  asn1: forge.asn1.Asn1,
  password: string,
  origin: CertificateOrigin,
): forge.pkcs12.Pkcs12Pfx {
  // An empty password is written two ways: "" (two zero bytes, .NET/OpenSSL -passout pass:) or
  // no password at all (some Windows and Key Vault exports). Try both before calling it wrong.
  const attempts: (string | null)[] = password === '' ? ['', null] : [password];
  let lastError: unknown;
  for (const attempt of attempts) {
    try {
      return forge.pkcs12.pkcs12FromAsn1(asn1, false, attempt as string);
    } catch (error) {
      lastError = error;
      if (!isPasswordError(error)) break;
    }
  }
  if (isPasswordError(lastError)) {
    throw new CertificateError(
      'CertificatePasswordWrong',
      `The PFX from ${origin.source} cannot be opened with the ${password === '' ? 'empty password' : 'password given'}`,
      { hint: origin.passwordHint },
    );
  }
  throw unreadable(origin, `PKCS#12 could not be read (${forgeReason(lastError)})`);
}

function isPasswordError(error: unknown): boolean {
  return error instanceof Error && /invalid password|wrong password/i.test(error.message);
}

/** forge's own messages describe the structure ("unsupported MAC algorithm: <oid>"), never the bytes. */
function forgeReason(error: unknown): string {
  const text = error instanceof Error ? (error.message.split('\n', 1)[0] ?? '') : 'unknown error';
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function readPem(material: CertificateMaterial, origin: CertificateOrigin): Contents {
  const text = material.bytes.toString('utf8');
  const certificates: X509Certificate[] = [];
  const keys: KeyObject[] = [];
  let blocks = 0;
  for (const match of text.matchAll(PEM_BLOCK)) {
    blocks++;
    const label = match[1] ?? '';
    const block = match[0];
    if (label === 'CERTIFICATE') {
      certificates.push(parseX509(block, origin));
    } else if (label.endsWith('PRIVATE KEY')) {
      keys.push(parsePemKey(block, label, material.password, origin));
    }
  }
  if (blocks === 0) throw unreadable(origin, 'it holds no PEM block (-----BEGIN ...-----)');
  return { certificates, keys };
}

function parsePemKey(block: string, label: string, password: string, origin: CertificateOrigin): KeyObject {
  const encrypted = label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(block);
  try {
    return createPrivateKey(
      encrypted ? { key: block, format: 'pem', passphrase: password } : { key: block, format: 'pem' },
    );
  } catch {
    if (encrypted) {
      throw new CertificateError(
        'CertificatePasswordWrong',
        `The encrypted private key in ${origin.source} cannot be opened with the ${password === '' ? 'empty password' : 'password given'}`,
        { hint: origin.passwordHint },
      );
    }
    throw unreadable(origin, `its ${label} block cannot be read`);
  }
}

function parseX509(der: Buffer | string, origin: CertificateOrigin): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    throw unreadable(origin, 'one of its certificates cannot be read');
  }
}

function matches(certificate: X509Certificate, key: KeyObject): boolean {
  try {
    return certificate.checkPrivateKey(key);
  } catch {
    return false;
  }
}

function thumbprintOf(certificate: X509Certificate): string {
  return createHash('sha1').update(certificate.raw).digest('hex').toUpperCase();
}

/** "CN=app, O=Contoso" from node's one-attribute-per-line form. */
function subjectOf(certificate: X509Certificate): string {
  return certificate.subject.split('\n').filter(Boolean).join(', ');
}

function toDer(asn1: forge.asn1.Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

function unreadable(origin: CertificateOrigin, why: string): CertificateError {
  return new CertificateError(
    'CertificateUnreadable',
    `The certificate from ${origin.source} cannot be read: ${why}`,
    {
      hint: 'provide a PFX (PKCS#12) or a PEM holding the certificate and its private key',
    },
  );
}

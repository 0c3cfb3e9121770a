/**
 * Test certificates made in memory: a self-signed RSA certificate with its private key, as the
 * Entra app-only certificate would be, in every form the product meets (Key Vault PFX with an
 * empty password, a PFX with a password, PEM with key and certificate, certificate-only PFX).
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface TestCertificate {
  /** PKCS#12 with the private key, empty password (what Key Vault stores). */
  pfx: Buffer;
  /** PKCS#12 with the private key protected by `password`. */
  pfxWithPassword(password: string): Buffer;
  /** PKCS#12 holding the certificate only (what a non-exportable Key Vault key would give). */
  pfxWithoutKey: Buffer;
  /** PEM: private key and certificate in one text (Key Vault application/x-pem-file). */
  pem: string;
  /** PEM of the certificate only. */
  certificatePem: string;
  /** DER bytes of the certificate (Key Vault `cer`). */
  der: Buffer;
  /** SHA-1 thumbprint, upper-case hex. */
  thumbprint: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
}

export interface TestCertificateOptions {
  commonName?: string;
  notBefore?: Date;
  notAfter?: Date;
  /** RSA key size; 2048 is what Entra expects, 1024 keeps test suites fast. */
  keySize?: number;
}

export function createTestCertificate(options: TestCertificateOptions = {}): TestCertificate {
  const commonName = options.commonName ?? 'exo-workflow-sync test';
  const notBefore = options.notBefore ?? new Date(Date.now() - 24 * 3600 * 1000);
  const notAfter = options.notAfter ?? new Date(Date.now() + 365 * 24 * 3600 * 1000);
  // node:crypto generates the key natively (fast); forge builds the X.509 and PKCS#12 structures.
  const { privateKey: keyPem } = generateKeyPairSync('rsa', {
    modulusLength: options.keySize ?? 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const privateKey = forge.pki.privateKeyFromPem(keyPem);
  const publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);

  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = '01' + forge.util.bytesToHex(forge.random.getBytesSync(8));
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const attrs = [{ name: 'commonName', value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());

  const derBinary = forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes();
  const der = Buffer.from(derBinary, 'binary');
  const certificatePem = forge.pki.certificateToPem(cert);
  const pkcs12 = (password: string, withKey: boolean): Buffer => {
    const asn1 = forge.pkcs12.toPkcs12Asn1(withKey ? privateKey : null, [cert], password, {
      algorithm: '3des',
      friendlyName: commonName,
    });
    return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
  };

  return {
    pfx: pkcs12('', true),
    pfxWithPassword: (password) => pkcs12(password, true),
    pfxWithoutKey: pkcs12('', false),
    pem: `${forge.pki.privateKeyToPem(privateKey)}${certificatePem}`,
    certificatePem,
    der,
    thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
    subject: `CN=${commonName}`,
    notBefore,
    notAfter,
  };
}

/**
 * A throwaway certificate authority for loopback HTTPS stubs. The CA certificate (public, not a
 * secret) is written to a temp file so child processes can trust it the standard way,
 * NODE_EXTRA_CA_CERTS (Node reads that variable only when a process starts).
 *
 * forge lays out the X.509 structures; node:crypto makes the keys and the signatures, because
 * forge's pure-JS RSA is very slow inside jest's module sandbox (seconds per signature).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';

export interface TestCertificateAuthority {
  /** PEM of the CA certificate. */
  certificatePem: string;
  /** File holding certificatePem, for NODE_EXTRA_CA_CERTS. */
  certificatePath: string;
  /** A server certificate and key (PEM) for these DNS names and IP addresses, signed by the CA. */
  issueServerCertificate(dnsNames: string[], ipAddresses?: string[]): { key: string; cert: string };
  /** Removes the temp directory. */
  dispose(): void;
}

interface KeyPair {
  privateKeyPem: string;
  publicKey: forge.pki.PublicKey;
}

function rsaKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKey: forge.pki.publicKeyFromPem(publicKey) };
}

function newCertificate(publicKey: forge.pki.PublicKey): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = '01' + forge.util.bytesToHex(forge.random.getBytesSync(8));
  cert.validity.notBefore = new Date(Date.now() - 3600 * 1000);
  cert.validity.notAfter = new Date(Date.now() + 7 * 24 * 3600 * 1000);
  return cert;
}

/** sha256WithRSAEncryption over the TBSCertificate, signed by node:crypto. */
function signCertificate(cert: forge.pki.Certificate, signerPrivateKeyPem: string): string {
  const oid = forge.pki.oids['sha256WithRSAEncryption'] as string;
  cert.siginfo.algorithmOid = oid;
  cert.signatureOid = oid;
  // getTBSCertificate exists in forge but not in its type definitions.
  const pki = forge.pki as typeof forge.pki & {
    getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
  };
  const tbs = pki.getTBSCertificate(cert);
  const signature = sign(
    'sha256',
    Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary'),
    signerPrivateKeyPem,
  );
  (cert as forge.pki.Certificate & { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  cert.signature = signature.toString('binary');
  return forge.pki.certificateToPem(cert);
}

export function createTestCertificateAuthority(name = 'exo-workflow-sync test CA'): TestCertificateAuthority {
  const caKeys = rsaKeyPair();
  const ca = newCertificate(caKeys.publicKey);
  const caSubject = [{ name: 'commonName', value: name }];
  ca.setSubject(caSubject);
  ca.setIssuer(caSubject);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  const certificatePem = signCertificate(ca, caKeys.privateKeyPem);

  const directory = mkdtempSync(join(tmpdir(), 'exo-test-ca-'));
  const certificatePath = join(directory, 'ca.pem');
  writeFileSync(certificatePath, certificatePem);

  // One key for every server certificate this CA issues.
  let serverKeys: KeyPair | undefined;

  return {
    certificatePem,
    certificatePath,
    issueServerCertificate(dnsNames, ipAddresses = []) {
      const keys = (serverKeys ??= rsaKeyPair());
      const cert = newCertificate(keys.publicKey);
      cert.setSubject([{ name: 'commonName', value: dnsNames[0] ?? ipAddresses[0] ?? 'localhost' }]);
      cert.setIssuer(caSubject);
      cert.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            ...dnsNames.map((value) => ({ type: 2, value })),
            ...ipAddresses.map((ip) => ({ type: 7, ip })),
          ],
        },
        { name: 'subjectKeyIdentifier' },
        { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
      ]);
      return { key: keys.privateKeyPem, cert: signCertificate(cert, caKeys.privateKeyPem) };
    },
    dispose() {
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { inspect } from 'node:util';
import forge from 'node-forge';
import {
  assertCertificateCurrent,
  describeCertificate,
  openCertificate,
  validityDate,
  type CertificateOrigin,
} from '../../shared/certificates/certificateChecks';
import { certificateWarnings } from '../../shared/certificateExpiry';
import { CertificateError } from '../../shared/errors';
import { createTestCertificate } from '../../sandbox/certificates';

const DAY = 24 * 3600 * 1000;
const origin: CertificateOrigin = {
  source: 'test material',
  passwordHint: 'PASSWORD-HINT',
  noPrivateKeyHint: 'NO-KEY-HINT',
};

const alice = createTestCertificate({ keySize: 1024, commonName: 'alice' });
const bob = createTestCertificate({ keySize: 1024, commonName: 'bob' });

function keyBlock(pem: string): string {
  return /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----\r?\n/.exec(pem)?.[0] ?? '';
}

function thrown(action: () => unknown): CertificateError {
  try {
    action();
  } catch (error) {
    if (error instanceof CertificateError) return error;
    throw error;
  }
  throw new Error('expected a CertificateError');
}

describe('opening certificate material', () => {
  test('a PFX with an empty password gives thumbprint, subject and validity of its certificate', () => {
    const certificate = openCertificate(
      { format: 'pfx', bytes: alice.pfx, password: '' },
      { ...origin, version: 'v1' },
    );

    expect(certificate).toMatchObject({
      format: 'pfx',
      thumbprint: alice.thumbprint,
      subject: 'CN=alice',
      version: 'v1',
      source: 'test material',
    });
    expect(certificate.expiresOn.getTime()).toBe(Math.floor(alice.notAfter.getTime() / 1000) * 1000);
    expect(certificate.material.reveal()).toBe(alice.pfx);
  });

  test('a PFX written with no password at all opens with an empty password', () => {
    const key = forge.pki.privateKeyFromPem(keyBlock(alice.pem));
    const cert = forge.pki.certificateFromPem(alice.certificatePem);
    const noPassword = Buffer.from(
      forge.asn1.toDer(forge.pkcs12.toPkcs12Asn1(key, [cert], null, { algorithm: '3des' })).getBytes(),
      'binary',
    );

    expect(openCertificate({ format: 'pfx', bytes: noPassword, password: '' }, origin).thumbprint).toBe(
      alice.thumbprint,
    );
  });

  test('a PFX opened with the wrong password is refused with the caller’s hint, without the password', () => {
    const error = thrown(() =>
      openCertificate(
        { format: 'pfx', bytes: alice.pfxWithPassword('right-horse'), password: 'wrong-battery' },
        origin,
      ),
    );

    expect(error.code).toBe('CertificatePasswordWrong');
    expect(error.hint).toBe('PASSWORD-HINT');
    expect(`${error.message} ${String(error)} ${JSON.stringify(error)} ${inspect(error)}`).not.toMatch(
      /right-horse|wrong-battery/,
    );
  });

  test('a PFX without its private key is refused', () => {
    const error = thrown(() =>
      openCertificate({ format: 'pfx', bytes: alice.pfxWithoutKey, password: '' }, origin),
    );

    expect(error.code).toBe('CertificateNoPrivateKey');
    expect(error.message).toContain(alice.thumbprint);
    expect(error.hint).toBe('NO-KEY-HINT');
  });

  test('bytes that are not a PFX are unreadable, not a password problem', () => {
    const error = thrown(() =>
      openCertificate({ format: 'pfx', bytes: Buffer.from('not a pfx at all'), password: '' }, origin),
    );

    expect(error.code).toBe('CertificateUnreadable');
  });

  test('PEM: the certificate that matches the key is chosen, wherever it stands', () => {
    const pem = `${bob.certificatePem}${keyBlock(alice.pem)}${alice.certificatePem}`;

    const certificate = openCertificate({ format: 'pem', bytes: Buffer.from(pem), password: '' }, origin);

    expect(certificate).toMatchObject({ format: 'pem', thumbprint: alice.thumbprint, subject: 'CN=alice' });
    expect(certificate.material.reveal().toString('utf8')).toBe(pem);
  });

  test('PEM with a key that belongs to another certificate is refused', () => {
    const pem = `${keyBlock(alice.pem)}${bob.certificatePem}`;

    expect(
      thrown(() => openCertificate({ format: 'pem', bytes: Buffer.from(pem), password: '' }, origin)).code,
    ).toBe('CertificateKeyMismatch');
  });

  test('PEM without a key, without a certificate, or without any PEM block', () => {
    const open = (text: string) =>
      thrown(() => openCertificate({ format: 'pem', bytes: Buffer.from(text), password: '' }, origin)).code;

    expect(open(alice.certificatePem)).toBe('CertificateNoPrivateKey');
    expect(open(keyBlock(alice.pem))).toBe('CertificateUnreadable');
    expect(open('hello')).toBe('CertificateUnreadable');
  });

  test('PEM with an encrypted key opens with its passphrase and is refused with a wrong one', () => {
    const encryptedKey = createPrivateKey(keyBlock(alice.pem)).export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'pem-pass',
    }) as string;
    const pem = Buffer.from(`${encryptedKey}${alice.certificatePem}`);

    expect(openCertificate({ format: 'pem', bytes: pem, password: 'pem-pass' }, origin).thumbprint).toBe(
      alice.thumbprint,
    );
    expect(thrown(() => openCertificate({ format: 'pem', bytes: pem, password: 'nope' }, origin)).code).toBe(
      'CertificatePasswordWrong',
    );
    expect(thrown(() => openCertificate({ format: 'pem', bytes: pem, password: '' }, origin)).code).toBe(
      'CertificatePasswordWrong',
    );
  });

  test('the opened certificate never shows its material or password when serialised', () => {
    const certificate = openCertificate(
      { format: 'pfx', bytes: alice.pfxWithPassword('hunter2-pass'), password: 'hunter2-pass' },
      origin,
    );
    const shown = `${JSON.stringify(certificate)} ${inspect(certificate, { depth: 10 })} ${JSON.stringify(describeCertificate(certificate))}`;

    expect(shown).not.toContain('hunter2-pass');
    expect(shown).not.toContain(alice.pfxWithPassword('hunter2-pass').toString('base64').slice(0, 40));
    expect(shown).toContain('[redacted]');
    expect(describeCertificate(certificate)).toEqual({
      format: 'pfx',
      thumbprint: alice.thumbprint,
      subject: 'CN=alice',
      notBefore: certificate.notBefore.toISOString(),
      expiresOn: certificate.expiresOn.toISOString(),
      source: 'test material',
    });
  });
});

describe('validity against the clock', () => {
  const certificate = openCertificate({ format: 'pfx', bytes: alice.pfx, password: '' }, origin);

  test('a certificate is refused before its start and after its end, and accepted in between', () => {
    const before = new Date(certificate.notBefore.getTime() - 1000);
    const after = new Date(certificate.expiresOn.getTime() + 1000);

    expect(thrown(() => assertCertificateCurrent(certificate, before, 'renew')).code).toBe(
      'CertificateNotYetValid',
    );
    const expired = thrown(() => assertCertificateCurrent(certificate, after, 'renew it'));
    expect(expired.code).toBe('CertificateExpired');
    expect(expired.hint).toContain('renew it');
    expect(() => assertCertificateCurrent(certificate, certificate.notBefore, 'renew')).not.toThrow();
    expect(() => assertCertificateCurrent(certificate, certificate.expiresOn, 'renew')).not.toThrow();
  });

  test('warns within 30 days of expiry, not before, and not once expired', () => {
    const at = (daysLeft: number) => new Date(certificate.expiresOn.getTime() - daysLeft * DAY);

    expect(certificateWarnings(certificate, at(31))).toEqual([]);
    expect(certificateWarnings(certificate, at(30))).toEqual([expect.stringContaining('expires in 30 days')]);
    expect(certificateWarnings(certificate, at(1))[0]).toContain('expires in 1 day (');
    expect(certificateWarnings(certificate, at(0.5))[0]).toContain('expires in less than a day');
    expect(certificateWarnings(certificate, at(-1))).toEqual([]);
    expect(certificateWarnings(certificate, at(5))[0]).toContain(alice.thumbprint);
  });
});

describe('validityDate', () => {
  it('reads the text form where the runtime has no validFromDate / validToDate (Node 20)', () => {
    const real = new X509Certificate(createTestCertificate({ keySize: 2048 }).certificatePem);
    const node20 = { validFrom: real.validFrom, validTo: real.validTo } as unknown as X509Certificate;
    expect(validityDate(node20, 'to').getTime()).toBe(new Date(real.validTo).getTime());
    expect(validityDate(node20, 'from').getTime()).toBe(new Date(real.validFrom).getTime());
    expect(Number.isNaN(validityDate(node20, 'to').getTime())).toBe(false);
  });

  it('refuses a validity it cannot read', () => {
    const broken = { validFrom: 'soon', validTo: 'later' } as unknown as X509Certificate;
    expect(() => validityDate(broken, 'to')).toThrow(CertificateError);
  });
});

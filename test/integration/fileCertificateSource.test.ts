import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { FileCertificateSource } from '../../shared/certificates/fileCertificateSource';
import { certificateWarnings } from '../../shared/certificateExpiry';
import { CertificateError } from '../../shared/errors';
import type { Clock } from '../../shared/ports';
import type { ExchangeCertificate } from '../../shared/domain';
import { Secret } from '../../shared/secret';
import { createTestCertificate } from '../../sandbox/certificates';

const DAY = 24 * 3600 * 1000;
const PASSWORD = 'correct-horse-battery';
const first = createTestCertificate({ keySize: 1024, commonName: 'first' });
const second = createTestCertificate({ keySize: 1024, commonName: 'second' });
let directory: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'exo-file-cert-'));
});

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

function file(name: string, contents: Buffer | string): string {
  const path = join(directory, name);
  writeFileSync(path, contents);
  return path;
}

function fixedClock(date: Date): Clock {
  return { now: () => date };
}

function source(path: string, password = '', clock?: Clock, lines?: string[]): FileCertificateSource {
  return new FileCertificateSource({
    path,
    password: new Secret(password),
    ...(clock ? { clock } : {}),
    ...(lines
      ? {
          logger: {
            debug: (m: string) => lines.push(`debug ${m}`),
            info: (m: string, p?: Record<string, unknown>) => lines.push(`info ${m} ${JSON.stringify(p)}`),
            warn: (m: string, p?: Record<string, unknown>) => lines.push(`warn ${m} ${JSON.stringify(p)}`),
            error: (m: string) => lines.push(`error ${m}`),
          },
        }
      : {}),
  });
}

async function failure(load: Promise<ExchangeCertificate>): Promise<CertificateError> {
  try {
    await load;
  } catch (error) {
    if (error instanceof CertificateError) return error;
    throw error;
  }
  throw new Error('expected a CertificateError');
}

function everythingShown(value: unknown): string {
  return `${String(value)} ${JSON.stringify(value)} ${inspect(value, { depth: 10 })} ${(value as { message?: string }).message ?? ''}`;
}

test('loads a password-protected PFX and hands its bytes and password on as secrets', async () => {
  const bytes = first.pfxWithPassword(PASSWORD);
  const path = file('app.pfx', bytes);

  const certificate = await source(path, PASSWORD).load();

  expect(certificate).toMatchObject({
    format: 'pfx',
    thumbprint: first.thumbprint,
    subject: 'CN=first',
    source: `file ${path}`,
  });
  expect(certificate.version).toBeUndefined();
  expect(certificate.password.reveal()).toBe(PASSWORD);
  expect(certificate.material.reveal().equals(bytes)).toBe(true);
  expect(everythingShown(certificate)).not.toContain(PASSWORD);
  expect(everythingShown(certificate)).not.toContain(bytes.toString('base64').slice(100, 140));
});

test('loads a PFX exported without a password', async () => {
  const certificate = await source(file('empty.pfx', first.pfx)).load();

  expect(certificate.thumbprint).toBe(first.thumbprint);
  expect(certificate.password.reveal()).toBe('');
});

test('a wrong PFX password says to fix EXO_CERTIFICATE_PASSWORD and never shows either password', async () => {
  const path = file('locked.pfx', first.pfxWithPassword(PASSWORD));

  const error = await failure(source(path, 'not-the-password').load());

  expect(error.code).toBe('CertificatePasswordWrong');
  expect(error.message).toContain(path);
  expect(error.hint).toContain('EXO_CERTIFICATE_PASSWORD');
  expect(everythingShown(error)).not.toMatch(/correct-horse-battery|not-the-password/);
});

test('an empty password on a protected PFX is the same clear error', async () => {
  const error = await failure(source(file('locked2.pfx', first.pfxWithPassword(PASSWORD))).load());

  expect(error.code).toBe('CertificatePasswordWrong');
  expect(error.message).toContain('empty password');
});

test('loads a PEM file with the key and the certificate', async () => {
  const certificate = await source(file('app.pem', first.pem)).load();

  expect(certificate).toMatchObject({ format: 'pem', thumbprint: first.thumbprint });
  expect(certificate.material.reveal().toString('utf8')).toBe(first.pem);
});

test('loads a PEM whose key is encrypted, with EXO_CERTIFICATE_PASSWORD as the passphrase', async () => {
  const encrypted = createPrivateKey(first.pem).export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: PASSWORD,
  });
  const path = file('encrypted.pem', `${encrypted as string}${first.certificatePem}`);

  expect((await source(path, PASSWORD).load()).thumbprint).toBe(first.thumbprint);
  expect((await failure(source(path, 'wrong').load())).code).toBe('CertificatePasswordWrong');
});

test('recognises PEM and PFX by content, whatever the file is called', async () => {
  expect((await source(file('really-a-pfx.pem', first.pfx)).load()).format).toBe('pfx');
  expect((await source(file('really-a-pem.pfx', first.pem)).load()).format).toBe('pem');
});

test('a file without the private key is refused with a hint to export the key', async () => {
  const error = await failure(source(file('public.pem', first.certificatePem)).load());

  expect(error.code).toBe('CertificateNoPrivateKey');
  expect(error.hint).toContain('private key');
  expect((await failure(source(file('public.pfx', first.pfxWithoutKey)).load())).code).toBe(
    'CertificateNoPrivateKey',
  );
});

test('a missing file and a file that is not a certificate', async () => {
  const missing = await failure(source(join(directory, 'nope.pfx')).load());
  expect(missing.code).toBe('CertificateFileNotFound');
  expect(missing.hint).toContain('EXO_CERTIFICATE_PATH');

  expect((await failure(source(directory).load())).code).toBe('CertificateFileNotFound');
  expect((await failure(source(file('notes.txt', 'just some notes')).load())).code).toBe(
    'CertificateUnreadable',
  );
});

test('refuses an expired and a not yet valid certificate by the injected clock', async () => {
  const path = file('dated.pfx', first.pfx);

  const expired = await failure(
    source(path, '', fixedClock(new Date(first.notAfter.getTime() + DAY))).load(),
  );
  expect(expired.code).toBe('CertificateExpired');
  expect(expired.hint).toContain('EXO_CERTIFICATE_PATH');
  expect(
    (await failure(source(path, '', fixedClock(new Date(first.notBefore.getTime() - DAY))).load())).code,
  ).toBe('CertificateNotYetValid');
});

test('a certificate that expires within 30 days loads, warned about once by the report, not by the source', async () => {
  const lines: string[] = [];
  const now = new Date(first.notAfter.getTime() - 12 * DAY);

  const certificate = await source(file('soon.pfx', first.pfx), '', fixedClock(now), lines).load();

  expect(certificateWarnings(certificate, now)).toEqual([expect.stringContaining('expires in 11 days')]);
  // The sweep puts the warning in its report, which the boundary logs: the source logs no copy.
  expect(lines.filter((line) => line.startsWith('warn'))).toEqual([]);
});

test('reads the file once while it is unchanged, and again after it is replaced', async () => {
  const path = file('rotating.pfx', first.pfx);
  const rotating = source(path);

  const one = await rotating.load();
  const two = await rotating.load();
  expect(two).toBe(one);

  writeFileSync(path, second.pfx);
  const later = new Date(Date.now() + 5000);
  utimesSync(path, later, later);
  const three = await rotating.load();
  expect(three.thumbprint).toBe(second.thumbprint);
});

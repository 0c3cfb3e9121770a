import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobLeaseClaims } from '../../shared/claims/blobLeaseClaims';
import { LockFileClaims } from '../../shared/claims/lockFileClaims';
import { startAzuriteBlob, type AzuriteBlob } from '../support/azurite';

const runId = '662a8c11f07ba0af9a25c860';

describe('LockFileClaims', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'claims-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it('gives a run to one holder at a time and frees it on release', async () => {
    const a = new LockFileClaims({ directory });
    const b = new LockFileClaims({ directory });
    const claim = await a.tryClaim(runId);
    expect(claim).toBeDefined();
    expect(await b.tryClaim(runId)).toBeUndefined();
    await claim?.release();
    expect(await b.tryClaim(runId)).toBeDefined();
  });

  it('takes over a lock left by a process that no longer exists', async () => {
    writeFileSync(join(directory, `${runId}.lock`), JSON.stringify({ pid: 2 ** 22 + 12345, at: Date.now() }));
    expect(await new LockFileClaims({ directory }).tryClaim(runId)).toBeDefined();
  });

  it('takes over a lock older than the stale limit', async () => {
    writeFileSync(
      join(directory, `${runId}.lock`),
      JSON.stringify({ pid: process.ppid, at: Date.now() - 2 * 3600 * 1000 }),
    );
    expect(await new LockFileClaims({ directory }).tryClaim(runId)).toBeDefined();
  });

  it('refuses run ids that could escape the folder', async () => {
    await expect(new LockFileClaims({ directory }).tryClaim('../../etc/passwd')).rejects.toThrow(
      /unusual id/,
    );
  });
});

describe('BlobLeaseClaims against Azurite', () => {
  let azurite: AzuriteBlob;
  beforeAll(async () => {
    azurite = await startAzuriteBlob();
  }, 30_000);
  afterAll(async () => azurite?.stop());

  it('lets only one of two app instances hold a run, and the other take it after release', async () => {
    const instanceA = new BlobLeaseClaims({ connectionString: azurite.connectionString });
    const instanceB = new BlobLeaseClaims({ connectionString: azurite.connectionString });
    const [first, second] = await Promise.all([instanceA.tryClaim(runId), instanceB.tryClaim(runId)]);
    expect([first, second].filter(Boolean)).toHaveLength(1);
    await (first ?? second)?.release();
    const again = await instanceB.tryClaim(runId);
    expect(again).toBeDefined();
    await again?.release();
  });

  it('claims different runs independently', async () => {
    const claims = new BlobLeaseClaims({ connectionString: azurite.connectionString });
    const a = await claims.tryClaim('aaaaaaaaaaaaaaaaaaaaaaaa');
    const b = await claims.tryClaim('bbbbbbbbbbbbbbbbbbbbbbbb');
    expect(a && b).toBeTruthy();
    await a?.release();
    await b?.release();
  });
});

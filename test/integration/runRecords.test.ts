/**
 * Run records, the pins of who each run is about: the Table Storage adapter against Azurite and the
 * local-folder adapter, with the same contract (create once, conditional replace, read back).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunRecords } from '../../shared/ports';
import type { RunRecord } from '../../shared/domain';
import { FileRunRecords } from '../../shared/runRecords/fileRunRecords';
import { TableRunRecords } from '../../shared/runRecords/tableRunRecords';
import { startAzuriteStorage, type AzuriteStorage } from '../support/azurite';

const record = (runId: string): RunRecord => ({
  runId,
  workflowId: 'b7288c2c64f779e28024ea0e',
  leaver: {
    guid: '2bd9848d-bab6-42f8-8b72-3b914aa0d565',
    address: 'adele@contoso.com',
    displayName: 'Adele Vance',
    type: 'UserMailbox',
  },
  pinnedAt: '2026-11-29T12:00:00.000Z',
});

const manager = {
  guid: '31fbb34d-de89-4273-8e15-5644652edaff',
  address: 'boss@contoso.com',
  displayName: 'The Boss',
  type: 'UserMailbox',
};

function contract(name: string, make: () => RunRecords) {
  describe(name, () => {
    it('creates a record once; a second create reports that one exists and changes nothing', async () => {
      const records = make();
      expect(await records.get('662a8c11f07ba0af9a25c861')).toBeUndefined();
      expect(await records.create(record('662a8c11f07ba0af9a25c861'))).toBe(true);
      expect(
        await records.create({
          ...record('662a8c11f07ba0af9a25c861'),
          leaver: { ...manager, address: 'other@contoso.com' },
        }),
      ).toBe(false);
      expect((await records.get('662a8c11f07ba0af9a25c861'))?.record).toEqual(
        record('662a8c11f07ba0af9a25c861'),
      );
    });

    it('replaces a record only at the version it was read', async () => {
      const records = make();
      await records.create(record('662a8c11f07ba0af9a25c862'));
      const read = await records.get('662a8c11f07ba0af9a25c862');
      expect(
        await records.replace({ ...record('662a8c11f07ba0af9a25c862'), manager }, read?.version ?? ''),
      ).toBe(true);
      expect(await records.replace(record('662a8c11f07ba0af9a25c862'), read?.version ?? '')).toBe(false);
      expect((await records.get('662a8c11f07ba0af9a25c862'))?.record.manager).toEqual(manager);
    });

    it('refuses run ids that could escape their partition or folder', async () => {
      await expect(make().get('../../etc/passwd')).rejects.toThrow(/unusual run id/);
    });
  });
}

describe('TableRunRecords against Azurite', () => {
  let azurite: AzuriteStorage;
  beforeAll(async () => {
    azurite = await startAzuriteStorage();
  }, 30_000);
  afterAll(async () => azurite?.stop());

  contract('table', () => new TableRunRecords({ connectionString: azurite.connectionString }));

  it('fails with the status and a hint, not a storage message, when the service is unreachable', async () => {
    const records = new TableRunRecords({
      connectionString:
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;',
    });
    await expect(records.get('662a8c11f07ba0af9a25c869')).rejects.toMatchObject({
      code: 'RunRecordsUnavailable',
      hint: expect.stringContaining('Storage Table Data Contributor'),
    });
  }, 30_000);
});

describe('FileRunRecords', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'run-records-'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  contract('folder', () => new FileRunRecords(directory));

  it('keeps each run in its own folder, so later journal files sit next to the record', async () => {
    const records = new FileRunRecords(directory);
    await records.create(record('662a8c11f07ba0af9a25c863'));
    writeFileSync(join(directory, '662a8c11f07ba0af9a25c863', 'attempt-0001.json'), '{}');
    expect((await records.get('662a8c11f07ba0af9a25c863'))?.record.leaver.guid).toBe(record('x').leaver.guid);
  });

  it('reports an unreadable record instead of treating the run as new', async () => {
    const records = new FileRunRecords(directory);
    await records.create(record('662a8c11f07ba0af9a25c864'));
    writeFileSync(join(directory, '662a8c11f07ba0af9a25c864', 'run.json'), '{"half');
    await expect(records.get('662a8c11f07ba0af9a25c864')).rejects.toMatchObject({ code: 'RunRecordInvalid' });
  });
});

/**
 * The run journal over both row stores, with one contract: Table Storage (Azurite, the real
 * @azure/data-tables client) and the local folder. Attempts are numbered, looks are written before
 * results (a look without a result reads as unknown), large images survive the 64 KiB property
 * limit, signals keep their answer, `list` and `prune` work across runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileJournalRows } from '../../shared/runRecords/fileJournalRows';
import { RowRunJournal, type JournalRows } from '../../shared/journal/runJournal';
import type { RunRecords } from '../../shared/ports';
import type { AttemptStart } from '../../shared/domain';
import { FileRunRecords } from '../../shared/runRecords/fileRunRecords';
import { TableJournalRows, TableRunRecords } from '../../shared/runRecords/tableRunRecords';
import { startAzuriteStorage, type AzuriteStorage } from '../support/azurite';

const RUN = '662a8c11f07ba0af9a25c861';
const start = (runId: string, at = '2026-11-29T12:00:00.000Z'): AttemptStart => ({
  runId,
  workflowId: 'b7288c2c64f779e28024ea0e',
  workflowName: 'Terminate Users',
  sweepId: 'sweep-1',
  host: 'host-a',
  startedAt: at,
  email: 'adele@contoso.com',
});

function contract(name: string, make: () => { rows: JournalRows; records: RunRecords }) {
  describe(name, () => {
    it('numbers attempts, and a planned look without a result reads as unknown', async () => {
      const { rows, records } = make();
      const journal = new RowRunJournal(rows, records);
      expect(await journal.read(RUN)).toBeUndefined();
      expect(await journal.startAttempt(start(RUN))).toBe(1);
      expect(await journal.startAttempt(start(RUN))).toBe(2);
      await journal.recordLooks(RUN, 2, [
        { name: 'convertToShared', status: 'planned', before: { recipientTypeDetails: 'UserMailbox' } },
        { name: 'grantManagerSendAs', status: 'already', before: { sendAs: true } },
        { name: 'grantManagerFullAccess', status: 'planned', before: { fullAccess: false } },
      ]);
      await journal.recordResults(RUN, 2, [
        {
          name: 'convertToShared',
          status: 'done',
          cmdlets: ['Set-Mailbox'],
          after: { recipientTypeDetails: 'SharedMailbox' },
        },
      ]);
      const history = await journal.read(RUN);
      expect(history?.attempts.map((a) => a.attempt)).toEqual([1, 2]);
      const actions = history?.attempts[1]?.actions ?? [];
      expect(actions.map((a) => [a.name, a.status, a.result?.status, a.resultUnknown === true])).toEqual([
        ['convertToShared', 'planned', 'done', false],
        ['grantManagerSendAs', 'already', undefined, false],
        ['grantManagerFullAccess', 'planned', undefined, true],
      ]);
      expect(actions[0]?.result?.after).toEqual({ recipientTypeDetails: 'SharedMailbox' });
      expect(history?.attempts[0]?.end).toBeUndefined();
      expect(history?.attempts[0]).toMatchObject({
        sweepId: 'sweep-1',
        host: 'host-a',
        email: 'adele@contoso.com',
      });
    });

    it('finds the rows it looked at without reading the partition back; another process reads it', async () => {
      const { rows, records } = make();
      let partitionReads = 0;
      const counted: JournalRows = {
        create: (...args) => rows.create(...args),
        upsert: (...args) => rows.upsert(...args),
        merge: (...args) => rows.merge(...args),
        get: (...args) => rows.get(...args),
        partition: (runId) => {
          partitionReads += 1;
          return rows.partition(runId);
        },
        rowsNamed: (...args) => rows.rowsNamed(...args),
        deletePartition: (...args) => rows.deletePartition(...args),
      };
      const looked = new RowRunJournal(counted, records);
      const attempt = await looked.startAttempt(start(RUN));
      await looked.recordLooks(RUN, attempt, [
        { name: 'convertToShared', status: 'planned', before: { recipientTypeDetails: 'UserMailbox' } },
        { name: 'grantManagerSendAs', status: 'planned', before: { sendAs: false } },
      ]);
      await looked.recordResults(RUN, attempt, [{ name: 'grantManagerSendAs', status: 'done' }]);
      expect(partitionReads).toBe(0);

      // A journal that did not write the looks (another worker) finds them by reading the run.
      const other = new RowRunJournal(counted, records);
      await other.recordResults(RUN, attempt, [{ name: 'convertToShared', status: 'done' }]);
      expect(partitionReads).toBe(1);
      const actions = (await other.read(RUN))?.attempts[0]?.actions ?? [];
      expect(actions.map((a) => [a.index, a.name, a.result?.status])).toEqual([
        [1, 'convertToShared', 'done'],
        [2, 'grantManagerSendAs', 'done'],
      ]);
    });

    it('keeps a before-image far larger than one table property, and the signal with its answer', async () => {
      const { rows, records } = make();
      const journal = new RowRunJournal(rows, records);
      const memberOf = Array.from({ length: 900 }, (_, i) => ({
        guid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
        address: `group-${i}@contoso.com`,
        displayName: `Group ${i} ${'x'.repeat(40)}`,
        type: 'MailUniversalDistributionGroup',
      }));
      expect(JSON.stringify(memberOf).length).toBeGreaterThan(100_000);
      const attempt = await journal.startAttempt(start(RUN));
      await journal.recordLooks(RUN, attempt, [
        { name: 'removeFromDistributionGroups', status: 'planned', before: { memberOf } },
      ]);
      const signal = {
        kind: 'continue' as const,
        action: 'Continue',
        requestedAt: '2026-11-29T12:00:05.000Z',
      };
      await journal.recordSignal(RUN, attempt, signal);
      expect((await journal.read(RUN))?.attempts[0]?.signals).toEqual([signal]);
      await journal.recordSignal(RUN, attempt, {
        ...signal,
        answer: 'signalled',
        answeredAt: '2026-11-29T12:00:06.000Z',
      });
      await journal.endAttempt(RUN, attempt, {
        endedAt: '2026-11-29T12:00:06.500Z',
        outcome: 'completed',
        signalled: true,
        subjects: {
          leaver: { guid: 'g', address: 'adele@contoso.com', displayName: 'Adele', type: 'UserMailbox' },
        },
      });
      const read = (await journal.read(RUN))?.attempts[0];
      expect(read?.actions[0]?.before).toEqual({ memberOf });
      expect(read?.signals).toEqual([
        { ...signal, answer: 'signalled', answeredAt: '2026-11-29T12:00:06.000Z' },
      ]);
      expect(read?.end).toMatchObject({
        outcome: 'completed',
        signalled: true,
        subjects: { leaver: { address: 'adele@contoso.com' } },
      });
    });

    it('keeps the plan an attempt ran (for verify) and marks a repair attempt', async () => {
      const { rows, records } = make();
      const journal = new RowRunJournal(rows, records);
      const plan = {
        runId: RUN,
        mailbox: 'adele@contoso.com',
        manager: 'boss@contoso.com',
        actions: [
          { name: 'convertToShared' as const },
          { name: 'grantManagerSendAs' as const, skipReason: 'no' },
        ],
        options: {
          autoMapping: false,
          autoReply: {
            internalMessage: '<p>Gone</p>',
            externalMessage: 'x'.repeat(40_000),
            externalAudience: 'All' as const,
          },
        },
        policy: { acceptSharedLeavers: false, protectedRecipients: ['ceo@contoso.com'] },
      };
      const first = await journal.startAttempt(start(RUN));
      await journal.endAttempt(RUN, first, {
        endedAt: '2026-11-29T12:00:06.500Z',
        outcome: 'completed',
        signalled: true,
        plan,
      });
      const repair = await journal.startAttempt({ ...start(RUN), purpose: 'repair' });
      const history = await journal.read(RUN);
      expect(history?.attempts[0]?.end?.plan).toEqual(plan);
      expect(history?.attempts[0]?.purpose).toBeUndefined();
      expect(history?.attempts.find((a) => a.attempt === repair)?.purpose).toBe('repair');
    });

    it('lists runs by last activity and prunes the old ones, run records included', async () => {
      const { rows, records } = make();
      const journal = new RowRunJournal(rows, records);
      const old = '662a8c11f07ba0af9a25c800';
      const recent = '662a8c11f07ba0af9a25c801';
      const legacy = '662a8c11f07ba0af9a25c802';
      for (const [runId, at] of [
        [old, '2025-01-01T00:00:00.000Z'],
        [recent, '2026-11-28T00:00:00.000Z'],
      ] as const) {
        await journal.startAttempt(start(runId, at));
        await journal.putState({
          runId,
          workflowId: 'w',
          workflowName: 'Terminate Users',
          email: 'adele@contoso.com',
          attempts: 1,
          failedAttempts: 0,
          lastOutcome: 'completed',
          lastActivityAt: at,
        });
      }
      const leaver = {
        guid: '2bd9848d-bab6-42f8-8b72-3b914aa0d565',
        address: 'a@contoso.com',
        displayName: 'A',
        type: 'UserMailbox',
      };
      // A run record from before the journal: no state row, aged by when it was pinned.
      await records.create({ runId: legacy, workflowId: 'w', leaver, pinnedAt: '2025-01-02T00:00:00.000Z' });
      await records.create({ runId: recent, workflowId: 'w', leaver, pinnedAt: '2026-11-28T00:00:00.000Z' });

      expect((await journal.list(new Date('2026-11-01T00:00:00.000Z'))).map((s) => s.runId)).toEqual([
        recent,
      ]);
      expect((await journal.list(new Date('2024-01-01T00:00:00.000Z'))).map((s) => s.runId)).toEqual([
        recent,
        old,
      ]);

      expect(await journal.prune(new Date('2026-01-01T00:00:00.000Z'))).toBe(2);
      expect(await journal.read(old)).toBeUndefined();
      expect(await journal.read(legacy)).toBeUndefined();
      expect(await records.get(legacy)).toBeUndefined();
      expect((await journal.read(recent))?.attempts).toHaveLength(1);
      expect(await records.get(recent)).toBeDefined();
      expect(await journal.prune(new Date('2026-01-01T00:00:00.000Z'))).toBe(0);
    });
  });
}

describe('run journal', () => {
  let azurite: AzuriteStorage;
  let table = 0;
  beforeAll(async () => {
    azurite = await startAzuriteStorage();
  }, 30_000);
  afterAll(async () => azurite?.stop());
  const folders: string[] = [];
  afterAll(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

  contract('in Azure Table Storage (Azurite)', () => {
    // A table per test: the tests reuse run ids.
    const options = { connectionString: azurite.connectionString, table: `Journal${++table}` };
    return { rows: new TableJournalRows(options), records: new TableRunRecords(options) };
  });
  contract('in a local folder', () => {
    const folder = mkdtempSync(join(tmpdir(), 'exo-journal-'));
    folders.push(folder);
    return { rows: new FileJournalRows(folder), records: new FileRunRecords(folder) };
  });
});

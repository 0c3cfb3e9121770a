/**
 * The undo use case with fakes (the Exchange shell scripted, the journal in a temporary folder):
 * what it refuses, that a dry run journals nothing, that it never runs while a sweep holds the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RowRunJournal } from '../../shared/journal/runJournal';
import { silentLogger } from '../../shared/logging';
import { FileJournalRows } from '../../shared/runRecords/fileJournalRows';
import { runUndo, type UndoDependencies } from '../../shared/undo/runUndo';
import { FakeExchangeShell, ManualClock, MemoryClaims } from '../support/fakes';

const RUN = '0123456789abcdef01234567';
const settings = { exchange: { auth: 'managedIdentity' as const, organization: 'contoso.onmicrosoft.com' } };

describe('runUndo', () => {
  let dir: string;
  let journal: RowRunJournal;
  let exchange: FakeExchangeShell;
  let claims: MemoryClaims;
  let deps: UndoDependencies;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'undo-unit-'));
    journal = new RowRunJournal(new FileJournalRows(dir));
    exchange = new FakeExchangeShell();
    claims = new MemoryClaims();
    deps = { exchange, journal, claims, clock: new ManualClock(), logger: silentLogger };
    const attempt = await journal.startAttempt({
      runId: RUN,
      workflowId: 'w',
      workflowName: 'Terminate Users',
      sweepId: 's',
      host: 'h',
      startedAt: '2026-11-29T12:00:00Z',
      email: 'pat@contoso.com',
    });
    await journal.recordLooks(RUN, attempt, [
      {
        name: 'convertToShared',
        status: 'planned',
        before: { mailbox: 'm', recipientTypeDetails: 'UserMailbox' },
      },
      { name: 'grantManagerFullAccess', status: 'already', before: { fullAccess: true } },
    ]);
    await journal.recordResults(RUN, attempt, [
      {
        name: 'convertToShared',
        status: 'done',
        after: { mailbox: 'm', recipientTypeDetails: 'SharedMailbox' },
      },
    ]);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('restores only the change the run made, journals it as undo-<runId>, and never signals', async () => {
    const report = await runUndo(deps, settings, { runId: RUN, dryRun: false, force: false });
    expect(report).toMatchObject({
      undoId: `undo-${RUN}`,
      outcome: 'completed',
      signalled: false,
      attempt: 1,
    });
    expect(exchange.undoPlans[0]?.plan.steps.map((s) => s.action)).toEqual(['convertToShared']);
    expect(await journal.getState(`undo-${RUN}`)).toMatchObject({ kind: 'undo', undoOf: RUN });
    expect(claims.held.size).toBe(0);
  });

  it('journals nothing in a dry run', async () => {
    const report = await runUndo(deps, settings, { runId: RUN, dryRun: true, force: false });
    expect(report.outcome).toBe('planned');
    expect(await journal.read(`undo-${RUN}`)).toBeUndefined();
  });

  it('refuses an unknown run, an undo of an undo, and a run a sweep is working on', async () => {
    await expect(
      runUndo(deps, settings, { runId: 'ffffffffffffffffffffffff', dryRun: false, force: false }),
    ).rejects.toMatchObject({ code: 'RunNotFound', httpStatus: 404 });
    await runUndo(deps, settings, { runId: RUN, dryRun: false, force: false });
    await expect(
      runUndo(deps, settings, { runId: `undo-${RUN}`, dryRun: false, force: false }),
    ).rejects.toMatchObject({ code: 'UndoOfUndo', httpStatus: 409 });
    claims.held.add(RUN);
    await expect(runUndo(deps, settings, { runId: RUN, dryRun: false, force: false })).rejects.toMatchObject({
      code: 'UndoNotPossible',
      httpStatus: 409,
    });
  });
});

/**
 * The verify use case with fakes: the fake Exchange shell (its look says `planned` for an action
 * whose behaviour is `done`, `already` otherwise), the real journal over a temporary folder and
 * in-memory run records. What it looks at, what it reports, what it journals, what it never does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JournalPlan } from '../../shared/domain';
import { ExchangeError } from '../../shared/errors';
import { RowRunJournal } from '../../shared/journal/runJournal';
import { FileJournalRows } from '../../shared/runRecords/fileJournalRows';
import { runVerify, type VerifyDependencies } from '../../shared/verify/runVerify';
import { logVerifyReport, verifyExitCode } from '../../shared/verify/verifyReport';
import {
  FakeCertificateSource,
  FakeExchangeShell,
  fakeRecipient,
  ManualClock,
  MemoryClaims,
  MemoryRunRecords,
} from '../support/fakes';

const RUN = '662a8c11f07ba0af9a25c861';
const OTHER = '662a8c11f07ba0af9a25c862';
const PLAN: JournalPlan = {
  runId: RUN,
  mailbox: 'pat@contoso.com',
  manager: 'boss@contoso.com',
  actions: [
    { name: 'convertToShared' },
    { name: 'grantManagerFullAccess' },
    { name: 'removeFromDistributionGroups' },
  ],
  options: { autoMapping: true },
  policy: { acceptSharedLeavers: false, protectedRecipients: [] },
};
const SETTINGS = {
  exchange: { auth: 'certificate' as const, organization: 'contoso.onmicrosoft.com', appId: 'app' },
};
const silent = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

describe('runVerify', () => {
  let dir: string;
  let journal: RowRunJournal;
  let records: MemoryRunRecords;
  let exchange: FakeExchangeShell;
  let claims: MemoryClaims;
  let deps: VerifyDependencies;
  const clock = new ManualClock(new Date('2026-12-01T12:00:00Z'));
  const since = new Date('2026-11-01T00:00:00Z');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'verify-unit-'));
    records = new MemoryRunRecords();
    journal = new RowRunJournal(new FileJournalRows(dir), records);
    exchange = new FakeExchangeShell();
    // Everything is as the run left it unless a test says otherwise.
    exchange.behaviour = (_plan, action) => ({ name: action.name, status: 'already', detail: 'as it was' });
    claims = new MemoryClaims();
    deps = { journal, exchange, certificates: new FakeCertificateSource(), claims, clock, logger: silent };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A run as a sweep leaves it: record pinned, one attempt ended `outcome` with (or without) its plan. */
  async function seedRun(
    runId: string,
    outcome: 'completed' | 'failed' = 'completed',
    plan: JournalPlan | null = { ...PLAN, runId },
  ) {
    await records.create({
      runId,
      workflowId: 'wf',
      leaver: fakeRecipient('pat@contoso.com', 'SharedMailbox'),
      manager: fakeRecipient('boss@contoso.com'),
      pinnedAt: '2026-11-29T12:00:00.000Z',
    });
    const start = {
      runId,
      workflowId: 'wf',
      workflowName: 'Terminate Users',
      sweepId: 'sweep-1',
      host: 'h',
      startedAt: '2026-11-29T12:00:00.000Z',
      email: 'pat@contoso.com',
    };
    const attempt = await journal.startAttempt(start);
    await journal.endAttempt(runId, attempt, {
      endedAt: '2026-11-29T12:00:05.000Z',
      outcome,
      signalled: outcome === 'completed',
      ...(plan ? { plan } : {}),
    });
    await journal.putState({
      runId,
      workflowId: 'wf',
      workflowName: 'Terminate Users',
      email: 'pat@contoso.com',
      attempts: attempt,
      failedAttempts: outcome === 'failed' ? 1 : 0,
      lastOutcome: outcome,
      lastActivityAt: '2026-11-29T12:00:05.000Z',
    });
  }
  const drifting = (...names: string[]) => {
    exchange.behaviour = (_plan, action) =>
      names.includes(action.name)
        ? { name: action.name, status: 'done', detail: `put ${action.name} back` }
        : { name: action.name, status: 'already' };
  };

  it('looks (read-only) at the journalled plan bound to the pinned Guids, and finds a clean run clean', async () => {
    await seedRun(RUN);
    const report = await runVerify(deps, SETTINGS, { since, repair: false });
    expect(report.runs).toEqual([
      {
        runId: RUN,
        workflowId: 'wf',
        workflowName: 'Terminate Users',
        email: 'pat@contoso.com',
        verdict: 'clean',
        attempt: 1,
        drift: [],
      },
    ]);
    expect(verifyExitCode(report)).toBe(0);
    expect(exchange.plans).toHaveLength(1);
    const looked = exchange.plans[0];
    expect(looked?.whatIf).toBe(true);
    expect(looked?.plan).toMatchObject({
      ...PLAN,
      pinned: {
        leaver: { guid: fakeRecipient('pat@contoso.com').guid },
        manager: { guid: fakeRecipient('boss@contoso.com').guid },
      },
    });
    expect(exchange.applied).toEqual([]);
    expect(exchange.closed).toBe(1);
  });

  it('reports each action that would change again as drift, and changes nothing without --repair', async () => {
    await seedRun(RUN);
    drifting('grantManagerFullAccess', 'removeFromDistributionGroups');
    const report = await runVerify(deps, SETTINGS, { since, repair: false });
    expect(report.runs[0]).toMatchObject({ verdict: 'drift', attempt: 1 });
    expect(report.runs[0]?.drift).toEqual([
      { name: 'grantManagerFullAccess', detail: 'put grantManagerFullAccess back', changes: ['Set-Fake'] },
      {
        name: 'removeFromDistributionGroups',
        detail: 'put removeFromDistributionGroups back',
        changes: ['Set-Fake'],
      },
    ]);
    expect(report.summary).toEqual({
      verified: 1,
      clean: 0,
      drift: 1,
      repaired: 0,
      failed: 0,
      notVerified: 0,
    });
    expect(verifyExitCode(report)).toBe(1);
    expect(exchange.applied).toEqual([]);
    expect((await journal.read(RUN))?.attempts).toHaveLength(1);

    const lines: [string, string][] = [];
    const logger = {
      debug: () => undefined,
      info: (m: string) => lines.push(['info', m]),
      warn: (m: string) => lines.push(['warn', m]),
      error: (m: string) => lines.push(['error', m]),
    };
    logVerifyReport(logger, report);
    expect(lines).toEqual([
      [
        'warn',
        `verify: run ${RUN} (Terminate Users) drift: grantManagerFullAccess: put grantManagerFullAccess back`,
      ],
      [
        'warn',
        `verify: run ${RUN} (Terminate Users) drift: removeFromDistributionGroups: put removeFromDistributionGroups back`,
      ],
      [
        'info',
        'verify summary: 1 verified, 0 clean, 1 with drift, 0 repaired, 0 failed, 0 not verified (nothing changed)',
      ],
    ]);
  });

  it('--repair applies the look as a repair attempt: journalled, not a failure, the run stays completed', async () => {
    await seedRun(RUN);
    drifting('removeFromDistributionGroups');
    const report = await runVerify(deps, SETTINGS, { since, repair: true, verifyId: 'verify-1' });
    expect(report.runs[0]).toMatchObject({
      verdict: 'repaired',
      repairAttempt: 2,
      repairs: [{ name: 'removeFromDistributionGroups', status: 'done' }],
    });
    expect(verifyExitCode(report)).toBe(0);
    expect(exchange.plans[0]?.whatIf).toBe(false);
    expect(exchange.applied).toEqual([RUN]);
    const history = await journal.read(RUN);
    expect(history?.state).toMatchObject({ attempts: 2, failedAttempts: 0, lastOutcome: 'completed' });
    const repair = history?.attempts[1];
    expect(repair).toMatchObject({ attempt: 2, purpose: 'repair', sweepId: 'verify-1', signals: [] });
    expect(repair?.end).toMatchObject({ outcome: 'completed', signalled: false, plan: PLAN });
    expect(repair?.actions.map((a) => [a.name, a.status, a.result?.status])).toEqual([
      ['convertToShared', 'already', undefined],
      ['grantManagerFullAccess', 'already', undefined],
      ['removeFromDistributionGroups', 'planned', 'done'],
    ]);
    expect(claims.held.size).toBe(0);
  });

  it('does not repair a run another process holds', async () => {
    await seedRun(RUN);
    drifting('convertToShared');
    await claims.tryClaim(RUN);
    const report = await runVerify(deps, SETTINGS, { since, repair: true });
    expect(report.runs[0]).toMatchObject({
      verdict: 'drift',
      detail: 'another process holds this run, so it was not repaired',
    });
    expect(exchange.applied).toEqual([]);
    expect((await journal.read(RUN))?.attempts).toHaveLength(1);
  });

  it('never checks another mailbox than the pinned one: a changed owner of the address fails the check', async () => {
    await seedRun(RUN);
    drifting('convertToShared');
    exchange.recipients.set('pat@contoso.com', fakeRecipient('someone.else@contoso.com'));
    const report = await runVerify(deps, SETTINGS, { since, repair: true });
    expect(report.runs[0]).toMatchObject({
      verdict: 'failed',
      error: expect.stringMatching(/^Exchange refused the check: .*now belongs to a different mailbox/),
      drift: [],
    });
    expect(verifyExitCode(report)).toBe(1);
    expect(exchange.applied).toEqual([]);
  });

  it('does not verify a run that is not completed, or one whose plan was never journalled, and starts no PowerShell for them', async () => {
    await seedRun(RUN, 'failed');
    await seedRun(OTHER, 'completed', null);
    const report = await runVerify(deps, SETTINGS, { since, repair: true });
    expect(report.runs.map((r) => [r.runId, r.verdict, r.detail])).toEqual(
      expect.arrayContaining([
        [RUN, 'notVerified', 'not completed (its last attempt failed), so not verified'],
        [OTHER, 'notVerified', expect.stringMatching(/no completed attempt with its plan/)],
      ]),
    );
    expect(report.summary).toMatchObject({ verified: 0, notVerified: 2 });
    expect(verifyExitCode(report)).toBe(0);
    expect(exchange.processesStarted).toBe(0);
    expect(exchange.plans).toEqual([]);
  });

  it('starts no check after the deadline, and says how many runs were left', async () => {
    await seedRun(RUN);
    await seedRun(OTHER);
    const report = await runVerify(deps, SETTINGS, { since, repair: false, deadline: clock.now() });
    expect(report.runs).toEqual([]);
    expect(report.warnings).toEqual([
      "2 run(s) were left unverified because this verify's time budget ran out",
    ]);
    expect(exchange.plans).toEqual([]);
  });

  it('only looks at runs with journal activity since the given moment', async () => {
    await seedRun(RUN);
    const report = await runVerify(deps, SETTINGS, {
      since: new Date('2026-11-30T00:00:00Z'),
      repair: false,
    });
    expect(report.runs).toEqual([]);
    expect(exchange.plans).toEqual([]);
  });

  it('a repair whose apply broke leaves the repair attempt unended (result unknown) and reports the run failed', async () => {
    await seedRun(RUN);
    drifting('convertToShared');
    exchange.applyFailure = new Error('PowerShell exited');
    const report = await runVerify(deps, SETTINGS, { since, repair: true });
    expect(report.runs[0]).toMatchObject({
      verdict: 'failed',
      error: expect.stringContaining('PowerShell exited'),
    });
    const repair = (await journal.read(RUN))?.attempts[1];
    expect(repair?.end).toBeUndefined();
    expect(repair?.actions.find((a) => a.name === 'convertToShared')?.resultUnknown).toBe(true);
    expect((await journal.getState(RUN))?.lastOutcome).toBe('completed');
  });

  it('a setup error (PowerShell cannot start, sign-in refused) is the whole verify failing, and the session is closed', async () => {
    await seedRun(RUN);
    exchange.failWith = new ExchangeError('ExchangeConnectFailed', 'sign-in refused', { setup: true });
    await expect(runVerify(deps, SETTINGS, { since, repair: false })).rejects.toMatchObject({
      code: 'ExchangeConnectFailed',
    });
    expect(exchange.closed).toBe(1);
  });
});

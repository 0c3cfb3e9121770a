/**
 * Bounded attempts and the journal in the sweep use case: the fakes for SaaS Manager and Exchange,
 * the real journal in a temporary folder. EXO_MAX_ATTEMPTS, the failure action (once, only while
 * the claim holds, again after a POST that failed), failures that are final at once, dry runs, and
 * no change without a before-image.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASIC_ACTIONS } from '../../shared/config';
import { FileJournalRows } from '../../shared/runRecords/fileJournalRows';
import { RowRunJournal } from '../../shared/journal/runJournal';
import { silentLogger } from '../../shared/logging';
import type { RunJournal } from '../../shared/ports';
import { FileRunRecords } from '../../shared/runRecords/fileRunRecords';
import { runSweep, type SweepDependencies, type SweepSettings } from '../../shared/sweep/runSweep';
import {
  FakeCertificateSource,
  FakeExchangeShell,
  FakeWorkflowApi,
  ManualClock,
  MemoryClaims,
  MemoryRunRecords,
} from '../support/fakes';

const RUN = '0000000000000000000000a1';
const settings: SweepSettings = {
  workflowNames: ['Terminate Users'],
  stepName: 'Signal',
  actionName: 'Continue',
  actions: BASIC_ACTIONS,
  autoMapping: true,
  exchange: {
    auth: 'certificate',
    organization: 'contoso.onmicrosoft.com',
    appId: '00000000-0000-0000-0000-000000000001',
  },
};

describe('bounded attempts (sweep use case, journal in a folder)', () => {
  const folders: string[] = [];
  afterAll(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

  function setup(offered: string[] = ['Continue']) {
    const folder = mkdtempSync(join(tmpdir(), 'exo-attempts-'));
    folders.push(folder);
    const api = new FakeWorkflowApi();
    api.addRun({
      runId: RUN,
      person: { email: 'jo@contoso.com', lineManager: { email: 'boss@contoso.com' } },
      availableActions: offered,
      actionHrefs: Object.fromEntries(
        offered.map((name) => [name, `/runs/${RUN}/firedSignals/step/${name}`]),
      ),
    });
    const exchange = new FakeExchangeShell();
    // SendAs keeps failing, so every attempt fails.
    exchange.behaviour = (_plan, action) =>
      action.name === 'grantManagerSendAs'
        ? { name: action.name, status: 'failed', detail: 'Denied.' }
        : { name: action.name, status: 'done' };
    const claims = new MemoryClaims();
    const journal = new RowRunJournal(new FileJournalRows(folder), new FileRunRecords(folder));
    const deps: SweepDependencies = {
      workflowApi: api,
      exchange,
      certificates: new FakeCertificateSource(),
      claims,
      runRecords: new MemoryRunRecords(),
      clock: new ManualClock(),
      logger: silentLogger,
      journal,
      host: 'test-host',
    };
    return { api, exchange, claims, journal, deps };
  }

  it('retries a failing run until EXO_MAX_ATTEMPTS, then reports it given up without touching Exchange', async () => {
    const { deps, exchange, api, journal } = setup();
    for (let attempt = 1; attempt <= 5; attempt++) {
      const run = (await runSweep(deps, settings, { dryRun: false })).runs[0];
      expect(run).toMatchObject({ outcome: 'failed', attempt, signalled: false });
      expect(run?.gaveUp).toBe(attempt === 5 ? true : undefined);
      if (attempt === 5) expect(run?.error).toBe('gave up after 5 attempts: grantManagerSendAs: Denied.');
    }
    const looks = exchange.plans.length;
    const later = (await runSweep(deps, settings, { dryRun: false })).runs[0];
    expect(later).toMatchObject({
      outcome: 'failed',
      attempt: 5,
      gaveUp: true,
      error: 'gave up after 5 attempts: grantManagerSendAs: Denied.',
    });
    expect(exchange.plans).toHaveLength(looks);
    expect(api.actionsSignalled).toEqual([]);
    const history = await journal.read(RUN);
    expect(history?.attempts).toHaveLength(5);
    expect(history?.attempts.map((a) => a.host)).toEqual(Array(5).fill('test-host'));
    expect(history?.state).toMatchObject({ attempts: 5, failedAttempts: 5, lastOutcome: 'failed' });
  });

  it('sends the failure action once when the limit is reached, and never retries the run', async () => {
    const { deps, api, exchange } = setup(['Continue', 'Failed']);
    const bounded = { ...settings, maxAttempts: 2, failureActionName: 'Failed' };
    expect((await runSweep(deps, bounded, { dryRun: false })).runs[0]?.gaveUp).toBeUndefined();
    const second = (await runSweep(deps, bounded, { dryRun: false })).runs[0];
    expect(second).toMatchObject({ attempt: 2, gaveUp: true, failureSignalled: true, signalled: false });
    expect(api.actionsSignalled).toEqual([
      { runId: RUN, action: 'Failed', href: `/runs/${RUN}/firedSignals/step/Failed` },
    ]);
    const looks = exchange.plans.length;
    expect((await runSweep(deps, bounded, { dryRun: false })).runs).toEqual([]);
    expect(api.actionsSignalled).toHaveLength(1);
    expect(exchange.plans).toHaveLength(looks);
  });

  it('tries a failure POST that failed again in the next sweep, once it gets through', async () => {
    const { deps, api, journal } = setup(['Continue', 'Failed']);
    const bounded = { ...settings, maxAttempts: 1, failureActionName: 'Failed' };
    api.failingActions.set('Failed', 1);
    const first = (await runSweep(deps, bounded, { dryRun: false })).runs[0];
    expect(first).toMatchObject({
      gaveUp: true,
      detail: "sending 'Failed' failed; the next sweep tries again",
    });
    expect(first?.failureSignalled).toBeUndefined();
    const second = (await runSweep(deps, bounded, { dryRun: false })).runs[0];
    expect(second).toMatchObject({ gaveUp: true, failureSignalled: true, attempt: 1 });
    expect(api.actionsSignalled.map((s) => s.action)).toEqual(['Failed']);
    const signals = (await journal.read(RUN))?.attempts[0]?.signals ?? [];
    expect(signals).toEqual([
      expect.objectContaining({ kind: 'failure', action: 'Failed', answer: 'signalled' }),
    ]);
    expect((await journal.read(RUN))?.state?.failureSignalled).toBe('signalled');
  });

  it('leaves the run waiting when the step does not offer the failure action, or the claim was lost', async () => {
    const notOffered = setup(['Continue']);
    const bounded = { ...settings, maxAttempts: 1, failureActionName: 'Failed' };
    const run = (await runSweep(notOffered.deps, bounded, { dryRun: false })).runs[0];
    expect(run).toMatchObject({
      gaveUp: true,
      detail: "the step does not offer 'Failed'; the run stays waiting",
    });
    expect(notOffered.api.actionsSignalled).toEqual([]);

    const lost = setup(['Continue', 'Failed']);
    lost.claims.lost.add(RUN);
    await runSweep(lost.deps, bounded, { dryRun: false });
    expect(lost.api.actionsSignalled).toEqual([]);
  });

  it('gives up at once on a failure retrying cannot fix (a protected recipient)', async () => {
    const { deps } = setup();
    const run = (
      await runSweep(deps, { ...settings, protectedRecipients: ['boss@contoso.com'] }, { dryRun: false })
    ).runs[0];
    expect(run).toMatchObject({ outcome: 'failed', attempt: 1, gaveUp: true });
    expect(run?.error).toMatch(
      /^gave up after 1 attempt: retrying cannot fix this failure: the line manager/,
    );
  });

  it('journals nothing for a dry run, and changes nothing when the before-images cannot be written', async () => {
    const { deps, exchange, api, journal } = setup();
    exchange.behaviour = (_plan, action) => ({ name: action.name, status: 'done' });
    const dry = (await runSweep(deps, settings, { dryRun: true })).runs[0];
    expect(dry?.outcome).toBe('planned');
    expect(dry?.attempt).toBeUndefined();
    expect(await journal.read(RUN)).toBeUndefined();

    const broken: RunJournal = Object.assign(Object.create(journal) as RunJournal, {
      recordLooks: async () => {
        throw new Error('storage is down');
      },
    });
    const run = (await runSweep({ ...deps, journal: broken }, settings, { dryRun: false })).runs[0];
    expect(run).toMatchObject({ outcome: 'failed', signalled: false });
    expect(exchange.applied).toEqual([]);
    expect(api.actionsSignalled).toEqual([]);
    // The next sweep, with the journal back, completes the run.
    const next = (await runSweep(deps, settings, { dryRun: false })).runs[0];
    expect(next).toMatchObject({ outcome: 'completed', signalled: true, attempt: 2 });
    expect(exchange.applied).toEqual([RUN]);
  });
});

/**
 * The use case binds every change to the right people: the first attempt pins the leaver and the
 * manager before anything changes, later attempts must resolve to the same objects, refusals stop
 * a run before any change, and one bad run (a claim that throws, a lost lease, a failed signal)
 * never costs the others or the report.
 */
import { BASIC_ACTIONS } from '../../shared/config';
import type { RunPlan } from '../../shared/domain';
import { AppError, WorkflowApiError } from '../../shared/errors';
import { silentLogger } from '../../shared/logging';
import { runSweep, type SweepDependencies, type SweepSettings } from '../../shared/sweep/runSweep';
import {
  fakeRecipient,
  FakeCertificateSource,
  FakeExchangeShell,
  FakeWorkflowApi,
  ManualClock,
  MemoryClaims,
  MemoryRunRecords,
} from '../support/fakes';

const settings: SweepSettings = {
  workflowNames: ['Terminate Users'],
  stepName: 'Signal',
  actionName: 'Continue',
  actions: BASIC_ACTIONS,
  autoMapping: true,
  exchange: { auth: 'managedIdentity', organization: 'contoso.onmicrosoft.com' },
};

const id = (n: number) => n.toString(16).padStart(24, '0');

function setup() {
  const api = new FakeWorkflowApi();
  const exchange = new FakeExchangeShell();
  const claims = new MemoryClaims();
  const runRecords = new MemoryRunRecords();
  const deps: SweepDependencies = {
    workflowApi: api,
    exchange,
    certificates: new FakeCertificateSource(),
    claims,
    runRecords,
    clock: new ManualClock(),
    logger: silentLogger,
  };
  return { api, exchange, claims, runRecords, deps };
}

const leaver = { email: 'jo@contoso.com', lineManager: { email: 'boss@contoso.com' } };

describe('runSweep: who a run is about', () => {
  it('pins the leaver and manager its look resolved on the first attempt, before the apply changes anything', async () => {
    const { api, exchange, runRecords, deps } = setup();
    api.addRun({ runId: id(1), person: leaver });
    const pinnedAtApply: unknown[] = [];
    const apply = exchange.apply.bind(exchange);
    exchange.apply = async (plan: RunPlan, lookId: string) => {
      pinnedAtApply.push((await runRecords.get(plan.runId))?.record.leaver);
      return apply(plan, lookId);
    };
    const report = await runSweep(deps, settings, { dryRun: false });
    // One look (no separate resolution call): unpinned, it resolves the people itself.
    expect(exchange.plans).toHaveLength(1);
    expect(exchange.plans[0]?.plan.pinned).toBeUndefined();
    expect(pinnedAtApply).toEqual([fakeRecipient('jo@contoso.com')]);
    expect((await runRecords.get(id(1)))?.record).toMatchObject({
      runId: id(1),
      leaver: fakeRecipient('jo@contoso.com'),
      manager: fakeRecipient('boss@contoso.com'),
    });
    expect(report.runs[0]).toMatchObject({
      outcome: 'completed',
      signalled: true,
      subjects: { leaver: { guid: fakeRecipient('jo@contoso.com').guid } },
    });
  });

  it('fails a later attempt whose address now belongs to a different mailbox, and changes nothing', async () => {
    const { api, exchange, runRecords, deps } = setup();
    api.addRun({ runId: id(1), person: leaver });
    await runRecords.create({
      runId: id(1),
      workflowId: 'b7288c2c64f779e28024ea0e',
      leaver: fakeRecipient('someone.else@contoso.com'),
      manager: fakeRecipient('boss@contoso.com'),
      pinnedAt: '2026-11-28T12:00:00.000Z',
    });
    api.addRun({ runId: id(2), person: { email: 'ordinary@contoso.com' } });
    const report = await runSweep(deps, settings, { dryRun: false });
    // Pinned already: the look carries the pin and Exchange refuses it.
    expect(exchange.plans[0]?.plan.pinned?.leaver.guid).toBe(fakeRecipient('someone.else@contoso.com').guid);
    expect(exchange.plans[1]?.plan.pinned).toBeUndefined();
    expect((await runRecords.get(id(1)))?.record.leaver).toEqual(fakeRecipient('someone.else@contoso.com'));
    expect(report.runs[0]).toMatchObject({
      outcome: 'failed',
      signalled: false,
      error: expect.stringContaining('now belongs to a different mailbox'),
    });
    expect(report.runs[0]?.actions.every((a) => a.status === 'failed')).toBe(true);
    expect(api.signalled).toEqual([id(2)]);
  });

  it('refuses a run before any change when the leaver resolves to a non-person, and signals the others', async () => {
    const { api, exchange, runRecords, deps } = setup();
    exchange.refuse = (plan) =>
      plan.mailbox === 'room@contoso.com'
        ? "The leaver's address room@contoso.com belongs to Room 1, a RoomMailbox, not a person's mailbox; nothing was changed."
        : undefined;
    api.addRun({
      runId: id(1),
      person: { email: 'room@contoso.com', lineManager: { email: 'boss@contoso.com' } },
    });
    api.addRun({ runId: id(2), person: leaver });
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs[0]).toMatchObject({
      outcome: 'failed',
      signalled: false,
      error: expect.stringContaining('RoomMailbox'),
    });
    expect(report.runs[0]?.actions.map((a) => a.status)).toEqual(['failed', 'failed', 'failed', 'failed']);
    // Its look refused it: nothing pinned, nothing applied.
    expect(exchange.plans.map((p) => p.plan.runId)).toEqual([id(1), id(2)]);
    expect(await runRecords.get(id(1))).toBeUndefined();
    expect(api.signalled).toEqual([id(2)]);
  });

  it('pins a manager who appears on a later attempt, keeping the pinned leaver', async () => {
    const { api, exchange, runRecords, deps } = setup();
    api.addRun({ runId: id(1), person: leaver });
    await runRecords.create({
      runId: id(1),
      workflowId: 'b7288c2c64f779e28024ea0e',
      leaver: fakeRecipient('jo@contoso.com'),
      pinnedAt: '2026-11-28T12:00:00.000Z',
    });
    await runSweep(deps, settings, { dryRun: false });
    expect(exchange.plans[0]?.plan.pinned?.leaver.guid).toBe(fakeRecipient('jo@contoso.com').guid);
    expect((await runRecords.get(id(1)))?.record.manager).toEqual(fakeRecipient('boss@contoso.com'));
    expect(api.signalled).toEqual([id(1)]);
  });

  it('pins nothing in a dry run', async () => {
    const { api, exchange, runRecords, deps } = setup();
    api.addRun({ runId: id(1), person: leaver });
    const report = await runSweep(deps, settings, { dryRun: true });
    expect(report.runs[0]?.outcome).toBe('planned');
    expect(exchange.plans.map((p) => p.whatIf)).toEqual([true]);
    expect(await runRecords.get(id(1))).toBeUndefined();
  });

  it('changes nothing when another attempt pinned the run to different people between its look and its pin', async () => {
    const { api, exchange, runRecords, deps } = setup();
    api.addRun({ runId: id(1), person: leaver });
    const create = runRecords.create.bind(runRecords);
    runRecords.create = async (record) => {
      // Another worker got there first, with a different mailbox behind the same address.
      await create({ ...record, leaver: fakeRecipient('someone.else@contoso.com') });
      return create(record);
    };
    let applies = 0;
    const apply = exchange.apply.bind(exchange);
    exchange.apply = async (plan: RunPlan, lookId: string) => {
      applies += 1;
      return apply(plan, lookId);
    };
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(applies).toBe(0);
    expect(report.runs[0]).toMatchObject({
      outcome: 'failed',
      signalled: false,
      error: expect.stringContaining('pinned meanwhile to a different leaver mailbox'),
    });
    expect(api.signalled).toEqual([]);
  });

  it('fails a run whose leaver is a protected recipient before any Exchange call', async () => {
    const { api, exchange, deps } = setup();
    api.addRun({ runId: id(1), person: { email: 'ceo@contoso.com' } });
    api.addRun({ runId: id(2), person: leaver });
    const report = await runSweep(
      deps,
      { ...settings, protectedRecipients: ['ceo@contoso.com'] },
      { dryRun: false },
    );
    expect(report.runs[0]).toMatchObject({ outcome: 'failed', error: expect.stringContaining('protected') });
    expect(exchange.plans.map((p) => p.plan.runId)).toEqual([id(2)]);
    expect(exchange.plans[0]?.plan.policy?.protectedRecipients).toEqual(['ceo@contoso.com']);
    expect(api.signalled).toEqual([id(2)]);
  });
});

describe('runSweep: one bad run never stops the sweep', () => {
  it('reports a claim that throws as that run failing, and processes the next run', async () => {
    const { api, claims, deps } = setup();
    api.addRun({ runId: id(1), person: leaver });
    api.addRun({ runId: id(2), person: { email: 'next@contoso.com' } });
    claims.failing.set(id(1), new AppError('Unexpected', 'blob storage answered 503'));
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs[0]).toMatchObject({
      outcome: 'failed',
      error: expect.stringContaining('could not claim the run: blob storage answered 503'),
    });
    expect(api.signalled).toEqual([id(2)]);
  });

  it('does not signal a run whose lease was lost, and keeps its action results', async () => {
    const { api, claims, deps } = setup();
    api.addRun({ runId: id(1), person: leaver });
    claims.lost.add(id(1));
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs[0]).toMatchObject({
      outcome: 'failed',
      signalled: false,
      error: expect.stringContaining('claim on this run was lost'),
    });
    expect(report.runs[0]?.actions.map((a) => a.status)).toEqual(['done', 'done', 'done', 'done']);
    expect(api.signalled).toEqual([]);
  });

  it('keeps the action results in the report when the signal POST throws', async () => {
    const { api, deps } = setup();
    api.addRun({ runId: id(1), person: leaver });
    api.signalFailure = new WorkflowApiError(
      'SignalUncertain',
      'signal uncertain: POST answered 503 and the run still showed Waiting after 3 re-read(s)',
    );
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs[0]).toMatchObject({
      outcome: 'failed',
      signalled: false,
      error: expect.stringContaining('signal uncertain'),
    });
    expect(report.runs[0]?.actions.map((a) => a.status)).toEqual(['done', 'done', 'done', 'done']);
  });

  it('reports a run-record store that fails as that run failing', async () => {
    const { api, runRecords, deps } = setup();
    api.addRun({ runId: id(1), person: leaver });
    api.addRun({ runId: id(2), person: { email: 'next@contoso.com' } });
    const get = runRecords.get.bind(runRecords);
    runRecords.get = async (runId) => {
      if (runId === id(1)) throw new AppError('RunRecordsUnavailable', 'could not read the run record (503)');
      return get(runId);
    };
    const report = await runSweep(deps, settings, { dryRun: false });
    expect(report.runs[0]).toMatchObject({ outcome: 'failed', error: expect.stringContaining('503') });
    expect(api.signalled).toEqual([id(2)]);
  });
});

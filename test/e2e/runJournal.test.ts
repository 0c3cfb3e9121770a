/**
 * Issue 16, end to end through the compiled CLI, the SaaS Manager simulator, real pwsh and the stub
 * Exchange module, with the journal in Azurite's table: a run completed on its second attempt and
 * its `history`; five failing sweeps then the workflow's Failed action, once; a sweep killed between
 * the before-images and the change; two sweeps at once; and no secret in any journal row.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { RowRunJournal } from '../../shared/journal/runJournal';
import type { RunHistory } from '../../shared/domain';
import { TableJournalRows, TableRunRecords } from '../../shared/runRecords/tableRunRecords';
import { startAzuriteStorage, type AzuriteStorage } from '../support/azurite';
import { CLI, EndToEndWorld, parseReport, runCli } from '../support/cliHarness';

const TENANT = {
  mailboxes: [
    { address: 'boss@contoso.com', displayName: 'The Boss' },
    { address: 'pat@contoso.com', displayName: 'Pat Leaver' },
    { address: 'sam@contoso.com', displayName: 'Sam Leaver' },
    { address: 'kim@contoso.com', displayName: 'Kim Leaver' },
  ],
  groups: [{ name: 'All Staff', members: ['pat@contoso.com', 'sam@contoso.com', 'kim@contoso.com'] }],
};
const boss = { email: 'boss@contoso.com' };
const PAT = { name: 'Pat Leaver', email: 'pat@contoso.com', lineManager: boss };

describe('the run journal (CLI, Azurite table, real pwsh)', () => {
  let world: EndToEndWorld;
  let azurite: AzuriteStorage;
  // A fresh storage per test: the simulator numbers runs the same way in every world.
  beforeEach(async () => {
    azurite = await startAzuriteStorage();
  }, 30_000);
  afterEach(async () => {
    await world?.dispose();
    await azurite?.stop();
  });

  const env = (extra: NodeJS.ProcessEnv = {}) =>
    world.env({ AzureWebJobsStorage: azurite.connectionString, ...extra });
  const history = async (runId: string): Promise<RunHistory> => {
    const result = await runCli(['history', runId, '--json'], env());
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(result.stdout) as RunHistory;
  };

  it('journals a run that completed on its second attempt, and history shows both attempts', async () => {
    world = await EndToEndWorld.create(TENANT);
    const runId = world.addWaitingRun(PAT);
    world.tenant.setFault({
      cmdlet: 'Add-MailboxPermission',
      mode: 'error',
      message: 'The operation could not be completed: the directory replica is not available.',
    });

    const first = parseReport((await runCli(['sweep', '--json'], env(), 120_000)).stdout);
    expect(first.runs[0]).toMatchObject({ runId, outcome: 'failed', attempt: 1, signalled: false });
    expect(first.runs[0]?.gaveUp).toBeUndefined();
    const second = parseReport((await runCli(['sweep', '--json'], env(), 120_000)).stdout);
    expect(second.runs[0]).toMatchObject({ runId, outcome: 'completed', attempt: 2, signalled: true });

    const journal = await history(runId);
    expect(journal.record?.leaver).toMatchObject({ address: 'pat@contoso.com', type: 'UserMailbox' });
    expect(journal.record?.manager).toMatchObject({ address: 'boss@contoso.com' });
    expect(journal.state).toMatchObject({ attempts: 2, failedAttempts: 1, lastOutcome: 'completed' });
    const [one, two] = journal.attempts;
    expect(journal.attempts).toHaveLength(2);
    expect(one?.end).toMatchObject({ outcome: 'failed', signalled: false });
    expect(one?.end?.error).toMatch(/grantManagerFullAccess: The operation could not be completed/);
    expect(one?.host).not.toBe('');
    expect(one?.sweepId).not.toBe(two?.sweepId);
    const pat = world.tenant.mailbox('pat@contoso.com');
    const bossGuid = world.tenant.mailbox('boss@contoso.com').guid;
    // Attempt 1: the before-images as they were, and the results (FullAccess failed, the rest done).
    expect(one?.actions.map((a) => [a.name, a.status, a.result?.status])).toEqual([
      ['convertToShared', 'planned', 'done'],
      ['grantManagerFullAccess', 'planned', 'failed'],
      ['grantManagerSendAs', 'planned', 'done'],
      ['removeFromDistributionGroups', 'planned', 'done'],
    ]);
    expect(one?.actions[0]?.before).toEqual({ mailbox: pat.guid, recipientTypeDetails: 'UserMailbox' });
    expect(one?.actions[0]?.result?.after).toEqual({
      mailbox: pat.guid,
      recipientTypeDetails: 'SharedMailbox',
    });
    expect(one?.actions[1]?.before).toMatchObject({
      mailbox: pat.guid,
      trustee: bossGuid,
      fullAccess: false,
    });
    expect(one?.actions[1]?.result?.after).toEqual({ unknown: true });
    expect(one?.actions[3]?.before).toMatchObject({
      member: pat.guid,
      memberOf: [
        expect.objectContaining({ displayName: 'All Staff', type: 'MailUniversalDistributionGroup' }),
      ],
    });
    expect(one?.actions[3]?.changes?.[0]).toMatchObject({
      cmdlet: 'Remove-DistributionGroupMember',
      parameters: { Member: pat.guid },
    });
    expect(one?.signals).toEqual([]);
    // Attempt 2: what attempt 1 did is already so; only FullAccess changes; then the signal and its answer.
    expect(two?.actions.map((a) => [a.name, a.status, a.result?.status ?? '-'])).toEqual([
      ['convertToShared', 'already', '-'],
      ['grantManagerFullAccess', 'planned', 'done'],
      ['grantManagerSendAs', 'already', '-'],
      ['removeFromDistributionGroups', 'already', '-'],
    ]);
    expect(two?.actions[0]?.before).toEqual({ mailbox: pat.guid, recipientTypeDetails: 'SharedMailbox' });
    expect(two?.signals).toEqual([
      expect.objectContaining({ kind: 'continue', action: 'Continue', answer: 'signalled' }),
    ]);
    expect(two?.end).toMatchObject({ outcome: 'completed', signalled: true });

    // The readable form: a table per attempt.
    const text = await runCli(['history', runId], env());
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Attempt 1 .* failed$/m);
    expect(text.stdout).toMatch(/^Attempt 2 .* completed, signalled$/m);
    expect(text.stdout).toMatch(/^ {2}grantManagerFullAccess +planned +done +Granted The Boss/m);
    expect(text.stdout).toMatch(/signal 'Continue' \(continue\) at \S+: signalled/);
    for (const line of text.stdout.split('\n')) expect([...line].length).toBeLessThanOrEqual(100);
    process.stdout.write(`\n[history of a run completed on its second attempt]\n${text.stdout}\n`);

    // No secret in any row of the table: client secret, tokens, the certificate and its password.
    const rows = new TableJournalRows({ connectionString: azurite.connectionString });
    const everything: string[] = [];
    for (const { runId: id } of await rows.rowsNamed('state', { property: 'lastActivityAt', atLeast: '' })) {
      for (const { rowKey, row } of await rows.partition(id)) everything.push(rowKey, JSON.stringify(row));
    }
    const all = everything.join('\n');
    expect(all).toContain('pat@contoso.com'); // the grep reads real rows
    const cliEnv = env();
    const pfx = readFileSync(cliEnv.EXO_CERTIFICATE_PATH as string);
    const secrets = [
      world.clientSecret,
      cliEnv.EXO_CERTIFICATE_PASSWORD as string,
      ...world.simulator.issuedTokens(),
      pfx.toString('base64').slice(100, 160),
      world.certificate.der.toString('base64').slice(100, 160),
      world.certificate.pfx.toString('base64').slice(100, 160),
      (world.certificate.pem.split('\n')[3] ?? '').trim(),
    ];
    expect(world.simulator.issuedTokens().length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect(all.includes(secret)).toBe(false);
    }
  }, 300_000);

  it('gives up after five failed sweeps and sends the Failed action once; history of the failed run', async () => {
    world = await EndToEndWorld.create(TENANT);
    const runId = world.addWaitingRun(PAT, ['Continue', 'Failed']);
    world.tenant.setFault({
      cmdlet: 'Add-RecipientPermission',
      mode: 'error',
      message: 'Denied.',
      times: -1,
    });
    const failing = env({ WORKFLOW_FAILURE_ACTION_NAME: 'Failed' });
    for (let sweep = 1; sweep <= 5; sweep++) {
      const result = await runCli(['sweep', '--json'], failing, 120_000);
      expect(result.code).toBe(1);
      const run = parseReport(result.stdout).runs[0];
      expect(run).toMatchObject({ runId, outcome: 'failed', attempt: sweep, signalled: false });
      if (sweep < 5) {
        expect(run?.gaveUp).toBeUndefined();
        expect(world.simulator.signals).toEqual([]);
      } else {
        expect(run).toMatchObject({ gaveUp: true, failureSignalled: true });
        expect(run?.error).toMatch(/^gave up after 5 attempts: grantManagerSendAs: Denied\./);
      }
    }
    expect(world.simulator.signals.map((s) => [s.runId, s.action])).toEqual([[runId, 'Failed']]);
    const calls = world.tenant.calls().length;

    // The run has moved on: a sixth sweep neither retries it nor signals again.
    const sixth = parseReport((await runCli(['sweep', '--json'], failing, 120_000)).stdout);
    expect(sixth.runs).toEqual([]);
    expect(world.simulator.signals).toHaveLength(1);
    expect(world.tenant.calls().length).toBe(calls);

    const journal = await history(runId);
    expect(journal.attempts.map((a) => a.end?.outcome)).toEqual([
      'failed',
      'failed',
      'failed',
      'failed',
      'failed',
    ]);
    expect(journal.attempts[4]?.end?.gaveUp).toBe(true);
    expect(journal.attempts[4]?.signals).toEqual([
      expect.objectContaining({
        kind: 'failure',
        action: 'Failed',
        answer: 'signalled',
        reason: expect.stringMatching(/^gave up after 5 attempts/),
      }),
    ]);
    expect(journal.state).toMatchObject({ failedAttempts: 5, failureSignalled: 'signalled' });
    const text = await runCli(['history', runId], env());
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Attempt 5 .* failed, gave up$/m);
    expect(text.stdout).toMatch(/signal 'Failed' \(failure\) at \S+: signalled/);
  }, 600_000);

  it('without a failure action, a run given up stays waiting and is reported failed without touching Exchange', async () => {
    world = await EndToEndWorld.create(TENANT);
    // A mailbox that does not exist cannot succeed by retrying: given up at once.
    const runId = world.addWaitingRun({ name: 'Gone', email: 'gone@contoso.com', lineManager: boss });
    const first = parseReport((await runCli(['sweep', '--json'], env(), 120_000)).stdout);
    expect(first.runs[0]).toMatchObject({ runId, outcome: 'failed', attempt: 1, gaveUp: true });
    expect(first.runs[0]?.error).toMatch(
      /^gave up after 1 attempt: retrying cannot fix this failure: .*No mailbox was found in Exchange Online for the leaver's address gone@contoso\.com/,
    );
    const calls = world.tenant.calls().length;
    const second = parseReport((await runCli(['sweep', '--json'], env(), 120_000)).stdout);
    expect(second.runs[0]).toMatchObject({
      runId,
      outcome: 'failed',
      attempt: 1,
      gaveUp: true,
      signalled: false,
    });
    expect(world.tenant.calls().length).toBe(calls);
    expect(world.simulator.signals).toEqual([]);
    expect((await history(runId)).attempts).toHaveLength(1);
  }, 300_000);

  it('a sweep killed between the before-images and the change leaves a journal that says the result is unknown', async () => {
    world = await EndToEndWorld.create(TENANT);
    const runId = world.addWaitingRun(PAT);
    // Set-Mailbox (the first change) hangs: the sweep is killed while it waits.
    world.tenant.setFault({ cmdlet: 'Set-Mailbox', mode: 'hang', seconds: 60 });
    const child = spawn(process.execPath, [CLI, 'sweep', '--json'], {
      env: env(),
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 60_000;
      while (!world.tenant.calls().some((call) => call.cmdlet === 'Set-Mailbox')) {
        if (Date.now() > deadline) throw new Error('the sweep never reached Set-Mailbox');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      // The whole process group: the CLI and the PowerShell it started.
      process.kill(-(child.pid as number), 'SIGKILL');
      await exited;
    }
    expect(world.tenant.mailbox('pat@contoso.com').recipientTypeDetails).toBe('UserMailbox');

    const journal = await history(runId);
    expect(journal.attempts).toHaveLength(1);
    expect(journal.attempts[0]?.end).toBeUndefined();
    expect(journal.attempts[0]?.actions.map((a) => [a.name, a.status, a.resultUnknown === true])).toEqual([
      ['convertToShared', 'planned', true],
      ['grantManagerFullAccess', 'planned', true],
      ['grantManagerSendAs', 'planned', true],
      ['removeFromDistributionGroups', 'planned', true],
    ]);
    expect(journal.attempts[0]?.actions[0]?.before).toMatchObject({ recipientTypeDetails: 'UserMailbox' });
    const text = await runCli(['history', runId], env());
    expect(text.stdout).toMatch(/^Attempt 1 .* no end recorded \(interrupted, or still running\)$/m);
    expect(text.stdout).toMatch(
      /^ {2}convertToShared +planned +unknown +the before-image was journalled but no result/m,
    );

    // The next sweep is attempt 2 and completes the run.
    world.tenant.clearFaults();
    // The killed sweep's claim (a 60 s blob lease) expires by itself; until then the run is skipped.
    let next = parseReport((await runCli(['sweep', '--json'], env(), 120_000)).stdout);
    for (let tries = 0; next.runs[0]?.outcome === 'skipped' && tries < 12; tries++) {
      expect(next.runs[0]?.detail).toBe('another sweep is processing this run');
      await new Promise((resolve) => setTimeout(resolve, 7_000));
      next = parseReport((await runCli(['sweep', '--json'], env(), 120_000)).stdout);
    }
    expect(next.runs[0]).toMatchObject({ runId, outcome: 'completed', attempt: 2, signalled: true });
    expect((await history(runId)).attempts.map((a) => a.end?.outcome ?? 'none')).toEqual([
      'none',
      'completed',
    ]);
  }, 300_000);

  it('two sweeps at once write one coherent journal per run', async () => {
    world = await EndToEndWorld.create(TENANT);
    const ids = ['pat', 'sam', 'kim'].map((name) =>
      world.addWaitingRun({ name, email: `${name}@contoso.com`, lineManager: boss }),
    );
    const [a, b] = await Promise.all([
      runCli(['sweep', '--json'], env(), 180_000),
      runCli(['sweep', '--json'], env(), 180_000),
    ]);
    const reports = [parseReport(a.stdout), parseReport(b.stdout)];
    const completed = reports.flatMap((r) => r.runs.filter((run) => run.outcome === 'completed'));
    expect(completed.map((run) => run.runId).sort()).toEqual([...ids].sort());
    expect(world.simulator.signals.map((s) => s.runId).sort()).toEqual([...ids].sort());
    const journal = new RowRunJournal(
      new TableJournalRows({ connectionString: azurite.connectionString }),
      new TableRunRecords({ connectionString: azurite.connectionString }),
    );
    for (const runId of ids) {
      const run = (await journal.read(runId)) as RunHistory;
      expect(run.attempts).toHaveLength(1);
      expect(run.attempts[0]?.end).toMatchObject({ outcome: 'completed', signalled: true });
      expect(run.attempts[0]?.actions.map((x) => x.result?.status)).toEqual(['done', 'done', 'done', 'done']);
      expect(run.attempts[0]?.signals.map((s) => s.answer)).toEqual(['signalled']);
      expect(run.state).toMatchObject({ attempts: 1, failedAttempts: 0, lastOutcome: 'completed' });
    }
  }, 300_000);

  it('history exits 2 for an unknown run, and --since lists runs with their last outcome', async () => {
    world = await EndToEndWorld.create(TENANT);
    const done = world.addWaitingRun(PAT);
    const gone = world.addWaitingRun({ name: 'Gone', email: 'gone@contoso.com', lineManager: boss });
    await runCli(['sweep', '--json'], env(), 120_000);

    const unknown = await runCli(['history', '0123456789abcdef01234567', '--json'], env());
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ error: { code: 'RunNotFound' } });
    const unknownText = await runCli(['history', '0123456789abcdef01234567'], env());
    expect(unknownText).toMatchObject({ code: 2, stdout: '' });
    expect(unknownText.stderr).toMatch(/the journal knows no run 0123456789abcdef01234567/);

    const list = await runCli(['history', '--since', '7d', '--json'], env());
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as { runs: Array<{ runId: string; lastOutcome: string }> };
    expect(listed.runs.map((r) => [r.runId, r.lastOutcome]).sort()).toEqual(
      [
        [done, 'completed'],
        [gone, 'failed'],
      ].sort(),
    );
    const text = await runCli(['history', '--since', '7d'], env());
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`${done}  completed +attempt 1`));
    expect(text.stdout).toMatch(new RegExp(`${gone}  gave up +attempt 1`));
    const bad = await runCli(['history', '--since', 'soon'], env());
    expect(bad.code).toBe(2);
  }, 300_000);
});

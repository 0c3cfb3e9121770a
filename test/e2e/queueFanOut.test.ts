/**
 * Fan-out on queues (issue 14), end to end: the timer's queue-mode sweep puts one exo-runs message
 * per waiting run on Azurite (never a second one while the first is pending), and two worker
 * processes at once, each a small driver playing the Functions host (test/support/queueWorker.ts),
 * work through them with their own session pools: every run is signalled exactly once, and a run that
 * fails every attempt ends in the poison queue and is reported failed, never signalled.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fanOut } from '../../shared/composition';
import { loadConfig } from '../../shared/config';
import type { Logger } from '../../shared/ports';
import { startAzuriteStorage, type AzuriteStorage } from '../support/azurite';
import { EndToEndWorld, ROOT } from '../support/cliHarness';
import { processGone } from '../support/exchangeShellTesting';

interface WorkerSummary {
  pid: number;
  handled: number;
  failedAttempts: number;
  poisoned: number;
  /** Most messages the driver had in progress at once (host.json: batchSize + newBatchThreshold at most). */
  peakInProgress: number;
  logs: string[];
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function startWorker(env: NodeJS.ProcessEnv): Promise<WorkerSummary> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'test', 'support', 'runTypeScript.js'),
        join(ROOT, 'test', 'support', 'queueWorker.ts'),
        '1',
        '4000',
        '150000',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as WorkerSummary);
      } catch {
        reject(new Error(`worker exited ${code} without a summary:\n${stdout}\n${stderr}`));
      }
    });
  });
}

describe('queue mode: fan-out to two workers (Azurite, real pwsh, stub Exchange)', () => {
  let world: EndToEndWorld | undefined;
  let azurite: AzuriteStorage | undefined;
  afterEach(async () => {
    await world?.dispose();
    await azurite?.stop();
  });

  it('queues each waiting run once, signals every run exactly once across two workers, and reports a poisoned run failed', async () => {
    const leavers = ['leaver1', 'leaver2', 'leaver3', 'leaver4'].map((name) => `${name}@contoso.com`);
    world = await EndToEndWorld.create({
      mailboxes: [
        ...leavers.map((address) => ({ address })),
        { address: 'stuck@contoso.com' },
        { address: 'boss@contoso.com' },
      ],
      groups: [{ name: 'All Staff', members: leavers }],
    });
    azurite = await startAzuriteStorage({ queue: true });
    const good = leavers.map((email) =>
      world!.addWaitingRun({ name: email, email, lineManager: { email: 'boss@contoso.com' } }),
    );
    // Exchange fails every conversion of this mailbox with an error retrying might fix (not a final
    // one such as "no mailbox", which is given up at once): its message ends in the poison queue.
    const doomed = world.addWaitingRun({ name: 'Stuck', email: 'stuck@contoso.com' });
    world.tenant.setFault({
      cmdlet: 'Set-Mailbox',
      identity: world.tenant.mailbox('stuck@contoso.com').guid,
      mode: 'error',
      times: -1,
      message: 'The operation could not be completed: the directory replica is not available.',
    });
    const env = world.env({
      AzureWebJobsStorage: azurite.connectionString,
      SWEEP_MODE: 'queue',
      EXO_SESSIONS: '2',
      NODE_PATH: join(ROOT, 'test', 'support', 'functionsHost'),
    });
    const config = loadConfig(env);

    const first = await fanOut(config, { logger: quiet, env });
    const again = await fanOut(config, { logger: quiet, env });
    expect(first).toEqual({ queued: 5, alreadyPending: 0, failed: [] });
    // Never twice for the same run while one is pending.
    expect(again).toEqual({ queued: 0, alreadyPending: 5, failed: [] });

    const workers = await Promise.all([startWorker(env), startWorker(env)]);

    const signalled = world.simulator.signals.map((signal) => signal.runId);
    expect([...signalled].sort()).toEqual([...good].sort());
    expect(signalled).not.toContain(doomed);
    const handled = workers.reduce((sum, worker) => sum + worker.handled, 0);
    expect(handled).toBe(good.length);
    const poisoned = workers.reduce((sum, worker) => sum + worker.poisoned, 0);
    expect(poisoned).toBe(1);
    for (const worker of workers) expect(worker.peakInProgress).toBeLessThanOrEqual(8);
    expect(Math.max(...workers.map((worker) => worker.peakInProgress))).toBeGreaterThan(0);
    // maxDequeueCount (3) attempts of the doomed run, each failed, then one poison report naming it.
    expect(workers.reduce((sum, worker) => sum + worker.failedAttempts, 0)).toBe(3);
    const reports = workers
      .flatMap((worker) => worker.logs)
      .filter(
        (line) =>
          line.includes(`run ${doomed}`) && /failed, not signalled: gave up after 3 attempt/.test(line),
      );
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatch(/the directory replica is not available/);
    for (const address of leavers)
      expect(world.tenant.mailbox(address).recipientTypeDetails).toBe('SharedMailbox');
    // Each worker ran its own sessions, and none outlived its worker.
    const pids = new Set(world.tenant.calls().map((call) => call.pid));
    expect(pids.size).toBeGreaterThanOrEqual(2);
    for (const pid of pids) expect(processGone(pid)).toBe(true);

    // The poison report cleared the run's pending mark: the next timer sweep may queue it again.
    expect(await fanOut(config, { logger: quiet, env })).toEqual({
      queued: 1,
      alreadyPending: 0,
      failed: [],
    });
    // Two workers, each starting its own sessions, on a small machine: longer than the default minute.
  }, 200_000);
});

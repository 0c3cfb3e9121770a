/**
 * The session pool (issue 14) through the real pwsh and the stub Exchange module: several sessions
 * at once work through one sweep's runs (each run once, each signalled once), the throttle governor
 * backs off when Exchange throttles and every run still completes, and a session killed mid-run is
 * replaced while its run is failed, not signalled.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BASIC_ACTIONS } from '../../shared/config';
import { SessionPool } from '../../shared/exchange/sessionPool';
import type { CertificateSource, Logger } from '../../shared/ports';
import { runSweep, type SweepSettings } from '../../shared/sweep/runSweep';
import { createTestCertificate } from '../../sandbox/certificates';
import { newShell, processGone } from '../support/exchangeShellTesting';
import { ExchangeStubTenant, STUB_APP_ID, STUB_ORGANIZATION } from '../../sandbox/exchangeStubTenant';
import { FakeWorkflowApi, MemoryClaims, MemoryRunRecords } from '../support/fakes';

const cert = createTestCertificate({ keySize: 1024 });
const id = (n: number) => n.toString(16).padStart(24, '0');

const settings: SweepSettings = {
  workflowNames: ['Terminate Users'],
  stepName: 'Signal',
  actionName: 'Continue',
  actions: BASIC_ACTIONS,
  autoMapping: false,
  exchange: { auth: 'certificate', organization: STUB_ORGANIZATION, appId: STUB_APP_ID },
};

function recordingLogger(): Logger & { lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const push = (level: string) => (message: string) => void lines.push({ level, message });
  return { lines, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** What runSweep needs around a pool: the fakes for SaaS Manager, claims and run records. */
function sweepDeps(
  api: FakeWorkflowApi,
  sessions: SessionPool,
  certificates: CertificateSource,
  logger: Logger,
): Parameters<typeof runSweep>[0] {
  return {
    workflowApi: api,
    exchange: sessions,
    admission: sessions,
    certificates,
    claims: new MemoryClaims(),
    runRecords: new MemoryRunRecords(),
    clock: { now: () => new Date() },
    logger,
  };
}

function setup(leaverCount: number, latencyMs = 0) {
  const leavers = Array.from({ length: leaverCount }, (_, i) => `leaver${i + 1}@contoso.com`);
  const tenant = ExchangeStubTenant.create({
    certificate: cert,
    mailboxes: [...leavers.map((address) => ({ address })), { address: 'boss@contoso.com' }],
    groups: [
      { name: 'All Staff', members: leavers },
      { name: 'Sales', members: leavers.filter((_, i) => i % 2 === 0) },
    ],
    latencyMs,
  });
  const api = new FakeWorkflowApi();
  leavers.forEach((email, i) =>
    api.addRun({ runId: id(i + 1), person: { email, lineManager: { email: 'boss@contoso.com' } } }),
  );
  // The stub checks the certificate registered on the app: hand the sweep ours.
  const connection = tenant.certificateConnection(cert);
  const certificates: CertificateSource = {
    load: async () =>
      connection.auth === 'certificate' ? connection.certificate : Promise.reject(new Error()),
  };
  return { tenant, api, certificates, leavers };
}

describe('a sweep on a pool of sessions', () => {
  const tenants: ExchangeStubTenant[] = [];
  const pools: SessionPool[] = [];
  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.close();
    for (const tenant of tenants.splice(0)) tenant.dispose();
  });

  function pool(tenant: ExchangeStubTenant, size: number, logger?: Logger, quietMs?: number): SessionPool {
    const created = new SessionPool({
      size,
      createSession: (hooks) => newShell(tenant, { onThrottle: hooks.onThrottle, callTimeoutMs: 30_000 }),
      ...(quietMs === undefined ? {} : { quietMs }),
      ...(logger ? { logger } : {}),
    });
    pools.push(created);
    return created;
  }

  it('works through every run once on 4 sessions at once and signals each exactly once', async () => {
    const { tenant, api, certificates, leavers } = setup(6, 20);
    tenants.push(tenant);
    const sessions = pool(tenant, 4);
    const logger = recordingLogger();

    const report = await runSweep(sweepDeps(api, sessions, certificates, logger), settings, {
      dryRun: false,
    });

    expect(report.summary).toEqual({ completed: 6, failed: 0, skipped: 0, planned: 0 });
    expect(report.runs.map((run) => run.runId)).toEqual(leavers.map((_, i) => id(i + 1)));
    expect([...api.signalled].sort()).toEqual(leavers.map((_, i) => id(i + 1)));
    expect(report.stats.sessionsUsed).toBe(4);
    // All 6 at once (4 sessions and up to 4 runs ahead of them), on no more than the 4 sessions.
    expect(report.stats.peakRunsInFlight).toBe(6);
    expect(report.stats.powerShellProcesses).toBe(4);
    // Every session connected once; each leaver's mailbox was converted exactly once.
    const calls = tenant.calls();
    const connects = calls.filter((call) => call.cmdlet === 'Connect-ExchangeOnline');
    expect(connects).toHaveLength(4);
    expect(new Set(connects.map((call) => call.pid)).size).toBe(4);
    const converts = calls.filter((call) => call.cmdlet === 'Set-Mailbox');
    expect(converts).toHaveLength(6);
    // No change was lost between the sessions: every leaver left both groups, every mailbox is shared.
    for (const address of leavers) expect(tenant.mailbox(address).recipientTypeDetails).toBe('SharedMailbox');
    expect(tenant.state().groups.every((group) => (group.members ?? []).length === 0)).toBe(true);
    // The sessions ended with the sweep.
    for (const pid of new Set(connects.map((call) => call.pid))) expect(processGone(pid)).toBe(true);
  });

  it('backs off when Exchange throttles one cmdlet, and still completes every run', async () => {
    const { tenant, api, certificates, leavers } = setup(6);
    tenants.push(tenant);
    // Four throttled answers: ExoActions gives up after its fourth try once, the pool tries that call again.
    tenant.setFault({
      cmdlet: 'Get-MailboxPermission',
      mode: 'throttle',
      times: 5,
      retryAfterSeconds: 0.05,
    });
    tenant.setFault({ cmdlet: 'Add-RecipientPermission', mode: 'warning', times: 1 });
    const logger = recordingLogger();
    const sessions = pool(tenant, 3, logger, 60_000);

    const report = await runSweep(sweepDeps(api, sessions, certificates, logger), settings, {
      dryRun: false,
    });

    expect(report.summary.completed).toBe(6);
    expect(api.signalled).toHaveLength(leavers.length);
    // 5 throttled calls and a micro delay: six signals, and the back-off time is counted.
    expect(report.stats.throttleEvents).toBe(6);
    expect(report.stats.backoffMs).toBeGreaterThan(0);
    expect(sessions.governor.limit).toBeLessThan(3);
    expect(
      logger.lines.some((line) => line.level === 'warn' && /slowing down from 6 to 1/.test(line.message)),
    ).toBe(true);
    // Every grant happened once, whatever was retried.
    const grants = tenant.calls().filter((call) => call.cmdlet === 'Add-MailboxPermission');
    expect(grants).toHaveLength(6);
  });

  it('replaces a session killed mid-run, fails that run without signalling it, and completes the others', async () => {
    const { tenant, api, certificates, leavers } = setup(6, 50);
    tenants.push(tenant);
    const victimGuid = tenant.mailbox(leavers[0] as string).guid;
    tenant.setFault({ cmdlet: 'Set-Mailbox', identity: victimGuid, mode: 'hang', seconds: 60 });
    const sessions = pool(tenant, 2);
    const deps = sweepDeps(api, sessions, certificates, recordingLogger());

    const sweeping = runSweep(deps, settings, { dryRun: false });
    await waitFor(() => tenant.state().faults[0]?.times === 0, 90_000);
    const hanging = tenant
      .calls()
      .find((call) => call.cmdlet === 'Set-Mailbox' && call.parameters.Identity === victimGuid);
    const victim = hanging?.pid as number;
    process.kill(victim, 'SIGKILL');
    const report = await sweeping;

    const killed = report.runs.find((run) => run.runId === id(1));
    expect(killed?.outcome).toBe('failed');
    expect(killed?.signalled).toBe(false);
    expect(killed?.error).toMatch(/PowerShell exited during the run.*state unknown/);
    expect(api.signalled).not.toContain(id(1));
    expect([...api.signalled].sort()).toEqual([id(2), id(3), id(4), id(5), id(6)]);
    expect(processGone(victim)).toBe(true);
    // The killed session was replaced: 2 sessions, 3 processes, each connected once.
    expect(report.stats.sessionsUsed).toBe(2);
    expect(report.stats.powerShellProcesses).toBe(3);
    expect(tenant.calls().filter((call) => call.cmdlet === 'Connect-ExchangeOnline')).toHaveLength(3);
    const pids = new Set(tenant.calls().map((call) => call.pid));
    for (const pid of pids) expect(processGone(pid)).toBe(true);
  }, 150_000);

  it('stops every session when the worker is told to stop (SIGTERM): none outlives it', async () => {
    const tenant = ExchangeStubTenant.create({ certificate: cert });
    tenants.push(tenant);
    const root = join(__dirname, '..', '..');
    const child = spawn(
      process.execPath,
      [join(root, 'test', 'support', 'runTypeScript.js'), join(root, 'test', 'support', 'poolExitChild.ts')],
      { env: { ...process.env, ...tenant.env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    try {
      await waitFor(() => stdout.includes('ready'), 60_000);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    const pids = [...stdout.matchAll(/^pid (\d+)$/gm)].map((match) => Number(match[1]));
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(processGone(pid)).toBe(false);

    child.kill('SIGTERM');
    expect(await exited).toBe('SIGTERM');
    // SIGKILLed as the worker left; the kernel may take a moment to reap them.
    await waitFor(() => pids.every((pid) => processGone(pid)), 10_000);
  });
});

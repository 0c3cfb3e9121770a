/**
 * Sweep figures (issue 5): an empty sweep's API requests and PowerShell processes, and a sweep of
 * 200 waiting runs: wall time, API requests, PowerShell processes, Exchange cmdlet calls per run.
 * Real composition root, real PowerShell (pwsh or the engine host), SaaS Manager simulator and the
 * stub Exchange module (no added latency). Run: npm run bench -- sweep
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweep } from '../shared/composition';
import { loadConfig } from '../shared/config';
import { describePowerShell, findPowerShell } from '../shared/exchange/findPowerShell';
import { silentLogger } from '../shared/logging';
import { createTestCertificate } from '../sandbox/certificates';
import { ExchangeStubTenant, STUB_APP_ID, STUB_ORGANIZATION } from '../sandbox/exchangeStubTenant';
import { SaasManagerSimulator } from '../sandbox/saasManagerSimulator';

async function scenario(waiting: number): Promise<void> {
  const certificate = createTestCertificate({ keySize: 2048 });
  const workDir = mkdtempSync(join(tmpdir(), 'exo-bench-'));
  const leavers = Array.from({ length: waiting }, (_, i) => `leaver${i + 1}@contoso.com`);
  const tenant = ExchangeStubTenant.create({
    certificate,
    mailboxes: [...leavers.map((address) => ({ address })), { address: 'boss@contoso.com' }],
    groups: [
      { name: 'All Staff', members: leavers },
      { name: 'Sales', members: leavers.filter((_, i) => i % 2 === 0) },
      { name: 'Security', type: 'MailUniversalSecurityGroup', members: leavers },
    ],
  });
  const simulator = new SaasManagerSimulator();
  await simulator.start();
  try {
    const secret = randomBytes(16).toString('hex');
    simulator.addClient({ clientId: 'bench', clientSecret: secret });
    const workflow = simulator.addWorkflow({ name: 'Terminate Users', steps: [{ name: 'Signal' }] });
    for (const email of leavers) {
      simulator.addRun(workflow.id, {
        person: { email, lineManager: { email: 'boss@contoso.com' } },
        waitingAtStepName: 'Signal',
      });
    }
    const pfx = join(workDir, 'bench.pfx');
    writeFileSync(pfx, certificate.pfx, { mode: 0o600 });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...tenant.env,
      TMPDIR: workDir,
      TRELICA_BASE_URL: simulator.baseUrl,
      TRELICA_CLIENT_ID: 'bench',
      TRELICA_CLIENT_SECRET: secret,
      EXO_APP_ID: STUB_APP_ID,
      EXO_ORGANIZATION: STUB_ORGANIZATION,
      EXO_CERTIFICATE_PATH: pfx,
      // Its own records: the default folder would keep this run's pins for the next (fresh) tenant.
      EXO_RUN_RECORDS_DIR: join(workDir, 'runs'),
      KEY_VAULT_URL: '',
      AzureWebJobsStorage: '',
    };
    const started = process.hrtime.bigint();
    const report = await sweep(loadConfig(env), { logger: silentLogger, env }, { dryRun: false });
    const processGoal = Math.min(report.stats.sessions ?? 1, waiting);
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    const tokenRequests = simulator.requestsTo('token').length;
    const apiRequests = simulator.requests.length - tokenRequests;
    const cmdletCalls = tenant
      .calls()
      .filter(
        (call) => call.cmdlet !== 'Connect-ExchangeOnline' && call.cmdlet !== 'Disconnect-ExchangeOnline',
      );
    console.log(`${waiting} waiting run(s), 1 workflow:`);
    console.log(
      `  outcome                  ${report.summary.completed} completed, ${report.summary.failed} failed`,
    );
    console.log(
      `  wall time                ${wallMs.toFixed(0)} ms${waiting > 0 ? ` (${(wallMs / waiting).toFixed(1)} ms per run)` : ''}`,
    );
    console.log(
      `  API requests             ${apiRequests} (+${tokenRequests} token request)${waiting === 0 ? `  goal: <= 2 per workflow: ${apiRequests <= 2 ? 'met' : 'NOT met'}` : ''}`,
    );
    console.log(
      // One process per session used (EXO_SESSIONS, default 4): each started once, none replaced.
      `  PowerShell processes     ${report.stats.powerShellProcesses}  goal: ${processGoal} (one per session): ${report.stats.powerShellProcesses === processGoal ? 'met' : 'NOT met'}`,
    );
    if (waiting > 0) {
      console.log(
        `  Exchange cmdlets per run ${(cmdletCalls.length / waiting).toFixed(1)} (${cmdletCalls.length} in all, plus 1 connect)`,
      );
    }
  } finally {
    await simulator.stop();
    tenant.dispose();
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const powerShell = await describePowerShell(findPowerShell(process.env));
  console.log(`PowerShell ${powerShell.version} at ${powerShell.executable} (${powerShell.source})`);
  await scenario(0);
  await scenario(200);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

/**
 * What one PowerShell session costs on the real pwsh: starting it (process + ExoActions.psm1, the
 * first answer), connecting (stub Connect-ExchangeOnline with an in-memory certificate), one run, and
 * how many processes a session is while it lives and after it is closed (Linux: /proc).
 *
 *   npm run bench -- powerShellSession
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describePowerShell, findPowerShell } from '../shared/exchange/findPowerShell';
import { PowerShellExchangeShell } from '../shared/exchange/powerShellExchangeShell';
import type { RunPlan } from '../shared/domain';
import { createTestCertificate } from '../sandbox/certificates';
import { ExchangeStubTenant } from '../sandbox/exchangeStubTenant';

const ROUNDS = 5;

function processesNaming(marker: string): number {
  if (process.platform !== 'linux') return Number.NaN;
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').includes(marker)) count += 1;
    } catch {
      // gone, or not ours
    }
  }
  return count;
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function main(): Promise<void> {
  const powerShell = findPowerShell();
  const described = await describePowerShell(powerShell);
  console.log(`PowerShell ${described.version} at ${described.executable} (${described.source})`);
  console.log(`started as: ${[powerShell.launch.command, ...powerShell.launch.args].join(' ')}`);
  const certificate = createTestCertificate();
  const start: number[] = [];
  const connect: number[] = [];
  const run: number[] = [];
  const during: number[] = [];
  const after: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const tenant = ExchangeStubTenant.create({ certificate, mailboxes: [{ address: 'leaver@contoso.com' }] });
    const shell = new PowerShellExchangeShell({
      powerShell,
      callTimeoutMs: 60_000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...tenant.env },
    });
    const plan: RunPlan = {
      runId: `bench-${round}`,
      mailbox: 'leaver@contoso.com',
      actions: [{ name: 'convertToShared' }],
      options: { autoMapping: true },
    };
    const connection = () => Promise.resolve(tenant.certificateConnection(certificate));
    try {
      let t = performance.now();
      await shell.probe();
      start.push(performance.now() - t);
      t = performance.now();
      await shell.runPlan(plan, connection, false);
      const firstRun = performance.now() - t;
      t = performance.now();
      await shell.runPlan(plan, connection, false);
      run.push(performance.now() - t);
      connect.push(firstRun - (run.at(-1) ?? 0));
      during.push(processesNaming(tenant.modulesDir));
    } finally {
      await shell.close();
      after.push(processesNaming(tenant.modulesDir));
      tenant.dispose();
    }
  }
  const ms = (values: number[]): string =>
    `median ${median(values).toFixed(0)} ms (min ${Math.min(...values).toFixed(0)}, max ${Math.max(...values).toFixed(0)})`;
  console.log(`start (process + module, first answer): ${ms(start)}`);
  console.log(`connect (Connect-ExchangeOnline, certificate in memory): ${ms(connect)}`);
  console.log(`one run (convertToShared, already shared): ${ms(run)}`);
  console.log(
    `processes per session while open: ${[...new Set(during)].join(', ')}; after close: ${[...new Set(after)].join(', ')}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

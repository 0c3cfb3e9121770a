/**
 * Exchange cost of one leaver as the tenant grows: tenants with 10, 100 and 1,000 distribution lists,
 * each leaver a member of 3 of them (plus a security group and a Microsoft 365 group that must be left
 * alone), the stub Exchange module answering every cmdlet after 20 ms. Prints the Exchange cmdlet calls
 * per leaver (which must not grow with the tenant: membership is one query, never a walk over the
 * groups) and the time per leaver.
 *
 *   npm run bench -- exchangeScaling
 */
import { findPowerShell, type FoundPowerShell } from '../shared/exchange/findPowerShell';
import { PowerShellExchangeShell } from '../shared/exchange/powerShellExchangeShell';
import type { ActionName, ExchangeConnection, RunPlan } from '../shared/domain';
import { createTestCertificate } from '../sandbox/certificates';
import { seedLargeTenant } from '../sandbox/exchangeStubTenant';

const TENANT_SIZES = [10, 100, 1000];
const LATENCY_MS = 20;
const MEMBERSHIPS = 3;
/** Leavers per tenant: the first also pays for starting PowerShell and connecting, and is reported apart. */
const LEAVERS = 6;
const ACTIONS: ActionName[] = [
  'convertToShared',
  'grantManagerFullAccess',
  'grantManagerSendAs',
  'removeFromDistributionGroups',
];

interface SizeResult {
  groups: number;
  callsPerLeaver: number[];
  msPerLeaver: number[];
  firstLeaverMs: number;
}

async function measure(groups: number, powerShell: FoundPowerShell): Promise<SizeResult> {
  const certificate = createTestCertificate();
  const { tenant, leavers, manager } = seedLargeTenant(groups, {
    leavers: LEAVERS,
    membershipsPerLeaver: MEMBERSHIPS,
    certificate,
    latencyMs: LATENCY_MS,
  });
  const shell = new PowerShellExchangeShell({
    powerShell,
    callTimeoutMs: 120_000,
    env: { ...process.env, ...tenant.env },
  });
  const connection = (): Promise<ExchangeConnection> =>
    Promise.resolve(tenant.certificateConnection(certificate));
  const result: SizeResult = { groups, callsPerLeaver: [], msPerLeaver: [], firstLeaverMs: 0 };
  try {
    for (const [index, leaver] of leavers.entries()) {
      const plan: RunPlan = {
        runId: `bench-${index}`,
        mailbox: leaver,
        manager,
        actions: ACTIONS.map((name) => ({ name })),
        options: { autoMapping: false },
      };
      const logged = tenant.calls().length;
      const started = process.hrtime.bigint();
      const run = await shell.runPlan(plan, connection, false);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;

      const failed = run.actions.filter((action) => action.status !== 'done');
      if (failed.length > 0) throw new Error(`leaver ${leaver}: ${JSON.stringify(failed)}`);
      const removals = tenant
        .calls()
        .slice(logged)
        .filter((call) => call.cmdlet === 'Remove-DistributionGroupMember').length;
      if (removals !== MEMBERSHIPS)
        throw new Error(`leaver ${leaver}: ${removals} removals, expected ${MEMBERSHIPS}`);
      // The shell's own count, cross-checked against what Exchange (the stub) saw, connect excluded.
      const seen = tenant
        .calls()
        .slice(logged)
        .filter((call) => call.cmdlet !== 'Connect-ExchangeOnline').length;
      if (seen !== run.cmdletCalls)
        throw new Error(`leaver ${leaver}: shell counted ${run.cmdletCalls} calls, Exchange saw ${seen}`);

      if (index === 0) {
        result.firstLeaverMs = ms;
      } else {
        result.msPerLeaver.push(ms);
      }
      result.callsPerLeaver.push(run.cmdletCalls);
    }
  } finally {
    await shell.close();
    tenant.dispose();
  }
  return result;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

async function main(): Promise<void> {
  const powerShell = findPowerShell();
  const { executable, source } = powerShell;
  console.log(
    `exchange scaling: one leaver (member of ${MEMBERSHIPS} lists) per run, stub latency ${LATENCY_MS} ms per cmdlet`,
  );
  console.log(`PowerShell: ${executable} (${source})`);
  const results: SizeResult[] = [];
  for (const groups of TENANT_SIZES) {
    const result = await measure(groups, powerShell);
    results.push(result);
    const calls = [...new Set(result.callsPerLeaver)].join('/');
    console.log(
      `${String(groups).padStart(5)} distribution lists: ${calls} Exchange cmdlet calls per leaver, ` +
        `${median(result.msPerLeaver).toFixed(0)} ms per leaver (median of ${result.msPerLeaver.length}; ` +
        `floor ${Number(calls) * LATENCY_MS} ms of stub latency), first leaver incl. PowerShell start and connect ${result.firstLeaverMs.toFixed(0)} ms`,
    );
  }
  const distinct = new Set(results.flatMap((result) => result.callsPerLeaver));
  console.log(`cmdlet calls per leaver constant across tenant sizes: ${distinct.size === 1 ? 'yes' : 'NO'}`);
  if (distinct.size !== 1) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

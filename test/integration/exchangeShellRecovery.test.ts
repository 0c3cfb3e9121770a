/**
 * The Exchange boundary when PowerShell misbehaves: a call that never answers, a process that crashes
 * or is killed mid-run or between runs, a connect that hangs. The run in flight is failed with its
 * state unknown, and the next run gets a fresh process that reconnects.
 */
import type { PowerShellExchangeShell } from '../../shared/exchange/powerShellExchangeShell';
import type { RunPlan } from '../../shared/domain';
import { createTestCertificate } from '../../sandbox/certificates';
import { expectSetupError, newShell, processGone } from '../support/exchangeShellTesting';
import { ExchangeStubTenant } from '../../sandbox/exchangeStubTenant';

const cert = createTestCertificate({ keySize: 1024 });

function convert(mailbox: string): RunPlan {
  return {
    runId: `run-${mailbox}`,
    mailbox,
    actions: [{ name: 'convertToShared' }],
    options: { autoMapping: true },
  };
}

// Generous: starting pwsh and connecting can take long on a loaded machine (two cores, several agents).
async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('timeouts and crashes', () => {
  let tenant: ExchangeStubTenant;
  const shells: PowerShellExchangeShell[] = [];
  beforeEach(() => {
    tenant = ExchangeStubTenant.create({
      certificate: cert,
      mailboxes: [
        { address: 'leaver@contoso.com' },
        { address: 'boss@contoso.com' },
        { address: 'next@contoso.com' },
      ],
    });
  });
  afterEach(() => tenant.dispose());
  afterAll(async () => {
    for (const shell of shells) await shell.close();
  });
  const connectionFor = () => async () => tenant.certificateConnection(cert);

  it('fails a run that times out as state unknown, and gives the next run a fresh process that reconnects', async () => {
    // 4 s: the next run's first call in a fresh process (JIT of the module) must fit, also on a
    // loaded machine; the hang is far longer.
    const shell = newShell(tenant, { callTimeoutMs: 4000 });
    shells.push(shell);
    tenant.setFault({ cmdlet: 'Set-Mailbox', mode: 'hang', seconds: 60 });

    const timedOut = await shell.runPlan(convert('leaver@contoso.com'), connectionFor(), false);
    const next = await shell.runPlan(convert('next@contoso.com'), connectionFor(), false);

    expect(timedOut.actions[0]?.status).toBe('failed');
    expect(timedOut.actions[0]?.detail).toMatch(/did not answer within 4 s.*state unknown/);
    expect(next.actions[0]?.status).toBe('done');
    expect(shell.processesStarted).toBe(2);
    const connects = tenant.calls().filter((call) => call.cmdlet === 'Connect-ExchangeOnline');
    expect(connects).toHaveLength(2);
    expect(connects[0]?.pid).not.toBe(connects[1]?.pid);
    expect(processGone(connects[0]?.pid as number)).toBe(true);
  });

  it('fails a run whose PowerShell process is killed mid-run as state unknown, and recovers on the next run', async () => {
    const shell = newShell(tenant);
    shells.push(shell);
    tenant.setFault({ cmdlet: 'Set-Mailbox', mode: 'hang', seconds: 60 });

    const running = shell.runPlan(convert('leaver@contoso.com'), connectionFor(), false);
    // The stub records the fault as used before it starts hanging; kill only once it has.
    // Starting PowerShell and connecting come first: on a loaded machine that alone can take ~10 s.
    await waitFor(() => tenant.state().faults[0]?.times === 0, 30_000);
    process.kill(tenant.calls()[0]?.pid as number, 'SIGKILL');
    const killed = await running;
    const next = await shell.runPlan(convert('next@contoso.com'), connectionFor(), false);

    expect(killed.actions[0]?.status).toBe('failed');
    expect(killed.actions[0]?.detail).toMatch(/PowerShell exited during the run .*state unknown/);
    expect(next.actions[0]).toMatchObject({ status: 'done' });
    expect(shell.processesStarted).toBe(2);
  });

  it('fails a run during which PowerShell crashes, and recovers on the next run', async () => {
    const shell = newShell(tenant);
    shells.push(shell);
    tenant.setFault({ cmdlet: 'Set-Mailbox', mode: 'crash', exitCode: 134 });

    const crashed = await shell.runPlan(convert('leaver@contoso.com'), connectionFor(), false);
    const retried = await shell.runPlan(convert('leaver@contoso.com'), connectionFor(), false);

    expect(crashed.actions[0]).toMatchObject({
      status: 'failed',
      detail: expect.stringMatching(/exited during the run.*state unknown/),
    });
    expect(retried.actions[0]?.status).toBe('done');
    expect(tenant.mailbox('leaver@contoso.com').recipientTypeDetails).toBe('SharedMailbox');
    expect(shell.processesStarted).toBe(2);
  });

  it('replaces a process that died between runs before the next run, without failing it', async () => {
    const shell = newShell(tenant);
    shells.push(shell);
    await shell.runPlan(convert('leaver@contoso.com'), connectionFor(), false);
    const pid = tenant.calls()[0]?.pid as number;

    process.kill(pid, 'SIGKILL');
    await waitFor(() => processGone(pid));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const next = await shell.runPlan(convert('next@contoso.com'), connectionFor(), false);

    expect(next.actions[0]?.status).toBe('done');
    expect(shell.processesStarted).toBe(2);
  });

  it('gives up connecting after the connect timeout with a setup error', async () => {
    const shell = newShell(tenant, { connectTimeoutMs: 1500 });
    shells.push(shell);
    tenant.setFault({ cmdlet: 'Connect-ExchangeOnline', mode: 'hang', seconds: 60 });

    const error = await expectSetupError(
      shell.runPlan(convert('leaver@contoso.com'), connectionFor(), false),
    );

    expect(error.code).toBe('ExchangeConnectTimeout');
    expect(processGone(tenant.calls()[0]?.pid as number)).toBe(true);
  });
});

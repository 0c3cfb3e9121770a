/** `exo-workflow-sync sandbox`: a new user's first command must work on a fresh clone, without Azure. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cliHarness';

describe('exo-workflow-sync sandbox', () => {
  let workDir: string;
  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'exo-sandbox-test-'));
  });
  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  it('runs a real sweep against the simulated tenants and prints a readable report', async () => {
    // Only what a new user has: no settings at all.
    const result = await runCli(['sandbox'], {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: workDir,
      NODE_POWERSHELL: process.env.NODE_POWERSHELL,
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/PowerShell 7\.\d+\.\d+ at .+ \((pinned|pwsh|NODE_POWERSHELL)\)/);
    expect(result.stdout).toMatch(/run\s+workflow\s+email\s+outcome\s+signalled/);
    expect(result.stdout).toContain('Summary: 3 completed, 2 failed, 0 skipped, 0 planned');
    expect(result.stdout).toMatch(
      /stephanie\.mason@contoso\.com: SharedMailbox; Full Access: sam\.boss@contoso\.com/,
    );
    expect(result.stdout).toContain("Runs signalled 'Continue' in SaaS Manager: 3");
    // The hostile address failed in the planner and never reached Exchange.
    expect(result.stdout).toMatch(/bobby'; Remove-Mailbox.*failed/);
  });
});

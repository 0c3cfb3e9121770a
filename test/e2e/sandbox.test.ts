/** `exo-workflow-sync sandbox`: a new user's first command must work on a fresh clone, without Azure. */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseReport, ROOT, runCli, type CliResult } from '../support/cliHarness';
import { powerShell } from '../support/exchangeShellTesting';

/** `npm run <args>` in the repository, as a user types it (npm on PATH, as in any npm script). */
function npmRun(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** One argument for /bin/sh, quoted. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

describe('exo-workflow-sync sandbox', () => {
  let workDir: string;
  let userEnv: NodeJS.ProcessEnv;
  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'exo-sandbox-test-'));
    // Only what a new user has: no settings at all.
    userEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: workDir,
      NODE_POWERSHELL: process.env.NODE_POWERSHELL,
    };
  });
  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  it('runs a real sweep, says which runs fail on purpose and why, exits 0, and says what to do next', async () => {
    const result = await runCli(['sandbox'], userEnv);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/PowerShell 7\.\d+\.\d+ at\s[\s\S]+?\((pinned|pwsh|NODE_POWERSHELL)\)/);
    expect(result.stdout).toMatch(/^✔ completed, signalled {2}run [0-9a-f]{24} {2}Terminate Users$/m);
    expect(result.stdout).toContain('Summary: 3 completed, 2 failed, 0 skipped, 0 planned');
    expect(result.stdout).toMatch(
      /stephanie\.mason@contoso\.com: SharedMailbox; Full Access: sam\.boss@contoso\.com/,
    );
    expect(result.stdout).toContain("Runs signalled 'Continue' in SaaS Manager: 3");
    // The hostile address failed in the planner and never reached Exchange.
    expect(result.stdout).toMatch(/^ {2}bobby'; Remove-Mailbox.*\n {2}error: the person's email/m);
    expect(result.stdout).toContain('2 run(s) failed, 2 of them on purpose');
    expect(result.stdout).toMatch(/- bobby'; Remove-Mailbox.*: a hostile address/);
    expect(result.stdout).toMatch(/- gone\.already@contoso\.com: no such mailbox in the tenant/);
    expect(result.stdout).toMatch(/Exit code 0: the sandbox succeeds when exactly these runs fail/);
    expect(result.stdout).toMatch(/Next steps:\n.*npx exo-workflow-sync check\n.*docs\/deploy\.md/);
    for (const output of [result.stdout, result.stderr]) {
      expect(output.split('\n').filter((line) => [...line].length > 100)).toEqual([]);
    }
  });

  it('prints exactly one JSON document with `npm run -s sandbox -- --json`, the form the README shows', async () => {
    const result = await npmRun(['-s', 'sandbox', '--', '--json'], userEnv);
    expect(result.code).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.summary).toEqual({ completed: 3, failed: 2, skipped: 0, planned: 0 });
    // The explanation still reaches the user, on stderr.
    expect(result.stderr).toContain('2 of them on purpose');
  });

  it('runs from a built package alone: a copy of dist/, package.json and node_modules', async () => {
    // What an image or a package holds: no sources, no test/, no .config; PowerShell is the one the
    // machine has.
    const packageDir = join(workDir, 'package');
    cpSync(join(ROOT, 'dist'), join(packageDir, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(packageDir, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(packageDir, 'node_modules'), 'dir');
    // An image has pwsh on PATH. When the tests run the pinned tool (a pwsh.dll that dotnet runs, from
    // .tools or from the NuGet package folder), a one-line `pwsh` that execs it stands in for that.
    const env: NodeJS.ProcessEnv = { ...userEnv };
    if (powerShell.source === 'pinned') {
      const bin = join(workDir, 'image-bin');
      mkdirSync(bin, { recursive: true });
      const exec = [powerShell.launch.command, ...powerShell.launch.args].map(shellQuote).join(' ');
      writeFileSync(join(bin, 'pwsh'), `#!/bin/sh\nexec ${exec} "$@"\n`, { mode: 0o755 });
      env.PATH = `${bin}${delimiter}${userEnv.PATH ?? ''}`;
      delete env.NODE_POWERSHELL;
    } else {
      env.NODE_POWERSHELL = powerShell.executable;
    }
    const result = await runCli(
      ['sandbox', '--json'],
      env,
      120_000,
      join(packageDir, 'dist', 'cli', 'main.js'),
    );
    // With --json a setup error is the one document on stdout: show it when the exit code is wrong.
    expect({ code: result.code, stdout: result.code === 0 ? '' : result.stdout }).toEqual({
      code: 0,
      stdout: '',
    });
    expect(result.stderr).not.toMatch(/not found|missing/i);
    expect(parseReport(result.stdout).summary).toEqual({ completed: 3, failed: 2, skipped: 0, planned: 0 });
  });
});

/**
 * The PowerShell the tests resolved (the engine host on CI, real pwsh where installed) speaks pwsh's
 * protocols: node-powershell's delimiter protocol over `-NoExit -Command -`, and the `-Command` /
 * `-File` command lines with pwsh's exit codes. The same assertions hold for both, except that the
 * engine host lacks the Utility module (checked only on the engine host).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { InvocationError, PowerShell, ProcessError } from 'node-powershell';
import { ExchangeError } from '../../shared/errors';
import { describePowerShell, findPackageRoot, findPowerShell } from '../../shared/exchange/findPowerShell';

const powerShell = findPowerShell();
const shells: PowerShell[] = [];
let scratch: string;

function startShell(env?: NodeJS.ProcessEnv): PowerShell {
  const shell = new PowerShell({
    executableOptions: { '-NoProfile': true, '-NonInteractive': true },
    invocationTimeout: 20_000,
    ...(env ? { spawnOptions: { env } } : {}),
  });
  shells.push(shell);
  return shell;
}

interface Exit {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], input = ''): Promise<Exit> {
  return new Promise((resolve) => {
    const child = execFile(
      powerShell.executable,
      args,
      { timeout: 20_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

let shell: PowerShell;
let isEngineHost: boolean;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'pwsh-engine-test-'));
  shell = startShell();
  isEngineHost = (await shell.invoke('$Host.Name')).raw === 'pwsh-engine';
});

afterAll(async () => {
  // A shell that already exited (exit 3) rejects dispose with its exit; that is expected here.
  await Promise.all(shells.map((s) => s.dispose().catch(() => undefined)));
  rmSync(scratch, { recursive: true, force: true });
});

describe('through node-powershell', () => {
  it('keeps state across several invocations in one process', async () => {
    await shell.invoke('$answer = 41');
    const result = await shell.invoke('$answer + 1');
    expect(result.raw).toBe('42');
    expect(result.hadErrors).toBe(false);
  });

  it('reports the engine version in $PSVersionTable', async () => {
    const result = await shell.invoke('$PSVersionTable.PSVersion.ToString()');
    expect(result.raw).toMatch(/^7\.\d+\.\d+/);
    if (isEngineHost) expect(result.raw).toBe('7.6.9');
  });

  it('fails a call whose error record goes to stderr, and the process stays usable', async () => {
    await expect(shell.invoke('Get-Command No-SuchCommand')).rejects.toThrow(InvocationError);
    await expect(shell.invoke('Get-Command No-SuchCommand')).rejects.toThrow(/No-SuchCommand/);
    expect((await shell.invoke('"still here"')).raw).toBe('still here');
  });

  it('fails a call on $PSCmdlet.WriteError and on a thrown error, with the message', async () => {
    await shell.invoke(
      "function Test-WriteError { [CmdletBinding()] param() $PSCmdlet.WriteError([System.Management.Automation.ErrorRecord]::new([System.Exception]::new('mailbox not found'), 'NotFound', 'ObjectNotFound', $null)) }",
    );
    await expect(shell.invoke('Test-WriteError')).rejects.toThrow(/mailbox not found/);
    await expect(shell.invoke("throw 'boom from throw'")).rejects.toThrow(/boom from throw/);
  });

  it('writes warnings to stdout, where they do not fail the call', async () => {
    await shell.invoke(
      "function Test-Warning { [CmdletBinding()] param() $PSCmdlet.WriteWarning('careful'); 'done' }",
    );
    const result = await shell.invoke('Test-Warning');
    expect(result.hadErrors).toBe(false);
    expect(result.raw.split(/\r?\n/)).toEqual(['WARNING: careful', 'done']);
  });

  it('runs a multi-line function definition and a here-string ended by a blank line, like pwsh', async () => {
    await shell.invoke(
      ['function Join-Words {', '  param([string[]]$Words)', "  $Words -join '+'", '}', ''].join('\n'),
    );
    expect((await shell.invoke('Join-Words a, b, c')).raw).toBe('a+b+c');
    const text = await shell.invoke(['$text = @"', 'first line', 'second line', '"@', ''].join('\n'));
    expect(text.hadErrors).toBe(false);
    expect((await shell.invoke('$text.Split("`n").Count')).raw).toBe('2');
  });

  it('round-trips non-ASCII text as UTF-8 both ways', async () => {
    // Fixed source text (no run data): the point is that non-ASCII source reaches the engine intact.
    expect((await shell.invoke("'zoë.ångström'")).raw).toBe('zoë.ångström');
    // The engine saw characters, not bytes: 12 of them, upper-cased as text.
    expect((await shell.invoke("'zoë.ångström'.Length")).raw).toBe('12');
    expect((await shell.invoke("'zoë.ångström'.ToUpperInvariant()")).raw).toBe('ZOË.ÅNGSTRÖM');
  });

  it('fails reads and prompts under -NonInteractive instead of consuming stdin', async () => {
    await expect(shell.invoke('$Host.UI.ReadLine()')).rejects.toThrow(/NonInteractive mode/);
    await shell.invoke('function Test-Mandatory { param([Parameter(Mandatory)][string]$Name) $Name }');
    await expect(shell.invoke('Test-Mandatory')).rejects.toThrow(/missing mandatory parameters: Name/);
    expect((await shell.invoke('"next call works"')).raw).toBe('next call works');
  });

  it('imports a module by name from $env:PSModulePath', async () => {
    const modules = join(scratch, 'modules');
    mkdirSync(join(modules, 'ProbeModule'), { recursive: true });
    writeFileSync(
      join(modules, 'ProbeModule', 'ProbeModule.psm1'),
      "function Get-Probe { 'probe from ' + $PSScriptRoot }\nExport-ModuleMember -Function Get-Probe\n",
    );
    const withModules = startShell({
      ...process.env,
      PSModulePath: [modules, process.env.PSModulePath].filter(Boolean).join(delimiter),
    });
    const result = await withModules.invoke('Import-Module ProbeModule; Get-Probe');
    expect(result.raw).toBe(`probe from ${join(modules, 'ProbeModule')}`);
  });

  it('ends the process with the code given to exit', async () => {
    const exiting = startShell();
    const failure = await exiting.invoke('exit 3').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ProcessError);
    expect((failure as ProcessError).exitCode).toBe(3);
  });

  it('serves only core commands on the engine host (no ConvertTo-Json)', async () => {
    if (!isEngineHost) {
      process.stderr.write(
        `[tests] SKIPPED one assertion: ${powerShell.executable} is real pwsh, which has ConvertTo-Json; ` +
          'the core-commands-only check applies to the engine host.\n',
      );
      return;
    }
    const result = await shell.invoke(
      '@(Get-Command ConvertTo-Json, Write-Output, Get-Date -ErrorAction Ignore).Count',
    );
    expect(result.raw).toBe('0');
    expect((await shell.invoke('@(Get-Command Import-Module, ForEach-Object, Out-Null).Count')).raw).toBe(
      '3',
    );
  });
});

describe('command line', () => {
  it('-Command exits 0 after success, 1 after an error, and N after exit N', async () => {
    const command = (text: string): Promise<Exit> => run(['-NoProfile', '-NonInteractive', '-Command', text]);
    const [ok, failed, lastFailed, exited] = await Promise.all([
      command('"ok"'),
      command("throw 'bad thing'"),
      command('Get-Command No-SuchCommand'),
      command('exit 7'),
    ]);
    expect(ok).toEqual({ code: 0, stdout: 'ok\n', stderr: '' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('bad thing');
    expect(lastFailed.code).toBe(1);
    expect(exited.code).toBe(7);
  });

  it("-Command - runs stdin line by line and at its end exits by the last command's success", async () => {
    const stdin = (input: string): Promise<Exit> =>
      run(['-NoLogo', '-NoProfile', '-NonInteractive', '-NoExit', '-Command', '-'], input);
    const [ok, failedLast, exited] = await Promise.all([
      stdin('$a = 2\nif ($a) {\n  "two"\n}\n\n"after"\n'),
      stdin('"first"\nGet-Command No-SuchCommand\n'),
      stdin('exit 5\n"not run"\n'),
    ]);
    expect(ok).toEqual({ code: 0, stdout: 'two\nafter\n', stderr: '' });
    expect(failedLast.code).toBe(1);
    expect(failedLast.stdout).toBe('first\n');
    expect(failedLast.stderr).toContain('No-SuchCommand');
    expect(exited).toEqual({ code: 5, stdout: '', stderr: '' });
  });

  it('-File runs a script with named and positional arguments and exits with its exit code', async () => {
    const script = join(scratch, 'args.ps1');
    writeFileSync(
      script,
      [
        'param([string]$Name, [switch]$Loud, [int]$Code = 0)',
        '"name=$Name loud=$Loud root=$([System.IO.Path]::GetFileName($PSScriptRoot))"',
        'if ($Code) { exit $Code }',
      ].join('\n'),
    );
    const dirName = scratch.split(/[\\/]/).pop();

    writeFileSync(join(scratch, 'throws.ps1'), "throw 'script failed'\n");
    const file = (...args: string[]): Promise<Exit> =>
      run(['-NoProfile', '-NonInteractive', '-File', ...args]);
    const [plain, exited, threw] = await Promise.all([
      file(script, 'zoë', '-Loud'),
      file(script, '-Name', 'x', '-Code:4'),
      file(join(scratch, 'throws.ps1')),
    ]);
    expect(plain).toEqual({ code: 0, stdout: `name=zoë loud=True root=${dirName}\n`, stderr: '' });
    expect(exited).toEqual({ code: 4, stdout: `name=x loud=False root=${dirName}\n`, stderr: '' });
    expect(threw.code).toBe(1);
    expect(threw.stderr).toContain('script failed');
  });

  it('prints its version like pwsh', async () => {
    const version = await run(['-Version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^PowerShell 7\.\d+\.\d+/);
  });
});

describe('finding PowerShell', () => {
  function fakeExecutable(path: string, mode = 0o755): string {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, mode);
    return path;
  }

  it('prefers NODE_POWERSHELL, then pwsh on PATH, then the built engine host', () => {
    const dir = mkdtempSync(join(scratch, 'find-'));
    const configured = fakeExecutable(join(dir, 'custom', 'my-pwsh'));
    const onPath = fakeExecutable(join(dir, 'path-b', 'pwsh'));
    fakeExecutable(join(dir, 'path-a', 'pwsh'), 0o644); // not executable: skipped
    const engine = fakeExecutable(join(dir, 'pkg', 'tools', 'pwsh-engine', 'bin', 'pwsh-engine'));
    const PATH = [join(dir, 'path-a'), 'relative/dir', join(dir, 'path-b')].join(delimiter);
    const options = { packageRoot: join(dir, 'pkg'), platform: 'linux' as const };

    expect(findPowerShell({ NODE_POWERSHELL: configured, PATH }, options)).toEqual({
      executable: configured,
      source: 'NODE_POWERSHELL',
    });
    expect(findPowerShell({ NODE_POWERSHELL: 'my-pwsh', PATH: join(dir, 'custom') }, options)).toEqual({
      executable: configured,
      source: 'NODE_POWERSHELL',
    });
    expect(findPowerShell({ NODE_POWERSHELL: '  ', PATH }, options)).toEqual({
      executable: onPath,
      source: 'pwsh',
    });
    expect(findPowerShell({ PATH: join(dir, 'path-a') }, options)).toEqual({
      executable: engine,
      source: 'engine',
    });
  });

  it('says how to get PowerShell when there is none, as a setup error', () => {
    const dir = mkdtempSync(join(scratch, 'none-'));
    const attempt = (): unknown => findPowerShell({ PATH: dir }, { packageRoot: dir, platform: 'linux' });
    expect(attempt).toThrow(ExchangeError);
    expect(attempt).toThrow(
      expect.objectContaining({
        code: 'PowerShellNotFound',
        isSetupError: true,
        message: expect.stringMatching(/No PowerShell found/),
        hint: expect.stringMatching(/pwsh.*npm run build:engine/s),
      }),
    );

    expect(() => findPowerShell({ NODE_POWERSHELL: join(dir, 'missing') }, { packageRoot: dir })).toThrow(
      /NODE_POWERSHELL is set to .*missing.*not an executable file/,
    );
  });

  it('locates the package root from its own folder and asks the executable for its version', async () => {
    expect(findPackageRoot(__dirname)).toBe(join(__dirname, '..', '..'));
    const description = await describePowerShell(powerShell.executable);
    expect(description).toEqual({
      executable: powerShell.executable,
      version: expect.stringMatching(/^7\.\d+\.\d+/),
    });
    await expect(describePowerShell(join(scratch, 'no-such-pwsh'))).rejects.toThrow(/does not exist/);
  });
});

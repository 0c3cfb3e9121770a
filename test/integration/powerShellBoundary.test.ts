/**
 * The PowerShell boundary does not depend on the caller's environment, and leaves nothing behind:
 * - the real pwsh with a minimal environment (no TERM, no NO_COLOR: an Azure Functions worker's), whose
 *   terminal sequences around every line (PowerShell/PowerShell#26631) once stopped every sweep;
 * - the child gets an allow-listed environment, read back from /proc/<pid>/environ;
 * - no pwsh or dotnet process of ours is left after a session closes, after a timeout kills it, or when
 *   the PowerShell is a launcher that starts a child of its own;
 * - a transcription policy records no certificate bytes (payloads are data lines, not command text);
 * - each session starts with our settings file, which really turns PowerShell's command lifecycle
 *   logging off (read back from the running engine's syslog provider).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseResultLine } from '../../shared/exchange/exoProtocol';
import type { FoundPowerShell } from '../../shared/exchange/findPowerShell';
import type { PowerShellExchangeShell } from '../../shared/exchange/powerShellExchangeShell';
import type { RunPlan } from '../../shared/domain';
import { createTestCertificate } from '../../sandbox/certificates';
import { newShell, powerShell, powerShellCommand } from '../support/exchangeShellTesting';
import { sessionSettingsFor } from '../../shared/exchange/sessionSettings';
import { ExchangeStubTenant } from '../../sandbox/exchangeStubTenant';

const cert = createTestCertificate({ keySize: 1024 });
const MODULE = path.resolve(__dirname, '..', '..', 'shared', 'exchange', 'ExoActions.psm1');

/** What an Azure Functions worker's environment looks like to us: no TERM, no NO_COLOR, and secrets. */
function workerEnvironment(tenant: ExchangeStubTenant, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...tenant.env,
    TRELICA_CLIENT_SECRET: 'worker-secret-never-in-a-child',
    AzureWebJobsStorage: 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=c2VjcmV0LWtleQ==',
    EXO_CERTIFICATE_PASSWORD: 'pfx-password-never-in-a-child',
    IDENTITY_ENDPOINT: 'http://127.0.0.1:41234/msi/token',
    IDENTITY_HEADER: 'identity-header-value',
    ...extra,
  };
}

function convert(mailbox: string): RunPlan {
  return {
    runId: `run-${mailbox}`,
    mailbox,
    actions: [{ name: 'convertToShared' }],
    options: { autoMapping: true },
  };
}

/** Live processes whose environment names this tenant's modules folder: only ours can. */
function processesOf(
  tenant: ExchangeStubTenant,
): { pid: number; env: Map<string, string>; cmdline: string }[] {
  const found: { pid: number; env: Map<string, string>; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const raw = readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (!raw.includes(tenant.modulesDir)) continue;
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (state.slice(state.lastIndexOf(')') + 2).startsWith('Z')) continue; // exited, not yet reaped
      const env = new Map(
        raw
          .split('\0')
          .filter((pair) => pair.includes('='))
          .map(
            (pair) =>
              [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as [string, string],
          ),
      );
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      found.push({ pid: Number(entry), env, cmdline });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

let tenant: ExchangeStubTenant;
const shells: PowerShellExchangeShell[] = [];
beforeEach(() => {
  tenant = ExchangeStubTenant.create({
    certificate: cert,
    mailboxes: [{ address: 'leaver@contoso.com' }, { address: 'next@contoso.com' }],
  });
});
afterEach(async () => {
  for (const shell of shells.splice(0)) await shell.close();
  tenant.dispose();
});

const platformIt = process.platform === 'linux' ? it : it.skip;
// PowerShell logs through syslog on Linux and macOS only (ETW on Windows).
const linuxIt = process.platform === 'win32' ? it.skip : it;
if (process.platform !== 'linux') {
  process.stderr.write('[tests] SKIPPED /proc-based PowerShell boundary tests: they need Linux\n');
}

describe('a minimal environment (no TERM, no NO_COLOR)', () => {
  it('reads the real pwsh answer despite its terminal mode sequences', async () => {
    // Straight to pwsh, around our shell: what its stdout really holds under `-Command -` with no TERM.
    const [command, args] = [powerShell.launch.command, powerShell.launch.args];
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        command,
        [...args, '-NoLogo', '-NoProfile', '-NonInteractive', '-NoExit', '-Command', '-'],
        { env: { PATH: process.env.PATH, HOME: process.env.HOME }, timeout: 30_000 },
        (error, out) => (error ? reject(new Error(error.message)) : resolve(out)),
      );
      child.stdin?.end(`Import-Module -Name '${MODULE}'; Get-ExoStatus\nexit\n`);
    });

    if (!stdout.includes('\u001b[')) {
      process.stderr.write('[tests] NOTE: this pwsh wrote no terminal sequences without TERM\n');
    }
    const parsed = parseResultLine(stdout);
    expect(parsed).toMatchObject({ ok: true, value: { ok: true, powerShellVersion: expect.any(String) } });
  });

  it('runs a leaver through the real pwsh from a worker environment', async () => {
    const shell = newShell(tenant, { env: workerEnvironment(tenant) });
    shells.push(shell);

    const result = await shell.runPlan(
      convert('leaver@contoso.com'),
      async () => tenant.certificateConnection(cert),
      false,
    );

    expect(result.actions).toEqual([expect.objectContaining({ name: 'convertToShared', status: 'done' })]);
    expect(
      tenant.state().mailboxes.find((m) => m.primarySmtpAddress === 'leaver@contoso.com')
        ?.recipientTypeDetails,
    ).toBe('SharedMailbox');
  });
});

describe('the child environment', () => {
  platformIt(
    'holds only allow-listed names, TERM=dumb, NO_COLOR=1 and the runtime defaults, and no secret of the worker',
    async () => {
      const shell = newShell(tenant, {
        env: workerEnvironment(tenant, { POWERSHELL_TELEMETRY_OPTOUT: '1', LANG: 'C.UTF-8' }),
      });
      shells.push(shell);
      await shell.runPlan(
        convert('leaver@contoso.com'),
        async () => tenant.certificateConnection(cert),
        false,
      );

      const [session, ...others] = processesOf(tenant);
      expect(others).toEqual([]);
      const env = Object.fromEntries(session?.env ?? []);
      expect(Object.keys(env).sort()).toEqual(
        [
          'HOME',
          'LANG',
          'NO_COLOR',
          'PATH',
          'POWERSHELL_TELEMETRY_OPTOUT',
          'PSModulePath',
          'TERM',
          'DOTNET_TieredCompilation',
          'DOTNET_JITMinOpts',
        ].sort(),
      );
      expect(env).toMatchObject({
        TERM: 'dumb',
        NO_COLOR: '1',
        DOTNET_JITMinOpts: '1',
        PSModulePath: expect.stringContaining(tenant.modulesDir),
      });
      const raw = readFileSync(`/proc/${session?.pid}/environ`, 'utf8');
      for (const secret of [
        'worker-secret-never-in-a-child',
        'c2VjcmV0LWtleQ==',
        'pfx-password-never-in-a-child',
      ])
        expect(raw).not.toContain(secret);
    },
  );

  platformIt('passes the managed identity endpoint only to a managed-identity session', async () => {
    tenant.update((state) => {
      state.connection.managedIdentity = { enabled: true };
    });
    const shell = newShell(tenant, { env: workerEnvironment(tenant), exchangeAuth: 'managedIdentity' });
    shells.push(shell);
    await shell.runPlan(convert('leaver@contoso.com'), async () => tenant.managedIdentityConnection(), false);

    const env = Object.fromEntries(processesOf(tenant)[0]?.env ?? []);
    expect(env).toMatchObject({
      IDENTITY_ENDPOINT: 'http://127.0.0.1:41234/msi/token',
      IDENTITY_HEADER: 'identity-header-value',
    });
    expect(env.TRELICA_CLIENT_SECRET).toBeUndefined();
  });
});

describe('no process outlives its session', () => {
  platformIt('starts one process per session and leaves none after close', async () => {
    const shell = newShell(tenant, { env: workerEnvironment(tenant) });
    shells.push(shell);
    const connection = async () => tenant.certificateConnection(cert);
    await shell.runPlan(convert('leaver@contoso.com'), connection, false);
    await shell.runPlan(convert('next@contoso.com'), connection, false);

    expect(processesOf(tenant)).toHaveLength(1);
    expect(shell.processesStarted).toBe(1);
    await shell.close();
    expect(await eventually(() => processesOf(tenant).length === 0)).toBe(true);
  });

  platformIt('leaves none after a call timeout kills the session', async () => {
    const shell = newShell(tenant, { env: workerEnvironment(tenant), callTimeoutMs: 1500 });
    shells.push(shell);
    tenant.setFault({ cmdlet: 'Set-Mailbox', mode: 'hang', seconds: 60 });

    const result = await shell.runPlan(
      convert('leaver@contoso.com'),
      async () => tenant.certificateConnection(cert),
      false,
    );

    expect(result.actions[0]?.detail).toMatch(/state unknown/);
    expect(await eventually(() => processesOf(tenant).length === 0)).toBe(true);
  });

  platformIt('stops a launcher and the child it started, after close and after a timeout', async () => {
    // The .NET tool's own launcher (what `pwsh` of a tool folder runs): it starts `dotnet pwsh.dll` as
    // a second process. Handed to the shell as is, the shell must still leave nothing behind.
    const shim = path.join(
      path.dirname(path.dirname(powerShell.executable)),
      'Microsoft.PowerShell.GlobalTool.Shim.dll',
    );
    expect(powerShell.source === 'pinned' ? statSync(shim).isFile() : true).toBe(true);
    if (powerShell.source !== 'pinned') {
      process.stderr.write(
        '[tests] NOTE: launcher test uses the pinned tool only; this run found another pwsh\n',
      );
      return;
    }
    const launcher: FoundPowerShell = {
      executable: shim,
      source: 'NODE_POWERSHELL',
      launch: { command: powerShell.launch.command, args: [shim] },
    };
    const connection = async () => tenant.certificateConnection(cert);

    const closed = newShell(tenant, { env: workerEnvironment(tenant), powerShell: launcher });
    shells.push(closed);
    await closed.runPlan(convert('leaver@contoso.com'), connection, false);
    expect(processesOf(tenant).length).toBe(2);
    await closed.close();
    expect(await eventually(() => processesOf(tenant).length === 0)).toBe(true);

    tenant.setFault({ cmdlet: 'Set-Mailbox', mode: 'hang', seconds: 60 });
    const killed = newShell(tenant, {
      env: workerEnvironment(tenant),
      powerShell: launcher,
      callTimeoutMs: 2000,
    });
    shells.push(killed);
    await killed.runPlan(convert('next@contoso.com'), connection, false);
    expect(await eventually(() => processesOf(tenant).length === 0)).toBe(true);
  });
});

describe('the session settings file', () => {
  /** The keyword filter of the running engine's syslog provider (internal: read by reflection). */
  const KEYWORDS_SCRIPT = [
    "$provider = [psobject].Assembly.GetType('System.Management.Automation.Tracing.PSSysLogProvider')",
    "$sysLog = $provider.GetField('s_provider', [Reflection.BindingFlags]'NonPublic,Static').GetValue($null)",
    "$filter = $sysLog.GetType().GetField('_keywordFilter', [Reflection.BindingFlags]'NonPublic,Instance').GetValue($sysLog)",
    "$cmdlets = [uint64][Enum]::Parse([psobject].Assembly.GetType('System.Management.Automation.Internal.PSKeyword'), 'Cmdlets')",
    '[Console]::Out.WriteLine((($filter -band $cmdlets) -ne 0).ToString())',
  ].join('; ');

  async function cmdletsKeywordOn(extra: string[]): Promise<string> {
    const [command, args] = powerShellCommand([
      ...extra,
      '-NoProfile',
      '-NonInteractive',
      '-Command',
      KEYWORDS_SCRIPT,
    ]);
    return new Promise<string>((resolve, reject) =>
      execFile(command, args, { env: { ...process.env, TERM: 'dumb' }, timeout: 30_000 }, (error, out) =>
        error ? reject(new Error(error.message)) : resolve(out.trim()),
      ),
    );
  }

  platformIt('is what each session starts with', async () => {
    const shell = newShell(tenant, { env: workerEnvironment(tenant) });
    shells.push(shell);
    await shell.runPlan(convert('leaver@contoso.com'), async () => tenant.certificateConnection(cert), false);

    const settings = sessionSettingsFor(powerShell.launch);
    expect(settings.kind).toBe('file');
    if (settings.kind !== 'file') return;
    expect(processesOf(tenant)[0]?.cmdline).toContain(` -SettingsFile ${settings.path} `);
  });

  linuxIt("turns the real engine's command lifecycle logging off, which pwsh has on by default", async () => {
    const settings = sessionSettingsFor(powerShell.launch);
    if (settings.kind !== 'file') throw new Error(`no settings file: ${settings.reason}`);
    expect(await cmdletsKeywordOn([])).toBe('True');
    expect(await cmdletsKeywordOn(['-SettingsFile', settings.path])).toBe('False');
  });
});

describe('transcription', () => {
  it('records the constant command lines, never the certificate', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'exo-transcript-home-'));
    const transcripts = path.join(home, 'transcripts');
    try {
      mkdirSync(path.join(home, '.config', 'powershell'), { recursive: true });
      writeFileSync(
        path.join(home, '.config', 'powershell', 'powershell.config.json'),
        JSON.stringify({
          PowerShellPolicies: {
            Transcription: {
              EnableTranscripting: true,
              EnableInvocationHeader: true,
              OutputDirectory: transcripts,
            },
          },
        }),
      );
      const password = 'transcript-pfx-password';
      const shell = newShell(tenant, { env: workerEnvironment(tenant, { HOME: home }) });
      shells.push(shell);
      const connection = tenant.certificateConnection(cert, {
        material: cert.pfxWithPassword(password),
        password,
      });

      const result = await shell.runPlan(convert('leaver@contoso.com'), async () => connection, false);
      await shell.close();

      expect(result.actions[0]?.status).toBe('done');
      const text = listFiles(transcripts)
        .map((file) => readFileSync(file, 'utf8'))
        .join('\n');
      // Transcription was on and saw the session's commands...
      expect(text).toContain('PS>Connect-ExoSession');
      expect(text).toContain('PS>Invoke-ExoRunPlan');
      // ...and none of the certificate, in any encoding a payload could carry it.
      const pfxBase64 = cert.pfxWithPassword(password).toString('base64');
      expect(text).not.toContain(pfxBase64.slice(0, 64));
      expect(text).not.toContain(cert.pfx.toString('base64').slice(0, 64));
      expect(text).not.toContain(password);
      expect(text).not.toMatch(/[A-Za-z0-9+/]{200,}/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

function listFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}

/**
 * What the Exchange shell tests share: a shell on the resolved PowerShell wired to a stub tenant,
 * process checks, and the setup-error assertion.
 */
import { execFile } from 'node:child_process';
import { ExchangeError } from '../../shared/errors';
import { findPowerShell } from '../../shared/exchange/findPowerShell';
import {
  PowerShellExchangeShell,
  type PowerShellExchangeShellOptions,
} from '../../shared/exchange/powerShellExchangeShell';
import type { ExchangeStubTenant } from '../../sandbox/exchangeStubTenant';

export const powerShell = findPowerShell();
export const executable = powerShell.executable;

/** `execFile` arguments that start the resolved PowerShell as a session does (one process). */
export function powerShellCommand(args: string[]): [string, string[]] {
  return [powerShell.launch.command, [...powerShell.launch.args, ...args]];
}

/**
 * Runs a test script (`-File`) on the resolved PowerShell with the stub tenant's environment plus
 * `env`, and resolves to its stdout. Anything on stderr fails it, with stdout appended when asked.
 */
export function runStubScript(
  tenant: ExchangeStubTenant,
  script: string,
  env: Record<string, string>,
  options: { timeoutMs: number; stdoutOnFailure?: boolean },
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      ...powerShellCommand(['-NoLogo', '-NoProfile', '-NonInteractive', '-File', script]),
      { env: { ...process.env, ...tenant.env, ...env }, timeout: options.timeoutMs },
      (error, out, stderr) => {
        if (!error && !stderr.trim()) return resolve(out);
        const problem = stderr || error?.message || '';
        reject(new Error(options.stdoutOnFailure ? `${problem}\n${out}` : problem));
      },
    );
  });
}

export function newShell(
  tenant: ExchangeStubTenant,
  options: Partial<PowerShellExchangeShellOptions> = {},
): PowerShellExchangeShell {
  const { env, ...rest } = options;
  // The tenant's PSModulePath always wins: it is what selects the stub and its state.
  return new PowerShellExchangeShell({
    powerShell,
    callTimeoutMs: 30_000,
    ...rest,
    env: { ...(env ?? process.env), ...tenant.env },
  });
}

export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

export async function expectSetupError(promise: Promise<unknown>): Promise<ExchangeError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  // Plain throws, not expect(): this file is also compiled by the build, which has no jest globals.
  if (!(error instanceof ExchangeError)) throw new Error(`expected an ExchangeError, got ${String(error)}`);
  if (!error.isSetupError) throw new Error(`expected a setup error, got ${error.code}: ${error.message}`);
  return error;
}

/**
 * What the Exchange shell tests share: a shell on the resolved PowerShell wired to a stub tenant,
 * process checks, and the setup-error assertion.
 */
import { AppError, ExchangeError } from '../../shared/errors';
import { findPowerShell } from '../../shared/exchange/findPowerShell';
import {
  PowerShellExchangeShell,
  type PowerShellExchangeShellOptions,
} from '../../shared/exchange/powerShellExchangeShell';
import type { ExchangeStubTenant } from './exchangeStubTenant';

export const executable = findPowerShell().executable;

export function newShell(
  tenant: ExchangeStubTenant,
  options: Partial<PowerShellExchangeShellOptions> = {},
): PowerShellExchangeShell {
  return new PowerShellExchangeShell({
    executable,
    callTimeoutMs: 30_000,
    env: { ...process.env, ...tenant.env },
    ...options,
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
  expect(error).toBeInstanceOf(ExchangeError);
  expect((error as AppError).isSetupError).toBe(true);
  return error as ExchangeError;
}

/**
 * A worker that starts two pool sessions and then waits (tests only), to be stopped from outside:
 *   node test/support/runTypeScript.js test/support/poolExitChild.ts
 * (PSModulePath from the environment selects the stub tenant). Prints one line per started session,
 * `pid <n>`, then `ready`.
 */
import { findPowerShell } from '../../shared/exchange/findPowerShell';
import { PowerShellExchangeShell } from '../../shared/exchange/powerShellExchangeShell';
import { SessionPool } from '../../shared/exchange/sessionPool';
import type { Logger } from '../../shared/ports';

const logger: Logger = {
  debug() {},
  info(message, properties) {
    if (message === 'PowerShell started') process.stdout.write(`pid ${String(properties?.pid)}\n`);
  },
  warn() {},
  error() {},
};
const powerShell = findPowerShell(process.env);
const pool = new SessionPool({
  size: 2,
  createSession: (hooks) =>
    new PowerShellExchangeShell({ powerShell, callTimeoutMs: 30_000, logger, onThrottle: hooks.onThrottle }),
});
// Two probes at once: both sessions start (a probe starts PowerShell without connecting).
void Promise.all([pool.probe(), pool.probe()]).then(() => {
  process.stdout.write('ready\n');
  setInterval(() => undefined, 1000);
});

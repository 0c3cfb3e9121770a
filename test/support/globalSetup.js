/**
 * Jest globalSetup: decide once which PowerShell every test uses and say so in one line, with the
 * product's own discovery (shared/exchange/findPowerShell.ts: NODE_POWERSHELL, else pwsh on PATH,
 * else the pinned .NET tool of .config/dotnet-tools.json, installed here on first use). Tests never
 * skip PowerShell: when none can be found or installed, the whole run fails here with the reason.
 * Plain CommonJS because it runs before ts-jest is set up; it requires the TypeScript sources.
 */
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
require('./registerTypeScript');
const { describePowerShell, ensurePowerShell } = require('../../shared/exchange/findPowerShell.ts');

module.exports = async function globalSetup() {
  // One temporary folder per test run, inherited by every worker and child: what the product keeps
  // under the temp folder (run claims, run records) can never meet another run's (another checkout's
  // tests on the same machine use the same simulated run ids). globalTeardown removes it.
  process.env.TMPDIR = mkdtempSync(join(tmpdir(), 'exo-tests-'));
  process.env.EXO_TEST_TMPDIR = process.env.TMPDIR;
  let description;
  try {
    const found = ensurePowerShell(process.env, (line) => process.stderr.write(`[tests] ${line}\n`));
    description = await describePowerShell(found);
  } catch (error) {
    const hint = error && error.hint ? ` (${error.hint})` : '';
    throw new Error(`[tests] No usable PowerShell: ${error && error.message}${hint}`, { cause: error });
  }
  process.stderr.write(
    `[tests] PowerShell ${description.version} at ${description.executable} (${description.source})\n`,
  );
};

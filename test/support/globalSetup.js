/**
 * Jest globalSetup: decide once which PowerShell every test uses and say so in one line, with the
 * product's own discovery (shared/exchange/findPowerShell.ts: NODE_POWERSHELL, else pwsh on PATH,
 * else the pinned .NET tool of .config/dotnet-tools.json, installed here on first use). Tests never
 * skip PowerShell: when none can be found or installed, the whole run fails here with the reason.
 * Plain CommonJS because it runs before ts-jest is set up; it requires the TypeScript sources.
 */
require('./registerTypeScript');
const { describePowerShell, ensurePowerShell } = require('../../shared/exchange/findPowerShell.ts');

module.exports = async function globalSetup() {
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

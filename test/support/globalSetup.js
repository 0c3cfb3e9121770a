/**
 * Jest globalSetup: decide once which PowerShell every test uses, say so loudly, and hand it to the
 * workers through NODE_POWERSHELL (node-powershell and findPowerShell both honour it first).
 *
 * Same order as the product (shared/exchange/findPowerShell.ts): NODE_POWERSHELL, else `pwsh` on
 * PATH, else the engine host tools/pwsh-engine/bin/pwsh-engine, built here when it is missing or
 * older than its sources. Plain CommonJS because it runs before ts-jest is set up. Tests never skip
 * PowerShell: when none can be found or built, the whole run fails here with the reason.
 */
const { execFileSync } = require('node:child_process');
const { accessSync, constants, readdirSync, statSync } = require('node:fs');
const { delimiter, isAbsolute, join, resolve } = require('node:path');

const root = resolve(__dirname, '..', '..');
const engineDir = join(root, 'tools', 'pwsh-engine');
const engine = join(engineDir, 'bin', process.platform === 'win32' ? 'pwsh-engine.exe' : 'pwsh-engine');

function isExecutableFile(path) {
  try {
    if (!statSync(path).isFile()) return false;
    if (process.platform !== 'win32') accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name) {
  for (const entry of (process.env.PATH || '').split(delimiter)) {
    if (!entry || !isAbsolute(entry)) continue;
    const candidate = join(entry, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function engineIsFresh() {
  if (!isExecutableFile(engine)) return false;
  const built = statSync(engine).mtimeMs;
  return readdirSync(engineDir)
    .filter((name) => name.endsWith('.cs') || name.endsWith('.csproj'))
    .every((name) => statSync(join(engineDir, name)).mtimeMs <= built);
}

function buildEngine() {
  try {
    // build.sh is quiet on success and prints the dotnet log and the reason on failure.
    execFileSync('bash', [join(engineDir, 'build.sh')], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  } catch (error) {
    throw new Error(
      '[tests] No PowerShell: NODE_POWERSHELL is not set, no pwsh is on PATH, and building the engine host ' +
        `(npm run build:engine) failed: ${error.message}. Install PowerShell 7.6 (pwsh) or the .NET 10 SDK.`,
      { cause: error },
    );
  }
}

function resolvePowerShell() {
  const configured = (process.env.NODE_POWERSHELL || '').trim();
  if (configured) {
    const executable = configured.includes('/') ? resolve(configured) : onPath(configured);
    if (!executable || !isExecutableFile(executable)) {
      throw new Error(`[tests] NODE_POWERSHELL is set to "${configured}", which is not an executable file.`);
    }
    return { executable, source: 'NODE_POWERSHELL' };
  }
  const pwsh = onPath(process.platform === 'win32' ? 'pwsh.exe' : 'pwsh');
  if (pwsh) return { executable: pwsh, source: 'pwsh' };
  if (!engineIsFresh()) buildEngine();
  if (!isExecutableFile(engine))
    throw new Error(`[tests] The engine host build left no executable at ${engine}.`);
  return { executable: engine, source: 'engine' };
}

function versionOf(executable) {
  try {
    const out = execFileSync(
      executable,
      ['-NoLogo', '-NoProfile', '-NonInteractive', '-Command', '$PSVersionTable.PSVersion.ToString()'],
      { encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const version = out.trim();
    if (!/^\d+\.\d+/.test(version))
      throw new Error(`it printed "${version.slice(0, 200)}" instead of a version`);
    return version;
  } catch (error) {
    throw new Error(`[tests] PowerShell at ${executable} does not work: ${error.message}`, { cause: error });
  }
}

module.exports = async function globalSetup() {
  const { executable, source } = resolvePowerShell();
  const version = versionOf(executable);
  process.env.NODE_POWERSHELL = executable;
  process.stderr.write(`[tests] PowerShell: ${executable} (${source}) version ${version}\n`);
};

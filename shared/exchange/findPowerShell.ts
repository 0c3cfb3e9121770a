/**
 * Which PowerShell the product runs: `NODE_POWERSHELL` when set (node-powershell itself honours it
 * first), else `pwsh` on PATH (production image, admins' machines), else our engine host
 * `tools/pwsh-engine/bin/pwsh-engine` when it has been built (`npm run build:engine`, machines
 * without pwsh such as CI). Found by looking at the file system only: no shell, no process started.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { ExchangeError } from '../errors';

export type PowerShellSource = 'NODE_POWERSHELL' | 'pwsh' | 'engine';

export interface FoundPowerShell {
  /** Absolute path of the executable. */
  executable: string;
  source: PowerShellSource;
}

export interface FindPowerShellOptions {
  /** Folder holding package.json and tools/ (default: found from this file's location). */
  packageRoot?: string;
  /** Defaults to process.platform; decides executable names (`pwsh.exe` on Windows). */
  platform?: NodeJS.Platform;
}

export interface PowerShellDescription {
  executable: string;
  /** `$PSVersionTable.PSVersion` as the executable reports it, e.g. "7.6.9". */
  version: string;
}

export interface DescribePowerShellOptions {
  /** Give up after this long (default 20 s; a cold engine start takes well under a second). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const SETUP_HINT =
  'install PowerShell 7.6 so that `pwsh` is on PATH (or set NODE_POWERSHELL to its path); on a machine ' +
  'without pwsh, build the engine host with `npm run build:engine` (needs the .NET 10 SDK)';

/** Relative to the package root; kept in step with tools/pwsh-engine/build.sh. */
const ENGINE_PATH = ['tools', 'pwsh-engine', 'bin', 'pwsh-engine'];

export function findPowerShell(
  env: NodeJS.ProcessEnv = process.env,
  options: FindPowerShellOptions = {},
): FoundPowerShell {
  const platform = options.platform ?? process.platform;

  const configured = env.NODE_POWERSHELL?.trim();
  if (configured) {
    const executable = resolveConfigured(configured, env, platform);
    if (!executable) {
      throw new ExchangeError(
        'PowerShellNotFound',
        `NODE_POWERSHELL is set to "${configured}", which is not an executable file`,
        { setup: true, hint: `point NODE_POWERSHELL at pwsh or the engine host, or unset it; ${SETUP_HINT}` },
      );
    }
    return { executable, source: 'NODE_POWERSHELL' };
  }

  const pwsh = searchPath(platform === 'win32' ? 'pwsh.exe' : 'pwsh', env, platform);
  if (pwsh) return { executable: pwsh, source: 'pwsh' };

  const root = options.packageRoot ?? findPackageRoot(__dirname);
  if (root) {
    const engine = join(root, ...ENGINE_PATH) + (platform === 'win32' ? '.exe' : '');
    if (isExecutableFile(engine, platform)) return { executable: engine, source: 'engine' };
  }

  throw new ExchangeError(
    'PowerShellNotFound',
    'No PowerShell found: no NODE_POWERSHELL, no pwsh on PATH and no built engine host',
    {
      setup: true,
      hint: SETUP_HINT,
    },
  );
}

/**
 * Ask the executable for its version, the way `check`, the sandbox and the tests report which
 * PowerShell they use. Runs `<exe> -NoLogo -NoProfile -NonInteractive -Command ...` without a shell.
 */
export function describePowerShell(
  executable: string,
  options: DescribePowerShellOptions = {},
): Promise<PowerShellDescription> {
  const timeout = options.timeoutMs ?? 20_000;
  const args = [
    '-NoLogo',
    '-NoProfile',
    '-NonInteractive',
    '-Command',
    '$PSVersionTable.PSVersion.ToString()',
  ];
  return new Promise((resolvePromise, reject) => {
    execFile(
      executable,
      args,
      { timeout, windowsHide: true, encoding: 'utf8', env: options.env ?? process.env, maxBuffer: 64 * 1024 },
      (error, stdout) => {
        const version = String(stdout).trim();
        if (error) {
          const reason =
            error.killed || error.signal
              ? `did not answer within ${timeout} ms`
              : (error as NodeJS.ErrnoException).code === 'ENOENT'
                ? 'does not exist'
                : `failed (${firstLine(error.message)})`;
          reject(
            new ExchangeError('PowerShellNotFound', `PowerShell at ${executable} ${reason}`, {
              setup: true,
              hint: SETUP_HINT,
              cause: error,
            }),
          );
          return;
        }
        if (!/^\d+\.\d+/.test(version)) {
          reject(
            new ExchangeError('PowerShellNotFound', `PowerShell at ${executable} reported no version`, {
              setup: true,
              hint: SETUP_HINT,
            }),
          );
          return;
        }
        resolvePromise({ executable, version });
      },
    );
  });
}

/** The nearest folder at or above `start` that holds a package.json (works from sources and from dist/). */
export function findPackageRoot(start: string): string | undefined {
  let dir = resolve(start);
  for (let depth = 0; depth < 64; depth++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  return undefined;
}

/** A path (absolute or relative) must be an executable file; a bare name is looked up on PATH, like spawn does. */
function resolveConfigured(
  value: string,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
): string | undefined {
  const hasSeparator = value.includes('/') || (platform === 'win32' && value.includes('\\'));
  if (hasSeparator || isAbsolute(value)) {
    const full = resolve(value);
    return isExecutableFile(full, platform) ? full : undefined;
  }
  return searchPath(value, env, platform);
}

function searchPath(name: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string | undefined {
  const path = (platform === 'win32' ? (env.Path ?? env.PATH) : env.PATH) ?? '';
  const separator = platform === 'win32' ? ';' : delimiter;
  for (const entry of path.split(separator)) {
    // An empty PATH entry means the current directory to a POSIX shell; we do not run binaries from there.
    if (!entry || !isAbsolute(entry)) continue;
    const candidate = join(entry, name);
    if (isExecutableFile(candidate, platform)) return candidate;
  }
  return undefined;
}

function isExecutableFile(path: string, platform: NodeJS.Platform): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    if (platform !== 'win32') accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function firstLine(text: string): string {
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

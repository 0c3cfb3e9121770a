/**
 * Which PowerShell the product runs, and how to start it as exactly one process.
 *
 * Order: `NODE_POWERSHELL` when set, else `pwsh` on PATH (the production image, admins' machines),
 * else the project's pinned copy of the real pwsh (NuGet's `PowerShell` .NET tool at the version
 * `.config/dotnet-tools.json` names: installed into the git-ignored `.tools/powershell` by the
 * project's scripts, or into the NuGet package folder by `dotnet tool restore`).
 *
 * A .NET tool's `pwsh` is a launcher that starts a second process, `dotnet .../pwsh.dll`; stopping the
 * launcher can leave that child running, holding the Exchange connection and the certificate's key.
 * So whenever the PowerShell found is such a launcher (or the pinned tool), we start `dotnet <pwsh.dll>`
 * ourselves: one process, whose pid is the one we stop. Found by looking at the file system only.
 */
import { execFile, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { ExchangeError } from '../errors';
import { childEnvironment } from './childEnvironment';
import { firstLine } from '../text';

export type PowerShellSource = 'NODE_POWERSHELL' | 'pwsh' | 'pinned';

/** How to start one PowerShell process: `command` with `args` before PowerShell's own arguments. */
export interface PowerShellLaunch {
  command: string;
  args: string[];
}

export interface FoundPowerShell {
  /** What was found, as users know it: the pwsh executable, or the pinned tool's pwsh.dll. */
  executable: string;
  source: PowerShellSource;
  launch: PowerShellLaunch;
}

export interface FindPowerShellOptions {
  /** Folder holding package.json and .config/dotnet-tools.json (default: found from this file's location). */
  packageRoot?: string;
  /** Defaults to process.platform; decides executable names (`pwsh.exe` on Windows). */
  platform?: NodeJS.Platform;
}

export interface PowerShellDescription {
  executable: string;
  source: PowerShellSource;
  /** `$PSVersionTable.PSVersion` as the process reports it, e.g. "7.6.9". */
  version: string;
}

export interface DescribePowerShellOptions {
  /** Give up after this long (default 30 s; pwsh starts in about 1.5 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** The NuGet id of PowerShell's .NET tool package, and the manifest that pins its version. */
const TOOL_PACKAGE = 'powershell';
const TOOL_MANIFEST = ['.config', 'dotnet-tools.json'];
/** Where the project's scripts install the pinned tool (`dotnet tool install --tool-path`). */
const TOOL_PATH = ['.tools', 'powershell'];

export const POWERSHELL_SETUP_HINT =
  'install PowerShell 7.6 so that `pwsh` is on PATH (or set NODE_POWERSHELL to its path); in a clone of ' +
  'this project, `npm test` or `npm run sandbox` installs the pinned pwsh (needs the .NET SDK)';

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
        { setup: true, hint: `point NODE_POWERSHELL at pwsh, or unset it; ${POWERSHELL_SETUP_HINT}` },
      );
    }
    return { executable, source: 'NODE_POWERSHELL', launch: launchFor(executable, env, platform) };
  }

  const pwsh = searchPath(platform === 'win32' ? 'pwsh.exe' : 'pwsh', env, platform);
  if (pwsh) return { executable: pwsh, source: 'pwsh', launch: launchFor(pwsh, env, platform) };

  const root = options.packageRoot ?? findPackageRoot(__dirname);
  const pinned = root === undefined ? undefined : pinnedTool(root, env, platform);
  if (pinned?.dll && pinned.dotnet) {
    return {
      executable: pinned.dll,
      source: 'pinned',
      launch: { command: pinned.dotnet, args: [pinned.dll] },
    };
  }

  const why = !pinned
    ? 'no NODE_POWERSHELL, no pwsh on PATH'
    : !pinned.dotnet
      ? `no NODE_POWERSHELL, no pwsh on PATH, and no dotnet to run the pinned PowerShell ${pinned.version}`
      : `no NODE_POWERSHELL, no pwsh on PATH, and the pinned PowerShell ${pinned.version} is not installed`;
  throw new ExchangeError('PowerShellNotFound', `No PowerShell found: ${why}`, {
    setup: true,
    hint: POWERSHELL_SETUP_HINT,
  });
}

/**
 * For the sandbox and the tests, not the product: the PowerShell `findPowerShell` finds, else install
 * the pinned tool first (into `.tools/powershell` of the package root, once, saying so in one line).
 * Missing prerequisites (no manifest, no .NET SDK, no network to NuGet) are one ExchangeError.
 */
export function ensurePowerShell(
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
  options: FindPowerShellOptions = {},
): FoundPowerShell {
  try {
    return findPowerShell(env, options);
  } catch (error) {
    const platform = options.platform ?? process.platform;
    const root = options.packageRoot ?? findPackageRoot(__dirname);
    const version = root === undefined ? undefined : pinnedPowerShellVersion(root);
    if (root === undefined || version === undefined) throw error;
    const dotnet = findDotnet(env, platform);
    if (!dotnet) {
      throw new ExchangeError(
        'PowerShellNotFound',
        `No PowerShell found, and no .NET SDK to install the pinned PowerShell ${version}`,
        {
          setup: true,
          hint: 'install the .NET SDK 10 (https://dot.net), or PowerShell 7.6 so that `pwsh` is on PATH',
        },
      );
    }
    const toolPath = join(root, ...TOOL_PATH);
    say(
      `Installing the pinned PowerShell ${version} into ${toolPath} (NuGet's PowerShell .NET tool; first run only)`,
    );
    // A folder of ours rather than `dotnet tool restore`: restore trusts a resolver cache that can
    // point at a NuGet folder that has since been cleared, and then installs nothing.
    const install = ['tool', 'install', 'PowerShell', '--version', version, '--tool-path', toolPath];
    const restore = spawnSync(dotnet, install, {
      cwd: root,
      env: { ...env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 600_000,
    });
    if (restore.status !== 0) {
      const output = `${restore.stderr ?? ''}\n${restore.stdout ?? ''}`
        .trim()
        .split(/\r?\n/)
        .slice(-5)
        .join(' | ');
      throw new ExchangeError(
        'PowerShellNotFound',
        `Installing the pinned PowerShell ${version} failed (dotnet tool install: ${restore.error?.message ?? `exit ${restore.status}`}): ${output}`,
        {
          setup: true,
          hint: `run \`dotnet ${install.join(' ')}\` to see why (it needs the NuGet registry)`,
        },
      );
    }
    return findPowerShell(env, options);
  }
}

/** The pinned tool's version, from `.config/dotnet-tools.json`; undefined when the manifest does not name it. */
export function pinnedPowerShellVersion(packageRoot: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(packageRoot, ...TOOL_MANIFEST), 'utf8')) as {
      tools?: Record<string, { version?: unknown }>;
    };
    const version = manifest.tools?.[TOOL_PACKAGE]?.version;
    return typeof version === 'string' && /^\d+\.\d+\.\d+$/.test(version) ? version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Ask the process for its version, the way `check`, the sandbox and the tests say which PowerShell
 * they use. Starts it like a session does (same launch, allow-listed environment), without a shell.
 */
export function describePowerShell(
  powerShell: FoundPowerShell,
  options: DescribePowerShellOptions = {},
): Promise<PowerShellDescription> {
  const timeout = options.timeoutMs ?? 30_000;
  const { executable, source, launch } = powerShell;
  const args = [
    ...launch.args,
    '-NoLogo',
    '-NoProfile',
    '-NonInteractive',
    '-Command',
    '$PSVersionTable.PSVersion.ToString()',
  ];
  const env = childEnvironment(options.env ?? process.env, { managedIdentity: false });
  return new Promise((resolvePromise, reject) => {
    execFile(
      launch.command,
      args,
      { timeout, windowsHide: true, encoding: 'utf8', env, maxBuffer: 64 * 1024 },
      (error, stdout) => {
        const version = String(stdout).trim();
        if (error) {
          const reason =
            error.killed || error.signal
              ? `did not answer within ${timeout} ms`
              : (error as NodeJS.ErrnoException).code === 'ENOENT'
                ? 'does not exist'
                : `failed (${firstLine(error.message, 200)})`;
          reject(
            new ExchangeError('PowerShellNotFound', `PowerShell at ${executable} ${reason}`, {
              setup: true,
              hint: POWERSHELL_SETUP_HINT,
              cause: error,
            }),
          );
          return;
        }
        if (!/^\d+\.\d+/.test(version)) {
          reject(
            new ExchangeError('PowerShellNotFound', `PowerShell at ${executable} reported no version`, {
              setup: true,
              hint: POWERSHELL_SETUP_HINT,
            }),
          );
          return;
        }
        resolvePromise({ executable, source, version });
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

/**
 * `dotnet <pwsh.dll>` when `executable` is a .NET tool launcher (its folder holds the tool store with
 * exactly one pwsh.dll for this platform) and dotnet can be found; else the executable itself.
 */
function launchFor(executable: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): PowerShellLaunch {
  const direct = { command: executable, args: [] };
  let real: string;
  try {
    real = realpathSync(executable);
  } catch {
    return direct;
  }
  const store = join(dirname(real), '.store', TOOL_PACKAGE);
  if (!existsSync(store)) return direct;
  const dlls = listDirectories(store).flatMap((version) => {
    const dll = toolDll(join(store, version, TOOL_PACKAGE, version), platform);
    return dll ? [dll] : [];
  });
  const dotnet = findDotnet(env, platform);
  const [only] = dlls;
  return dlls.length === 1 && only && dotnet ? { command: dotnet, args: [only] } : direct;
}

function pinnedTool(
  root: string,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
): { version: string; dll?: string; dotnet?: string } | undefined {
  const version = pinnedPowerShellVersion(root);
  if (!version) return undefined;
  const packages = env.NUGET_PACKAGES?.trim() || join(env.HOME?.trim() || homedir(), '.nuget', 'packages');
  const dll =
    toolDll(join(root, ...TOOL_PATH, '.store', TOOL_PACKAGE, version, TOOL_PACKAGE, version), platform) ??
    toolDll(join(packages, TOOL_PACKAGE, version), platform);
  const dotnet = findDotnet(env, platform);
  return { version, ...(dll ? { dll } : {}), ...(dotnet ? { dotnet } : {}) };
}

/** `<package>/tools/<tfm>/any/<unix|win>/pwsh.dll`, for the one target framework the package holds. */
function toolDll(packageDir: string, platform: NodeJS.Platform): string | undefined {
  const tools = join(packageDir, 'tools');
  for (const framework of listDirectories(tools)) {
    const dll = join(tools, framework, 'any', platform === 'win32' ? 'win' : 'unix', 'pwsh.dll');
    if (isFile(dll)) return dll;
  }
  return undefined;
}

function findDotnet(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string | undefined {
  const name = platform === 'win32' ? 'dotnet.exe' : 'dotnet';
  const root = env.DOTNET_ROOT?.trim();
  if (root && isExecutableFile(join(root, name), platform)) return join(root, name);
  const onPath = searchPath(name, env, platform);
  if (onPath) return onPath;
  const wellKnown =
    platform === 'win32'
      ? ['C:\\Program Files\\dotnet']
      : ['/usr/share/dotnet', '/usr/lib/dotnet', '/usr/local/share/dotnet', join(homedir(), '.dotnet')];
  return wellKnown.map((dir) => join(dir, name)).find((candidate) => isExecutableFile(candidate, platform));
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

function listDirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
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

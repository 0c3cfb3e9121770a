/**
 * The environment a PowerShell child process gets: an allow-list, never the worker's whole
 * environment. The worker holds TRELICA_CLIENT_SECRET, storage connection strings and Key Vault
 * settings; PowerShell needs none of them, and anything in a child's environment can be read by
 * whatever runs there (`Get-ChildItem env:`, a module, a crash dump, /proc/<pid>/environ).
 *
 * Two values are always set, whatever the caller has: `TERM=dumb` and `NO_COLOR=1`. Without a TERM,
 * pwsh on Linux writes terminal mode sequences (ESC[?1h ESC[?1l) to stdout around every line it reads
 * under `-Command -` (PowerShell/PowerShell#26631), which broke the one-JSON-line protocol.
 */

export interface ChildEnvironmentOptions {
  /**
   * Pass the App Service managed identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER): only for
   * `EXO_AUTH=managedIdentity`, where Connect-ExchangeOnline -ManagedIdentity needs it.
   */
  managedIdentity: boolean;
  /** Defaults to process.platform; Windows needs a few more system variables to start at all. */
  platform?: NodeJS.Platform;
}

/**
 * .NET runtime settings for a session, unless the worker sets its own. Each session is a separate
 * pwsh process that warms the same PowerShell engine up by itself: with tiered PGO every hot engine
 * method is compiled three times (quick, instrumented, optimised), and with several sessions on a
 * small plan that recompiling was most of their CPU. Measured on the stub tenant (pwsh 7.6.9, one
 * session, 150 leavers, 12 cmdlets each): 102 ms of CPU per leaver by default, 88 without tiered PGO,
 * 81 when a method must also be called 1,000 times (not 30) before it is recompiled; start-up no slower.
 * DOTNET_TieredPGO is a documented runtime setting; DOTNET_TC_CallCountThreshold is a retail build's
 * knob the runtime marks unsupported (clrconfigvalues.h): an unknown value is ignored, never an error,
 * and a worker that sets either variable itself gets its own value.
 */
export const POWERSHELL_RUNTIME_DEFAULTS: Readonly<Record<string, string>> = {
  DOTNET_TieredPGO: '0',
  DOTNET_TC_CallCountThreshold: '1000',
};

/** Passed as they are when set. Names are exact except the `POWERSHELL_` prefix (telemetry, update check). */
const ALLOWED = [
  'PATH',
  'HOME',
  'TMPDIR',
  'LANG',
  'LC_ALL',
  'PSModulePath',
  // Where `dotnet` is when a .NET tool's pwsh.dll is started directly (not a secret, just a folder).
  'DOTNET_ROOT',
  // The worker's own choice of the runtime settings POWERSHELL_RUNTIME_DEFAULTS sets otherwise.
  ...Object.keys(POWERSHELL_RUNTIME_DEFAULTS),
];
const ALLOWED_PREFIX = 'POWERSHELL_';
const MANAGED_IDENTITY = ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER'] as const;
/** What pwsh needs on Windows to find its profile folders, temp folder and system DLLs. */
const WINDOWS_SYSTEM = [
  'SystemRoot',
  'windir',
  'ComSpec',
  'PATHEXT',
  'USERPROFILE',
  'APPDATA',
  'LOCALAPPDATA',
  'ProgramFiles',
  'ProgramData',
  'TEMP',
  'TMP',
] as const;

export const FIXED_CHILD_ENVIRONMENT: Readonly<Record<string, string>> = { TERM: 'dumb', NO_COLOR: '1' };

export function childEnvironment(
  source: NodeJS.ProcessEnv,
  options: ChildEnvironmentOptions,
): Record<string, string> {
  const platform = options.platform ?? process.platform;
  const names: string[] = [...ALLOWED];
  if (options.managedIdentity) names.push(...MANAGED_IDENTITY);
  if (platform === 'win32') names.push(...WINDOWS_SYSTEM, 'Path');
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const allowed =
      platform === 'win32' ? names.some((n) => n.toLowerCase() === name.toLowerCase()) : names.includes(name);
    if (allowed || name.startsWith(ALLOWED_PREFIX)) env[name] = value;
  }
  return { ...POWERSHELL_RUNTIME_DEFAULTS, ...env, ...FIXED_CHILD_ENVIRONMENT };
}

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
 * pwsh process that warms the same PowerShell engine up by itself, and most of that warm-up is JIT
 * work that does not pay for itself: PowerShell compiles a function after 32 calls and a loop after
 * 16 iterations into a dynamic method (LINQ expression trees), which the JIT always compiles fully
 * optimised, and tiered compilation then recompiles every hot engine method a second time. With
 * tiering off and the JIT in MinOpts, a method is compiled once, cheaply; the engine itself runs
 * the ReadyToRun code Microsoft's packages ship. Measured on the stub tenant (pwsh 7.6.9 ReadyToRun,
 * 20 ms per cmdlet): 25 leavers on 2 sessions, 3.7 s of CPU per session by default and 2.8 s with
 * these; 200 leavers on 4 sessions, 6.6 s and 5.2 s per session, and the sweep 8% quicker. The price
 * is steady-state speed (MinOpts code is slower): 500 leavers on 4 sessions cost 18.8 s of CPU per
 * session against 17.1 s (the sweep 5% slower), and one session of 12,700 cmdlets 10% more. At
 * Exchange Online's real latency, hundreds of milliseconds per cmdlet, that is noise next to a run's
 * waiting, while the warm-up is a second of CPU at every session start (four at once on a 1-vCPU
 * EP1 instance), so the defaults favour the start.
 * Tried on 2026-12-04 and left out (offboardingBacklog bench, BENCH_QUICK=1 BENCH_LEAVERS=200):
 * tiering on with DOTNET_TieredPGO=0 was slower (200 leavers on 4 / 8 sessions 22.5 / 29.5 s against
 * 20.6 / 19.4 s; the big tenant on 4 sessions 7.3 s against 5.9 s). Turning the thread pool's
 * spinning off (DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0, a few percent of an idle session's
 * CPU in a trace), background GC off and a 32 MB gen 0 stayed inside run-to-run noise, the GC
 * settings at 10 to 15 MB more RSS per session.
 * DOTNET_TieredCompilation is a documented runtime setting; DOTNET_JITMinOpts is a JIT setting that
 * release builds read (jitconfigvalues.h) but the docs do not list: an unknown value is ignored,
 * never an error, and a worker that sets either variable itself gets its own value.
 */
export const POWERSHELL_RUNTIME_DEFAULTS: Readonly<Record<string, string>> = {
  DOTNET_TieredCompilation: '0',
  DOTNET_JITMinOpts: '1',
};

/**
 * A session sends no PowerShell telemetry to Microsoft, as in the production image (the Dockerfile
 * sets the same variable), wherever the worker runs: a worker that sets POWERSHELL_TELEMETRY_OPTOUT
 * itself gets its own value. It also spares each session the telemetry client PowerShell starts
 * otherwise (measured on pwsh 7.6.9: about 7% of a bare pwsh start's CPU, farm-bench A/B).
 */
export const POWERSHELL_SESSION_DEFAULTS: Readonly<Record<string, string>> = {
  POWERSHELL_TELEMETRY_OPTOUT: '1',
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
  return {
    ...POWERSHELL_RUNTIME_DEFAULTS,
    ...POWERSHELL_SESSION_DEFAULTS,
    ...env,
    ...FIXED_CHILD_ENVIRONMENT,
  };
}

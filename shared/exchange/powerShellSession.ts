/**
 * node-powershell, and what we need from its internals (pinned with the package version, 5.0.1).
 * This is the only file that imports node-powershell.
 */
import type { ChildProcess } from 'node:child_process';
import { PowerShell, type PowerShellOptions } from 'node-powershell';

export type { PowerShell };

// node-powershell lets NODE_POWERSHELL override the executable it is given, and always puts its own
// `-NoLogo` first. findPowerShell already honoured NODE_POWERSHELL, and a launch such as
// `dotnet <pwsh.dll>` needs the dll before PowerShell's arguments, so this subclass runs exactly the
// launch it was handed.
export class PinnedPowerShell extends PowerShell {
  constructor(options: PowerShellOptions & { launchArguments: string[] }) {
    super(options);
  }

  protected override setExecutable({ executable }: { executable?: string }): string {
    if (!executable) throw new Error('PowerShellExchangeShell needs an executable');
    return executable;
  }
}
prependLaunchArguments(PinnedPowerShell);

/**
 * node-powershell internals we depend on, pinned with the package version (5.0.1): its exit promise,
 * which rejects unobserved when the process dies between calls, and its `debug` loggers, which would
 * print every command (payloads included) when DEBUG matches.
 */
export function exitPromiseOf(shell: PowerShell): Promise<unknown> {
  const exitPromise = (shell as unknown as { exitPromise?: Promise<unknown> }).exitPromise;
  if (!exitPromise) throw new Error('node-powershell changed: no exitPromise on the shell');
  return exitPromise;
}

export function processOf(shell: PowerShell): ChildProcess {
  const child = (shell as unknown as { process?: ChildProcess }).process;
  if (!child) throw new Error('node-powershell changed: no process on the shell');
  return child;
}

/**
 * child-shell builds the argument list in `setExecutableOptions` (private in its types, called from its
 * constructor); ours puts the launch's own arguments (e.g. the pwsh.dll for `dotnet`) in front.
 */
function prependLaunchArguments(shellClass: typeof PowerShell): void {
  type BuildArguments = (options: { launchArguments?: string[] }) => string[];
  const prototype = shellClass.prototype as unknown as { setExecutableOptions: BuildArguments };
  const inherited = (Object.getPrototypeOf(prototype) as { setExecutableOptions?: BuildArguments })
    .setExecutableOptions;
  if (typeof inherited !== 'function') throw new Error('node-powershell changed: no setExecutableOptions');
  prototype.setExecutableOptions = function (this: unknown, options) {
    return [...(options.launchArguments ?? []), ...inherited.call(this, options)];
  };
}

export function silenceDebugOutput(shell: PowerShell): void {
  const debuggers = (shell as unknown as { debuggers?: Record<string, { enabled: boolean }> }).debuggers;
  for (const logger of Object.values(debuggers ?? {})) logger.enabled = false;
}

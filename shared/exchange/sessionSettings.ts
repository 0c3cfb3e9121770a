/**
 * The PowerShell settings file (`pwsh -SettingsFile`) each session starts with.
 *
 * Why: on Linux and macOS, PowerShell logs through syslog, and for every command it runs (every
 * function call, every cmdlet: a run of ours is hundreds) it builds a full log context (resource
 * strings, the command line, the time, the user) for a "command lifecycle" event, and only then
 * drops it, because that event belongs to the Analytic channel and syslog gets the Operational
 * channel alone by default (PSSysLogProvider.LogCommandLifecycleEvent checks the level and keywords,
 * not the channel; SysLogProvider.Log checks the channel). Leaving the `Cmdlets` keyword out of
 * `LogKeywords` turns that check off, so nothing that was ever written is lost: every event of the
 * Operational channel (script block logging, engine and command health) carries the always-on
 * operational keyword. Measured (pwsh 7.6.9, stub tenant, one session, 200 leavers): 134 ms of
 * CPU per leaver without it, 113 ms with it. On Windows the events go to ETW, which skips them
 * itself unless a trace session listens; the file changes nothing there that matters.
 *
 * `-SettingsFile` replaces `$PSHOME/powershell.config.json` for the process, so an admin's own file
 * is kept: its settings are copied into the session's file, and one that sets any logging setting
 * itself (LogLevel, LogChannels, LogKeywords) is used as it is (the admin decided what to log).
 */
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { PowerShellLaunch } from './findPowerShell';
import { firstLine } from '../text';

/** Every keyword of PowerShell's syslog provider but `Cmdlets` (command lifecycle events). */
export const SESSION_LOG_KEYWORDS =
  'Runspace, Pipeline, Protocol, Transport, Host, Serializer, Session, ManagedPlugin';
const LOGGING_SETTINGS = ['LogLevel', 'LogChannels', 'LogKeywords'];
const CONFIG_FILE = 'powershell.config.json';

export type SessionSettings =
  { kind: 'file'; path: string; merged: boolean } | { kind: 'none'; reason: string };

export interface SessionSettingsOptions {
  /** Where a merged file is written (default: a private folder under the OS temp folder, removed at exit). */
  folder?: () => string;
}

/** The folder PowerShell calls $PSHOME: where pwsh.dll (or the pwsh executable) is. */
export function powerShellHome(launch: PowerShellLaunch): string {
  const dll = launch.args.find((arg) => basename(arg).toLowerCase() === 'pwsh.dll');
  if (dll) return dirname(dll);
  try {
    return dirname(realpathSync(launch.command));
  } catch {
    return dirname(launch.command);
  }
}

/**
 * The settings a session of this PowerShell starts with. The file is the same for every session of
 * a process: sessionSettingsFor works it out once.
 */
export function sessionSettings(
  launch: PowerShellLaunch,
  options: SessionSettingsOptions = {},
): SessionSettings {
  const own = join(powerShellHome(launch), CONFIG_FILE);
  let admins: Record<string, unknown> = {};
  if (existsSync(own)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(own, 'utf8').replace(/^\uFEFF/, ''));
    } catch {
      return {
        kind: 'none',
        reason: `${own} is not JSON that could be merged; PowerShell reads it as it is`,
      };
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { kind: 'none', reason: `${own} is not a JSON object; PowerShell reads it as it is` };
    }
    admins = parsed as Record<string, unknown>;
    const chosen = LOGGING_SETTINGS.filter((name) => name in admins);
    if (chosen.length > 0) {
      return {
        kind: 'none',
        reason: `${own} sets ${chosen.join(', ')} itself; its logging settings are kept`,
      };
    }
  }
  const merged = Object.keys(admins).length > 0;
  try {
    const path = join((options.folder ?? privateFolder)(), `session.${CONFIG_FILE}`);
    writeFileSync(path, `${JSON.stringify({ ...admins, LogKeywords: SESSION_LOG_KEYWORDS }, null, 2)}\n`, {
      mode: 0o600,
    });
    return { kind: 'file', path, merged };
  } catch (error) {
    // Only speed is lost: the sessions start with PowerShell's own settings.
    return {
      kind: 'none',
      reason: `the session settings file could not be written (${firstLine(String(error))})`,
    };
  }
}

/** The pwsh arguments for the settings: `-SettingsFile <path>`, or none. */
export function settingsArguments(settings: SessionSettings): Record<string, string> {
  return settings.kind === 'file' ? { '-SettingsFile': settings.path } : {};
}

/**
 * One folder per worker process, readable by its user only (a settings file can name module paths, so
 * it must not be one another user of the machine could have put there), removed when the process exits.
 */
function privateFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'exo-workflow-sync-pwsh-'));
  process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
  return folder;
}

const known = new Map<string, SessionSettings>();

/** sessionSettings, worked out once per PowerShell launch for the life of the process. */
export function sessionSettingsFor(launch: PowerShellLaunch): SessionSettings {
  const key = JSON.stringify([launch.command, launch.args]);
  let settings = known.get(key);
  if (!settings) {
    settings = sessionSettings(launch);
    known.set(key, settings);
  }
  return settings;
}

/**
 * The settings file a PowerShell session starts with: PowerShell's command lifecycle logging off,
 * and an admin's own $PSHOME/powershell.config.json kept (merged in, or used as it is when it
 * chooses its own logging). The real pwsh reading the file is in test/integration/powerShellBoundary.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  powerShellHome,
  SESSION_LOG_KEYWORDS,
  sessionSettings,
  settingsArguments,
} from '../../shared/exchange/sessionSettings';

let root: string;
let home: string;
let out: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'exo-settings-test-'));
  home = path.join(root, 'pshome');
  out = path.join(root, 'out');
  mkdirSync(home);
  mkdirSync(out);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const dllLaunch = () => ({ command: '/usr/bin/dotnet', args: [path.join(home, 'pwsh.dll')] });
const written = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

describe('$PSHOME of a launch', () => {
  it('is the folder of pwsh.dll when dotnet starts it, else of the real executable', () => {
    expect(powerShellHome(dllLaunch())).toBe(home);
    writeFileSync(path.join(home, 'pwsh'), '');
    const link = path.join(root, 'pwsh-link');
    symlinkSync(path.join(home, 'pwsh'), link);
    expect(powerShellHome({ command: link, args: [] })).toBe(home);
  });
});

describe('the session settings', () => {
  it('turn the Cmdlets keyword off when $PSHOME has no settings of its own', () => {
    const settings = sessionSettings(dllLaunch(), { folder: () => out });
    expect(settings).toMatchObject({ kind: 'file', merged: false });
    if (settings.kind !== 'file') throw new Error('expected a file');
    expect(written(settings.path)).toEqual({ LogKeywords: SESSION_LOG_KEYWORDS });
    expect(SESSION_LOG_KEYWORDS.split(', ')).not.toContain('Cmdlets');
    expect(SESSION_LOG_KEYWORDS.split(', ')).toHaveLength(8);
    expect(statSync(settings.path).mode & 0o777).toBe(0o600);
    expect(settingsArguments(settings)).toEqual({ '-SettingsFile': settings.path });
  });

  it("keep every other setting of the admin's file (it is replaced for the session)", () => {
    const admins = {
      'Microsoft.PowerShell:ExecutionPolicy': 'RemoteSigned',
      PowerShellPolicies: { ScriptBlockLogging: { EnableScriptBlockLogging: true } },
    };
    // A byte order mark, as Windows editors write it.
    writeFileSync(path.join(home, 'powershell.config.json'), `\uFEFF${JSON.stringify(admins)}`);
    const settings = sessionSettings(dllLaunch(), { folder: () => out });
    expect(settings).toMatchObject({ kind: 'file', merged: true });
    if (settings.kind !== 'file') throw new Error('expected a file');
    expect(written(settings.path)).toEqual({ ...admins, LogKeywords: SESSION_LOG_KEYWORDS });
  });

  it.each(['LogLevel', 'LogChannels', 'LogKeywords'])(
    "leave PowerShell's logging as the admin chose it when their file sets %s",
    (setting) => {
      writeFileSync(path.join(home, 'powershell.config.json'), JSON.stringify({ [setting]: 'x' }));
      const settings = sessionSettings(dllLaunch(), { folder: () => out });
      expect(settings).toEqual({ kind: 'none', reason: expect.stringContaining(`sets ${setting} itself`) });
      expect(settingsArguments(settings)).toEqual({});
    },
  );

  it("never rewrite an admin's file that is not a JSON object", () => {
    for (const text of ['{ not json', '["a"]']) {
      writeFileSync(path.join(home, 'powershell.config.json'), text);
      expect(sessionSettings(dllLaunch(), { folder: () => out })).toMatchObject({ kind: 'none' });
    }
  });

  it('are left out, with the reason, when the file cannot be written', () => {
    const settings = sessionSettings(dllLaunch(), { folder: () => path.join(root, 'missing', 'folder') });
    expect(settings).toEqual({
      kind: 'none',
      reason: expect.stringContaining('the session settings file could not be written'),
    });
  });
});

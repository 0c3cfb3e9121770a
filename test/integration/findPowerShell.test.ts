/**
 * Finding PowerShell and starting it as one process: NODE_POWERSHELL, then pwsh on PATH, then the
 * project's pinned .NET tool; a .NET tool launcher is seen through to `dotnet <pwsh.dll>`. Fake trees
 * for the order, the real pinned pwsh for the version.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ExchangeError } from '../../shared/errors';
import {
  describePowerShell,
  findPackageRoot,
  findPowerShell,
  pinnedPowerShellVersion,
} from '../../shared/exchange/findPowerShell';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'find-pwsh-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function fakeExecutable(path: string, mode = 0o755): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, mode);
  return path;
}

function fakeFile(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '');
  return path;
}

/** A package root pinning PowerShell 7.6.9, and a NuGet folder where `dotnet tool restore` put it. */
function pinnedTree(dir: string): { packageRoot: string; nuget: string; dll: string } {
  const packageRoot = join(dir, 'pkg');
  fakeFile(join(packageRoot, 'package.json'));
  mkdirSync(join(packageRoot, '.config'), { recursive: true });
  writeFileSync(
    join(packageRoot, '.config', 'dotnet-tools.json'),
    JSON.stringify({
      version: 1,
      isRoot: true,
      tools: { powershell: { version: '7.6.9', commands: ['pwsh'] } },
    }),
  );
  const nuget = join(dir, 'nuget');
  const dll = fakeFile(join(nuget, 'powershell', '7.6.9', 'tools', 'net10.0', 'any', 'unix', 'pwsh.dll'));
  return { packageRoot, nuget, dll };
}

describe('finding PowerShell', () => {
  it('prefers NODE_POWERSHELL, then pwsh on PATH, then the pinned .NET tool run by dotnet', () => {
    const dir = mkdtempSync(join(scratch, 'find-'));
    const configured = fakeExecutable(join(dir, 'custom', 'my-pwsh'));
    const onPath = fakeExecutable(join(dir, 'path-b', 'pwsh'));
    fakeExecutable(join(dir, 'path-a', 'pwsh'), 0o644); // not executable: skipped
    const dotnet = fakeExecutable(join(dir, 'dotnet-root', 'dotnet'));
    const { packageRoot, nuget, dll } = pinnedTree(dir);
    const PATH = [join(dir, 'path-a'), 'relative/dir', join(dir, 'path-b')].join(delimiter);
    const options = { packageRoot, platform: 'linux' as const };
    const base = { NUGET_PACKAGES: nuget, DOTNET_ROOT: join(dir, 'dotnet-root') };

    expect(findPowerShell({ ...base, NODE_POWERSHELL: configured, PATH }, options)).toEqual({
      executable: configured,
      source: 'NODE_POWERSHELL',
      launch: { command: configured, args: [] },
    });
    expect(
      findPowerShell({ ...base, NODE_POWERSHELL: 'my-pwsh', PATH: join(dir, 'custom') }, options),
    ).toMatchObject({ executable: configured, source: 'NODE_POWERSHELL' });
    expect(findPowerShell({ ...base, NODE_POWERSHELL: '  ', PATH }, options)).toEqual({
      executable: onPath,
      source: 'pwsh',
      launch: { command: onPath, args: [] },
    });
    expect(findPowerShell({ ...base, PATH: join(dir, 'path-a') }, options)).toEqual({
      executable: dll,
      source: 'pinned',
      launch: { command: dotnet, args: [dll] },
    });
    expect(pinnedPowerShellVersion(packageRoot)).toBe('7.6.9');
  });

  it('runs a .NET tool launcher on PATH as dotnet <pwsh.dll>: one process, not a launcher and its child', () => {
    const dir = mkdtempSync(join(scratch, 'launcher-'));
    const launcher = fakeExecutable(join(dir, 'tools', 'pwsh'));
    const dll = fakeFile(
      join(
        dir,
        'tools',
        '.store',
        'powershell',
        '7.6.9',
        'powershell',
        '7.6.9',
        'tools',
        'net10.0',
        'any',
        'unix',
        'pwsh.dll',
      ),
    );
    const dotnet = fakeExecutable(join(dir, 'dotnet-root', 'dotnet'));

    expect(
      findPowerShell(
        { PATH: join(dir, 'tools'), DOTNET_ROOT: join(dir, 'dotnet-root') },
        { packageRoot: dir, platform: 'linux' },
      ),
    ).toEqual({ executable: launcher, source: 'pwsh', launch: { command: dotnet, args: [dll] } });
  });

  it('says how to get PowerShell when there is none, as a setup error', () => {
    const dir = mkdtempSync(join(scratch, 'none-'));
    const attempt = (): unknown =>
      findPowerShell({ PATH: dir, NUGET_PACKAGES: dir }, { packageRoot: dir, platform: 'linux' });
    expect(attempt).toThrow(ExchangeError);
    expect(attempt).toThrow(
      // eslint-disable-next-line @typescript-eslint/no-unsafe-argument -- jest's asymmetric matchers are typed `any`
      expect.objectContaining({
        code: 'PowerShellNotFound',
        isSetupError: true,
        message: expect.stringMatching(/No PowerShell found/),
        hint: expect.stringMatching(/pwsh.*installs the pinned pwsh/s),
      }),
    );

    const { packageRoot } = pinnedTree(dir);
    expect(() =>
      findPowerShell(
        { PATH: dir, NUGET_PACKAGES: join(dir, 'empty'), DOTNET_ROOT: dir },
        { packageRoot, platform: 'linux' },
      ),
    ).toThrow(/pinned PowerShell 7\.6\.9 is not installed|no dotnet/);

    expect(() => findPowerShell({ NODE_POWERSHELL: join(dir, 'missing') }, { packageRoot: dir })).toThrow(
      /NODE_POWERSHELL is set to .*missing.*not an executable file/,
    );
  });

  it('locates the package root and its pinned version, and asks the real pwsh for its version', async () => {
    const root = findPackageRoot(__dirname);
    expect(root).toBe(join(__dirname, '..', '..'));
    expect(pinnedPowerShellVersion(root as string)).toBe('7.6.9');
    const powerShell = findPowerShell();
    const description = await describePowerShell(powerShell);
    expect(description).toEqual({
      executable: powerShell.executable,
      source: powerShell.source,
      version: expect.stringMatching(/^7\.\d+\.\d+/),
    });
    const missing = join(scratch, 'no-such-pwsh');
    await expect(
      describePowerShell({
        executable: missing,
        source: 'NODE_POWERSHELL',
        launch: { command: missing, args: [] },
      }),
    ).rejects.toThrow(/does not exist/);
  });
});

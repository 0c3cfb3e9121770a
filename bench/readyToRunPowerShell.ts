/**
 * The benchmarks' PowerShell: the pinned pwsh 7.6.9 .NET tool, compiled ReadyToRun into .bench/ once.
 *
 * Microsoft's own PowerShell packages (the .deb the Dockerfile installs, the tarballs, the MSI) ship
 * ReadyToRun (precompiled) assemblies (PowerShell/PowerShell#3335, #16297); a .NET tool package cannot
 * (dotnet/sdk#10801), so NuGet's pwsh JITs the whole engine in every process: about twice the CPU to
 * start and to warm up. A benchmark of several sessions on two cores would then measure that JIT, a
 * cost production does not have, so the benchmarks compile the engine assemblies a session loads
 * with the .NET SDK's own crossgen2 (restored from NuGet like any SDK pack) and run both the product
 * and the reference script on that copy. BENCH_READY_TO_RUN=0 runs the tool as installed.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { FoundPowerShell } from '../shared/exchange/findPowerShell';

/** What a session loads (listed from a session's AppDomain); the rest of the tool is rarely touched. */
const ASSEMBLIES = [
  'pwsh.dll',
  'System.Management.Automation.dll',
  'Microsoft.PowerShell.ConsoleHost.dll',
  'Microsoft.PowerShell.Commands.Utility.dll',
  'Microsoft.PowerShell.Commands.Management.dll',
  'Microsoft.PowerShell.Security.dll',
  'Microsoft.PowerShell.MarkdownRender.dll',
  'Newtonsoft.Json.dll',
  'Microsoft.ApplicationInsights.dll',
];

function run(command: string, args: string[], cwd?: string): string {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.status !== 0) {
    const output = `${result.stderr ?? ''}\n${result.stdout ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}): ${output}`,
    );
  }
  return result.stdout;
}

/** The shared framework pwsh runs on: the newest Microsoft.NETCore.App of the same major version. */
function sharedFramework(dotnet: string, major: string): string {
  const runtimes = run(dotnet, ['--list-runtimes'])
    .split('\n')
    .map((line) => /^Microsoft\.NETCore\.App (\S+) \[(.+)\]$/.exec(line.trim()))
    .filter((match): match is RegExpExecArray => match !== null && (match[1] ?? '').startsWith(`${major}.`));
  const newest = runtimes.at(-1);
  if (!newest)
    throw new Error(`no Microsoft.NETCore.App ${major}.x runtime found by ${dotnet} --list-runtimes`);
  return join(newest[2] ?? '', newest[1] ?? '');
}

/** crossgen2 from NuGet: a restore of an empty ReadyToRun project downloads the SDK's own version of it. */
function crossgen2(dotnet: string, workDir: string, rid: string): string {
  const project = join(workDir, 'crossgen2-restore');
  mkdirSync(project, { recursive: true });
  writeFileSync(
    join(project, 'restore.csproj'),
    `<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><TargetFramework>net10.0</TargetFramework>` +
      `<RuntimeIdentifier>${rid}</RuntimeIdentifier><PublishReadyToRun>true</PublishReadyToRun>` +
      `<SelfContained>false</SelfContained></PropertyGroup></Project>\n`,
  );
  run(dotnet, ['restore'], project);
  const assets = JSON.parse(readFileSync(join(project, 'obj', 'project.assets.json'), 'utf8')) as {
    project?: {
      frameworks?: Record<string, { downloadDependencies?: Array<{ name: string; version: string }> }>;
    };
  };
  const downloads = Object.values(assets.project?.frameworks ?? {}).flatMap(
    (f) => f.downloadDependencies ?? [],
  );
  const pack = downloads.find((d) => d.name.toLowerCase() === `microsoft.netcore.app.crossgen2.${rid}`);
  if (!pack) throw new Error('the restore did not name a crossgen2 pack');
  const version = pack.version.replace(/[[\]\s]/g, '').split(',')[0] ?? '';
  const packages = /global-packages:\s*(.+)/.exec(
    run(dotnet, ['nuget', 'locals', 'global-packages', '--list']),
  )?.[1];
  if (!packages) throw new Error('dotnet nuget locals did not say where the NuGet packages are');
  const tool = join(packages.trim(), pack.name.toLowerCase(), version, 'tools', 'crossgen2');
  if (!existsSync(tool)) throw new Error(`crossgen2 is not at ${tool}`);
  return tool;
}

/**
 * The pinned tool compiled ReadyToRun (built on first use, then reused), as a FoundPowerShell whose
 * executable is a one-line launcher; anything other than the pinned tool is returned as it is.
 */
export function readyToRunPowerShell(
  found: FoundPowerShell,
  benchDir: string,
  say: (line: string) => void,
): FoundPowerShell {
  if (process.env.BENCH_READY_TO_RUN === '0' || found.source !== 'pinned' || process.platform !== 'linux')
    return found;
  const toolDir = dirname(found.executable);
  const dotnet = found.launch.command;
  const target = join(
    benchDir,
    'powershell-r2r',
    createHash('sha256').update(toolDir).digest('hex').slice(0, 12),
  );
  const launcher = join(target, 'pwsh');
  const done = join(target, '.ready-to-run');
  if (!existsSync(done)) {
    const rid = `linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`;
    say(
      `compiling the pinned PowerShell ReadyToRun into ${target} (first run only; see bench/readyToRunPowerShell.ts)`,
    );
    rmSync(target, { recursive: true, force: true });
    cpSync(toolDir, target, { recursive: true });
    const compiler = crossgen2(dotnet, benchDir, rid);
    const framework = sharedFramework(dotnet, '10');
    const compiled: string[] = [];
    for (const name of ASSEMBLIES) {
      const input = join(target, name);
      if (!existsSync(input)) continue;
      const output = `${input}.r2r`;
      run(compiler, [
        '-r',
        `${framework}/*.dll`,
        '-r',
        `${target}/*.dll`,
        '--targetos',
        'linux',
        '--targetarch',
        rid.endsWith('arm64') ? 'arm64' : 'x64',
        '-O',
        input,
        '-o',
        output,
      ]);
      renameSync(output, input);
      compiled.push(name);
    }
    writeFileSync(launcher, `#!/bin/sh\nexec "${dotnet}" "${join(target, 'pwsh.dll')}" "$@"\n`);
    chmodSync(launcher, 0o755);
    writeFileSync(done, `${compiled.join('\n')}\n`);
  }
  return { executable: launcher, source: 'NODE_POWERSHELL', launch: { command: launcher, args: [] } };
}

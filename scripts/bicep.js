#!/usr/bin/env node
/**
 * The Bicep CLI, installed by the project itself on first use: from NuGet (the place these machines
 * and CI can reach that ships it), with the dotnet CLI, for the platform this runs on, into the
 * git-ignored .tools/ folder. Prints the absolute path of the bicep binary on stdout; says so in one
 * line on stderr when it installs; a missing .NET SDK is one clear message (exit 2).
 *
 *   node scripts/bicep.js [--tools-dir DIR]
 *
 * Plain CommonJS, no dependencies: it runs from scripts/validate-infra.sh and from the tests.
 */
const { spawnSync } = require('node:child_process');
const {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  writeFileSync,
} = require('node:fs');
const { join, resolve } = require('node:path');

const BICEP_VERSION = '0.49.2';
const RIDS = {
  'linux-x64': 'linux-x64',
  'linux-arm64': 'linux-arm64',
  'darwin-x64': 'osx-x64',
  'darwin-arm64': 'osx-arm64',
};

/** The NuGet package of the Bicep CLI for a platform, or undefined when Bicep ships none for it. */
function bicepPackageFor(platform, arch) {
  const rid = RIDS[`${platform}-${arch}`];
  return rid === undefined ? undefined : `Azure.Bicep.CommandLine.${rid}`;
}

class BicepSetupError extends Error {}

/** Where the binary of `pkg` lands under `toolsDir`. */
function bicepPath(toolsDir, pkg) {
  return join(toolsDir, 'nuget', pkg.toLowerCase(), BICEP_VERSION, 'tools', 'bicep');
}

function ensureBicep(options = {}) {
  const root = resolve(__dirname, '..');
  const toolsDir = resolve(options.toolsDir ?? join(root, '.tools'));
  const env = options.env ?? process.env;
  const log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  const pkg = bicepPackageFor(options.platform ?? process.platform, options.arch ?? process.arch);
  if (pkg === undefined) {
    throw new BicepSetupError(
      `Bicep ${BICEP_VERSION}: no NuGet package for ${process.platform}-${process.arch} ` +
        '(supported: linux-x64, linux-arm64, osx-x64, osx-arm64).',
    );
  }
  const binary = bicepPath(toolsDir, pkg);
  if (existsSync(binary)) return binary;

  const dotnet = spawnSync('dotnet', ['--version'], { env, encoding: 'utf8' });
  if (dotnet.error || dotnet.status !== 0) {
    throw new BicepSetupError(
      `Bicep ${BICEP_VERSION} is installed on first use from NuGet with the .NET SDK, and no working ` +
        "'dotnet' was found on PATH. Install the .NET SDK (10 or later, https://dot.net), then run this again.",
    );
  }
  log(`Installing the Bicep CLI ${BICEP_VERSION} (${pkg}, first use only) into ${toolsDir} ...`);
  // A throwaway project whose only job is to make NuGet download the package, restored into a
  // private folder and moved into place at the end, so two installs at once never see half a tool.
  mkdirSync(toolsDir, { recursive: true });
  const work = mkdtempSync(join(toolsDir, 'bicep-install-'));
  try {
    writeFileSync(
      join(work, 'get-bicep.csproj'),
      `<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net$(BundledNETCoreAppTargetFrameworkVersion)</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <!-- The brackets pin the exact version: PackageDownload accepts nothing else. -->
    <PackageDownload Include="${pkg}" Version="[${BICEP_VERSION}]" />
  </ItemGroup>
</Project>
`,
    );
    const packages = join(work, 'packages');
    const restore = spawnSync(
      'dotnet',
      ['restore', join(work, 'get-bicep.csproj'), '--packages', packages, '--no-http-cache'],
      {
        env: {
          ...env,
          DOTNET_CLI_TELEMETRY_OPTOUT: '1',
          DOTNET_NOLOGO: '1',
          DOTNET_SKIP_FIRST_TIME_EXPERIENCE: '1',
        },
        encoding: 'utf8',
      },
    );
    const restoredVersion = join(packages, pkg.toLowerCase(), BICEP_VERSION);
    const restored = join(restoredVersion, 'tools', 'bicep');
    if (restore.status !== 0 || !existsSync(restored)) {
      throw new BicepSetupError(
        `Installing ${pkg} ${BICEP_VERSION} from NuGet failed (dotnet restore exit ${restore.status}):\n` +
          `${restore.stdout}${restore.stderr}`.trim(),
      );
    }
    chmodSync(restored, 0o755);
    const target = join(toolsDir, 'nuget', pkg.toLowerCase(), BICEP_VERSION);
    mkdirSync(join(target, '..'), { recursive: true });
    try {
      renameSync(restoredVersion, target);
    } catch (error) {
      // Another install finished first: its copy is as good as ours.
      if (!existsSync(binary)) throw error;
    }
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

module.exports = { BICEP_VERSION, bicepPackageFor, ensureBicep, BicepSetupError };

if (require.main === module) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--tools-dir');
  try {
    const binary = ensureBicep(at >= 0 ? { toolsDir: args[at + 1] } : {});
    process.stdout.write(`${binary}\n`);
  } catch (error) {
    process.stderr.write(`bicep: ${error.message}\n`);
    process.exitCode = error instanceof BicepSetupError ? 2 : 1;
  }
}

#!/usr/bin/env bash
# Obtains the Bicep CLI from NuGet (the only place these machines and CI can reach that ships it),
# with the dotnet CLI, into .tools/ (git-ignored). Idempotent: a second run only prints the path.
# Prints the absolute path of the bicep binary on stdout; everything else goes to stderr.
set -euo pipefail

BICEP_VERSION="0.49.2"
PACKAGE="Azure.Bicep.CommandLine.linux-x64"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
packages="$tools/nuget"
binary="$packages/$(echo "$PACKAGE" | tr '[:upper:]' '[:lower:]')/$BICEP_VERSION/tools/bicep"

if [ ! -x "$binary" ]; then
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "get-bicep: the dotnet CLI is needed to fetch $PACKAGE $BICEP_VERSION from NuGet" >&2
    exit 1
  fi
  # A throwaway project whose only job is to make NuGet download the package (no build, no reference).
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  cat >"$work/get-bicep.csproj" <<CSPROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net\$(BundledNETCoreAppTargetFrameworkVersion)</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <!-- The brackets pin the exact version: PackageDownload accepts nothing else. -->
    <PackageDownload Include="$PACKAGE" Version="[$BICEP_VERSION]" />
  </ItemGroup>
</Project>
CSPROJ
  mkdir -p "$packages"
  echo "get-bicep: restoring $PACKAGE $BICEP_VERSION into $packages" >&2
  DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 \
    dotnet restore "$work/get-bicep.csproj" --packages "$packages" --no-http-cache >&2
  if [ ! -f "$binary" ]; then
    echo "get-bicep: restore finished but $binary is missing" >&2
    exit 1
  fi
  chmod 0755 "$binary"
fi

echo "$binary"

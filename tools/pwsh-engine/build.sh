#!/usr/bin/env bash
# Builds the PowerShell engine host into tools/pwsh-engine/bin/pwsh-engine (npm run build:engine).
#
# Quiet and quick when the binary is already newer than its sources; otherwise one `dotnet build`
# whose log is shown only when it fails. NuGet restores System.Management.Automation 7.6.9 once into the
# global packages folder; later builds (even after deleting obj/) restore from that cache without network.
# `--force` rebuilds regardless.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="$here/PwshEngine.csproj"
out="$here/bin"
binary="$out/pwsh-engine"

fail() {
  echo "build:engine: $*" >&2
  exit 1
}

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    *) fail "unknown argument '$arg' (only --force is accepted)" ;;
  esac
done

up_to_date() {
  [ -x "$binary" ] || return 1
  local source
  for source in "$project" "$here"/*.cs; do
    [ "$source" -nt "$binary" ] && return 1
  done
  return 0
}

if [ "$force" = 0 ] && up_to_date; then
  exit 0
fi

command -v dotnet >/dev/null 2>&1 ||
  fail "the .NET SDK is not installed (need .NET 10: 'dotnet' is not on PATH). Install the .NET 10 SDK, or install PowerShell 7.6 (pwsh) instead and skip the engine host."

sdk_major="$(dotnet --version 2>/dev/null | cut -d. -f1 || true)"
case "$sdk_major" in
  '' | *[!0-9]*) fail "could not read the .NET SDK version ('dotnet --version' failed)." ;;
esac
[ "$sdk_major" -ge 10 ] || fail "the .NET SDK is $(dotnet --version); the engine host targets net10.0 and needs the .NET 10 SDK."

# No first-run banner, no telemetry, and no build servers left running after the build (they would outlive
# CI steps and hold the caller's pipes open).
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DOTNET_CLI_USE_MSBUILD_SERVER=0 MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_DO_NOT_USE_MSBUILD_SERVER=1

log="$(mktemp "${TMPDIR:-/tmp}/pwsh-engine-build.XXXXXX")"
trap 'rm -f "$log"' EXIT

if ! dotnet build "$project" --nologo -c Release -o "$out" -v quiet -nodeReuse:false \
  -p:UseSharedCompilation=false >"$log" 2>&1; then
  cat "$log" >&2
  if grep -q 'NU1101\|NU1301\|NU1102\|Unable to load the service index' "$log"; then
    fail "NuGet restore of System.Management.Automation 7.6.9 failed (is the NuGet registry reachable, or the package in ~/.nuget/packages?)."
  fi
  fail "dotnet build failed (log above)."
fi

[ -x "$binary" ] || fail "dotnet build succeeded but $binary is missing."
# dotnet build does not touch an unchanged apphost; mark the binary as built from the current sources.
touch "$binary"

#!/usr/bin/env bash
# Builds the PowerShell engine host into tools/pwsh-engine/bin/pwsh-engine (npm run build:engine).
#
# Quiet and quick when the binary is already newer than its sources; otherwise one `dotnet publish`
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

# Two test runs starting at once must not build into the same obj/ together: the second waits, then finds
# the binary fresh.
mkdir -p "$here/obj"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$here/obj/.build.lock"
  flock 9
  if [ "$force" = 0 ] && up_to_date; then
    exit 0
  fi
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
staging="$here/obj/publish"
trap 'rm -f "$log"; rm -rf "$staging"' EXIT

publish() {
  rm -rf "$staging"
  dotnet publish "$project" --nologo -c Release --use-current-runtime --self-contained false -o "$staging" \
    -v quiet -nodeReuse:false -p:UseSharedCompilation=false "$@" >>"$log" 2>&1
}

# ReadyToRun (precompiled engine, ~0.25 s start instead of ~0.65 s) needs NuGet's crossgen2 package for this
# runtime; if that cannot be had, a plain JIT build still works, only slower to start.
if ! publish -p:PublishReadyToRun=true; then
  if grep -q 'error CS' "$log"; then
    cat "$log" >&2
    fail "the engine host does not compile (log above)."
  fi
  echo "build:engine: ReadyToRun publish failed; building without it (slower start-up)." >&2
  if ! publish -p:PublishReadyToRun=false; then
    cat "$log" >&2
    if grep -q 'NU1101\|NU1301\|NU1102\|Unable to load the service index' "$log"; then
      fail "NuGet restore of System.Management.Automation 7.6.9 failed (is the NuGet registry reachable, or the package in ~/.nuget/packages?)."
    fi
    fail "dotnet publish failed (log above)."
  fi
fi

[ -x "$staging/pwsh-engine" ] || fail "dotnet publish succeeded but produced no pwsh-engine executable."
# Replace bin/ as a whole so no file of an older build lingers next to the new one.
rm -rf "$out"
mv "$staging" "$out"
touch "$binary"

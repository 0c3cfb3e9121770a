#!/usr/bin/env bash
# Compiles and lints the Bicep (infra/main.bicep and, through it, every module) offline with the
# Bicep CLI, which scripts/bicep.js installs into .tools/ on first use. Fails on any warning or
# error: bicepconfig.json raises the linter rules to errors, and any diagnostic the compiler itself reports as a warning
# fails here too (lint exits 0 on warnings).
#
# Usage: bash scripts/validate-infra.sh [OUT_DIR]
#   OUT_DIR  keep the compiled ARM template there as main.json (default: a temp dir, removed).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Installs the Bicep CLI on first use (one line on stderr says so) and prints its path.
bicep="$(node "$root/scripts/bicep.js")" || exit $?
BICEP_VERSION="$(node -p 'require(process.argv[1]).BICEP_VERSION' "$root/scripts/bicep.js")"

# The CLI is a single-file .NET app; keep its unpack folder inside the repo's git-ignored .tools/.
export DOTNET_BUNDLE_EXTRACT_BASE_DIR="${DOTNET_BUNDLE_EXTRACT_BASE_DIR:-$root/.tools/dotnet-bundle}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1

if [ $# -ge 1 ]; then
  out="$1"
  mkdir -p "$out"
else
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi

status=0
log="$out/validate-infra.log"
: >"$log"
"$bicep" build --no-restore "$root/infra/main.bicep" --outdir "$out" >>"$log" 2>&1 || status=1
"$bicep" lint --no-restore "$root/infra/main.bicep" >>"$log" 2>&1 || status=1
cat "$log"

if grep -Eq ' : (Warning|Error) ' "$log"; then
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "validate-infra: FAILED (see the diagnostics above)" >&2
  exit 1
fi
echo "validate-infra: infra/main.bicep builds and lints clean (Bicep $BICEP_VERSION)"

#!/usr/bin/env bash
# The one test command (README "Run the tests"; .ci/run calls exactly this).
# Installs what the tests need from the project's own files, then runs every test project.
set -euo pipefail
cd "$(dirname "$0")/.."

# Azurite (the Table Storage emulator the integration tests start) is pinned in package-lock.json.
npm ci --no-audit --no-fund --loglevel=error
# Microsoft's KQL parser (JavaScript build) for the offline syntax check of docs/kql.
npm ci --prefix tests/kql --no-audit --no-fund --loglevel=error

# NuGet restore + build + all test projects (Microsoft.Testing.Platform, see global.json).
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
dotnet test --solution VoiceFunctions.sln -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# One plain summary line across all test projects.
awk '
  /^[[:space:]]*succeeded:[[:space:]]*[0-9]+/ { passed += $2 }
  /^[[:space:]]*failed:[[:space:]]*[0-9]+/    { failed += $2 }
  /^[[:space:]]*skipped:[[:space:]]*[0-9]+/   { skipped += $2 }
  END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped }
' "$log"
exit "$status"

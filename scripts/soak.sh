#!/usr/bin/env bash
# The long soak (not part of scripts/test.sh, which runs a 20 s version): simulated calls against the real
# handler process for SOAK_SECONDS (default 300), asserting no errors and bounded memory growth.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
VOICEFUNCTIONS_SOAK_SECONDS="${SOAK_SECONDS:-300}" dotnet test --project tests/VoiceFunctions.Tests -c Release -- --filter-class "*SoakTests" --output Detailed

#!/usr/bin/env bash
# The long soak (not part of scripts/test.sh, which runs a 20 s version): simulated calls against the real
# handler process for SOAK_SECONDS (default 300), asserting no errors and bounded memory growth; prints the
# number of calls and the RSS before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
dotnet build tests/VoiceFunctions.Tests -c Release --nologo -v quiet
# The xunit runner itself (not dotnet test), so the test's diagnostic line with the figures is shown.
VOICEFUNCTIONS_SOAK_SECONDS="${SOAK_SECONDS:-300}" \
  tests/VoiceFunctions.Tests/bin/Release/net10.0/VoiceFunctions.Tests -class VoiceFunctions.Tests.SoakTests -diagnostics -noColor

#!/usr/bin/env bash
# Runs the webhook locally on http://localhost:7071/api/events against Azurite (started here when no
# Table service listens on 127.0.0.1:10002). Configuration: src/VoiceFunctions/appsettings.Development.json.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules/azurite ] || npm ci --no-audit --no-fund --loglevel=error

azurite_pid=""
cleanup() { [ -n "$azurite_pid" ] && kill "$azurite_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if (exec 3<>/dev/tcp/127.0.0.1/10002) 2>/dev/null; then
  echo "Using the Table service already listening on 127.0.0.1:10002."
else
  echo "Starting Azurite (Table service, in memory) on 127.0.0.1:10002 ..."
  node node_modules/azurite/dist/src/table/main.js --tableHost 127.0.0.1 --tablePort 10002 \
    --inMemoryPersistence --skipApiVersionCheck --disableTelemetry --silent &
  azurite_pid=$!
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/10002) 2>/dev/null && break; sleep 0.1; done
fi

cat <<'MSG'

  Webhook:        POST http://localhost:7071/api/events
  Read a call:    GET  http://localhost:7071/api/sessions/{session-id}
  Sample call:    ./scripts/sample-call.sh            (in another terminal)
                  or samples/sample-call.http         (VS Code REST Client / Rider / Visual Studio)
  Stop:           Ctrl+C

MSG
dotnet run --project src/VoiceFunctions --launch-profile VoiceFunctions

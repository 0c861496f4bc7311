#!/usr/bin/env bash
# Runs the webhook locally on http://localhost:7071/api/events: starts Azurite (blob, queue and table: the
# Functions host keeps timer leases in blob storage) unless one already listens, publishes the isolated worker
# and serves it through scripts/functions-host.sh (Core Tools when `func` is installed, else the host emulator).
# Settings: local.settings.json at the repository root if you made one, else local.settings.json.example.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules/azurite ] || npm ci --no-audit --no-fund --loglevel=error

azurite_pid=""
host_pid=""
cleanup() {
  # The host first (it stops the worker gracefully), then Azurite.
  if [ -n "$host_pid" ]; then kill -TERM "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; fi
  if [ -n "$azurite_pid" ]; then kill "$azurite_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if listening 10002 && listening 10000; then
  echo "Using the Azurite (or storage emulator) already listening on 127.0.0.1:10000-10002."
else
  echo "Starting Azurite (blob, queue, table; in memory) on 127.0.0.1:10000-10002 ..."
  node node_modules/azurite/dist/src/azurite.js --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
    --inMemoryPersistence --skipApiVersionCheck --disableTelemetry --silent &
  azurite_pid=$!
  for _ in $(seq 1 100); do listening 10002 && listening 10000 && break; sleep 0.1; done
fi

app="artifacts/app"
echo "Publishing the worker to $app ..."
dotnet publish src/VoiceFunctions -c Release -o "$app" --nologo -v quiet
settings="local.settings.json"
[ -f "$settings" ] || settings="local.settings.json.example"
cp "$settings" "$app/local.settings.json"

cat <<MSG

  Settings:       $settings (copied to $app/local.settings.json)
  Webhook:        POST http://localhost:7071/api/events
  Read a call:    GET  http://localhost:7071/api/sessions/{session-id}
                  (paged: ?limit=1..1000, then ?continuation=<next> while a page has "next")
  Sample call:    ./scripts/sample-call.sh            (in another terminal)
                  or samples/sample-call.http         (VS Code REST Client / Rider / Visual Studio)
  Stop:           Ctrl+C

MSG
# In the background, so that SIGINT/SIGTERM reach this script at once and the trap stops the host, then Azurite.
scripts/functions-host.sh "$app" 7071 &
host_pid=$!
status=0
wait "$host_pid" || status=$?
host_pid=""
exit "$status"

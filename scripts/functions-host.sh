#!/usr/bin/env bash
# Serves a published Functions app folder on 127.0.0.1:<port>: under Azure Functions Core Tools when `func` is on
# PATH, otherwise under the development emulator tools/FunctionsHost (built here when needed).
# Usage: scripts/functions-host.sh <published app folder> <port>
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <published app folder> <port>" >&2
  exit 2
fi
dir="$(cd "$1" && pwd)"
port="$2"
repo="$(cd "$(dirname "$0")/.." && pwd)"

if command -v func >/dev/null 2>&1; then
  cd "$dir"
  exec func start --port "$port"
fi

dll="$repo/tools/FunctionsHost/bin/Release/net10.0/FunctionsHost.dll"
if [ ! -f "$dll" ] || [ -n "$(find "$repo/tools/FunctionsHost" -newer "$dll" \( -name '*.cs' -o -name '*.proto' -o -name '*.csproj' \) -not -path '*/obj/*' -not -path '*/bin/*' -print -quit)" ]; then
  dotnet build "$repo/tools/FunctionsHost" -c Release --nologo -v q >&2
fi

# Not exec'd, so that SIGINT/SIGTERM reach the emulator even when this script runs in the background (a background
# job ignores SIGINT, and .NET keeps that): the trap passes either on as SIGTERM and waits for the emulator to stop.
dotnet "$dll" "$dir" "$port" &
host_pid=$!
trap 'kill -TERM "$host_pid" 2>/dev/null || true' INT TERM
while kill -0 "$host_pid" 2>/dev/null; do
  # Returns early when a trapped signal arrives; loop until the emulator has really exited.
  wait "$host_pid" || true
done
status=0
# Bash keeps an exited child's status: this is the emulator's own exit code.
wait "$host_pid" || status=$?
exit "$status"

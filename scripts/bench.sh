#!/usr/bin/env bash
# The performance benchmark of issue 6, re-based on the isolated worker by issue 9 item 7 (docs/benchmarks.md).
# One command:
#
#   scripts/bench.sh                 # benchmarks the committed HEAD (a clean snapshot via git archive)
#   BENCH_REF=worktree scripts/bench.sh   # benchmarks the working tree as it is
#   BENCH_REF=<commit> scripts/bench.sh   # any other commit
#
# It publishes the app (Release; plain and ReadyToRun/linux-x64), the floor workers in bench/Floors and the
# Functions host emulator (tools/FunctionsHost), starts Azurite and every worker under the emulator CLI
# (`dotnet FunctionsHost.dll <app folder> <port>`, settings as environment variables) — the old direct
# ASP.NET Core floor (`direct-http-floor`) directly on Kestrel, for the emulator hop's cost — drives simulated
# calls over 127.0.0.1 at concurrency 1, 16 and 64, measures cold starts, measures call notes (issue 21: two app
# instances, notes on and off, a stand-in model; `--targets notes`), and writes docs/benchmarks.json and the
# generated parts of docs/benchmarks.md. Loopback only, bounded in time (~6-8 min on 2 cores); every process
# it starts is killed when it ends, fails or is interrupted. Extra arguments go to the driver, e.g.
#   scripts/bench.sh --duration 5 --cold-runs 3
#   BENCH_REF=worktree scripts/bench.sh --targets notes --cold-runs 0   # only the notes phase (publishes only the app)
# Needs: .NET SDK (global.json), node + `npm ci` (Azurite), NuGet access for the linux-x64 runtime
# packs the ReadyToRun publish uses (first run only).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
ref="${BENCH_REF:-HEAD}"

if [[ ! -f node_modules/azurite/dist/src/table/main.js ]]; then
  echo "error: Azurite is not installed; run \`npm ci\` in $root first" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/voicefunctions-bench.XXXXXX")"
driver_pid=""
cleanup() {
  # The driver kills its own children (Azurite, apps) on exit and on SIGTERM/SIGINT.
  if [[ -n "$driver_pid" ]] && kill -0 "$driver_pid" 2>/dev/null; then
    kill -TERM "$driver_pid" 2>/dev/null || true
    wait "$driver_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Separate obj/bin (--artifacts-path) so publishing never touches the obj folders of concurrent builds/tests.
artifacts="$work/artifacts"
apps="$work/apps"
pub() { dotnet publish "$@" -c Release --nologo -v quiet --disable-build-servers --artifacts-path "$artifacts" -p:SatelliteResourceLanguages=en; }
r2r=(-r linux-x64 --self-contained false -p:PublishReadyToRun=true)

if [[ "$ref" == "worktree" ]]; then
  src="$root"
  commit="$(git rev-parse --short HEAD)+worktree"
else
  src="$work/src"
  mkdir -p "$src"
  git archive "$ref" | tar -x -C "$src"
  commit="$(git rev-parse --short "$ref")"
fi

# Publish only what the chosen phases start: `--targets` (default: every load target and the notes phase) and
# the cold start unless `--cold-runs 0` (it starts the app, the floors and their ReadyToRun builds).
targets="direct-http-floor,http-floor,storage-floor,storage-floor-batch,app,notes"
cold=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --targets) targets="${args[i+1]:-}" ;;
    --cold-runs) [[ "${args[i+1]:-}" == "0" ]] && cold=0 ;;
  esac
done
wants() { [[ $cold == 1 ]] || [[ ",$targets," =~ ,($1), ]]; }

echo "[bench] publishing the app ($commit), the floors and the emulator into $apps"
start=$SECONDS
if wants "app|notes"; then pub "$src/src/VoiceFunctions" -o "$apps/app"; fi
if [[ $cold == 1 ]]; then
  pub "$src/src/VoiceFunctions" "${r2r[@]}" -o "$apps/app-r2r"
  pub bench/Floors/HttpFloor "${r2r[@]}" -o "$apps/http-floor-r2r"
fi
if wants "http-floor"; then pub bench/Floors/HttpFloor -o "$apps/http-floor"; fi
if wants "storage-floor|storage-floor-batch"; then pub bench/Floors/StorageFloor -o "$apps/storage-floor"; fi
if wants "direct-http-floor"; then pub bench/Floors/DirectHttpFloor -o "$apps/direct-http-floor"; fi
# The emulator from the same snapshot as the app, so a run of an older commit uses that commit's emulator.
pub "$src/tools/FunctionsHost" -o "$apps/functions-host"
dotnet build bench/VoiceFunctions.Bench -c Release --nologo -v quiet --disable-build-servers --artifacts-path "$artifacts"
echo "[bench] published in $((SECONDS - start)) s"

dotnet "$artifacts/bin/VoiceFunctions.Bench/release/VoiceFunctions.Bench.dll" \
  --apps "$apps" --repo "$root" --out "$root/docs" --commit "$commit" --emulator "$apps/functions-host/FunctionsHost.dll" "$@" &
driver_pid=$!
wait "$driver_pid"
driver_pid=""

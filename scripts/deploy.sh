#!/usr/bin/env bash
# Publish the VoiceFunctions isolated worker to an existing Flex Consumption function app (provisioned by
# infra/main.bicep, see docs/deploy.md). Or use `azd up` (azure.yaml) for provisioning + deployment in one.
#
# Usage:
#   scripts/deploy.sh --resource-group <rg> [--deployment-name main]   # app name from the Bicep outputs
#   scripts/deploy.sh <function-app-name> [--resource-group <rg>]
#   scripts/deploy.sh --resource-group <rg> --zip                      # alternative: zip deploy (az only)
#   --skip-first-start: do not wait for the Key Vault reference and restart (scripts/first-start.sh)
#
# Both ways ship the build docs/benchmarks.md measures: `dotnet publish -c Release -r linux-x64` (ReadyToRun).
# Default: publish into src/VoiceFunctions/bin/publish, then Core Tools uploads that folder (--no-build); from
# there it still finds VoiceFunctions.csproj upwards and reads net10.0, which Flex checks (docs/infra.md,
# "Publishing"). --zip: zip the publish folder, `az functionapp deployment source config-zip` (/api/publish on Flex).
set -euo pipefail

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

app=""
resource_group=""
deployment_name="main"
mode="func"
first_start=true
while [[ $# -gt 0 ]]; do
  case "$1" in
    -g|--resource-group) resource_group="${2:?missing value for $1}"; shift 2 ;;
    -d|--deployment-name) deployment_name="${2:?missing value for $1}"; shift 2 ;;
    --zip) mode="zip"; shift ;;
    --skip-first-start) first_start=false; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) app="$1"; shift ;;
  esac
done

need() {
  command -v "$1" >/dev/null || { echo "error: '$1' is not on PATH (see docs/deploy.md, prerequisites)" >&2; exit 1; }
}
need dotnet
if [[ "$mode" == "func" ]]; then need func; else need az; need zip; fi

if [[ -z "$app" ]]; then
  [[ -n "$resource_group" ]] || { echo "error: give a function app name or --resource-group" >&2; usage; }
  need az
  # The app name is an output of infra/main.bicep; `az deployment group create -f infra/main.bicep` names the deployment "main".
  app="$(az deployment group show -g "$resource_group" -n "$deployment_name" --query properties.outputs.functionAppName.value -o tsv)"
  [[ -n "$app" ]] || { echo "error: deployment '$deployment_name' in '$resource_group' has no functionAppName output" >&2; exit 1; }
fi
if [[ "$mode" == "zip" && -z "$resource_group" ]]; then
  echo "error: --zip needs --resource-group (az functionapp deployment source config-zip requires it)" >&2
  exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project_dir="$repo_root/src/VoiceFunctions"

# Flex runs the app as a .NET isolated worker (functionAppConfig.runtime dotnet-isolated 10.0).
if ! grep -q 'Microsoft.Azure.Functions.Worker' "$project_dir/VoiceFunctions.csproj"; then
  echo "error: $project_dir/VoiceFunctions.csproj does not reference Microsoft.Azure.Functions.Worker; Flex runs only the isolated worker" >&2
  exit 1
fi

# The deployed build is the measured one: ReadyToRun for linux-x64 (the csproj turns it on whenever a runtime is
# given), framework-dependent (Flex provides .NET 10).
publish() {
  local out="$1"
  # Start clean so files deleted from the project never linger in the package.
  rm -rf "$out"
  dotnet publish "$project_dir" -c Release -r linux-x64 --self-contained false -o "$out"
  # The host needs these at the package root to start the isolated worker and index its functions.
  for f in host.json functions.metadata worker.config.json; do
    [[ -f "$out/$f" ]] || { echo "error: $out/$f is missing; is src/VoiceFunctions an isolated worker project?" >&2; exit 1; }
  done
}

if [[ "$mode" == "func" ]]; then
  # Core Tools (PublishFunctionAppAction): the app root is the first folder upwards holding host.json (bin/publish),
  # the project file is searched from there upwards (src/VoiceFunctions/VoiceFunctions.csproj, so net10.0 is
  # detected for Flex), and --no-build uploads the app root as it is. A publish folder outside the project tree
  # would have no project above it (Azure/azure-functions-core-tools#4794).
  publish "$project_dir/bin/publish"
  cd "$project_dir/bin/publish"
  func azure functionapp publish "$app" --dotnet-isolated --no-build
  cd "$repo_root"
else
  publish_dir="$repo_root/artifacts/publish"
  package="$repo_root/artifacts/voicefunctions.zip"
  rm -f "$package"
  publish "$publish_dir"
  (cd "$publish_dir" && zip -q -r "$package" .)
  # On a Flex app az posts the zip to the one-deploy endpoint (/api/publish) with an Entra token.
  az functionapp deployment source config-zip -g "$resource_group" -n "$app" --src "$package"
fi

if [[ "$first_start" == true && -n "$resource_group" ]]; then
  # A first deployment's Key Vault role may not have propagated when the host first read the reference.
  "$repo_root/scripts/first-start.sh" --resource-group "$resource_group" --app "$app"
fi

rg="${resource_group:-<resource-group>}"
echo
echo "Published $app. Webhook URL: the 'webhookUrl' deployment output + ?code=<function key>, where the key is"
echo "  az functionapp keys list -n $app -g $rg --query functionKeys.default -o tsv"
echo "Check that the Key Vault reference resolved (status \"Resolved\"; the app refuses to start otherwise):"
echo "  az rest --method get --url \"\$(az functionapp show -n $app -g $rg --query id -o tsv)/config/configreferences/appsettings/AiFlow__ApiToken?api-version=2023-12-01\""

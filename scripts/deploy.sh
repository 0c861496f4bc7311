#!/usr/bin/env bash
# Build the VoiceFunctions custom handler for linux-x64 and publish it to an existing Flex Consumption
# function app (provisioned by infra/main.bicep, see docs/deploy.md).
#
# Usage:
#   scripts/deploy.sh <function-app-name>
#   scripts/deploy.sh --resource-group <rg> [--deployment-name main]   # app name from the Bicep outputs
#
# Provision first (once per environment):
#   export AIFLOW_API_TOKEN="$(openssl rand -hex 24)"
#   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
set -euo pipefail

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

app=""
resource_group=""
deployment_name="main"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -g|--resource-group) resource_group="${2:?missing value for $1}"; shift 2 ;;
    -d|--deployment-name) deployment_name="${2:?missing value for $1}"; shift 2 ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) app="$1"; shift ;;
  esac
done

for tool in dotnet func; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' is not on PATH (see docs/deploy.md, prerequisites)" >&2; exit 1; }
done

if [[ -z "$app" ]]; then
  [[ -n "$resource_group" ]] || { echo "error: give a function app name or --resource-group" >&2; usage; }
  command -v az >/dev/null || { echo "error: 'az' is needed to read the deployment outputs" >&2; exit 1; }
  # The app name is an output of infra/main.bicep; `az deployment group create -f infra/main.bicep` names the deployment "main".
  app="$(az deployment group show -g "$resource_group" -n "$deployment_name" --query properties.outputs.functionAppName.value -o tsv)"
  [[ -n "$app" ]] || { echo "error: deployment '$deployment_name' in '$resource_group' has no functionAppName output" >&2; exit 1; }
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

publish_dir="artifacts/publish"
# Start clean so files deleted from the project never linger in the package.
rm -rf "$publish_dir"
dotnet publish src/VoiceFunctions -c Release -r linux-x64 --self-contained false -o "$publish_dir"

# The Functions host only starts the handler if host.json (with its customHandler section) is in the package root.
if ! grep -q '"customHandler"' "$publish_dir/host.json" 2>/dev/null; then
  echo "error: $publish_dir/host.json with a \"customHandler\" section is missing; the project must copy host.json (and its function.json folders) to the publish output" >&2
  exit 1
fi

cd "$publish_dir"
# --dotnet-isolated matches functionAppConfig.runtime (docs/infra.md); --no-build because this folder is
# already the publish output (without it func would try to `dotnet build` here and find no project).
func azure functionapp publish "$app" --dotnet-isolated --no-build

echo
echo "Published $app. Webhook URL: the 'webhookUrl' deployment output + ?code=<function key>, where the key is"
echo "  az functionapp keys list -n $app -g ${resource_group:-<resource-group>} --query functionKeys.default -o tsv"

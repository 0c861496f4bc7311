#!/usr/bin/env bash
# First start after provisioning: wait until the app's Key Vault reference (AiFlow__ApiToken) resolves, then restart
# the app once so the worker starts with the secret (docs/deploy.md, "First start after provisioning").
#
# Usage:
#   scripts/first-start.sh --resource-group <rg> [--app <function-app-name>] [--wait-seconds 300]
#   (azd runs it as the postdeploy hook of azure.yaml with AZURE_RESOURCE_GROUP set; the app is found by its
#   azd-service-name tag.)
#
# Why: a new identity's Key Vault Secrets User role can take minutes to propagate. If the host reads the reference
# before that, App Service hands the worker the literal "@Microsoft.KeyVault(...)" and the worker stops on purpose.
set -euo pipefail

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

resource_group="${AZURE_RESOURCE_GROUP:-}"
app=""
wait_seconds=300
interval=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    -g|--resource-group) resource_group="${2:?missing value for $1}"; shift 2 ;;
    -n|--app) app="${2:?missing value for $1}"; shift 2 ;;
    --wait-seconds) wait_seconds="${2:?missing value for $1}"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ -n "$resource_group" ]] || { echo "error: give --resource-group (or set AZURE_RESOURCE_GROUP)" >&2; usage; }
[[ "$wait_seconds" =~ ^[0-9]+$ ]] || { echo "error: --wait-seconds must be a whole number" >&2; exit 2; }
command -v az >/dev/null || { echo "error: 'az' is not on PATH (docs/deploy.md, prerequisites)" >&2; exit 1; }

if [[ -z "$app" ]]; then
  # The app infra/main.bicep tags for azd (azd-service-name=api), so the hook needs no output names.
  app="$(az functionapp list -g "$resource_group" --query "[?tags.\"azd-service-name\"=='api'].name | [0]" -o tsv)"
  [[ -n "$app" ]] || { echo "error: no function app tagged azd-service-name=api in '$resource_group'" >&2; exit 1; }
fi

site_id="$(az functionapp show -g "$resource_group" -n "$app" --query id -o tsv)"
# GET {site}/config/configreferences/appsettings/{name}: the Key Vault reference's resolution status
# (Microsoft.Web REST API "Web Apps - Get App Setting Key Vault Reference", api-version 2023-12-01).
url="${site_id}/config/configreferences/appsettings/AiFlow__ApiToken?api-version=2023-12-01"

status_now() {
  az rest --method get --url "$url" --query properties.status -o tsv 2>/dev/null || echo "unknown"
}

deadline=$((SECONDS + wait_seconds))
restarted=false
status="$(status_now)"
while [[ "$status" != "Resolved" ]]; do
  if (( SECONDS >= deadline )); then
    if [[ "$restarted" == false ]]; then
      # App Service re-reads references on a restart; one more round after it before giving up.
      echo "AiFlow__ApiToken is '$status' after ${wait_seconds}s; restarting $app once and checking again"
      az functionapp restart -g "$resource_group" -n "$app"
      restarted=true
      deadline=$((SECONDS + wait_seconds))
    else
      echo "error: the Key Vault reference of AiFlow__ApiToken is still '$status' (docs/deploy.md, step 3: role, vault, secret, private DNS)" >&2
      exit 1
    fi
  fi
  echo "AiFlow__ApiToken reference: $status; waiting for the Key Vault role to propagate"
  sleep "$interval"
  status="$(status_now)"
done

echo "AiFlow__ApiToken reference: Resolved"
if [[ "$restarted" == false ]]; then
  # The worker may have stopped on the unresolved value before the role propagated: start it with the secret.
  az functionapp restart -g "$resource_group" -n "$app"
fi
echo "Restarted $app with the resolved token."

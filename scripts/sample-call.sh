#!/usr/bin/env bash
# Replays one call against the webhook and prints each answer:
# session_start -> user_speak x3 -> assistant_speak -> user_speak ("human": escalation) -> assistant_speech_ended (the transfer) -> session_end,
# then reads the call back and waits (up to 60 s) for the call's notes, which the CallNotes queue function writes
# after session_end. Needs curl.
#   ./scripts/sample-call.sh [BASE_URL]          default http://localhost:7071
# Optional: AIFLOW_API_TOKEN (sent as X-API-TOKEN), FUNCTION_KEY (sent as ?code= with each event), MASTER_KEY (the admin
# key, sent as ?code= to read the call back: the function key cannot read calls).
set -euo pipefail
base="${1:-http://localhost:7071}"
id="$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen)"
query=""; [ -n "${FUNCTION_KEY:-}" ] && query="?code=${FUNCTION_KEY}"
headers=(-H "Content-Type: application/json")
[ -n "${AIFLOW_API_TOKEN:-}" ] && headers+=(-H "X-API-TOKEN: ${AIFLOW_API_TOKEN}")
session="{\"id\":\"$id\",\"account_id\":\"demo\",\"phone_number\":\"+4921100000001\",\"direction\":\"inbound\",\"from_phone_number\":\"+491701234567\",\"to_phone_number\":\"+4921100000001\"}"

send() {
  local body="$1"
  echo "> $(printf '%s' "$body" | cut -c1-110)"
  curl -sS -w '\n< HTTP %{http_code} in %{time_total}s\n\n' -X POST "${headers[@]}" --data-binary "$body" "$base/api/events$query"
}

send "{\"type\":\"session_start\",\"session\":$session}"
send "{\"type\":\"user_speak\",\"session\":$session,\"text\":\"Hello, I would like an appointment next week.\",\"barged_in\":false}"
send "{\"type\":\"assistant_speak\",\"session\":$session,\"text\":\"Of course. Which day suits you?\",\"duration_ms\":1800,\"speech_started_at\":$(date +%s)000}"
send "{\"type\":\"user_speak\",\"session\":$session,\"text\":\"Tuesday morning, if possible.\"}"
send "{\"type\":\"user_speak\",\"session\":$session,\"text\":\"Actually, can I talk to a human?\"}"
send "{\"type\":\"assistant_speech_ended\",\"session\":$session}"
send "{\"type\":\"session_end\",\"session\":$session}"

# A call this short is one page; a longer one carries "next": GET …?continuation=<next> for the rows after it (README).
echo "> GET /api/sessions/$id"
read_query=""; [ -n "${MASTER_KEY:-}" ] && read_query="?code=${MASTER_KEY}"
curl -sS "${headers[@]}" "$base/api/sessions/$id$read_query"
echo

# The notes come from the call-notes queue, not from session_end's answer: poll until they are written (or failed).
echo "> waiting for the call's notes (GET /api/sessions/$id, notes.status) ..."
notes=""
for _ in $(seq 1 120); do
  notes="$(curl -sS "${headers[@]}" "$base/api/sessions/$id$read_query" | grep -o '"notes":{[^}]*}' || true)"
  case "$notes" in
    *'"status":"written"'*|*'"status":"failed"'*) break ;;
  esac
  sleep 0.5
done
echo "${notes:-no notes yet (is the CallNotes function running? see README: call notes)}"

#!/usr/bin/env bash
# Smoke test of the two-command promise: `npm start` with no DATABASE_URL (embedded PGlite) serves a
# healthy Worker that stores a message, the built-in demo agent answers it, and the chat page and the
# docs are served. Uses a throwaway data folder and port.
set -euo pipefail
cd "$(dirname "$0")/.."
port=$((20000 + RANDOM % 10000))
data=$(mktemp -d)
log=$(mktemp)
env -u DATABASE_URL PORT=$port EDGE_CHAT_DATA_DIR="$data" setsid npm start >"$log" 2>&1 &
pid=$!
stop() { kill -TERM -- -"$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap stop EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 120); do
  curl -fs "$base/health" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "$base/health" || { echo "embedded start never became healthy"; cat "$log"; exit 1; }
echo
token=$(node scripts/token.mjs smoke-user)
auth=(-H "authorization: Bearer $token" -H "content-type: application/json")
session=$(curl -fsS -X POST "$base/api/sessions" "${auth[@]}" -d '{"title":"smoke"}')
id=$(node -pe 'JSON.parse(process.argv[1]).id' "$session")
curl -fsS -X POST "$base/api/sessions/$id/messages" "${auth[@]}" -d '{"content":"hello, what is my balance?","clientId":"smoke-1"}' >/dev/null
# The demo agent (`primary`) streams its answer; the stored reply follows the customer's message.
for _ in $(seq 1 40); do
  history=$(curl -fsS "$base/api/sessions/$id/history" "${auth[@]}")
  node -e 'const h = JSON.parse(process.argv[1]); process.exit(h.messages.length >= 2 ? 0 : 1)' "$history" && break
  sleep 0.5
done
node -e '
  const [first, reply, ...rest] = JSON.parse(process.argv[1]).messages;
  const ok = first?.content === "hello, what is my balance?" && reply?.direction === "outgoing" && reply.parentId === first.id
    && reply.agentInfo?.agentType === "primary" && reply.intent === "balance" && rest.length === 0;
  if (!ok) { console.error("unexpected history", process.argv[1]); process.exit(1); }' "$history"
# The chat page and the docs are served too (built by npm install).
page=$(curl -fsS "$base/")
grep -q '<div id="root">' <<<"$page" || { echo "GET / is not the chat page"; exit 1; }
curl -fsS "$base/docs" | grep -q "/vendor/scalar/standalone.js" || { echo "GET /docs is not the API reference"; exit 1; }
curl -fsS -o /dev/null "$base/vendor/scalar/standalone.js" || { echo "the docs' script is not served"; exit 1; }
echo "smoke: embedded database, the demo agent, the chat page and the docs OK"

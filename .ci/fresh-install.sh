#!/usr/bin/env bash
# fresh-install.sh [--keep DIR] [COMMIT]: what `npm install` costs a new user. Clones this
# repository at COMMIT (default HEAD) into an empty temporary folder (or DIR, kept), runs `npm install` there with a new, empty npm
# cache (everything comes from the registry, as on a first install), and prints the time it took,
# the packages it added and the load it ran under. Exits non-zero when the install fails or warns
# (an EBADENGINE, an install-scripts notice: a new user should see nothing to worry about), or
# when it compiled a native module (node-gyp's objects in node_modules: every binary the project
# needs comes prebuilt from the registry, so an install takes seconds, not minutes).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
keep=""
if [ "${1:-}" = --keep ]; then keep="${2:?--keep DIR}"; shift 2; fi
commit="${1:-$(git -C "$repo" rev-parse HEAD)}"
work="$(mktemp -d "${TMPDIR:-/tmp}/fleet-fresh.XXXXXX")"
trap 'rm -rf "$work"' EXIT
clone="${keep:-$work/mcp-fleet}"
git clone --quiet "$repo" "$clone"
git -C "$clone" checkout --quiet "$commit"
cd "$clone"
load="$(cut -d' ' -f1 /proc/loadavg)"
start=$(date +%s%N)
status=0
npm_config_cache="$work/npm-cache" npm install --no-audit --no-fund > "$work/install.out" 2>&1 || status=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
added="$(grep -Eo 'added [0-9]+ packages?' "$work/install.out" | grep -Eo '[0-9]+' || echo 0)"
warnings="$(grep -c '^npm warn' "$work/install.out" || true)"
printf 'fresh clone of %s: npm install took %d.%d s, added %s packages, %s npm warnings (empty npm cache, node %s, npm %s, load %s at start)\n' \
  "$(git rev-parse --short HEAD)" $((ms / 1000)) $((ms % 1000 / 100)) "$added" "$warnings" "$(node --version)" "$(npm --version)" "$load"
if [ "$status" != 0 ] || [ "$warnings" != 0 ]; then
  grep -E '^npm (warn|error)' "$work/install.out" | head -n 20 >&2 || tail -n 20 "$work/install.out" >&2
  exit 1
fi
compiled="$(find node_modules -type d -name obj.target -path '*/build/*' | sed 's|/build/.*||' | sort -u)"
if [ -n "$compiled" ]; then
  echo "npm install compiled native code (node-gyp) in: $compiled" >&2
  exit 1
fi

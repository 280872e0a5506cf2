#!/usr/bin/env bash
# Builds the JavaScript deny-by-audience rule into OUT_DIR/deny_audience_js.wasm
# (default: example-rules/) with componentize-js, first installing the
# toolchain pinned in package-lock.json into node_modules/ when it is missing
# or out of date. Does nothing when the module is newer than its inputs.
#
# Usage: build.sh [OUT_DIR]
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../languages/toolchain.sh"
out_dir=$(mkdir -p "${1:-$root/example-rules}" && cd "${1:-$root/example-rules}" && pwd)
out=$out_dir/deny_audience_js.wasm

cd "$here"
if ! stamp_matches node_modules/.rulehost-stamp package-lock.json; then
  echo "installing componentize-js from package-lock.json into $here/node_modules" >&2
  npm ci --no-audit --no-fund --loglevel=error
  write_stamp node_modules/.rulehost-stamp package-lock.json
fi

inputs=(deny_audience.js package-lock.json build.sh "$root/wit" "$here/../languages/toolchain.sh")
if up_to_date "$out" "${inputs[@]}"; then
  exit 0
fi
# Every WASI feature is disabled: with one left on, SpiderMonkey's build
# imports interfaces (wasi:http among them) that rulehost does not provide.
node_modules/.bin/componentize-js deny_audience.js --wit "$root/wit" --world-name rule \
  --disable stdio random clocks http fetch-event --out "$out.tmp"
mv "$out.tmp" "$out"
echo "built $out" >&2

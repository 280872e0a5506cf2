#!/usr/bin/env bash
# Builds the example rules written in JavaScript, Python and C into OUT_DIR
# (default: example-rules/), installing each one's pinned toolchain first
# when it is missing. Each build is skipped when its module is up to date.
#
# Usage: build.sh [OUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rules=$(dirname "$here")
for rule in deny-audience-js role-scopes-py deny-client-c; do
  "$rules/$rule/build.sh" "$@"
done

#!/usr/bin/env bash
# Builds the Python scopes-by-role rule into OUT_DIR/role_scopes_py.wasm
# (default: example-rules/) with componentize-py, first installing the version
# pinned in requirements.txt into a virtual environment under the target
# folder when it is missing or out of date. Does nothing when the module is
# newer than its inputs.
#
# Usage: build.sh [OUT_DIR]
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../languages/toolchain.sh"
out_dir=$(mkdir -p "${1:-$root/example-rules}" && cd "${1:-$root/example-rules}" && pwd)
out=$out_dir/role_scopes_py.wasm
venv=$toolchains/role-scopes-py-venv

python_venv "$venv" "$here/requirements.txt"

cd "$here"
inputs=(app.py requirements.txt build.sh "$root/wit" "$here/../languages/toolchain.sh")
if up_to_date "$out" "${inputs[@]}"; then
  exit 0
fi
# --stub-wasi replaces the filesystem, socket and other WASI imports of the
# Python runtime with stubs, so that the component imports only `config`.
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/componentize-py" --wit-path "$root/wit" --world rule \
  componentize --stub-wasi app --output "$out.tmp"
mv "$out.tmp" "$out"
echo "built $out" >&2

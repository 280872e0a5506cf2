#!/usr/bin/env bash
# Builds the C deny-by-client rule into OUT_DIR/deny_client_c.wasm (default:
# example-rules/): `wit-bindgen c` generates the bindings, `zig cc` compiles
# them with the rule to a core module, and `wasm-tools component new` wraps
# that into a component. The pinned tools install first when missing: zig
# from requirements.txt into a virtual environment, wit-bindgen and
# wasm-tools with `cargo install --locked` under the target folder. Does
# nothing when the module is newer than its inputs.
#
# Usage: build.sh [OUT_DIR]
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../languages/toolchain.sh"
out_dir=$(mkdir -p "${1:-$root/example-rules}" && cd "${1:-$root/example-rules}" && pwd)
out=$out_dir/deny_client_c.wasm
venv=$toolchains/deny-client-c-venv
cargo_root=$toolchains/cargo
work=$target_dir/languages/deny-client-c

# The crates.io tools: name, version, and the features to build.
WIT_BINDGEN_VERSION=0.63.0
WASM_TOOLS_VERSION=1.263.0

# Installs crate $1 at version $2 with features $3 unless that version is
# already there.
cargo_tool() {
  local crate=$1 version=$2 features=$3 binary=$4
  if [[ -x $cargo_root/bin/$binary ]] && "$cargo_root/bin/$binary" --version | grep -qF " $version"; then
    return
  fi
  echo "installing $crate $version into $cargo_root" >&2
  cargo install --quiet --locked --root "$cargo_root" --target-dir "$toolchains/cargo-build" \
    --version "$version" --no-default-features --features "$features" "$crate"
}

python_venv "$venv" "$here/requirements.txt"
cargo_tool wit-bindgen-cli "$WIT_BINDGEN_VERSION" c wit-bindgen
cargo_tool wasm-tools "$WASM_TOOLS_VERSION" component,validate,print,parse wasm-tools

cd "$here"
inputs=(deny_client.c requirements.txt build.sh "$root/wit" ../languages/toolchain.sh)
if up_to_date "$out" "${inputs[@]}"; then
  exit 0
fi
mkdir -p "$work"
"$cargo_root/bin/wit-bindgen" c "$root/wit" --world rule --out-dir "$work/bindings" >/dev/null
# zig keeps its caches under the target folder rather than in the home folder.
export ZIG_GLOBAL_CACHE_DIR=$work/zig-cache ZIG_LOCAL_CACHE_DIR=$work/zig-cache
# The reactor model gives a library-style module (no `main`). The rule uses
# no libc I/O, so the module imports no WASI function and needs no preview1
# adapter: its only import is `config`.
"$venv/bin/python" -m ziglang cc -target wasm32-wasi -mexec-model=reactor -Os \
  -Wall -Wextra -Werror -I "$work/bindings" \
  deny_client.c "$work/bindings/rule.c" "$work/bindings/rule_component_type.o" \
  -o "$work/deny_client_c.core.wasm"
"$cargo_root/bin/wasm-tools" component new "$work/deny_client_c.core.wasm" -o "$out.tmp"
mv "$out.tmp" "$out"
echo "built $out" >&2

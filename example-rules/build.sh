#!/usr/bin/env bash
# Builds every example rule to a wasm32-wasip2 component and copies it next to
# example-rules/rules.toml, where the manifest expects it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
target_dir=${CARGO_TARGET_DIR:-$root/target}
crates=(deny-audience deny-client role-scopes require-verified-email ip-allowlist roles-claim)
packages=()
for crate in "${crates[@]}"; do packages+=(-p "$crate"); done
cargo build --manifest-path "$root/Cargo.toml" --target wasm32-wasip2 --release "${packages[@]}"
for crate in "${crates[@]}"; do
  cp "$target_dir/wasm32-wasip2/release/${crate//-/_}.wasm" "$here/"
done
echo "built ${#crates[@]} rules into $here"

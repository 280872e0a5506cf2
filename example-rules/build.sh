#!/usr/bin/env bash
# Builds every example rule to a wasm32-wasip2 component and copies it next to
# example-rules/rules.toml, where the manifest expects it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# Guests build in a target folder of their own, shared with the integration
# tests, so that the host's build and theirs never wait on each other.
target_dir=${CARGO_TARGET_DIR:-$root/target}/guests
crates=(deny-audience deny-client role-scopes require-verified-email ip-allowlist roles-claim)
packages=()
for crate in "${crates[@]}"; do packages+=(-p "$crate"); done
cargo build --manifest-path "$root/Cargo.toml" --target wasm32-wasip2 --release \
  --target-dir "$target_dir" "${packages[@]}"
for crate in "${crates[@]}"; do
  cp "$target_dir/wasm32-wasip2/release/${crate//-/_}.wasm" "$here/"
done
echo "built ${#crates[@]} rules into $here"

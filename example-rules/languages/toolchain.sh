# Shell helpers shared by the build scripts of the rules written in languages
# other than Rust. Source it; it defines variables and functions only.
#
# Toolchains install under $CARGO_TARGET_DIR (or target/) in toolchains/, and
# intermediate files go to languages/, so that `cargo clean` removes both and
# nothing is installed outside the repository.

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
toolchains=$target_dir/toolchains
mkdir -p "$toolchains"

# Whether `$1` exists and is newer than every other argument (files or
# folders, searched recursively).
up_to_date() {
  local out=$1
  shift
  [[ -f $out ]] && [[ -z $(find "$@" -newer "$out" -print -quit) ]]
}

# Whether the stamp file `$1` records the content of `$2`: the install it
# stands for was made from this very pin list.
stamp_matches() {
  [[ -f $1 ]] && [[ $(cat "$1") == $(sha256sum <"$2") ]]
}

# Records the content of `$2` in the stamp file `$1`.
write_stamp() {
  sha256sum <"$2" >"$1"
}

# Creates the virtual environment `$1` if needed and installs the exact
# versions listed in the requirements file `$2` into it, once per change of
# that file.
python_venv() {
  local venv=$1 requirements=$2
  if stamp_matches "$venv/.rulehost-stamp" "$requirements"; then
    return
  fi
  echo "installing $(tr '\n' ' ' <"$requirements")into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-virtualenv -r "$requirements"
  write_stamp "$venv/.rulehost-stamp" "$requirements"
}

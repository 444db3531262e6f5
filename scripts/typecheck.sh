#!/usr/bin/env bash
# mypy cannot follow setuptools' package-dir mapping through an editable install, so lay the package
# out as it is installed (crossforce/, crossforce/server -> server/, crossforce/client -> client/) in a
# tree of symlinks and check that.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tree="$root/build/typecheck"
rm -rf "$tree" && mkdir -p "$tree/crossforce"
for entry in "$root"/crossforce/*; do ln -s "$entry" "$tree/crossforce/$(basename "$entry")"; done
ln -s "$root/server" "$tree/crossforce/server"
ln -s "$root/client" "$tree/crossforce/client"
cd "$tree"
exec python -m mypy --config-file "$root/pyproject.toml" -p crossforce "$@"

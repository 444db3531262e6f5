#!/usr/bin/env bash
# mypy strict over the whole crossforce namespace: its four source roots are on mypy_path (pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m mypy --config-file pyproject.toml core/crossforce server/crossforce client/crossforce testkit/crossforce "$@"

#!/usr/bin/env bash
# The test command: installs what it needs into .venv, then lint, format check, types, tests.
# Extra arguments go to pytest (e.g. --slow for the long soak, fuzz and crash versions).
set -euo pipefail
. "$(dirname "$0")/_venv.sh"
. "$(dirname "$0")/_postgres.sh"
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"; bash scripts/typecheck.sh
echo "== pytest"; python -m pytest -n 2 "$@"

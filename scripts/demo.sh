#!/usr/bin/env bash
# The main job: installs what it needs into .venv, then runs the whole story end to end.
set -euo pipefail
. "$(dirname "$0")/_venv.sh"
exec crossforce demo "$@"

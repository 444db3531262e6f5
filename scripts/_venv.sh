# Sourced by demo.sh and test.sh: make (once) and activate the project's virtual environment.
# The four parts (core, server, client, testkit) are installed editable from their own folders, then the
# workspace's development extras; the stamp changes whenever any pyproject.toml does.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${CROSSFORCE_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
stamp="$venv/.installed-$(cat "$root"/pyproject.toml "$root"/{core,server,client,testkit}/pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  python -m pip install --quiet --upgrade pip
  python -m pip uninstall --quiet --yes crossforce crossforce-core crossforce-server crossforce-client crossforce-testkit 2>/dev/null || true
  python -m pip install --quiet --config-settings editable_mode=compat -e "$root/core" -e "$root/server" -e "$root/client" -e "$root/testkit" \
    -e "$root[${CROSSFORCE_EXTRAS:-dev}]"
  touch "$stamp"
fi
cd "$root"

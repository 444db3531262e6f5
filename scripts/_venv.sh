# Sourced by demo.sh and test.sh: make (once) and activate the project's virtual environment.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${CROSSFORCE_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
stamp="$venv/.installed-$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -e "$root[dev]"
  touch "$stamp"
fi
cd "$root"

# Sourced by test.sh and demo.sh: make sure PostgreSQL server binaries exist (the tests start a real
# server of their own in a temporary folder; nothing is configured system-wide and no service is started).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${CROSSFORCE_PG_BIN:-}" ] \
   && ! command -v pg_config >/dev/null 2>&1; then
  echo "== installing PostgreSQL (Debian package 'postgresql'; tests need a real server)"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >/dev/null \
    || { $sudo_cmd apt-get update -qq && $sudo_cmd env DEBIAN_FRONTEND=noninteractive \
           apt-get install -y --no-install-recommends postgresql >/dev/null; }
  # The package starts a system cluster; the tests never use it.
  $sudo_cmd systemctl stop postgresql >/dev/null 2>&1 || $sudo_cmd service postgresql stop >/dev/null 2>&1 || true
fi

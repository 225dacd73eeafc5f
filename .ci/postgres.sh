# A throwaway PostgreSQL cluster for the tests: sourced by .ci/run, or by hand
#   source .ci/postgres.sh && pg_start     # exports DATABASE_URL; pg_stop when done
# The cluster lives in a temp folder, is owned by an unprivileged user, listens on 127.0.0.1
# only (and a Unix socket in its folder), trusts its one local role, and skips fsync: it
# holds test data for one run. Installs Debian's `postgresql` package when it is missing.

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

pg_start() {
  local sudo="" bin user port
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if [ -z "$(pg_bin)" ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  fi
  bin="$(pg_bin)"
  PG_DIR="$(mktemp -d /tmp/smdp-pg.XXXXXX)"
  # initdb refuses to run as root: as root, the cluster belongs to the package's user.
  if [ "$(id -u)" -eq 0 ]; then user=postgres; else user="$(id -un)"; fi
  [ "$(id -u)" -ne 0 ] || chown "$user" "$PG_DIR"
  pg_as() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  pg_as "$bin/initdb" -D "$PG_DIR/data" -U smdp --auth=trust -E UTF8 --no-sync >"$PG_DIR/initdb.log"
  pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -o \
    "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
  pg_as "$bin/createdb" -h 127.0.0.1 -p "$port" -U smdp smdp
  PG_USER="$user"
  PG_CTL="$bin/pg_ctl"
  export DATABASE_URL="postgres://smdp@127.0.0.1:$port/smdp"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at $DATABASE_URL (cluster in $PG_DIR)"
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$PG_USER" -- "$PG_CTL" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
  else
    "$PG_CTL" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$PG_DIR"
  PG_DIR=""
}

#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are running
# locally, and that PgBouncer (the tests run their own) and wrk (the benchmarks' load
# generator) are installed. Idempotent: does nothing when both already answer. Installs the
# Debian packages only when they are missing. Intended for dev boxes and CI
# containers without systemd (runs as root; uses sudo otherwise).
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
PG_WAIT=30
REDIS_WAIT=15

log() { echo "services: $*"; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

# Run a command as root (directly when we are root, via sudo otherwise).
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    "$@"
  fi
}

APT_UPDATED=0
apt_install() {
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# ---------------------------------------------------------------- PostgreSQL

pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1; }

# Newest cluster version that has a "main" cluster, or empty.
pg_cluster_version() {
  local conf
  for conf in /etc/postgresql/*/main/postgresql.conf; do
    [[ -e $conf ]] || continue
    basename "$(dirname "$(dirname "$conf")")"
  done | sort -V | tail -n 1
}

# Newest installed server version (has bin/postgres), or empty.
pg_server_version() {
  local bin
  for bin in /usr/lib/postgresql/*/bin/postgres; do
    [[ -e $bin ]] || continue
    basename "$(dirname "$(dirname "$bin")")"
  done | sort -V | tail -n 1
}

# Trust auth for local connections + listen on 127.0.0.1:5432 (fresh clusters only).
pg_configure() {
  local ver=$1 dir="/etc/postgresql/$1/main" marker="# tessera: local trust auth"
  local hba="$dir/pg_hba.conf" tmp
  if ! as_root grep -qF "$marker" "$hba"; then
    log "configuring trust auth in $hba"
    tmp=$(mktemp)
    { printf '%s\n' "$marker" \
        'local all all trust' \
        'host  all all 127.0.0.1/32 trust' \
        'host  all all ::1/128 trust'
      as_root cat "$hba"; } >"$tmp"
    as_root tee "$hba" <"$tmp" >/dev/null # rewrite in place: keeps owner and mode
    rm -f "$tmp"
  fi
  log "configuring listen_addresses=$PG_HOST port=$PG_PORT for cluster $ver/main"
  as_root install -d -o postgres -g postgres "$dir/conf.d"
  printf "listen_addresses = '%s'\nport = %s\n" "$PG_HOST" "$PG_PORT" \
    | as_root tee "$dir/conf.d/90-tessera.conf" >/dev/null
  as_root chown postgres:postgres "$dir/conf.d/90-tessera.conf"
}

ensure_postgres() {
  # Client tools first: pg_isready for the checks, pg_dump for backups.
  if ! command -v pg_isready >/dev/null 2>&1 || ! command -v pg_dump >/dev/null 2>&1; then
    apt_install postgresql-client
  fi

  if pg_ready; then
    log "postgresql already accepting connections on $PG_HOST:$PG_PORT"
    return
  fi

  local fresh=0 ver
  # Server not installed at all -> install it (Debian creates cluster <ver>/main).
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    apt_install postgresql
    fresh=1
  fi

  ver=$(pg_cluster_version)
  if [[ -z $ver ]]; then
    ver=$(pg_server_version)
    [[ -n $ver ]] || die "postgresql server binaries not found under /usr/lib/postgresql"
    log "creating cluster $ver/main"
    as_root pg_createcluster "$ver" main --port "$PG_PORT"
    fresh=1
  fi
  if [[ $fresh -eq 1 ]]; then
    pg_configure "$ver"
  fi

  # Socket dir lives on /run, which may be empty in a fresh container.
  as_root install -d -o postgres -g postgres -m 2775 /var/run/postgresql

  if as_root pg_ctlcluster "$ver" main status >/dev/null 2>&1; then
    if [[ $fresh -eq 1 ]]; then # apt may have auto-started it: reload new config
      log "restarting postgresql cluster $ver/main"
      as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main restart
    else
      log "postgresql cluster $ver/main is running but not ready yet; waiting"
    fi
  else
    log "starting postgresql cluster $ver/main"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  fi

  local i
  for ((i = 0; i < PG_WAIT; i++)); do
    if pg_ready; then
      log "postgresql is accepting connections on $PG_HOST:$PG_PORT"
      return
    fi
    sleep 1
  done
  die "postgresql did not become ready on $PG_HOST:$PG_PORT within ${PG_WAIT}s (see /var/log/postgresql/postgresql-$ver-main.log)"
}

# --------------------------------------------------------------------- Redis

redis_ready() {
  [[ $(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

ensure_redis() {
  if command -v redis-cli >/dev/null 2>&1 && redis_ready; then
    log "redis already answering PONG on $REDIS_HOST:$REDIS_PORT"
    return
  fi

  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    apt_install redis-server
  fi

  as_root mkdir -p /var/lib/redis /var/log/redis
  log "starting redis-server on $REDIS_HOST:$REDIS_PORT"
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log

  local i
  for ((i = 0; i < REDIS_WAIT * 2; i++)); do
    if redis_ready; then
      log "redis is answering PONG on $REDIS_HOST:$REDIS_PORT"
      return
    fi
    sleep 0.5
  done
  die "redis did not answer PONG on $REDIS_HOST:$REDIS_PORT within ${REDIS_WAIT}s (see /var/log/redis/ci.log)"
}

# ------------------------------------------------------------------ PgBouncer

# The tests start PgBouncer themselves, on free ports; only the binary is needed. Debian's
# package starts a service of its own on 6432, which nothing here uses: it is stopped.
ensure_pgbouncer() {
  if command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]]; then
    log "pgbouncer available"
    return
  fi
  apt_install pgbouncer
  if command -v invoke-rc.d >/dev/null 2>&1; then
    as_root invoke-rc.d pgbouncer stop >/dev/null 2>&1 || true
  fi
  log "pgbouncer installed"
}

# ------------------------------------------------------------------------ wrk

# The benchmarks under bench/ generate their HTTP load with wrk (bench/load.py).
ensure_wrk() {
  if command -v wrk >/dev/null 2>&1; then
    log "wrk available"
    return
  fi
  apt_install wrk
  log "wrk installed"
}

# ---------------------------------------------------------------------- main

ensure_postgres
ensure_redis
ensure_pgbouncer
ensure_wrk
if command -v pg_dump >/dev/null 2>&1; then
  log "pg_dump available: $(pg_dump --version)"
else
  die "pg_dump not found (install postgresql-client)"
fi
log "ok"

#!/bin/sh
# Starts one Redis process of the compose file's Sentinel set: a data server or a sentinel.
#
#   redis.sh server   HOST PORT [PRIMARY_HOST PRIMARY_PORT] [-- REDIS_OPTION...]
#   redis.sh sentinel HOST PORT SERVICE PRIMARY_HOST PRIMARY_PORT QUORUM [-- REDIS_OPTION...]
#
# HOST is the name the process is reached at (its compose service) and announces itself
# under, so addresses survive a container's new IP. The configuration file is written into
# the working directory (the container's volume) on the first start only: from then on it
# is Redis' own. A sentinel rewrites its file with what it learns (the current primary, the
# replicas, the other sentinels), and after a failover the sentinels rewrite each server's
# `replicaof`, so every process keeps its role across restarts. That is why each process
# needs a writable file of its own, never a shared or read-only one.
set -eu

role=$1 host=$2 port=$3
shift 3
case $role in
server)
    config=redis.conf
    primary=""
    if [ $# -ge 2 ] && [ "$1" != "--" ]; then
        primary="replicaof $1 $2"
        shift 2
    fi
    ;;
sentinel)
    config=sentinel.conf
    service=$1 primary_host=$2 primary_port=$3 quorum=$4
    shift 4
    ;;
*)
    echo "redis.sh: unknown role '$role' (server or sentinel)" >&2
    exit 2
    ;;
esac
if [ $# -gt 0 ] && [ "$1" = "--" ]; then
    shift
fi

if [ ! -f "$config" ]; then
    # No password: the compose network is the boundary (no Redis port is published).
    if [ "$role" = server ]; then
        cat >"$config.new" <<CONF
port $port
protected-mode no
appendonly yes
replica-announce-ip $host
$primary
CONF
    else
        # Hostnames, not addresses: a container keeps its name, not its IP, across restarts.
        # A failover starts after 5 s of silence; one whose election split the sentinels'
        # votes is tried again after twice the failover timeout (10 s, not Redis' 3 min).
        cat >"$config.new" <<CONF
port $port
protected-mode no
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $host
sentinel monitor $service $primary_host $primary_port $quorum
sentinel down-after-milliseconds $service 5000
sentinel failover-timeout $service 10000
sentinel parallel-syncs $service 1
CONF
    fi
    mv "$config.new" "$config"
fi

if [ "$role" = server ]; then
    exec redis-server "./$config" "$@"
fi
exec redis-server "./$config" --sentinel "$@"

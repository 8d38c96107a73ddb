#!/usr/bin/env bash
# Stop the single-node test cluster started by scripts/slurm/start-cluster.sh.
#
#   scripts/slurm/stop-cluster.sh               # stop slurmd, slurmctld (and munged if it started it)
#   scripts/slurm/stop-cluster.sh --keep-munge  # leave munged running
#   scripts/slurm/stop-cluster.sh --purge       # also remove its slurm.conf, state and logs
#
# Only processes named in the cluster's own pid files are signalled. Idempotent.
set -euo pipefail

MARKER="# Written by smanh scripts/slurm/start-cluster.sh"
CONF=/etc/slurm/slurm.conf
STATE=/var/lib/smanh-slurm
LOGS=/var/log/smanh-slurm
RUN=/run/smanh-slurm

keep_munge=no
purge=no
for arg in "$@"; do
    case "$arg" in
        --keep-munge) keep_munge=yes ;;
        --purge) purge=yes ;;
        *) echo "usage: $0 [--keep-munge] [--purge]" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    exec sudo -E bash "$0" "$@"
fi

stop_pidfile() {
    local name="$1" pidfile="$2"
    [ -s "$pidfile" ] || return 0
    local pid
    pid="$(cat "$pidfile")"
    # Only a live process of that name (a stale pid file may name an unrelated process).
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
        echo "stop-cluster: stopping $name (pid $pid)" >&2
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

stop_pidfile slurmd "$RUN/slurmd.pid"
stop_pidfile slurmctld "$RUN/slurmctld.pid"
if [ "$keep_munge" = no ] && [ -e "$RUN/munged.started-by-smanh" ]; then
    stop_pidfile munged /run/munge/munged.pid
    rm -f "$RUN/munged.started-by-smanh"
fi

if [ "$purge" = yes ]; then
    if [ -e "$CONF" ] && grep -qF "$MARKER" "$CONF"; then
        rm -f "$CONF"
    fi
    rm -rf "$STATE" "$LOGS" "$RUN"
fi

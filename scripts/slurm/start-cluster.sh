#!/usr/bin/env bash
# Bring up a single-node SLURM cluster on this machine, for testing the workflow's SLURM
# profile (tests/test_slurm.py) — not for production.
#
#   sudo scripts/slurm/start-cluster.sh     # idempotent: a running, healthy cluster is left alone
#   sudo scripts/slurm/stop-cluster.sh
#
# What it does, on Debian/Ubuntu:
#   1. installs slurm-wlm and munge with apt-get when slurmctld/slurmd/munged are missing
#      (services are not started by the packages: this script starts them itself, so it
#      works with or without systemd, e.g. in a container or on a CI machine);
#   2. writes /etc/slurm/slurm.conf for one node named after `hostname -s`, with the
#      machine's CPUs (as `slurmd -C` detects them) and its memory less a margin for the
#      operating system; partition `local` (default); no accounting database — status
#      queries go through `squeue`, so completed jobs stay visible for MinJobAge = 600 s;
#      jobs may run as root (SlurmdUser=root, SlurmUser=root);
#   3. creates the munge key if missing, starts munged, slurmctld and slurmd;
#   4. waits until `sinfo` shows the node idle.
# It refuses to overwrite a slurm.conf that it did not write (a real cluster's).
#
# Environment: SMANH_SLURM_MEM_MARGIN_MB (default: max(1024, 1/8 of the memory)),
# SMANH_SLURM_TIMEOUT (seconds to wait for the node, default 90).
set -euo pipefail

MARKER="# Written by smanh scripts/slurm/start-cluster.sh"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
STATE=/var/lib/smanh-slurm
LOGS=/var/log/smanh-slurm
RUN=/run/smanh-slurm
TIMEOUT="${SMANH_SLURM_TIMEOUT:-90}"

log() { echo "start-cluster: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "run as root (or install sudo)"
    exec sudo -E bash "$0" "$@"
fi

# --- 1. packages -----------------------------------------------------------------------
install_packages() {
    log "installing slurm-wlm and munge with apt-get"
    # Keep the packages' init scripts from starting daemons with a config they do not
    # have yet; remove the policy again only if this script created it.
    local created_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=yes
    fi
    local status=0
    { apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slurm-wlm munge >/dev/null; } || status=$?
    [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
    [ "$status" = 0 ] || die "apt-get install slurm-wlm munge failed ($status)"
}

for program in slurmctld slurmd munged sinfo squeue sbatch scontrol; do
    if ! command -v "$program" >/dev/null 2>&1; then
        install_packages
        break
    fi
done

# --- 2. slurm.conf ---------------------------------------------------------------------
HOST="$(hostname -s)"
[ -n "$HOST" ] || die "hostname -s is empty"

# CPUs and topology as slurmd detects them (so the node is not drained for a mismatch);
# memory from /proc/meminfo less a margin for the operating system and the Snakemake
# controller that runs beside the jobs.
node_hardware() {
    local detected
    detected="$(slurmd -C 2>/dev/null | head -n1 || true)"
    local cpus boards sockets cores threads
    cpus="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$detected")"
    boards="$(sed -n 's/.*Boards=\([0-9]*\).*/\1/p' <<<"$detected")"
    sockets="$(sed -n 's/.*SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$detected")"
    cores="$(sed -n 's/.*CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$detected")"
    threads="$(sed -n 's/.*ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$detected")"
    if [ -n "$cpus" ] && [ -n "$sockets" ] && [ -n "$cores" ] && [ -n "$threads" ]; then
        echo "CPUs=$cpus Boards=${boards:-1} SocketsPerBoard=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads"
    else
        echo "CPUs=$(nproc)"
    fi
}
MEM_TOTAL_MB=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
MARGIN_MB="${SMANH_SLURM_MEM_MARGIN_MB:-$((MEM_TOTAL_MB / 8 > 1024 ? MEM_TOTAL_MB / 8 : 1024))}"
REAL_MEMORY_MB=$((MEM_TOTAL_MB - MARGIN_MB))
[ "$REAL_MEMORY_MB" -gt 256 ] || die "too little memory: ${MEM_TOTAL_MB} MB"

NEW_CONF="$(mktemp)"
trap 'rm -f "$NEW_CONF"' EXIT
cat >"$NEW_CONF" <<EOF
$MARKER — a single-node test cluster.
# Remove this file (or run scripts/slurm/stop-cluster.sh --purge) before installing a real one.
ClusterName=smanh-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups: works in containers and on machines without a cgroup-enabled init.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: the Snakemake SLURM plugin queries job states with squeue
# (--slurm-status-command squeue), which sees finished jobs for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
KillWait=5
InactiveLimit=0
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
NodeName=$HOST NodeAddr=127.0.0.1 $(node_hardware) RealMemory=$REAL_MEMORY_MB State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

if [ -e "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; not touching a real cluster"
fi

mkdir -p "$CONF_DIR" "$STATE/slurmctld" "$STATE/slurmd" "$LOGS" "$RUN"

# A daemon is running when its pid file names a live process of that name (a stale pid
# file, e.g. after a reboot, may name an unrelated process).
pid_alive() {
    local pidfile="$1" name="$2" pid
    [ -s "$pidfile" ] || return 1
    pid="$(cat "$pidfile")"
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

config_changed=no
if ! cmp -s "$NEW_CONF" "$CONF"; then
    config_changed=yes
    install -m 644 "$NEW_CONF" "$CONF"
    log "wrote $CONF ($HOST: $(node_hardware), RealMemory=${REAL_MEMORY_MB} MB)"
fi
if [ "$config_changed" = yes ] && { pid_alive "$RUN/slurmctld.pid" slurmctld || pid_alive "$RUN/slurmd.pid" slurmd; }; then
    log "configuration changed: restarting the SLURM daemons"
    bash "$(dirname "$0")/stop-cluster.sh" --keep-munge
fi

# --- 3. munge, slurmctld, slurmd -------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    log "creating the munge key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 700 /etc/munge
chmod 400 /etc/munge/munge.key

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged
    touch "$RUN/munged.started-by-smanh"
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.2
    done
    munge -n | unmunge >/dev/null || die "munged does not answer (see /var/log/munge/munged.log)"
fi

if ! pid_alive "$RUN/slurmctld.pid" slurmctld; then
    log "starting slurmctld"
    slurmctld || die "slurmctld failed to start (see $LOGS/slurmctld.log)"
fi
for _ in $(seq 50); do
    scontrol ping 2>/dev/null | grep -q "is UP" && break
    sleep 0.2
done
scontrol ping | grep -q "is UP" || die "slurmctld does not answer (see $LOGS/slurmctld.log)"

if ! pid_alive "$RUN/slurmd.pid" slurmd; then
    log "starting slurmd"
    slurmd || die "slurmd failed to start (see $LOGS/slurmd.log)"
fi

# --- 4. wait for the node --------------------------------------------------------------
deadline=$((SECONDS + TIMEOUT))
resumed=no
while :; do
    state="$(sinfo -h -n "$HOST" -o %t 2>/dev/null | head -n1 || true)"
    case "$state" in
        idle | mix | alloc | comp) break ;;
        drain* | drng* | down | fail*)
            if [ "$resumed" = no ]; then
                log "node $HOST is '$state'; resuming it"
                scontrol update NodeName="$HOST" State=RESUME || true
                resumed=yes
            fi
            ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
        sinfo -N -l >&2 || true
        scontrol show node "$HOST" >&2 || true
        tail -n 20 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" >&2 || true
        die "node $HOST did not become idle within ${TIMEOUT}s (state '$state')"
    fi
    sleep 0.5
done
log "cluster is up: $(sinfo -h -o '%P %a %D %t %c CPUs %m MB' | head -n1)"

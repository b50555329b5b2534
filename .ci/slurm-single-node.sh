#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests/test_slurm_real.py (pytest -m slurm):
# Debian's slurmctld + slurmd + munge (Slurm 22.05 on Debian 12), one node `localhost` with every
# CPU of the machine, 90 % of its memory and two fake GPUs (gres gpu:a100, /dev/null and /dev/zero),
# partitions `cpu` (default) and `gpu`, no accounting database (use squeue for job status).
#
#   sudo .ci/slurm-single-node.sh          # install (once), configure, start, wait until the node is idle
#   sudo .ci/slurm-single-node.sh stop     # stop the daemons this script started
#
# Safe to run twice: a running cluster with the same configuration is left as it is. It refuses to
# touch a slurm.conf it did not write. Needs root and apt-get (Debian/Ubuntu).
set -euo pipefail

CONF_DIR=/etc/slurm
MARK="# written by act-bench .ci/slurm-single-node.sh"
GPU_TYPE=a100
WAIT_SECONDS=${SLURM_SETUP_WAIT_SECONDS:-60}
LOG_DIR=/var/log/slurm

die() { echo "slurm-single-node: $*" >&2; exit 1; }

stop_daemons() {
    local pidfile pid
    for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
        pid=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$pidfile"
    done
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sinfo >/dev/null \
            && command -v munged >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "apt-get not found; install slurmctld, slurmd, slurm-client and munge by hand"
    # no service starts during the installation (a container has no init system to start them with)
    local policy=/usr/sbin/policy-rc.d
    local made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
    if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi
}

write_slurm_conf() {   # prints the configuration to stdout
    local cpus mem_mb
    cpus=$(nproc)
    mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    cat <<EOF
$MARK
ClusterName=actbench
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=3600
GresTypes=gpu
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
NodeName=localhost CPUs=$cpus RealMemory=$mem_mb Gres=gpu:$GPU_TYPE:2 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
}

write_gres_conf() {
    cat <<EOF
$MARK
# Fake GPUs: SLURM needs a device file per GPU, else the node goes INVAL ("gres/gpu count reported lower than configured").
AutoDetect=off
Name=gpu Type=$GPU_TYPE File=/dev/null
Name=gpu Type=$GPU_TYPE File=/dev/zero
EOF
}

node_state() { sinfo --noheader --nodes=localhost --format=%t 2>/dev/null | head -n1; }

running() {
    [ -s /run/slurmctld.pid ] && kill -0 "$(cat /run/slurmctld.pid)" 2>/dev/null \
        && [ -s /run/slurmd.pid ] && kill -0 "$(cat /run/slurmd.pid)" 2>/dev/null
}

start_daemons() {
    mkdir -p /run/munge /var/spool/slurmctld /var/spool/slurmd "$LOG_DIR"
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chmod 700 /etc/munge && chmod 400 /etc/munge/munge.key
    munged --force                       # --force: run as root and with the key owned by root
    slurmctld
    slurmd -N localhost
}

wait_until_idle() {
    local state=""
    for _ in $(seq "$WAIT_SECONDS"); do
        state=$(node_state)
        case "$state" in
            idle|mix|alloc) return ;;
            down*|drain*|inval*|unk*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
    die "node localhost is '${state:-not answering}' after ${WAIT_SECONDS} s, not idle; see $LOG_DIR/slurmctld.log and slurmd.log"
}

main() {
    [ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts daemons)"
    if [ "${1:-start}" = stop ]; then stop_daemons; echo "slurm-single-node: stopped"; return; fi
    if [ -e "$CONF_DIR/slurm.conf" ] && ! grep -qxF "$MARK" "$CONF_DIR/slurm.conf"; then
        die "$CONF_DIR/slurm.conf exists and was not written by this script; not touching a real cluster's configuration"
    fi
    install_packages
    mkdir -p "$CONF_DIR"
    local slurm_conf gres_conf
    slurm_conf=$(write_slurm_conf)
    gres_conf=$(write_gres_conf)
    if running && [ "$slurm_conf" = "$(cat "$CONF_DIR/slurm.conf")" ] \
            && [ "$gres_conf" = "$(cat "$CONF_DIR/gres.conf" 2>/dev/null)" ]; then
        echo "slurm-single-node: already running"
    else
        stop_daemons
        printf '%s\n' "$slurm_conf" > "$CONF_DIR/slurm.conf"
        printf '%s\n' "$gres_conf" > "$CONF_DIR/gres.conf"
        start_daemons
    fi
    wait_until_idle
    sinfo
}

main "$@"

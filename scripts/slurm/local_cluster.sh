#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests, CI and trying out launcher=slurm.
#
#   scripts/slurm/local_cluster.sh start    install slurm-wlm + munge with apt if missing, then start
#                                            munged, slurmctld and slurmd (as root) and wait until the node is idle
#   scripts/slurm/local_cluster.sh stop     cancel this cluster's jobs, stop the three daemons it started
#   scripts/slurm/local_cluster.sh status   which daemons run, sinfo and squeue
#   scripts/slurm/local_cluster.sh env      print the 'export SLURM_CONF=...' line the client commands need
#
# Everything lives in one state folder ($ROBUSTOPT_SLURM_STATE, default /tmp/robustopt-slurm): slurm.conf,
# its own munge key and socket, spool, pid and log files.  Nothing under /etc is changed and no system
# daemon is touched: the daemons listen on their own ports ($ROBUSTOPT_SLURMCTLD_PORT, default 16817, and
# $ROBUSTOPT_SLURMD_PORT, default 16818), and 'stop' only signals the pids in its own pid files.
# The client commands (sbatch, squeue, scontrol, and so the submitit launcher) find this cluster through
# SLURM_CONF:   eval "$(scripts/slurm/local_cluster.sh env)"
#
# Exit status: 0 ok; 1 a daemon failed to start (its log is printed); 3 SLURM cannot be had here
# (not root, or not installed and no apt-get to install it), so tests skip.
set -euo pipefail

STATE="${ROBUSTOPT_SLURM_STATE:-/tmp/robustopt-slurm}"
CTLD_PORT="${ROBUSTOPT_SLURMCTLD_PORT:-16817}"
SLURMD_PORT="${ROBUSTOPT_SLURMD_PORT:-16818}"
CONF="$STATE/slurm.conf"
MUNGE_SOCKET="$STATE/munge/munge.socket.2"
export PATH="$PATH:/usr/sbin:/sbin"
export SLURM_CONF="$CONF"

say() { echo "local_cluster: $*" >&2; }

running() {  # running PID: the process exists and is not a zombie (an exited daemon nobody reaped)
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# -- pid files: only processes this script started are ever signalled --------------------------------
alive() {  # alive NAME: the pid in $STATE/NAME.pid runs and is that daemon (not a recycled pid)
    local pidfile="$STATE/$1.pid" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && running "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$1" || return 1
    echo "$pid"
}

stop_daemon() {  # stop_daemon NAME: SIGTERM, wait up to 10 s, then SIGKILL
    local pid
    pid="$(alive "$1")" || { rm -f "$STATE/$1.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        running "$pid" || break
        sleep 0.1
    done
    if running "$pid"; then
        say "$1 (pid $pid) did not stop on SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$1.pid"
    say "stopped $1 (pid $pid)"
}

# -- install ----------------------------------------------------------------------------------------
ensure_installed() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        return 0
    fi
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
        say "SLURM is not installed and cannot be installed here (needs root and apt-get: apt-get install slurm-wlm munge)"
        exit 3
    fi
    say "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge; } >"${TMPDIR:-/tmp}/robustopt-slurm-apt.log" 2>&1; then
        tail -n 20 "${TMPDIR:-/tmp}/robustopt-slurm-apt.log" >&2
        say "apt-get could not install slurm-wlm and munge (log: ${TMPDIR:-/tmp}/robustopt-slurm-apt.log)"
        exit 3
    fi
}

# -- config -----------------------------------------------------------------------------------------
write_config() {
    local node host
    host="$(hostname -s)"
    # the real CPU and memory layout of this machine, e.g. "NodeName=vm CPUs=2 ... RealMemory=24105"
    node="$(slurmd -C | head -n 1)"
    [[ "$node" == NodeName=* ]] || { say "slurmd -C printed no node line: $node"; exit 1; }
    node="NodeName=$host NodeAddr=127.0.0.1 ${node#NodeName=* }"
    cat >"$CONF" <<EOF
# Written by scripts/slurm/local_cluster.sh: a single-node cluster on $host for tests.
ClusterName=robustopt-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s)
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=5
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
PlugStackConfig=$STATE/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
JobRequeue=1
# a requeued or cancelled job gets SIGTERM, then SIGKILL this many seconds later
KillWait=2
MinJobAge=600
InactiveLimit=0
SlurmdTimeout=120
SlurmctldTimeout=120
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    : >"$STATE/plugstack.conf"
}

# -- start / stop / status --------------------------------------------------------------------------
start() {
    ensure_installed
    if [[ "$(id -u)" != 0 ]]; then
        say "starting slurmd and slurmctld needs root (they run jobs as their users); run this script as root"
        exit 3
    fi
    if alive slurmctld >/dev/null && alive slurmd >/dev/null && alive munged >/dev/null; then
        say "already running (state in $STATE)"
        return 0
    fi
    stop_all quiet
    mkdir -p "$STATE"
    chmod 700 "$STATE"
    rm -rf "$STATE/ctld" "$STATE/spool" "$STATE/log" "$STATE/munge"
    mkdir -p "$STATE/ctld" "$STATE/spool" "$STATE/log" "$STATE/munge"
    chmod 700 "$STATE/munge"
    write_config

    [[ -s "$STATE/munge.key" ]] || mungekey --create --keyfile="$STATE/munge.key" 2>/dev/null \
        || dd if=/dev/urandom of="$STATE/munge.key" bs=1024 count=1 status=none
    chmod 600 "$STATE/munge.key"
    munged --force --socket="$MUNGE_SOCKET" --key-file="$STATE/munge.key" --pid-file="$STATE/munged.pid" \
        --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed" \
        || { cat "$STATE/log/munged.log" >&2 || true; say "munged did not start"; exit 1; }

    slurmctld -c -f "$CONF" || { tail -n 30 "$STATE/log/slurmctld.log" >&2 || true; stop_all quiet; say "slurmctld did not start"; exit 1; }
    slurmd -f "$CONF" || { tail -n 30 "$STATE/log/slurmd.log" >&2 || true; stop_all quiet; say "slurmd did not start"; exit 1; }

    local state=""
    for _ in $(seq 1 300); do
        state="$(sinfo -h -N -o '%t' 2>/dev/null | head -n 1 || true)"
        [[ "$state" == idle ]] && break  # not "idle*" (not responding)
        sleep 0.1
    done
    if [[ "$state" != idle ]]; then
        tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
        stop_all quiet
        say "the node did not become idle (state '$state')"
        exit 1
    fi
    say "up: node $(hostname -s) idle, state in $STATE; use: export SLURM_CONF=$CONF"
}

stop_all() {
    local quiet="${1:-}"
    if alive slurmctld >/dev/null; then
        # cancel this cluster's jobs first, so slurmd's job steps end before slurmd does
        local jobs
        jobs="$(squeue -h -o '%A' 2>/dev/null | sort -u | tr '\n' ' ' || true)"
        if [[ -n "${jobs// /}" ]]; then
            # shellcheck disable=SC2086
            scancel --full $jobs 2>/dev/null || true
            for _ in $(seq 1 100); do
                [[ -z "$(squeue -h -o '%A' -t running,completing 2>/dev/null || true)" ]] && break
                sleep 0.1
            done
        fi
    fi
    stop_daemon slurmd
    stop_daemon slurmctld
    stop_daemon munged
    [[ -n "$quiet" ]] || say "down (logs kept in $STATE/log)"
}

status() {
    local ok=0 name pid
    for name in munged slurmctld slurmd; do
        if pid="$(alive "$name")"; then
            echo "$name: running (pid $pid)"
        else
            echo "$name: not running"
            ok=1
        fi
    done
    if [[ "$ok" == 0 ]]; then
        sinfo
        squeue
    fi
    return "$ok"
}

case "${1:-}" in
    start) start ;;
    stop) stop_all ;;
    status) status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A single-node SLURM cluster on this machine (slurmctld + slurmd on localhost, munge auth), for the SLURM test
# (tests/test_slurm.py) and for trying profiles/slurm without a site cluster.
#   bash scripts/slurm-local.sh start    write /etc/slurm/slurm.conf, start munged, slurmctld, slurmd; wait for idle
#   bash scripts/slurm-local.sh stop     stop the three daemons by their pid files
#   bash scripts/slurm-local.sh status   sinfo
# Installs nothing: Debian slurm-wlm + munge come from scripts/install.sh (DEB_PACKAGES). Needs root.
# No accounting daemon (slurmdbd): job status comes from squeue, so MinJobAge must stay >= 120 s
# (profiles/slurm sets slurm-status-command: squeue). No cgroup plugins (proctrack/linuxproc, task/none), because
# containers and sandboxes rarely expose a usable cgroup hierarchy.
set -euo pipefail

CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
RUN=/run
PIDS=("$RUN/slurmd.pid" "$RUN/slurmctld.pid" "$RUN/munge/munged.pid")

need() {
  for exe in "$@"; do
    command -v "$exe" >/dev/null 2>&1 || { echo "slurm-local: '$exe' not found; fix: apt-get install slurm-wlm munge (scripts/install.sh does it)" >&2; exit 2; }
  done
}

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {
  local host cpus mem_kb mem_mb
  host=$(hostname -s)
  cpus=$(nproc)
  mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  mem_mb=$(( mem_kb / 1024 * 8 / 10 ))   # 80 % of RAM: slurmd drains a node that reports less than RealMemory
  mkdir -p "$(dirname "$CONF")" /var/spool/slurmd /var/spool/slurmctld /var/log/slurm
  cat > "$CONF" <<CONF
# Written by erbb-screen scripts/slurm-local.sh: minimal single-node Slurm 22.05 (Debian 12 slurm-wlm), no accounting.
ClusterName=erbbscreen-local
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# one completion record per job (no slurmdbd needed): benchmarks/bench_slurm.py reads start/end times
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
# squeue (the profile's status command) must still see finished jobs: keep them >= 120 s
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  need munged munge unmunge slurmctld slurmd sinfo sbatch
  [ "$(id -u)" -eq 0 ] || { echo "slurm-local: start needs root (daemons run as root, munged as munge)" >&2; exit 2; }
  write_conf
  mkdir -p /etc/munge "$RUN/munge" /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
  chown munge:munge /etc/munge/munge.key "$RUN/munge" /var/log/munge /var/lib/munge
  chmod 400 /etc/munge/munge.key
  chmod 755 "$RUN/munge"
  running "$RUN/munge/munged.pid" || runuser -u munge -- /usr/sbin/munged --pid-file="$RUN/munge/munged.pid"
  munge -n | unmunge >/dev/null
  running "$RUN/slurmctld.pid" || /usr/sbin/slurmctld
  running "$RUN/slurmd.pid" || /usr/sbin/slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
      echo "slurm-local: up ($(sinfo -h -o '%P %a %D %T %N' | head -1))"
      return 0
    fi
    sleep 1
  done
  echo "slurm-local: node did not become idle in 60 s; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
  sinfo >&2 || true
  exit 1
}

stop() {
  for pidfile in "${PIDS[@]}"; do
    if running "$pidfile"; then kill "$(cat "$pidfile")"; fi
  done
  echo "slurm-local: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

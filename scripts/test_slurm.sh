#!/usr/bin/env bash
# End-to-end test of scripts/slurm_sweep.sh against a real, throwaway single-node SLURM
# (slurmctld + slurmd + munge on localhost, all state in a temporary folder, no root needed).
#
#   1. The array of 4 shards plus the dependent merge job produce all.h5, whose summary and run
#      groups equal an unsharded `smmcool run` of the same config.
#   2. One shard fails (its output path is blocked by a directory): the merge job is cancelled
#      instead of hanging, the failure is visible, and resubmitting after the fix recomputes only
#      that shard.
#   3. A config that fails validation and bad shard counts are refused before anything is queued.
#
# Usage: scripts/test_slurm.sh [SMMCOOL_BINARY]   (needs: slurmctld slurmd slurm-client munge)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${1:-$root/target/debug/smmcool}
[ -x "$bin" ] || { echo "error: smmcool binary not found at $bin (build it first)" >&2; exit 1; }
for c in slurmctld slurmd sbatch squeue scontrol sinfo munged mungekey; do
  command -v "$c" >/dev/null || { echo "error: $c not installed (apt-get install slurmctld slurmd slurm-client munge)" >&2; exit 1; }
done
t_start=$(date +%s.%N)
work=$(mktemp -d /tmp/smmcool-slurm.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  set +e
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then
    timeout 10 scontrol shutdown >/dev/null 2>&1
  fi
  for p in "${pids[@]}"; do
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# --- munge -----------------------------------------------------------------------------------
mkdir -p "$work/munge"
chmod 755 "$work/munge"
mungekey --create --keyfile="$work/munge/key" >/dev/null 2>&1 || mungekey -c -k "$work/munge/key"
chmod 600 "$work/munge/key"
munged -F --key-file="$work/munge/key" --socket="$work/munge/sock" \
  --pid-file="$work/munge/pid" --seed-file="$work/munge/seed" --log-file="$work/munge/log" \
  --force >/dev/null 2>&1 &
pids+=($!)
disown
for _ in $(seq 100); do [ -S "$work/munge/sock" ] && break; sleep 0.05; done
[ -S "$work/munge/sock" ] || fail "munged did not start: $(cat "$work/munge/log" 2>/dev/null)"

# --- slurm -----------------------------------------------------------------------------------
user=$(id -un)
cpus=$(nproc)
mkdir -p "$work/state" "$work/spool" "$work/log"
cat > "$work/slurm.conf" <<CONF
ClusterName=smmcooltest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$work/munge/sock
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SchedulerParameters=batch_sched_delay=0,sched_interval=1
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=500 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >/dev/null 2>&1 &
pids+=($!)
disown
slurmd -D -N localhost -f "$SLURM_CONF" >/dev/null 2>&1 &
pids+=($!)
disown
state=""
for _ in $(seq 150); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -n1 || true)
  [ "$state" = "idle" ] && break
  sleep 0.2
done
[ "$state" = "idle" ] || fail "the node did not come up (state '$state'): $(tail -n 5 "$work/log/slurmctld.log" "$work/log/slurmd.log" 2>/dev/null)"
echo "slurm up after $(awk -v a="$(date +%s.%N)" -v b="$t_start" 'BEGIN{printf "%.1f", a-b}') s"

# Wait (bounded) until no job of ours is pending or running.
wait_idle() {
  local limit=$1 n
  for _ in $(seq $((limit * 5))); do
    n=$(squeue -h -t pending,running,configuring,completing 2>/dev/null | wc -l)
    [ "$n" -eq 0 ] && return 0
    sleep 0.2
  done
  squeue -t all >&2
  fail "jobs still queued after $limit s"
}

# --- the sweep ---------------------------------------------------------------------------------
cat > "$work/sweep.toml" <<'TOML'
[protocol]
b_initial_t = 0.5
b_final_t = 0.1
shape = "jump"

[output]
sample_times_after_ramp_s = [1e-3, 1.0, 3600.0]
trajectory = true
log_points_per_decade = 1

[[sweep]]
key = "protocol.initial_temperature_k"
values = [3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5]
TOML
"$bin" run "$work/sweep.toml" -o "$work/single.h5" --quiet >/dev/null

# 1. The real script: 4 shards and the merge.
SMMCOOL="$bin" scripts/slurm_sweep.sh "$work/sweep.toml" "$work/out" 4 1 >"$work/submit.txt"
cat "$work/submit.txt"
wait_idle 60
[ -f "$work/out/all.h5" ] || fail "no merged file; logs: $(cat "$work/out/logs/"*.out 2>/dev/null)"
"$bin" inspect "$work/out/all.h5" >/dev/null
# Same summary values and run groups as the unsharded run (h5py: all datasets but wall times).
"${SMMCOOL_PYTHON:-python3}" - "$work/single.h5" "$work/out/all.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
def walk(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out
da, db = walk(a), walk(b)
assert sorted(da) == sorted(db), (sorted(set(da) ^ set(db)))
for k in da:
    if k.endswith("wall_time_s"):
        continue
    x, y = da[k][()], db[k][()]
    if x.dtype.kind == "f":
        assert np.array_equal(x, y, equal_nan=True), k
    else:
        assert (x == y).all() if hasattr(x, "all") else x == y, k
assert a.attrs["config_toml"] == b.attrs["config_toml"]
print(f"merged file equals the unsharded run: {len(da)} datasets, {len(a['runs'])} run groups")
PY

# 2. One shard fails: block shard 2's output path with a directory.
rm -rf "$work/out2"
mkdir -p "$work/out2/shard-2.h5"
SMMCOOL="$bin" scripts/slurm_sweep.sh "$work/sweep.toml" "$work/out2" 4 1 >"$work/submit2.txt"
merge2=$(sed -n 's/.*merge job \([0-9]*\).*/\1/p' "$work/submit2.txt")
wait_idle 60
[ ! -f "$work/out2/all.h5" ] || fail "the merge ran although a shard failed"
grep -q "error" "$work/out2/logs/shard-2.out" || fail "the failed shard's log does not say why"
mstate=$(scontrol show job "$merge2" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
case "$mstate" in CANCELLED|FAILED|"") ;; *) fail "merge job state $mstate (expected cancelled)";; esac
echo "failed shard reported: $(head -n1 "$work/out2/logs/shard-2.out"); merge job: ${mstate:-gone}"
stamp=$(stat -c %Y "$work/out2/shard-0.h5")
rmdir "$work/out2/shard-2.h5"
sleep 1
SMMCOOL="$bin" scripts/slurm_sweep.sh "$work/sweep.toml" "$work/out2" 4 1 >/dev/null
wait_idle 60
[ -f "$work/out2/all.h5" ] || fail "resubmission did not produce the merged file"
[ "$(stat -c %Y "$work/out2/shard-0.h5")" = "$stamp" ] || fail "a finished shard was recomputed"
grep -q "0 computed" "$work/out2/logs/shard-0.out" || fail "shard 0 was not skipped on resubmission"
grep -q "2 computed" "$work/out2/logs/shard-2.out" || fail "shard 2 was not computed on resubmission"
echo "resubmission finished the sweep, recomputing only shard 2"

# 3. Refused before queueing.
before=$(squeue -h -t all | wc -l)
printf '[protocol]\nb_initial_t = 0.5\nb_final_t = 0.1\ninitial_temperature_k = -4\nshape = "jump"\n' > "$work/bad.toml"
if SMMCOOL="$bin" scripts/slurm_sweep.sh "$work/bad.toml" "$work/out3" 2 1 2>"$work/bad.err"; then fail "invalid config was submitted"; fi
grep -q "initial_temperature_k" "$work/bad.err" || fail "no validation message: $(cat "$work/bad.err")"
if SMMCOOL="$bin" scripts/slurm_sweep.sh "$work/sweep.toml" "$work/out3" 0 1 2>"$work/zero.err"; then fail "0 shards accepted"; fi
if SMMCOOL="$bin" scripts/slurm_sweep.sh "$work/sweep.toml" "$work/out3" 9 1 2>"$work/many.err"; then fail "9 shards for 8 runs accepted"; fi
grep -q "at most 8" "$work/many.err" || fail "no clear message: $(cat "$work/many.err")"
[ "$(squeue -h -t all | wc -l)" = "$before" ] || fail "something was queued"
echo "refused: $(cat "$work/bad.err" | head -n1)"
echo "refused: $(cat "$work/zero.err")"
echo "refused: $(cat "$work/many.err")"

echo "SLURM test passed in $(awk -v a="$(date +%s.%N)" -v b="$t_start" 'BEGIN{printf "%.1f", a-b}') s"

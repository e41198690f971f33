#!/usr/bin/env bash
# Run an smmcool batch as a SLURM job array, then merge the shards in a dependent job.
#
# Usage:
#   scripts/slurm_sweep.sh CONFIG.toml OUTDIR [SHARDS] [THREADS_PER_TASK] [extra sbatch args...]
#
#   CONFIG.toml        the batch config (validated before anything is queued)
#   OUTDIR             where shard files (shard-I.h5), the merged file (all.h5) and logs go
#   SHARDS             number of array tasks (default 4; at most the number of runs)
#   THREADS_PER_TASK   CPUs per task (default 1); each task runs `smmcool run --threads` with
#                      SLURM_CPUS_PER_TASK
#
# Each task computes shard $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT with --resume, so
# resubmitting after a failure recomputes only what is missing. The merge job starts only if
# every task succeeded (afterok) and is cancelled instead of pending forever otherwise
# (--kill-on-invalid-dep=yes). SMMCOOL (default: smmcool on PATH) selects the binary.
set -euo pipefail

if [ $# -lt 2 ]; then
  sed -n '2,17p' "$0" >&2
  exit 2
fi
config=$1
outdir=$2
shards=${3:-4}
threads=${4:-1}
shift $(( $# < 4 ? $# : 4 ))
smmcool=${SMMCOOL:-smmcool}

case "$shards" in ''|*[!0-9]*) echo "error: SHARDS must be a positive integer, got '$shards'" >&2; exit 2;; esac
case "$threads" in ''|*[!0-9]*) echo "error: THREADS_PER_TASK must be a positive integer, got '$threads'" >&2; exit 2;; esac
if [ "$shards" -lt 1 ]; then echo "error: SHARDS must be at least 1" >&2; exit 2; fi

# Validate before queueing anything; learn the number of runs.
summary=$("$smmcool" validate "$config" --show 0) || exit 2
runs=$(printf '%s\n' "$summary" | head -n1 | sed -n 's/.*valid, \([0-9]*\) run.*/\1/p')
if [ -z "$runs" ]; then echo "error: could not read the run count from: $summary" >&2; exit 2; fi
if [ "$shards" -gt "$runs" ]; then
  echo "error: $shards shards for $runs run(s): use at most $runs shards" >&2
  exit 2
fi

mkdir -p "$outdir/logs"
config_abs=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
outdir_abs=$(cd "$outdir" && pwd)

array_id=$(sbatch --parsable --array=0-$((shards - 1)) --cpus-per-task="$threads" \
  --job-name=smmcool-shard --output="$outdir_abs/logs/shard-%a.out" "$@" \
  --wrap="\"$smmcool\" run \"$config_abs\" -o \"$outdir_abs/shard-\$SLURM_ARRAY_TASK_ID.h5\" --resume --quiet --yes --threads \${SLURM_CPUS_PER_TASK:-1}")
array_id=${array_id%%;*}

shard_files=""
for i in $(seq 0 $((shards - 1))); do shard_files="$shard_files \"$outdir_abs/shard-$i.h5\""; done
merge_id=$(sbatch --parsable --dependency=afterok:"$array_id" --kill-on-invalid-dep=yes \
  --job-name=smmcool-merge --output="$outdir_abs/logs/merge.out" "$@" \
  --wrap="\"$smmcool\" merge $shard_files -o \"$outdir_abs/all.h5\" --force")
merge_id=${merge_id%%;*}

echo "submitted array job $array_id ($shards shards) and merge job $merge_id -> $outdir_abs/all.h5"

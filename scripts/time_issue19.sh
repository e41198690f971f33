#!/usr/bin/env bash
# Issue 19: wall times of the rows of its table that are whole processes, measured in one run
# (hyperfine-style: many runs, median, min, max). The warm-trajectory row is criterion's
# (`cargo bench --bench trajectory`); the SciPy/SUNDIALS rows are scripts/compare_baselines.sh.
#
#   bash scripts/time_issue19.sh [BINARY] [--repeat-map N] [--profile] [--no-map] > scripts/time_issue19_output.txt
#
# BINARY defaults to target/release/smmcool (built here). Rows:
#   START    `smmcool --version`, 41 processes: the process start;
#   JUMP     `simulate --jump` 0.5 T -> 0.1 T from 4 K, 11 processes: the in-process
#            wall_time_s (every table built in the run, as for any lone run);
#   RAMP     the same with --sweep-rate-t-per-s 1e-3;
#   MAP j=N  configs/validity_map_100x100.toml (10^4 runs) on N = 1 and 2 threads, each
#            --repeat-map times (default 1) into a fresh file: process wall, user and system
#            CPU, and the part of the wall after the last run (process wall minus the batch's
#            own wall_time_s: assembly, sync, clean-up and process start);
#            the 1 -> 2 thread speed-up from the medians, and the CPU (user + system) per run;
#   PROFILE  with --profile, one more map per thread count with SMMCOOL_BATCH_PROFILE set:
#            the thread CPU time of each step of a run (scenario, limits, engine, record,
#            store, progress) summed over the runs, how far apart the workers finished, and
#            each step after the last run (sync, scan, assemble, fsync, rename, cleanup).
#            CPU times, so they hold on a busy machine; not part of the wall rows (the
#            timers cost a few microseconds per run).
# --no-map measures the START, JUMP and RAMP rows only.
# `uptime` before and after: the machine is shared, so the load is part of the result.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=""
repeat_map=1
profile=0
map=1
while [ $# -gt 0 ]; do
    case $1 in
        --repeat-map) repeat_map=$2; shift 2 ;;
        --profile) profile=1; shift ;;
        --no-map) map=0; shift ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) bin=$1; shift ;;
    esac
done
if [ -z "$bin" ]; then
    cargo build --release --locked -q
    bin=target/release/smmcool
fi

echo "LOAD before: $(uptime)"
echo "ENV binary=$bin smmcool=$("$bin" --version) commit=$(git rev-parse --short HEAD) nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')\""
python3 - "$bin" "$repeat_map" "$profile" "$map" <<'EOF'
import json, os, resource, statistics, subprocess, sys, tempfile, time

binary, repeat_map, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
with_map = sys.argv[4] == "1"
MAP_RUNS = 10_000


def stats(name, xs, unit="ms", scale=1e3):
    xs = sorted(xs)
    print(f"{name}: median {statistics.median(xs) * scale:.2f} {unit}, "
          f"min {xs[0] * scale:.2f}, max {xs[-1] * scale:.2f} ({len(xs)} runs)")
    return statistics.median(xs)


def wall(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


stats("START smmcool --version, process wall", [wall([binary, "--version"]) for _ in range(41)])

base = [binary, "simulate", "--b-initial-t", "0.5", "--b-final-t", "0.1",
        "--initial-temperature-k", "4", "--json"]
for name, extra in [("JUMP lone simulate --jump from 4 K", ["--jump"]),
                    ("RAMP lone simulate 1e-3 T/s from 4 K", ["--sweep-rate-t-per-s", "1e-3"])]:
    inproc = []
    for _ in range(11):
        out = subprocess.run(base + extra, check=True, capture_output=True, text=True).stdout
        inproc.append(json.loads(out)["wall_time_s"])
    stats(name + ", in-process wall_time_s", inproc)

if with_map:
    medians = {}
    with tempfile.TemporaryDirectory() as d:
        for threads in (1, 2):
            walls, tails, users, syss = [], [], [], []
            for k in range(repeat_map):
                out = os.path.join(d, f"map-{threads}-{k}.h5")
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                said = subprocess.run([binary, "run", "configs/validity_map_100x100.toml", "-o", out,
                                       "-q", "-j", str(threads)],
                                      check=True, capture_output=True, text=True).stdout
                w = time.perf_counter() - t
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                # "...failed, 12.34 s": the batch's own wall time, up to its last run.
                runs_s = float(said.strip().rsplit(",", 1)[1].split()[0])
                walls.append(w)
                tails.append(w - runs_s)
                users.append(after.ru_utime - before.ru_utime)
                syss.append(after.ru_stime - before.ru_stime)
            medians[threads] = stats(f"MAP j={threads} process wall", walls, "s", 1)
            stats(f"MAP j={threads} after the last run", tails, "s", 1)
            stats(f"MAP j={threads} user CPU", users, "s", 1)
            stats(f"MAP j={threads} system CPU", syss, "s", 1)
            cpu = [(u + s) / MAP_RUNS * 1e6 for u, s in zip(users, syss)]
            print(f"MAP j={threads} CPU per run (user + system): median {statistics.median(cpu):.1f} us")
        if profile:
            for threads in (1, 2):
                out = os.path.join(d, f"profile-{threads}.h5")
                said = subprocess.run([binary, "run", "configs/validity_map_100x100.toml", "-o", out,
                                       "-q", "-j", str(threads)],
                                      check=True, capture_output=True, text=True,
                                      env=dict(os.environ, SMMCOOL_BATCH_PROFILE="1")).stderr
                for line in said.splitlines():
                    if line.startswith("PROFILE"):
                        print(f"PROFILE j={threads}" + line[len("PROFILE"):])
    print(f"MAP speed-up 1 -> 2 threads (process wall medians): {medians[1] / medians[2]:.2f}x")
EOF
echo "LOAD after: $(uptime)"

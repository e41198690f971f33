#!/usr/bin/env bash
# Optional step of issue 7: the SciPy reference against smmcool, measured in one run.
# SUPERSEDED (issue 19): scipy_reference.py's kappa is noisy, so the ratio this prints is unfair
# (orders of magnitude too large). Use scripts/compare_baselines.sh (scripts/scipy_fair.py).
#
#   bash scripts/compare_scipy.sh                 # SciPy runs to 1 ms and 1 s (about 6 min)
#   bash scripts/compare_scipy.sh --cap-short 30  # any scipy_reference.py options instead
#
# It creates a virtual environment (SMMCOOL_SCIPY_VENV, default /tmp/smmcool-scipy-venv) with
# numpy and scipy, runs scripts/scipy_reference.py (default: --skip-full --no-diag), times
# `smmcool simulate` on the same trajectory (jump 0.5 T -> 0.1 T from 4 K, rtol 1e-8, to
# equilibrium; the wall time of the simulation as the CLI reports it, like SciPy's which
# excludes interpreter start-up; median of 11 fresh processes, each building its tables
# first, so this is the cold cost), and prints:
#   COMPARE T_1ms ...  SciPy's T at 1 ms against smmcool's (must agree to 1e-6 K)
#   COMPARE ratio ...  SciPy's wall time to 1 ms over smmcool's whole trajectory (a lower
#                      bound of the speed-up: SciPy covers 1e-10 of the time span)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SMMCOOL_SCIPY_VENV:-/tmp/smmcool-scipy-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q numpy scipy

cargo build --release -q
bin=target/release/smmcool

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
    args=(--skip-full --no-diag)
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
OPENBLAS_NUM_THREADS=1 "$venv/bin/python" scripts/scipy_reference.py "${args[@]}" | tee "$out"

"$venv/bin/python" - "$bin" "$out" <<'EOF'
import json, re, statistics, subprocess, sys

binary, scipy_out = sys.argv[1], sys.argv[2]
cmd = [binary, "simulate", "--jump", "--b-initial-t", "0.5", "--b-final-t", "0.1",
       "--initial-temperature-k", "4", "--rtol", "1e-8", "--json"]
walls, doc = [], None
for _ in range(11):
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    doc = json.loads(res.stdout)
    walls.append(doc["wall_time_s"])
wall = statistics.median(walls)
t_1ms = next(s["phonon_temperature_k"] for s in doc["samples"] if abs(s["time_after_ramp_s"] - 1e-3) < 1e-12)
print(f"SMMCOOL whole_trajectory_wall_s={wall:.4f} (simulation, median of 11 fresh processes) "
      f"T_1ms={t_1ms:.9f} T_eq={doc['equilibrium_temperature_k']:.9f} "
      f"equilibrium_after_s={doc['equilibrium_after_ramp_s']:.4e}")
ok = True
for line in open(scipy_out):
    if not line.startswith("RUN ") or " t_end=0.001 " not in line:
        continue
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    if kv.get("status") != "0":
        print(f"COMPARE method={kv.get('method')} did not reach 1 ms: no ratio")
        continue
    diff = float(kv["T_final"]) - t_1ms
    ok &= abs(diff) <= 1e-6
    print(f"COMPARE T_1ms method={kv['method']} scipy={kv['T_final']} smmcool={t_1ms:.9f} "
          f"diff={diff:+.1e} K (limit 1e-6 K)")
    print(f"COMPARE ratio method={kv['method']} scipy_wall_to_1ms_s={kv['wall_s']} "
          f"smmcool_whole_trajectory_s={wall:.4f} ratio>={float(kv['wall_s']) / wall:.0f}")
sys.exit(0 if ok else 1)
EOF

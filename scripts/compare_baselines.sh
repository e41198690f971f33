#!/usr/bin/env bash
# Issue 19: smmcool against the fair Python baselines (scripts/scipy_fair.py: SciPy Radau, BDF,
# LSODA and SUNDIALS CVODE through sundials4py), on one trajectory, measured in one run.
#
#   bash scripts/compare_baselines.sh [--cap S] [--cap-plain S] > scripts/compare_baselines_output.txt
#
# Trajectory: field jump 0.5 T -> 0.1 T from equilibrium at 4 K, rtol 1e-8, to equilibrium
# (smmcool stops there, about 1.4e7 s after the jump; the Python runs go on to 1e9 s).
# Steps:
#   1. venv with numpy, scipy, mpmath and sundials4py (needs Python >= 3.12; SMMCOOL_BASELINE_VENV,
#      default /tmp/sv12; created with SMMCOOL_PYTHON312 or python3.12 if missing);
#   2. release build; `uptime` before and after (the machine is shared);
#   3. smmcool: 11 fresh processes of `smmcool simulate ... --json`; the in-process
#      wall_time_s (simulation only, like the Python times, which exclude interpreter start and
#      the kappa table); median, min, max = COLD (every table built in the process);
#      WARM: a 21-run batch of the same trajectory on one thread (`smmcool run -j 1`; the runs
#      differ only in max_time_after_ramp_s, 1e20-1e40 s, far past equilibrium), so runs 2-21
#      reuse the tables run 1 built: median of their wall_time_s;
#   4. scipy_fair.py, 'pairs' formulation: Radau, BDF, LSODA, BDF with a sparse Jacobian,
#      CVODE; then the 'plain' formulation (as scipy_reference.py, smooth kappa) for BDF, LSODA
#      and CVODE under the same cap, to show why the pairs formulation is needed;
#   5. COMPARE lines: temperature differences at 1 ms, 1 s, 1 h and equilibrium, and ratios of
#      the Python wall time (and CPU time) to smmcool's cold median.
set -euo pipefail
cd "$(dirname "$0")/.."

cap=120        # wall-time cap per Python run (pairs formulation), s
cap_plain=60   # the same for the plain-formulation runs, which stall
while [ $# -gt 0 ]; do
    case $1 in
        --cap) cap=$2; shift 2 ;;
        --cap-plain) cap_plain=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

venv=${SMMCOOL_BASELINE_VENV:-/tmp/sv12}
if ! "$venv/bin/python" -c 'import numpy, scipy, mpmath, sundials4py' 2>/dev/null; then
    py=""   # the first interpreter >= 3.12 that runs (a pyenv shim may exist and fail)
    for c in ${SMMCOOL_PYTHON312:-} python3.13 python3.12 /root/.pyenv/versions/3.12.*/bin/python; do
        if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then py=$c; break; fi
    done
    [ -n "$py" ] || { echo "no Python >= 3.12 for sundials4py (set SMMCOOL_PYTHON312)" >&2; exit 1; }
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q numpy scipy mpmath sundials4py
fi

cargo build --release --locked -q
bin=target/release/smmcool

echo "LOAD before: $(uptime)"
echo "ENV smmcool=$($bin --version) commit=$(git rev-parse --short HEAD) nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')\""

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cmd=("$bin" simulate --jump --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 4 --rtol 1e-8 --json)
echo "SMMCOOL command: ${cmd[*]}"
"$venv/bin/python" - "$out" "${cmd[@]}" <<'EOF' > "$out/smm.txt"
import json, resource, statistics, subprocess, sys
docs, cpu = [], []
for _ in range(11):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(sys.argv[2:], capture_output=True, text=True, check=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    docs.append(json.loads(res.stdout))
w = [d["wall_time_s"] for d in docs]
d = docs[-1]
def T_at(t):
    for s in d["samples"]:
        if abs(s["time_after_ramp_s"] - t) <= 1e-9 * t:
            return s["phonon_temperature_k"]
    return float("nan")
print(f"SMMCOOL cold_wall_s median={statistics.median(w):.5f} min={min(w):.5f} max={max(w):.5f} n={len(w)}")
print(f"SMMCOOL whole_process_cpu_s cpu_median={statistics.median(cpu):.5f} cpu_min={min(cpu):.5f} "
      f"(user+system of the whole process: start, tables, run, JSON; an upper bound of the run's CPU)")
print(f"SMMCOOL T_1ms={T_at(1e-3):.10f} T_1s={T_at(1.0):.10f} T_1h={T_at(3600.0):.10f} "
      f"T_eq={d['equilibrium_temperature_k']:.10f} equilibrium_after_s={d['equilibrium_after_ramp_s']:.6e} "
      f"equilibrium_tol_k={d['scenario']['solver']['equilibrium_tol_k']}")
EOF
cat > "$out/warm.toml" <<'TOML'
[protocol]
b_initial_t = 0.5
b_final_t = 0.1
initial_temperature_k = 4.0
shape = "jump"

[solver]
rtol = 1e-8

[output]
sample_times_after_ramp_s = [1e-3, 1.0, 3600.0]
trajectory = false

[[sweep]]
key = "solver.max_time_after_ramp_s"
log = { start = 1e20, stop = 1e40, count = 21 }
TOML
"$bin" run -j 1 -q --force -o "$out/warm.h5" "$out/warm.toml" > /dev/null
"$bin" inspect --json "$out/warm.h5" | "$venv/bin/python" -c '
import json, statistics, sys
runs = json.load(sys.stdin)["runs"]
w = [r["wall_time_s"] for r in runs[1:]]
T = {tuple(r["sample_temperatures_k"]) + (r["equilibrium_temperature_k"],) for r in runs}
print(f"SMMCOOL warm_wall_s warm_median={statistics.median(w):.5f} warm_min={min(w):.5f} "
      f"warm_max={max(w):.5f} n={len(w)} (runs 2-21 of a 21-run batch, one thread; "
      f"first run {runs[0]["wall_time_s"]:.5f} s) distinct_temperature_sets={len(T)}")
' >> "$out/smm.txt"
cat "$out/smm.txt"
teq=$(sed -n 's/.*equilibrium_after_s=\([^ ]*\).*/\1/p' "$out/smm.txt")
tol=$(sed -n 's/.*equilibrium_tol_k=\([^ ]*\).*/\1/p' "$out/smm.txt")

py=("$venv/bin/python" scripts/scipy_fair.py --t-eq-smmcool "$teq" --eq-tol "$tol")
"${py[@]}" --cap "$cap" --methods Radau,BDF,LSODA,BDF-sparse,CVODE | tee "$out/pairs.txt"
"${py[@]}" --cap "$cap_plain" --no-checks --formulation plain --methods BDF,LSODA,CVODE | grep -v '^ENV\|^TABLE\|^CHECK' | tee "$out/plain.txt"
echo "LOAD after: $(uptime)"

"$venv/bin/python" - "$out" <<'EOF'
import re, sys
d = sys.argv[1]
kv = lambda line: dict(re.findall(r"(\w+)=(\S+)", line))
smm = {}
for line in open(d + "/smm.txt"):
    smm.update(kv(line))
cold = float(smm["median"])
cold_cpu = float(smm["cpu_median"])
warm = float(smm["warm_median"])
ref = {"1ms": float(smm["T_1ms"]), "1s": float(smm["T_1s"]), "1h": float(smm["T_1h"]),
       "t_eq_smmcool": float(smm["T_eq"])}
tol = float(smm["equilibrium_tol_k"])
ok = True
for f in ("pairs.txt", "plain.txt"):
    runs = {}
    for line in open(d + "/" + f):
        if line.startswith("MILESTONE"):
            m = kv(line)
            runs.setdefault(m["method"], {})[(m["at"], m.get("tol_K"))] = m
        if line.startswith("RUN"):
            m = kv(line)
            runs.setdefault(m["method"], {})[("RUN", None)] = m
    for meth, ms in runs.items():
        diffs = []
        for at in ("1ms", "1s", "1h", "t_eq_smmcool"):
            m = ms.get((at, None), {})
            if m.get("reached") == "True":
                diffs.append(f"{at}:{float(m['T']) - ref[at]:+.1e}")
                if f == "pairs.txt" and abs(float(m["T"]) - ref[at]) > 1e-6:
                    ok = False
            else:
                diffs.append(f"{at}:not_reached")
        print(f"COMPARE dT(python-smmcool)_K method={meth} " + " ".join(diffs))
        parts = []
        for at, key in (("1ms", ("1ms", None)), ("1s", ("1s", None)), ("1h", ("1h", None)),
                        ("eq", ("equilibrium", f"{tol:g}")), ("eq1e-7", ("equilibrium", "1e-07"))):
            m = ms.get(key, {})
            if m.get("reached") == "True":
                parts.append(f"{at}:{float(m['wall_s']):.3f}s={float(m['wall_s']) / cold:.0f}x")
            else:
                parts.append(f"{at}:not_reached")
        eq = ms.get(("equilibrium", f"{tol:g}"), {})
        if eq.get("reached") != "True":
            eq = ms.get(("equilibrium", "1e-07"), {})
        if eq.get("reached") == "True":
            print(f"COMPARE wall_to_equilibrium(python)/smmcool_warm({warm * 1e3:.2f}ms) method={meth} "
                  f"ratio={float(eq['wall_s']) / warm:.0f}x (tol {eq.get('tol_K')} K)")
        r = ms[("RUN", None)]
        print(f"COMPARE wall_to(python)/smmcool_cold({cold * 1e3:.2f}ms) method={meth} " + " ".join(parts)
              + f" | whole run to t_reached={r['t_reached']}: wall {r['wall_s']}s cpu {r['cpu_s']}s status={r['status']}")
        if meth.endswith("[pairs]"):
            parts = []
            for at, key in (("1ms", ("1ms", None)), ("1h", ("1h", None)),
                            ("eq", ("equilibrium", f"{tol:g}")), ("eq1e-7", ("equilibrium", "1e-07"))):
                m = ms.get(key, {})
                parts.append(f"{at}:{float(m['cpu_s']):.3f}s={float(m['cpu_s']) / cold_cpu:.0f}x"
                             if m.get("reached") == "True" else f"{at}:not_reached")
            print(f"COMPARE cpu_to(python)/cpu(smmcool whole process, {cold_cpu * 1e3:.1f}ms) "
                  f"method={meth} " + " ".join(parts))
print(f"COMPARE temperatures_agree_within_1e-6K(pairs)={ok}")
EOF

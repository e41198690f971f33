"""smmcool.limits on a 1e5-element NumPy array against a Python loop of scalar calls (issue 15:
target >= 50x), measured in one run with the timings interleaved so the machine's load hits
both alike.

Each round times one array call over Ti = linspace(1, 6, 1e5) (Bi = 0.5 T -> Bf = 0.1 T) and a
loop of scalar calls over an evenly strided subset of the same Ti, scaled to 1e5 elements. The
speed-up is the ratio of the medians over the rounds (wall time; CPU time printed too). Before timing, the array result is checked
against the scalar calls element by element (identical numbers).

Usage: target/python-venv/bin/python scripts/limits_speedup.py [ROUNDS] [LOOP_CALLS]
Output committed in scripts/limits_speedup_output.txt.
"""
import os
import platform
import statistics
import sys
import time

import numpy as np
import smmcool

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 9
LOOP_CALLS = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
N = 100_000


def stats(xs):
    return (f"median {statistics.median(xs) * 1e3:9.3f} ms  min {min(xs) * 1e3:9.3f} ms  "
            f"max {max(xs) * 1e3:9.3f} ms  (n = {len(xs)})")


def main():
    ti = np.linspace(1.0, 6.0, N)
    sub = ti[:: N // LOOP_CALLS]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, shared with other jobs; "
          f"load average before: {os.getloadavg()[0]:.2f}; Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    print(f"limits(0.5, 0.1, Ti), Ti = linspace(1, 6, {N}); loop over {len(sub)} scalar calls "
          f"scaled to {N}; {ROUNDS} interleaved rounds")
    full = smmcool.limits(0.5, 0.1, ti)
    for j, x in enumerate(sub):
        one = smmcool.limits(0.5, 0.1, float(x))
        i = j * (N // LOOP_CALLS)
        assert one["sudden_final_temperature_k"] == full["sudden_final_temperature_k"][i]
        assert one["isentropic_final_temperature_k"] == full["isentropic_final_temperature_k"][i]
    print("array result equals the scalar calls element by element")
    vec, loop, vec_cpu, loop_cpu = [], [], [], []
    for _ in range(ROUNDS):
        t0, c0 = time.perf_counter(), time.process_time()
        smmcool.limits(0.5, 0.1, ti)
        vec.append(time.perf_counter() - t0)
        vec_cpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        for x in sub:
            smmcool.limits(0.5, 0.1, float(x))
        loop.append((time.perf_counter() - t0) * N / len(sub))
        loop_cpu.append((time.process_time() - c0) * N / len(sub))
    print(f"  one array call                   {stats(vec)}")
    print(f"  scalar loop, scaled to {N}   {stats(loop)}")
    speed = statistics.median(loop) / statistics.median(vec)
    print(f"  speed-up, ratio of medians = {speed:.1f}x  (target >= 50x: "
          f"{'met' if speed >= 50 else 'MISSED'}); ratio of minima {min(loop) / min(vec):.1f}x")
    print(f"  CPU time (all threads): array call {stats(vec_cpu)}; loop {stats(loop_cpu)}; "
          f"ratio of medians {statistics.median(loop_cpu) / statistics.median(vec_cpu):.1f}x (the wall-time "
          f"ratio also counts the array call's second core, when the load leaves it one)")
    print(f"  per element in the array call {statistics.median(vec) / N * 1e6:.3f} us wall; "
          f"per scalar call {statistics.median(loop) / N * 1e6:.2f} us; "
          f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

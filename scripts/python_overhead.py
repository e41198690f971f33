"""Overhead of the Python API (issue 15), measured in one benchmark run.

(a) smmcool.simulate called from Python (wall time of the whole call: keyword parsing,
    scenario validation, the engine, the summary and trajectory arrays) against the engine's
    own in-process wall time of the same run in the command line (`smmcool simulate --json`,
    key wall_time_s). Each CLI process starts with empty tables, so the Python side is timed
    with a fresh smmcool.Engine per call (the same cold tables); the warm-engine time (the
    module's shared Engine) is printed too. Target: median Python <= 1.10 x median CLI.
(a2) the same smmcool.simulate call (fresh Engine) against the same run made from Rust the way
    the binding makes it (examples/simulate_calls.rs: the scenario read, validated and built,
    a fresh EngineContext, the engine, the run's record and the summary object the binding
    keeps for its Run; until session 37 the harness also wrote it as JSON text), both timed
    per call in a warm process: one harness process (`simulate_calls serve`) answers each
    round's request for 3 calls (after 3 untimed ones), rounds interleaved with 3 Python
    calls; one process for all rounds, as starting a process per round (fork and exec from
    this process) slows the Python calls that follow it (session 35: median 1.02 ms after a
    process start against 0.78 ms without). Both sides time everything the call makes, made
    and freed inside the timed region: the context or Engine, the record or Run (since
    session 36; before, the Rust side freed its record and context after its timer stopped
    and the Python side made its Engine before its timer started). The CLI's
    wall_time_s in (a) times the engine alone, in a fresh process, while the Python call also
    reads its keywords and hands the results to NumPy: (a2) compares the same work.
    (a3) does the same with warm tables on both sides: the harness keeps one EngineContext
    (`simulate_calls serve-warm`), Python calls with the module's shared Engine.
    Since session 37 a Run converts its summary values and trajectory columns to Python
    objects when first read, so each timed Python call in (a2) and (a3) reads what a caller
    reads: one summary value (temperature_after_ramp_k) and one trajectory column
    (phonon_temperature_k). (a4) is (a3) with every value read (summary dict, trajectory
    dict, sample arrays), the conversion the binding did for every call before session 37.
    Build the harness first: cargo build --release --example simulate_calls.
(b) smmcool.limits on a 1e5-element array against a Python loop of scalar calls (the loop
    timed on a subset and scaled per element). Target: >= 50x. scripts/limits_speedup.py
    measures (b) alone.

Usage: SMMCOOL_BIN=target/debug/smmcool python scripts/python_overhead.py [REPS]
Output committed in scripts/python_overhead_output.txt.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import smmcool

REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 41
BIN = os.environ.get("SMMCOOL_BIN", "target/debug/smmcool")
CALLS = os.environ.get("SMMCOOL_CALLS_BIN", "target/release/examples/simulate_calls")
RUN = dict(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=4.0, sweep_rate_t_per_s=10.0)


def stats(xs):
    return f"median {statistics.median(xs) * 1e3:9.3f} ms  min {min(xs) * 1e3:9.3f} ms  max {max(xs) * 1e3:9.3f} ms  (n = {len(xs)})"


def cli_wall():
    args = [BIN, "simulate", "--json"]
    for k, v in RUN.items():
        args += ["--" + k.replace("_", "-"), repr(v)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["wall_time_s"]


def rust_calls(proc, n):
    proc.stdin.write(f"{n}\n")
    proc.stdin.flush()
    return [float(x) for x in proc.stdout.readline().split()]


def compare_with_rust(title, mode, rust_label, py_call, py_label):
    """(a2)-(a4): REPS rounds of 3 calls of the harness (`simulate_calls MODE`, one process
    for all rounds, after 3 untimed calls) interleaved with 3 calls of py_call."""
    rust, py = [], []
    with subprocess.Popen([CALLS, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as proc:
        rust_calls(proc, 3)  # untimed: the process's cold start (and, warm, its tables)
        for _ in range(REPS):
            rust.extend(rust_calls(proc, 3))
            py.extend(py_call() for _ in range(3))
        proc.stdin.close()
    print(title)
    print(f"  {rust_label:<29} {stats(rust)}")
    print(f"  {py_label:<29} {stats(py)}")
    r = statistics.median(py) / statistics.median(rust)
    print(f"  ratio of medians, Python / Rust = {r:.3f}  (target <= 1.10: {'met' if r <= 1.10 else 'MISSED'}); "
          f"ratio of minima {min(py) / min(rust):.3f}")


def read_two(r):
    """What a caller reads: one summary value and one trajectory column."""
    r.temperature_after_ramp_k, r.phonon_temperature_k


def read_all(r):
    """(a4): every value of the Run made in Python (the summary dict, the trajectory's arrays,
    the sample arrays), as the binding did for each call before session 37."""
    r.summary, r.trajectory, r.sample_times_after_ramp_s, r.sample_temperatures_k


def timed_call(read=read_two, engine=None, fresh_engine=False):
    """One smmcool.simulate call's wall time: the Run made, read with `read` and freed inside
    the timed region, with `engine` (None: the module's shared Engine) or, `fresh_engine`, a
    new Engine made inside the timed region too ((a2): everything the call makes, as
    examples/simulate_calls.rs times its calls)."""
    t0 = time.perf_counter()
    r = smmcool.simulate(engine=smmcool.Engine() if fresh_engine else engine, **RUN)
    read(r)
    del r
    return time.perf_counter() - t0


def py_cold():
    """(a): a fresh Engine made before the timer starts (the CLI's process makes its tables
    outside its wall_time_s)."""
    return timed_call(engine=smmcool.Engine())


def main():
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, shared with other jobs (loaded: "
          f"load average {os.getloadavg()[0]:.2f}); Python {platform.python_version()}; "
          f"binary {BIN}; timings interleaved to share the load")
    print(f"(a) simulate {RUN}")
    # (a) to (a4) on one CPU, the processes they start included (they inherit it): the
    # VM's two vCPUs can run at different speeds for minutes (another guest on a core's
    # sibling), and with the Python process on one and the CLI or the harness on the other
    # that difference fell on one side of the ratio (session 36, five alternated pairs of
    # runs: (a2) 0.785-1.446 unpinned, 1.039-1.073 pinned). The calls are sequential, so one CPU costs
    # neither side anything. (b) gets every CPU back for the array call's threads.
    # Rayon's pool is started first, with every CPU: its threads keep the affinity they
    # start with.
    smmcool.limits(0.5, 0.1, np.linspace(1.0, 6.0, 1000))
    cpus = os.sched_getaffinity(0)
    if os.environ.get("SMMCOOL_PIN", "1") != "0":
        os.sched_setaffinity(0, {min(cpus)})
        print(f"  (a) to (a4) pinned to CPU {min(cpus)} of {sorted(cpus)}")
    else:
        print(f"  (a) to (a4) not pinned (SMMCOOL_PIN=0), on CPUs {sorted(cpus)}")
    smmcool.simulate(**RUN)  # warm the module's engine
    cli, cold, warm = [], [], []
    # Interleaved so load changes hit all three alike. The Python call made right after the
    # CLI's process is 0.05-0.1 ms slower, whichever it is (session 35): the two Python calls
    # take turns being that one.
    for i in range(REPS):
        cli.append(cli_wall())
        if i % 2 == 0:
            cold.append(py_cold())
            warm.append(timed_call())
        else:
            warm.append(timed_call())
            cold.append(py_cold())
    print(f"  CLI in-process wall_time_s   {stats(cli)}")
    print(f"  Python, fresh Engine per call {stats(cold)}")
    print(f"  Python, shared Engine (warm)  {stats(warm)}")
    ratio = statistics.median(cold) / statistics.median(cli)
    print(f"  ratio of medians, Python (cold) / CLI = {ratio:.3f}  (target <= 1.10: {'met' if ratio <= 1.10 else 'MISSED'})")
    print(f"  ratio of minima (least disturbed by the load), Python (cold) / CLI = {min(cold) / min(cli):.3f}; "
          f"the medians move with the other jobs' load from one run of this script to the next")

    if os.path.exists(CALLS):
        compare_with_rust(f"(a2) the same run from Rust ({CALLS}), warm process, per call",
                          "serve", "Rust, fresh EngineContext", lambda: timed_call(fresh_engine=True),
                          "Python, fresh Engine per call")
        # (a3): warm tables on both sides, as most Python users call it.
        compare_with_rust("(a3) the same with warm tables: the harness's one EngineContext, the module's Engine",
                          "serve-warm", "Rust, shared EngineContext", timed_call, "Python, shared Engine")
        compare_with_rust("(a4) (a3) with every value of the Run made in Python (summary, trajectory, sample arrays)",
                          "serve-warm", "Rust, shared EngineContext", lambda: timed_call(read_all),
                          "Python, shared Engine, all read")
    else:
        print(f"(a2) to (a4) skipped: {CALLS} not built (cargo build --release --example simulate_calls)")

    os.sched_setaffinity(0, cpus)
    n = 100_000
    ti = np.linspace(1.0, 6.0, n)
    print(f"(b) limits(0.5, 0.1, Ti) with Ti = linspace(1, 6, {n})")
    vec = []
    for _ in range(7):
        t0 = time.perf_counter()
        smmcool.limits(0.5, 0.1, ti)
        vec.append(time.perf_counter() - t0)
    m = 2000
    sub = ti[:: n // m]
    loop = []
    for _ in range(3):
        t0 = time.perf_counter()
        for x in sub:
            smmcool.limits(0.5, 0.1, float(x))
        loop.append((time.perf_counter() - t0) * n / len(sub))
    print(f"  one array call              {stats(vec)}")
    print(f"  scalar loop, per 1e5 (from {len(sub)} calls) {stats(loop)}")
    speed = statistics.median(loop) / statistics.median(vec)
    print(f"  speed-up of medians = {speed:.1f}x  (target >= 50x: {'met' if speed >= 50 else 'MISSED'})")
    per_el = statistics.median(vec) / n * 1e6
    per_call = statistics.median(loop) / n * 1e6
    print(f"  per element in the array call {per_el:.2f} us wall (two root solves, Eq. 9 and Eq. 11, "
          f"on the calling thread and rayon's); per scalar call {per_call:.2f} us. scripts/limits_speedup.py measures this "
          f"ratio alone, with more rounds")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Process start (issue 19): `BINARY --version` for each binary given, interleaved (one process
of each in turn, so every binary sees the same load), many times; wall and CPU (user + system,
from the children's rusage) per process: median, min, max; plus each binary's count of shared
libraries (ldd). Compare binaries measured in one run: the machine is shared.

    python3 scripts/process_start.py [--runs N] BINARY [BINARY ...]
"""
import argparse
import os
import resource
import statistics
import subprocess
import time


def one(binary):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([binary, "--version"], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def shared_libraries(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if ".so" in line)


def line(name, xs):
    xs = sorted(xs)
    return (f"{name} median {statistics.median(xs) * 1e3:.2f} ms, "
            f"min {xs[0] * 1e3:.2f}, max {xs[-1] * 1e3:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=101)
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    print(f"LOAD before: {os.getloadavg()}")
    walls = {b: [] for b in args.binaries}
    cpus = {b: [] for b in args.binaries}
    for b in args.binaries:  # warm the page cache
        one(b)
    for _ in range(args.runs):
        for b in args.binaries:
            w, c = one(b)
            walls[b].append(w)
            cpus[b].append(c)
    for b in args.binaries:
        print(f"START {b} ({shared_libraries(b)} shared libraries, {args.runs} processes): "
              f"{line('wall', walls[b])}; {line('CPU', cpus[b])}")
    first = args.binaries[0]
    for b in args.binaries[1:]:
        print(f"RATIO {first} / {b}: wall medians "
              f"{statistics.median(walls[first]) / statistics.median(walls[b]):.2f}x, "
              f"CPU medians {statistics.median(cpus[first]) / statistics.median(cpus[b]):.2f}x")
    print(f"LOAD after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

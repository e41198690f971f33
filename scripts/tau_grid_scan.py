#!/usr/bin/env python3
"""
`smmcool tau` over a grid of presets, fields and temperatures: which points fail, and why.

Requirements: Python 3.11, a built smmcool binary (cargo build)
Usage:        python3 scripts/tau_grid_scan.py [path/to/smmcool] > scripts/tau_grid_scan_output.txt

Every preset of `smmcool presets` at T = 1..60 K (step 1 K) and the fields below, with the
default calibration (kappa without tunnelling); the spectroscopic presets also with
--kappa-calibration with-tunnelling and with a 0.1 T transverse field. One call per (variant,
field) with every temperature; when it fails, one call per temperature to list the failures (grouped by the error's
wording).
"""

import json
import re
import subprocess
import sys

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/debug/smmcool"
TEMPS = [f"{t}" for t in range(1, 61)]
FIELDS = ["0", "0.1", "0.22", "0.44", "0.5", "0.9", "-0.3", "1.5", "3"]


def run(args):
    p = subprocess.run([BIN, "tau", *args, "--json"], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr.strip()


def ranges(ts):
    """1,2,3,5 -> '1-3, 5'."""
    out, start = [], ts[0]
    for a, b in zip(ts, ts[1:] + [None]):
        if b != a + 1:
            out.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(out)


def main():
    presets = json.loads(subprocess.run([BIN, "presets", "--json"], capture_output=True,
                                        text=True, check=True).stdout)["presets"]
    names = [p["name"] for p in presets]
    variants = []
    for name in names:
        variants.append((name, []))
        if "-" in name and name.startswith("mn12ac-"):
            variants.append((name, ["--kappa-calibration", "with_tunnelling"]))
            variants.append((name, ["--transverse-field-t", "0.1"]))
    total = failed = 0
    print(f"# smmcool tau over T = 1..60 K (1 K steps) and B = {', '.join(FIELDS)} T")
    for name, extra in variants:
        for b in FIELDS:
            base = ["--material", name, "--field-t", b, *extra]
            rc, out, err = run([*base, "--temperature-k", ",".join(TEMPS)])
            total += len(TEMPS)
            if rc == 0:
                n = len(json.loads(out)["records"])
                assert n == len(TEMPS), (name, b, n)
                continue
            bad = []
            for t in TEMPS:
                rc, out, err = run([*base, "--temperature-k", t])
                if rc != 0:
                    bad.append((t, err))
            failed += len(bad)
            label = " ".join([name, *extra])
            print(f"{label} B = {b} T: {len(bad)} of {len(TEMPS)} temperatures fail")
            kinds = {}
            for t, err in bad:
                kinds.setdefault(re.split(r"[0-9]", err, maxsplit=1)[0], []).append((t, err))
            for group in kinds.values():
                print(f"  at {ranges([int(t) for t, _ in group])} K, e.g. {group[0][0]} K: "
                      f"{group[0][1]}")
    print(f"# {failed} of {total} points fail ({len(variants)} material variants x "
          f"{len(FIELDS)} fields x {len(TEMPS)} temperatures)")


if __name__ == "__main__":
    main()

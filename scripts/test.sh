#!/usr/bin/env bash
# The whole test suite (what .ci/run calls and what README.md tells users to run).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --all-targets

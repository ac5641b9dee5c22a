#!/usr/bin/env bash
# Builds the release binaries and runs every benchmark; writes docs/benchmarks.md.
#   scripts/bench.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
exec python3 scripts/bench.py "$@"

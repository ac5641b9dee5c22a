#!/usr/bin/env bash
# Builds the release binaries and runs every benchmark; writes docs/benchmarks.md.
#   scripts/bench.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
# BENCH_BASELINE=REV also builds that commit (in a throwaway worktree) and
# measures the year backfill side by side with it.
if [[ -n "${BENCH_BASELINE:-}" ]]; then
  base_dir="$(mktemp -d)"
  git worktree add --force --detach "$base_dir" "$BENCH_BASELINE" >/dev/null
  CARGO_TARGET_DIR="$PWD/target/baseline" cargo build --release --manifest-path "$base_dir/Cargo.toml" \
    -p agent-host -p openai_collector -p anthropic_collector
  git worktree remove --force "$base_dir"
  export BENCH_BASELINE_REL="$PWD/target/baseline/release"
fi
# AGENT_BENCH_PG_URL=postgres://postgres@127.0.0.1:PORT/postgres (a superuser of a server on this
# machine) adds the shared store's rows: PostgreSQL beside SQLite (scripts/bench_pg.py).
exec python3 scripts/bench.py "$@"

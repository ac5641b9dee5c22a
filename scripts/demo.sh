#!/usr/bin/env bash
# SIMULATED DATA. Runs the whole flow against the local provider simulator,
# for people without admin keys: builds, installs the plugins into a scratch
# home, starts provider-sim, backfills 60 days for both providers, and shows
# the runs and the per-day results. Nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${DEMO_HOME:-target/demo-home}"
rm -rf "$home"
scripts/install.sh "$home" >/dev/null
cargo build --release -p agent-host-tests --bin provider-sim >/dev/null

sim_out="$(mktemp)"
target/release/provider-sim >"$sim_out" &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true; rm -f "$sim_out"' EXIT
for _ in $(seq 50); do grep -q OPENROUTER_BASE_URL "$sim_out" && break; sleep 0.1; done
export $(cat "$sim_out")
export OPENAI_ADMIN_KEY=sk-admin-SIMULATED-openai-0123456789
export ANTHROPIC_ADMIN_KEY=sk-ant-admin01-SIMULATED-anthropic-0123456789
export OPENROUTER_MANAGEMENT_KEY=sk-or-v1-SIMULATED-management-0123456789abcdef

echo "=== SIMULATED DATA: provider-sim at $OPENAI_BASE_URL, not the real APIs ==="
bin=target/release/agent-host
from=$(date -u -d '60 days ago' +%F 2>/dev/null || date -u -v-60d +%F)
$bin --home "$home" plugins list
$bin --home "$home" run-all --from "$from"
$bin --home "$home" run-all
$bin --home "$home" runs --limit 4
echo "=== SIMULATED DATA: summary of the last 30 days ==="
$bin --home "$home" summary --from "$(date -u -d '30 days ago' +%F 2>/dev/null || date -u -v-30d +%F)" \
  --to "$(date -u -d 'yesterday' +%F 2>/dev/null || date -u -v-1d +%F)" --by model
$bin --home "$home" export --out "$home/billing_export_demo.csv" >/dev/null
echo "=== SIMULATED DATA: CSV export written to $home/billing_export_demo.csv ==="
head -5 "$home/billing_export_demo.csv"

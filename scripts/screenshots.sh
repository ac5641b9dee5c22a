#!/usr/bin/env bash
# Renders the dashboard over simulated data in headless Chromium and writes
# docs/dashboard.png (the README shows it). A month from provider-sim, with
# one day whose values cannot be stored, so the page shows a missing day.
#   scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p agent-host -p agent-host-tests -p openai_collector -p anthropic_collector \
  -p openrouter_collector >/dev/null
home="$(mktemp -d)"
sim_out="$(mktemp)"
chmod 700 "$home"
target/release/provider-sim >"$sim_out" &
sim_pid=$!
trap 'kill $sim_pid ${serve_pid:-} 2>/dev/null || true; rm -rf "$home" "$sim_out"' EXIT
for _ in $(seq 50); do grep -q OPENROUTER_BASE_URL "$sim_out" && break; sleep 0.1; done
export $(cat "$sim_out")
export AGENT_HOME="$home" AGENT_TODAY=2025-09-01 MONTHLY_BUDGET_USD=300
export OPENAI_ADMIN_KEY=sk-admin-SIMULATED-openai-0123456789
export ANTHROPIC_ADMIN_KEY=sk-ant-admin01-SIMULATED-anthropic-0123456789
# Installed as an operator does: each manifest read, then granted.
target/release/agent-host plugins install target/release/libopenai_collector.so \
  target/release/libanthropic_collector.so >/dev/null
curl -fsS "$ANTHROPIC_BASE_URL/_sim/faults?bad_value_on=2025-08-21" >/dev/null
target/release/agent-host run-all --from 2025-08-01 --to 2025-08-31 >/dev/null || true
target/release/agent-host serve --bind 127.0.0.1:0 >"$home/serve.out" &
serve_pid=$!
for _ in $(seq 50); do grep -q http "$home/serve.out" && break; sleep 0.1; done
url="$(grep -o 'http://[^ ]*' "$home/serve.out")?month=2025-08"
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=10000 \
  --window-size=1280,1750 --screenshot="$PWD/docs/dashboard.png" "$url" 2>/dev/null
echo "docs/dashboard.png"

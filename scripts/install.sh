#!/usr/bin/env bash
# Builds agent-host and the plugins (release), puts agent-host on PATH
# (cargo install, into ~/.cargo/bin), installs the plugins into the plugins
# folder of the home folder with `agent-host plugins install`, and prints
# where everything went.
#
#   scripts/install.sh [HOME_DIR]     default: $AGENT_HOME, else ./agent-home
#
# Afterwards: put your keys in HOME_DIR/.env (chmod 600) and run
#   target/release/agent-host --home HOME_DIR run-all
set -euo pipefail
cd "$(dirname "$0")/.."
home="${1:-${AGENT_HOME:-agent-home}}"
# Every collector the workspace builds: a plugins/ crate named *_collector
# (admin APIs) or *_logs (local agent logs) with a cdylib target (the test
# plugins are neither).
plugins=()
for manifest in plugins/*/Cargo.toml; do
  name="$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)"
  if [[ "$name" == *_collector || "$name" == *_logs ]] && grep -q '"cdylib"' "$manifest"; then
    plugins+=("$name")
  fi
done

cargo build --release -p agent-host $(printf -- '-p %s ' "${plugins[@]}")
# agent-host on PATH (~/.cargo/bin), from the build just made.
cargo install --path host --locked --target-dir target --quiet

case "$(uname -s)" in
  Darwin) ext=dylib ;;
  *) ext=so ;;
esac
mkdir -p "$home/plugins"
# The host refuses plugin files or folders others can write.
chmod 700 "$home"
chmod go-w "$home/plugins"
# Each file's manifest is read in a sandboxed worker before it is copied in.
files=()
for p in "${plugins[@]}"; do files+=("target/release/lib$p.$ext"); done
target/release/agent-host --home "$home" plugins install "${files[@]}"
echo "agent-host: $(command -v agent-host || echo "$(pwd)/target/release/agent-host")"
echo "home:       $(cd "$home" && pwd)"
echo "plugins:    ${plugins[*]}"

#!/usr/bin/env bash
# Builds agent-host and the plugins (release), puts agent-host on PATH
# (cargo install, into ~/.cargo/bin), installs the plugins into the plugins
# folder of the home folder with `agent-host plugins install`, and prints
# where everything went.
#
#   scripts/install.sh [HOME_DIR]
#
# Without HOME_DIR the home is $AGENT_HOME, else the one `agent-host` uses
# by default (the platform's data folder; `agent-host home` prints it), so
# `agent-host run-all` right after finds the plugins. Afterwards: put your
# keys in the home's .env (chmod 600) and run `agent-host run-all` (with
# `--home HOME_DIR`, or AGENT_HOME set, for another home).
set -euo pipefail
cd "$(dirname "$0")/.."
home="${1:-${AGENT_HOME:-}}"
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
bin=target/release/agent-host
if [[ -z "$home" ]]; then
  # The default home: created (0700) by agent-host itself on first use.
  home="$("$bin" home --json | sed -n 's/^  "home": "\(.*\)",\{0,1\}$/\1/p')"
  home="$(cd "$home" && pwd)"
  again="agent-host run-all"
else
  mkdir -p "$home"
  home="$(cd "$home" && pwd)"
  again="agent-host --home '$home' run-all   (or export AGENT_HOME='$home')"
fi
# What the home keeps (keys, spend, logs) is for this user only.
chmod 700 "$home"
mkdir -p "$home/plugins"
# The host refuses plugin files or folders others can write.
chmod go-w "$home/plugins"
# Each file's manifest is read in a sandboxed worker before it is copied in.
files=()
for p in "${plugins[@]}"; do files+=("target/release/lib$p.$ext"); done
"$bin" --home "$home" plugins install "${files[@]}"
echo "agent-host: $(command -v agent-host || echo "$(pwd)/$bin")"
echo "home:       $home"
echo "plugins:    ${plugins[*]}"
echo "next:       put your admin keys in $home/.env (chmod 600), then: $again"

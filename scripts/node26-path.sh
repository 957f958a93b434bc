#!/usr/bin/env bash
# Prints the bin folder of the Node 26 that scripts/install-deps.sh installs (the Docker image's
# Node, the one CI runs on). Use: PATH="$(bash scripts/node26-path.sh):$PATH" npm test
set -euo pipefail
TOOLS_DIR="${MEETING_AGENT_TOOLS:-$HOME/.cache/meeting-agent/bin}"
bin="$(dirname "$TOOLS_DIR")/node-26/node_modules/node/bin"
[ -x "$bin/node" ] || { echo "node 26 is not installed in $bin: run scripts/install-deps.sh" >&2; exit 1; }
echo "$bin"

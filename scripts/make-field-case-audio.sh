#!/usr/bin/env bash
# Speech inputs for the recording-path field cases (fixtures/field-cases/), in place of the tones the
# cases were first reported with: once the recording path uploads only speech, a tone is rightly
# never sent and would stop testing its fault. Needs espeak-ng, sox and ffmpeg. Deterministic.
#   common/spoken-words-70s.ogg: ten short phrases (about 0.8 s, as the bursts were) at the times in common/truth.txt, over faint noise
#                                (-70 dBFS), 70 s, 48 kHz Opus (for stt-retry-after-45s).
#   diarization-pieces/four-turns-50s.ogg: Alice 0.5 s, Bruno 7 s, Chloé 25 s, Bruno 31.5 s (the
#                                texts of the case's two answers), 50 s, 48 kHz Opus.
set -euo pipefail
cd "$(dirname "$0")/../fixtures/field-cases"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() { # voice text out.wav [words per minute]: 48 kHz mono, leading/trailing silence cut
  espeak-ng -v "$1" -s "${4:-160}" -w "$tmp/raw.wav" "$2"
  sox "$tmp/raw.wav" -r 48000 -c 1 "$3" silence 1 0.01 1% reverse silence 1 0.01 1% reverse norm -6
}

place() { # out.ogg seconds (start:file)...
  local out=$1 len=$2; shift 2
  local args=(-n -r 48000 -c 1 "$tmp/bed.wav" synth "$len" whitenoise vol 0.0003)
  sox "${args[@]}"
  local mix=("$tmp/bed.wav")
  local i=0
  for spec in "$@"; do
    local at=${spec%%:*} file=${spec#*:}
    sox "$file" "$tmp/p$i.wav" pad "$at"
    mix+=("$tmp/p$i.wav")
    i=$((i + 1))
  done
  sox -m "${mix[@]}" "$tmp/mix.wav" trim 0 "$len"
  ffmpeg -hide_banner -loglevel error -y -i "$tmp/mix.wav" -c:a libopus -b:a 32k "$out"
}

words=("point un" "point deux" "point trois" "point quatre" "point cinq" "point six" "point sept" "point huit" "point neuf" "point dix")
specs=()
i=0
while read -r at || [ -n "$at" ]; do
  say fr+m3 "${words[$i]}" "$tmp/w$i.wav"
  specs+=("$at:$tmp/w$i.wav")
  i=$((i + 1))
done < common/truth.txt
place common/spoken-words-70s.ogg 70 "${specs[@]}"

say fr+f2 "Je propose de lancer le pilote en janvier avec le service urbanisme." "$tmp/alice.wav" 115
say fr+m3 "D'accord, les serveurs seront prêts avant vendredi." "$tmp/bruno1.wav" 115
say fr+f4 "Je m'oppose à l'activation par défaut de la transcription." "$tmp/chloe.wav" 115
say fr+m3 "Je note l'objection de Chloé pour le comité." "$tmp/bruno2.wav" 115
place diarization-pieces/four-turns-50s.ogg 50 "0.5:$tmp/alice.wav" "7:$tmp/bruno1.wav" "25:$tmp/chloe.wav" "31.5:$tmp/bruno2.wav"

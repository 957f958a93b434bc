#!/usr/bin/env bash
# Builds a synthetic meeting fixture (default: the French fixtures/meetings/comite-projet/;
# also the English fixtures/meetings/budget-review/) from its editable source.json: one time-aligned Opus track per participant,
# their mix, and script.json (ground truth with measured speech boundaries).
#
# Usage: scripts/make-fixture-meeting.sh [fixture-dir]
# Needs: espeak-ng, sox, ffmpeg (with libopus), python3 (standard library only).
# Deterministic: the same source.json and espeak-ng/sox versions give the same
# script.json; re-running replaces the generated files and nothing else.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=$(cd "${1:-$ROOT/fixtures/meetings/comite-projet}" && pwd)
SOURCE="$DIR/source.json"

# Speech is "on" above this level (dBFS), both for placing clips and for checking.
THRESHOLD_DB=-45
# Longest pause allowed inside one utterance: a VAD with 550 ms minimum silence must not cut it.
MAX_INTERNAL_PAUSE_MS=400
OPUS_BITRATE=24k
MAX_FOLDER_BYTES=$((2 * 1024 * 1024))

die() { echo "make-fixture-meeting: $*" >&2; exit 1; }
for tool in espeak-ng sox soxi ffmpeg python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y espeak-ng sox ffmpeg python3)"
done
[[ -f "$SOURCE" ]] || die "no $SOURCE"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export LC_ALL=C.UTF-8

# 1. Split each utterance into sentences: each sentence is synthesised on its own and
#    the sentences are joined with a fixed short pause, because espeak-ng's own pause
#    after a full stop (up to ~400 ms at slow speeds) could exceed the VAD's limit.
python3 - "$SOURCE" "$WORK/sentences.tsv" <<'PY'
import json, re, sys
src = json.load(open(sys.argv[1], encoding="utf-8"))
voices = {p["identity"]: p for p in src["participants"]}
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for i, (speaker, _gap, text) in enumerate(src["utterances"], 1):
        p = voices.get(speaker)
        if p is None or p.get("silent"):
            sys.exit(f"utterance {i}: unknown or silent speaker {speaker!r}")
        e = p["espeak"]
        for j, sentence in enumerate(re.split(r"(?<=[.!?])\s+", text.strip()), 1):
            if "\t" in sentence or "\n" in sentence:
                sys.exit(f"utterance {i}: tabs and newlines are not allowed")
            out.write(f"u{i:02d}s{j}\t{e['voice']}\t{e['pitch']}\t{e['speed']}\t{sentence}\n")
PY

# 2. Synthesise every sentence and resample it to 48 kHz mono 16-bit (-D: no random dither).
while IFS=$'\t' read -r clip voice pitch speed sentence; do
  espeak-ng -v "$voice" -p "$pitch" -s "$speed" -w "$WORK/$clip.22k.wav" "$sentence"
  sox -D "$WORK/$clip.22k.wav" -r 48000 -b 16 -c 1 "$WORK/$clip.wav" rate -h
done <"$WORK/sentences.tsv"

# 3. Trim espeak's leading/trailing silence, place every utterance on its speaker's
#    timeline, write one full-length WAV per participant plus the mix, and script.json.
python3 - "$SOURCE" "$WORK" "$WORK/script.json" "$THRESHOLD_DB" "$MAX_INTERNAL_PAUSE_MS" <<'PY'
import array, json, math, operator, random, re, sys, wave

source_path, work, script_path = sys.argv[1:4]
threshold_db, max_pause_ms = float(sys.argv[4]), int(sys.argv[5])
RATE, SPMS = 48000, 48                        # samples per millisecond
THRESHOLD = 32768 * 10 ** (threshold_db / 20)
PEAK = int(32767 * 10 ** (-6 / 20))           # every voice normalised to -6 dBFS peak
src = json.load(open(source_path, encoding="utf-8"))

def read_wav(path):
    with wave.open(path) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return array.array("h", w.readframes(w.getnframes()))

def write_wav(path, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(RATE)
        w.writeframes(samples.tobytes())

def trim(samples):
    """Normalise, then cut everything before the first and after the last sample above threshold."""
    peak = max(max(samples), -min(samples))
    scaled = array.array("h", (round(x * PEAK / peak) for x in samples))
    loud = [i for i, x in enumerate(scaled) if abs(x) > THRESHOLD]
    return scaled[loud[0]:loud[-1] + 1]

def longest_pause_ms(samples):
    """Longest run of 10 ms frames whose RMS is below threshold."""
    frame, run, longest = 10 * SPMS, 0, 0
    for i in range(0, len(samples) - frame + 1, frame):
        seg = samples[i:i + frame]
        quiet = math.sqrt(sum(map(operator.mul, seg, seg)) / frame) <= THRESHOLD
        run = run + 1 if quiet else 0
        longest = max(longest, run)
    return longest * 10

pause = array.array("h", bytes(2 * src["sentencePauseMs"] * SPMS))
participants = src["participants"]
identities = [p["identity"] for p in participants]
placed, cursor_ms, previous_end_ms = [], src["leadInMs"], None
for i, (speaker, gap_ms, text) in enumerate(src["utterances"], 1):
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    clip, spans = array.array("h"), []
    for j in range(1, len(sentences) + 1):
        if j > 1:
            clip.extend(pause)
        at = len(clip)
        clip.extend(trim(read_wav(f"{work}/u{i:02d}s{j}.wav")))
        spans.append((at, len(clip)))
    start_ms = cursor_ms if previous_end_ms is None else previous_end_ms + gap_ms
    end_ms = start_ms + math.ceil(len(clip) / SPMS)
    uid = f"u{i:02d}"
    if not 2000 <= end_ms - start_ms <= 15000:
        sys.exit(f"{uid}: lasts {end_ms - start_ms} ms, expected 2000-15000 ms")
    if (p := longest_pause_ms(clip)) >= max_pause_ms:
        sys.exit(f"{uid}: internal pause of {p} ms (limit {max_pause_ms} ms)")
    same = [u for u in placed if u["speaker"] == speaker and u["endMs"] > start_ms]
    if same:
        sys.exit(f"{uid}: {speaker} would overlap their own {same[0]['id']}")
    placed.append({"id": uid, "speaker": speaker, "startMs": start_ms, "endMs": end_ms,
                   "text": text,
                   # Each sentence's own span, for sentence-level ground truth (captions, replayed
                   # speech-to-text answering a piece of an utterance).
                   "sentences": [{"startMs": start_ms + a // SPMS, "endMs": start_ms + math.ceil(b / SPMS), "text": t}
                                 for (a, b), t in zip(spans, sentences)],
                   "_clip": clip})
    previous_end_ms = max(previous_end_ms or 0, end_ms)

duration_ms = previous_end_ms + src["tailMs"]
total = duration_ms * SPMS
tracks = {}
for p in participants:
    track = array.array("h", bytes(2 * total))
    if p.get("silent"):
        # An open microphone in a quiet room: deterministic white noise far below speech.
        # A noisy one ("noisy": true, e.g. -40 dBFS) is a hissing microphone left open: louder than
        # the speech threshold, never speech.
        rng, sigma = random.Random(p["identity"]), 32768 * 10 ** (p.get("noiseDbfs", -70) / 20)
        track = array.array("h", (max(-32768, min(32767, round(rng.gauss(0, sigma)))) for _ in range(total)))
    for u in placed:
        if u["speaker"] == p["identity"]:
            at = u["startMs"] * SPMS
            track[at:at + len(u["_clip"])] = u["_clip"]
    tracks[p["identity"]] = track
    write_wav(f"{work}/{p['identity']}.wav", track)
mixed = array.array("h", (max(-32768, min(32767, sum(s))) for s in zip(*tracks.values())))
write_wav(f"{work}/mixed.wav", mixed)
# The mix without the noisy microphones, only to check the speech boundaries on the mix (not published).
quiet = [tracks[p["identity"]] for p in participants if not p.get("noisy")]
write_wav(f"{work}/speech-mix.wav", array.array("h", (max(-32768, min(32767, sum(s))) for s in zip(*quiet))))

def voice(p):
    if p.get("silent"):
        kind = "noisy open microphone" if p.get("noisy") else "silent microphone"
        return f"none ({kind}, white noise at {p.get('noiseDbfs', -70)} dBFS)"
    e = p["espeak"]
    return f"espeak-ng {e['voice']} -p {e['pitch']} -s {e['speed']}"

script = {
    "name": src["name"], "language": src["language"], "title": src["title"],
    "durationMs": duration_ms, "sampleRate": RATE,
    "participants": [{"identity": p["identity"], "name": p["name"], "email": p["email"],
                      "voice": voice(p), "file": f"{p['identity']}.opus",
                      "silent": bool(p.get("silent")),
                      **({"noisy": True} if p.get("noisy") else {})} for p in participants],
    "utterances": [{k: v for k, v in u.items() if k != "_clip"}
                   for u in sorted(placed, key=lambda u: (u["startMs"], u["id"]))],
    "mixed": "mixed.opus",
}
with open(script_path, "w", encoding="utf-8") as f:
    json.dump(script, f, ensure_ascii=False, indent=2)
    f.write("\n")
PY

# 4. Encode: 48 kHz mono Opus in Ogg. Bit-exact flags keep the Ogg serial numbers and
#    metadata stable, so the same ffmpeg build gives byte-identical files.
mapfile -t TRACKS < <(python3 -c 'import json,sys; [print(p["identity"]) for p in json.load(open(sys.argv[1]))["participants"]]' "$WORK/script.json")
for name in "${TRACKS[@]}" mixed speech-mix; do
  ffmpeg -nostdin -hide_banner -loglevel error -y -i "$WORK/$name.wav" -map_metadata -1 \
    -c:a libopus -b:a "$OPUS_BITRATE" -vbr on -application voip -ar 48000 -ac 1 \
    -fflags +bitexact -flags:a +bitexact "$WORK/$name.opus"
  # Decode back for the checks: what a consumer of the fixture will actually hear.
  ffmpeg -nostdin -hide_banner -loglevel error -y -i "$WORK/$name.opus" -ar 48000 -ac 1 \
    -c:a pcm_s16le "$WORK/$name.decoded.wav"
done

# 5. Check the encoded result against the ground truth; fail (and publish nothing) otherwise.
DURATION_MS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["durationMs"])' "$WORK/script.json")
for name in "${TRACKS[@]}" mixed; do
  samples=$(soxi -s "$WORK/$name.decoded.wav")
  [[ "$samples" -eq $((DURATION_MS * 48)) ]] ||
    die "$name.opus decodes to $samples samples, expected $((DURATION_MS * 48)) (${DURATION_MS} ms)"
done
MIN_DURATION_MS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("minDurationMs", 120000))' "$SOURCE")
python3 - "$WORK/script.json" "$WORK" "$THRESHOLD_DB" "$MIN_DURATION_MS" "$SOURCE" <<'PY'
import array, json, math, operator, sys, wave

script_path, work, threshold_db, min_duration_ms = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
noise_db = {p["identity"]: p.get("noiseDbfs", -70) for p in json.load(open(sys.argv[5], encoding="utf-8"))["participants"]}
RATE, SPMS, THRESHOLD = 48000, 48, 32768 * 10 ** (float(threshold_db) / 20)
EDGE_MS = 25           # codec smearing allowed around each boundary (measured: under 12 ms)
script = json.load(open(script_path, encoding="utf-8"))
errors = []

def read(name, decoded=True):
    with wave.open(f"{work}/{name}{'.decoded' if decoded else ''}.wav") as w:
        return array.array("h", w.readframes(w.getnframes()))

def rms(seg):
    return math.sqrt(sum(map(operator.mul, seg, seg)) / max(1, len(seg)))

def peak(seg):
    return max(max(seg, default=0), -min(seg, default=0))

def check_track(label, samples, spans):
    """Speech above threshold inside every span, nothing above threshold outside them."""
    cursor = 0
    for k, u in enumerate(spans):
        s, e = u["startMs"] * SPMS, u["endMs"] * SPMS
        # Look for the speech extent up to halfway to the neighbouring spans (at most 1 s).
        lo = max(0, s - RATE, (spans[k - 1]["endMs"] * SPMS + s) // 2 if k else 0)
        hi = min(len(samples), e + RATE, (e + spans[k + 1]["startMs"] * SPMS) // 2 if k + 1 < len(spans) else len(samples))
        frames = [samples[i:i + 10 * SPMS] for i in range(s, e - 10 * SPMS + 1, 10 * SPMS)]
        voiced = sum(rms(f) > THRESHOLD for f in frames) / len(frames)
        if voiced < 0.6:
            errors.append(f"{label}: only {voiced:.0%} of {u['id']} is above threshold")
        loud = [i for i in range(lo, hi) if abs(samples[i]) > THRESHOLD]
        if not loud or abs(loud[0] - s) > EDGE_MS * SPMS or abs(loud[-1] + 1 - e) > EDGE_MS * SPMS:
            errors.append(f"{label}: speech of {u['id']} does not start/end at its ground-truth boundaries ({(loud[0] if loud else -1) / SPMS:.0f}-{(loud[-1] + 1 if loud else -1) / SPMS:.0f} ms, expected {u['startMs']}-{u['endMs']})")
        gap = samples[cursor:max(cursor, s - EDGE_MS * SPMS)]
        if peak(gap) > THRESHOLD:
            errors.append(f"{label}: sound above threshold before {u['id']}")
        cursor = max(cursor, e + EDGE_MS * SPMS)
    if peak(samples[cursor:]) > THRESHOLD:
        errors.append(f"{label}: sound above threshold after its last utterance")

utterances = script["utterances"]
if [u["startMs"] for u in utterances] != sorted(u["startMs"] for u in utterances):
    errors.append("utterances are not sorted by startMs")
if script["durationMs"] < min_duration_ms:
    errors.append(f"meeting lasts {script['durationMs']} ms, expected at least {min_duration_ms} ms")
overlaps = [(a["id"], b["id"]) for a, b in zip(utterances, utterances[1:]) if b["startMs"] < a["endMs"]]
if not overlaps:
    errors.append("no overlapping turn")
speaking = {u["speaker"] for u in utterances}
for p in script["participants"]:
    track = read(p["identity"])
    level = 20 * math.log10(max(rms(track), 1e-9) / 32768)
    if p.get("noisy"):
        # Opus keeps the hiss's level within a couple of dB.
        if p["identity"] in speaking or abs(level - noise_db[p["identity"]]) > 2.5 or level < -50:
            errors.append(f"{p['identity']}: noisy track is not an open microphone at {noise_db[p['identity']]} dBFS ({level:.1f} dBFS)")
    elif p["silent"]:
        if p["identity"] in speaking or peak(track) > THRESHOLD or not -90 < level < -55:
            errors.append(f"{p['identity']}: silent track is not a quiet open microphone ({level:.1f} dBFS)")
    else:
        check_track(p["identity"], track, [u for u in utterances if u["speaker"] == p["identity"]])

# The mix: merge overlapping spans into speaking regions, then the same check.
regions = []
for u in utterances:
    if regions and u["startMs"] <= regions[-1]["endMs"]:
        regions[-1]["endMs"] = max(regions[-1]["endMs"], u["endMs"])
        regions[-1]["id"] += "+" + u["id"]
    else:
        regions.append(dict(u))
check_track("mixed" if not any(p.get("noisy") for p in script["participants"]) else "mix without the noisy microphones",
            # Not published, so checked as built: what the published mix adds is the hiss, checked below.
            read("speech-mix", decoded=not any(p.get("noisy") for p in script["participants"])), regions)
if any(p.get("noisy") for p in script["participants"]):
    # The published mix carries the hiss between turns, at the noisy microphones' level.
    mixed, start = read("mixed"), utterances[0]["startMs"] * SPMS
    lead = 20 * math.log10(max(rms(mixed[:start - 100 * SPMS]), 1e-9) / 32768)
    loudest = max(v for k, v in noise_db.items() if any(p["identity"] == k and p.get("noisy") for p in script["participants"]))
    if abs(lead - loudest) > 3:
        errors.append(f"mixed: {lead:.1f} dBFS before the first turn, expected the open microphone's {loudest} dBFS")

if errors:
    sys.exit("fixture check failed:\n  " + "\n  ".join(errors))
print(f"checked: {len(utterances)} utterances, {len(script['participants'])} tracks + mix, "
      f"{script['durationMs'] / 1000:.1f} s, overlaps {overlaps}")
PY

# 6. Publish: replace the previously generated files only.
rm -f "$DIR"/*.opus
for name in "${TRACKS[@]}" mixed; do mv "$WORK/$name.opus" "$DIR/$name.opus"; done
mv "$WORK/script.json" "$DIR/script.json"
size=$(du -sb "$DIR" | cut -f1)
[[ "$size" -le "$MAX_FOLDER_BYTES" ]] || die "fixture folder is $size bytes, over $MAX_FOLDER_BYTES"
echo "make-fixture-meeting: wrote $DIR ($size bytes, ${DURATION_MS} ms)"

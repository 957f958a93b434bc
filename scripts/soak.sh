#!/usr/bin/env bash
# Soak test: runs the real-time test files (vitest project "realtime": LiveKit rooms played in real
# time) several rounds in a row while a CPU hog keeps one core busy, and reports passes, failures
# and times per file, with the machine's load average at the start and end of every round.
#
#   npm run test:soak                          # 5 rounds, every real-time file, hog on
#   npm run test:soak -- 3                     # 3 rounds
#   npm run test:soak -- 3 test/agent/room-behaviour.test.ts test/agent/stt-outage.test.ts
#   SOAK_HOG=0 npm run test:soak -- 2          # without the hog (a quiet-machine baseline)
#
# The hog is one bounded busy loop (it ends by itself after SOAK_HOG_MAX_S, 3 h by default) and is
# stopped by its pid when the soak ends, however it ends. Results: stdout, and
# .services/soak/<start time>/ (one JSON report and one log per round, summary.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-5}"
shift || true
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/soak.sh [rounds] [test files...] (rounds: a positive integer, got '$rounds')" >&2
  exit 2
fi
files=("$@")
hog="${SOAK_HOG:-1}"
out=".services/soak/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

hog_pid=""
stop_hog() {
  if [[ -n "$hog_pid" ]] && kill -0 "$hog_pid" 2>/dev/null; then kill "$hog_pid" 2>/dev/null || true; fi
}
trap stop_hog EXIT
trap 'exit 130' INT TERM
if [[ "$hog" != "0" ]]; then
  timeout "${SOAK_HOG_MAX_S:-10800}" bash -c 'while :; do :; done' &
  hog_pid=$!
  echo "[soak] CPU hog running (pid $hog_pid)"
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "[soak] $rounds round(s), hog=$([[ -n "$hog_pid" ]] && echo on || echo off), files: ${files[*]:-every real-time file}; results in $out"
for ((r = 1; r <= rounds; r++)); do
  before=$(load)
  t0=$(date +%s)
  rc=0
  npx vitest run --project realtime --reporter=default --reporter=json --outputFile="$out/round-$r.json" "${files[@]}" >"$out/round-$r.log" 2>&1 || rc=$?
  echo "round $r: exit $rc in $(($(date +%s) - t0)) s, load before $before, after $(load)" | tee -a "$out/rounds.txt"
done

# Per file: passes / rounds and durations, from vitest's JSON reports.
node - "$out" "$rounds" <<'EOF' | tee "$out/summary.txt"
const fs = require('node:fs');
const [dir, rounds] = process.argv.slice(2);
const files = new Map();
for (let r = 1; r <= Number(rounds); r++) {
  let report;
  try {
    report = JSON.parse(fs.readFileSync(`${dir}/round-${r}.json`, 'utf8'));
  } catch {
    console.log(`round ${r}: no report (vitest did not finish; see ${dir}/round-${r}.log)`);
    continue;
  }
  for (const f of report.testResults) {
    const name = f.name.replace(`${process.cwd()}/`, '');
    const e = files.get(name) ?? { pass: 0, fail: 0, secs: [], failed: [] };
    const ok = f.status === 'passed';
    ok ? e.pass++ : e.fail++;
    // vitest's JSON report times a file without its hooks (where the real-time tests play their
    // meeting); the default reporter's line in the round's log has the file's whole duration.
    const log = fs.existsSync(`${dir}/round-${r}.log`) ? fs.readFileSync(`${dir}/round-${r}.log`, 'utf8').replace(/\x1b\[[0-9;]*m/g, '') : '';
    const line = log.split('\n').find((l) => l.includes(` ${name} (`) && /\d+ms\s*$/.test(l));
    e.secs.push(line ? Math.round(Number(/(\d+)ms\s*$/.exec(line)[1]) / 1000) : '?');
    if (!ok) e.failed.push(`round ${r}: ${f.assertionResults.filter((a) => a.status === 'failed').map((a) => a.title).join('; ') || f.message || 'failed to run'}`);
    files.set(name, e);
  }
}
console.log('\nfile                                   pass/runs  seconds per round');
for (const [name, e] of [...files].sort()) {
  console.log(`${name.padEnd(40)} ${`${e.pass}/${e.pass + e.fail}`.padEnd(10)} ${e.secs.join(', ')}`);
  for (const f of e.failed) console.log(`    FAILED ${f}`);
}
const fails = [...files.values()].reduce((n, e) => n + e.fail, 0);
console.log(fails === 0 ? '\nsoak: every file passed every round' : `\nsoak: ${fails} failed file run(s)`);
process.exitCode = fails === 0 ? 0 : 1;
EOF

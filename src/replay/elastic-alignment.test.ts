/**
 * The replay matcher on short and damaged live uploads (issues 11 and 15), built from the fixture
 * meeting's own tracks: each track goes through Opus once, as the live path does, then every
 * sentence of script.json (0.4-7 s) is cut with the agent's 300 ms pre-roll and damaged the ways a
 * busy machine damages a live upload. Each must be answered with exactly its own sentence (less the
 * words whose middle an onset damage took away); audio that was never recorded (another meeting's
 * speech, noise shaped like speech) must not be.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { concat, throughLiveKitOpus } from '../../test/replay/synth-meeting.js';
import { decodeToPcm } from '../pipelines/audio/ffmpeg.js';
import { loadCassette, type OpenAiVerboseTranscription, type TranscriptionEntry } from './cassette.js';
import { fingerprintPcm } from './fingerprint.js';
import { loadMeetingScript, type MeetingScript } from './ground-truth.js';
import { cropOpenAi } from './transcription-format.js';
import { matchTranscription } from './transcription-match.js';

const RATE = 16_000;
const ms = (x: number) => Math.round((x * RATE) / 1000);

/** Deterministic pseudo-random numbers in [0, 1) (a fixed seed: the same uploads on every run). */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
}

/** Every `every()` samples, `insert(at)` is played (a gap, concealment) and/or `drop()` samples are lost. */
function damage(s: Int16Array, every: () => number, insert: (at: number) => Int16Array, drop: () => number): Int16Array {
  const out: Int16Array[] = [];
  let i = 0;
  let next = every();
  while (i < s.length) {
    const until = Math.min(s.length, next);
    out.push(s.subarray(i, until));
    i = until;
    if (i >= s.length) break;
    out.push(insert(i));
    i += drop();
    next = i + every();
  }
  return concat(out);
}

/** The ways a busy machine's WebRTC path changes an upload (see the BENCHMARKS notes). */
const DAMAGE: Record<string, (s: Int16Array, rnd: () => number) => Int16Array> = {
  clean: (s) => s,
  // The receiver played 40-250 ms of silence where packets came late.
  gaps: (s, rnd) => damage(s, () => ms(800 + rnd() * 1_500), () => new Int16Array(ms(40 + rnd() * 210)), () => 0),
  // The jitter buffer dropped one to three 20 ms frames to catch up.
  'dropped frames': (s, rnd) => damage(s, () => ms(400 + rnd() * 900), () => new Int16Array(0), () => ms(20 * (1 + Math.floor(rnd() * 3)))),
  'gaps and drops': (s, rnd) =>
    damage(s, () => ms(500 + rnd() * 1_200), () => new Int16Array(rnd() < 0.4 ? ms(40 + rnd() * 200) : 0), () => (rnd() < 0.6 ? ms(20 * (1 + Math.floor(rnd() * 3))) : 0)),
  // Packet-loss concealment every 1.5-3.5 s: the last pitch period repeated, fading out, for 100-350 ms.
  concealment: (s, rnd) =>
    damage(
      s,
      () => ms(1_500 + rnd() * 2_000),
      (at) => {
        const pitch = ms(5 + rnd() * 5);
        const out = new Int16Array(ms(100 + rnd() * 250));
        for (let k = 0; k < out.length; k++) out[k] = Math.round((s[Math.max(0, at - pitch + (k % pitch))] ?? 0) * 0.5 ** (k / ms(60)));
        return out;
      },
      () => 0,
    ),
  // The VAD started late: the pre-roll and up to 15 % of the speech are missing.
  'clipped onset': (s, rnd) => s.slice(ms(300) + Math.round(Math.max(0, s.length - ms(600)) * rnd() * 0.15)),
  // The stream's first frames were lost: the pre-roll and up to 200 ms (a tenth) of the speech arrive as silence.
  'silenced onset': (s) => {
    const out = s.slice();
    out.fill(0, 0, ms(300) + Math.min(ms(200), Math.round(Math.max(0, s.length - ms(600)) / 10)));
    return out;
  },
};

const words = (t: string) =>
  t
    .toLowerCase()
    .replace(/[^\p{L}\p{N}' ]/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);

/** Samples of the cut's onset the upload lost (cut off, or replaced by silence); 0 for other damage. */
function lostOnset(kind: string, cut: Int16Array, upload: Int16Array): number {
  if (kind === 'clipped onset') return cut.length - upload.length;
  if (kind === 'silenced onset') return upload.findIndex((x) => x !== 0);
  return 0;
}

async function throughOpus(file: string): Promise<Int16Array> {
  return (await decodeToPcm(await throughLiveKitOpus((await decodeToPcm(file)).samples))).samples;
}

function quantiles(scores: readonly number[]): string {
  const s = [...scores].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!.toFixed(2);
  return `min ${q(0)} p5 ${q(0.05)} p50 ${q(0.5)} max ${q(1)}`;
}

describe('matching short and damaged live uploads', () => {
  let entries: TranscriptionEntry[];
  let comite: MeetingScript;
  const tracks = new Map<string, Int16Array>();
  let budget: MeetingScript;
  const budgetTracks = new Map<string, Int16Array>();

  beforeAll(async () => {
    entries = (await loadCassette('fixtures/cassettes/comite-projet.json')).transcriptions.filter((e) => e.provider === 'openai');
    comite = await loadMeetingScript('fixtures/meetings/comite-projet');
    for (const p of comite.participants) tracks.set(p.identity, await throughOpus(join('fixtures/meetings/comite-projet', p.file)));
    budget = await loadMeetingScript('fixtures/meetings/budget-review');
    for (const p of budget.participants) budgetTracks.set(p.identity, await throughOpus(join('fixtures/meetings/budget-review', p.file)));
  }, 120_000);

  const match = (pcm: Int16Array) => matchTranscription(entries, { provider: 'openai', model: 'whisper-large-v3', language: 'fr', fingerprint: fingerprintPcm(pcm) });

  for (const [kind, harm] of Object.entries(DAMAGE)) {
    it(`answers every fixture sentence (0.4-7 s) with its own words: ${kind}`, () => {
      const scores: number[] = [];
      let seed = 1;
      const sentences = comite.utterances.flatMap((u) => (u.sentences ?? [u]).map((s) => ({ ...s, speaker: u.speaker, id: u.id })));
      expect(sentences.filter((s) => s.endMs - s.startMs < 2_000).length).toBeGreaterThanOrEqual(8);
      for (const s of sentences) {
        const rnd = random(seed++);
        // As the agent cuts: 300 ms of pre-roll, and the pause that ended it (180-380 ms).
        const from = s.startMs - 300 + Math.round(rnd() * 20);
        const cut = tracks.get(s.speaker)!.slice(ms(from), ms(s.endMs + 180 + rnd() * 200));
        const upload = harm(cut, rnd);
        const found = match(upload);
        if (!("hit" in found)) throw new Error(`${kind}: ${s.id} "${s.text}" (${s.endMs - s.startMs} ms) unmatched: ${JSON.stringify(found.miss.closest)}`);
        const { hit } = found;
        scores.push(hit.alignment.score);
        const window = { fromSec: hit.fromSec, durationSec: hit.method === 'whole' ? upload.length / RATE : hit.spanSec };
        const recorded = hit.entry.response as OpenAiVerboseTranscription;
        const text = cropOpenAi(recorded, window).text;
        const what = `${kind}: ${s.id} at ${from} ms, score ${hit.alignment.score.toFixed(3)} ${hit.method}`;
        const lost = lostOnset(kind, cut, upload);
        if (lost === 0) {
          expect(words(text), what).toEqual(words(s.text));
        } else {
          // The onset is gone (the first words, in part or whole): a recogniser hears the words
          // most of which are left, so the answer is the recorded words whose middle lies between
          // the end of what was lost and the end of the cut, but for words within 40 ms of either
          // edge (two fingerprint frames: the window's precision), which may go either way.
          const edge = (from + (lost * 1000) / RATE) / 1000;
          const end = (from + (cut.length * 1000) / RATE) / 1000;
          const timed = recorded.words ?? [];
          const mid = (w: { start: number; end: number }) => (w.start + w.end) / 2;
          const TOL = 0.04;
          const maybe = timed.map((w, i) => [w, i] as const).filter(([w]) => mid(w) > edge - TOL && mid(w) < end + TOL).map(([, i]) => i);
          const sure = maybe.filter((i) => mid(timed[i]!) >= edge + TOL && mid(timed[i]!) <= end - TOL);
          const [lo, hi] = [maybe[0]!, maybe.at(-1)!];
          const [firstSure, lastSure] = sure.length ? [sure[0]!, sure.at(-1)!] : [hi + 1, lo - 1];
          const options = new Set<string>(['']);
          for (let i = lo; i <= Math.min(firstSure, hi + 1); i++) {
            for (let j = Math.max(lastSure, i - 1); j <= hi; j++) options.add(timed.slice(i, j + 1).map((w) => w.word).join(' '));
          }
          if (sure.length) options.delete('');
          expect(options.has(text.replace(/\s+/gu, ' ')), `${what}: "${text}" lost ${lost} samples: not the words left`).toBe(true);
        }
      }
      console.log(`${kind}: ${scores.length} sentences, score ${quantiles(scores)}`);
      expect(Math.min(...scores)).toBeGreaterThanOrEqual(0.8);
    });
  }

  it('does not answer speech that was never recorded: another meeting’s sentences, or noise shaped like speech', () => {
    const closest: number[] = [];
    for (const u of budget.utterances) {
      for (const s of u.sentences ?? [u]) {
        const found = match(budgetTracks.get(u.speaker)!.slice(ms(s.startMs - 300), ms(s.endMs + 300)));
        expect('miss' in found, `budget-review ${u.id}: "${s.text}"`).toBe(true);
        if ('miss' in found) closest.push(found.miss.closest?.score ?? 0);
      }
    }
    // Noise in syllable-like bursts (80-300 ms, 10-30 dB apart), 1-8 s long.
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = random(seed * 7_919);
      const pcm = new Int16Array(ms(1_000 + rnd() * 7_000));
      for (let at = ms(300); at < pcm.length - ms(300); ) {
        const len = ms(80 + rnd() * 220);
        const gain = 3_000 * 10 ** (-rnd() * 1.5);
        for (let k = 0; k < len && at + k < pcm.length; k++) pcm[at + k] = Math.round((rnd() - 0.5) * 2 * gain);
        at += len + (rnd() < 0.3 ? ms(60 + rnd() * 200) : 0);
      }
      const found = match(pcm);
      expect('miss' in found, `noise ${seed}`).toBe(true);
      if ('miss' in found) closest.push(found.miss.closest?.score ?? 0);
    }
    console.log(`never recorded: ${closest.length} uploads, closest score ${quantiles(closest)}`);
    expect(Math.max(...closest)).toBeLessThan(0.8);
  });
});

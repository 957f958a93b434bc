import { initializeLogger, VADEventType } from '@livekit/agents';
import * as silero from '@livekit/agents-plugin-silero';
import { AudioFrame } from '@livekit/rtc-node';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_DIR, fixtureScript } from '../../test/agent/harness.js';
import { decodeToPcm } from '../pipelines/audio/ffmpeg.js';
import { SILERO_SAMPLE_RATE, SILERO_WINDOW_SAMPLES, SileroVad } from './silero-vad.js';
import { UtteranceSegmenter, type CutUtterance } from './utterance-segmenter.js';

const script = fixtureScript();
const tracks = new Map<string, Int16Array>();
const windowsOf = (pcm: Int16Array) =>
  Array.from({ length: Math.floor(pcm.length / SILERO_WINDOW_SAMPLES) }, (_, i) => pcm.slice(i * SILERO_WINDOW_SAMPLES, (i + 1) * SILERO_WINDOW_SAMPLES));
const toMs = (sample: number) => (sample * 1000) / SILERO_SAMPLE_RATE;

beforeAll(async () => {
  for (const p of script.participants) tracks.set(p.identity, (await decodeToPcm(join(FIXTURE_DIR, p.file))).samples);
}, 30_000);

/**
 * Utterances the segmenter cuts from a track scored by `vad`, at Silero's end of speech only (no
 * sentence pauses), so they compare one to one with the script's utterances.
 */
async function utterancesOf(vad: SileroVad, pcm: Int16Array): Promise<CutUtterance[]> {
  const cuts: CutUtterance[] = [];
  const segmenter = new UtteranceSegmenter({ maxUtteranceMs: 30_000, sentenceAfterMs: Infinity }, (u) => cuts.push(u));
  const scorer = vad.scorer();
  for (const w of windowsOf(pcm)) segmenter.push({ samples: w, probability: await scorer.score(w) });
  segmenter.flush();
  return cuts;
}

describe('SileroVad', () => {
  it('without its gate, gives exactly the probabilities of the plugin’s own VADStream', async () => {
    initializeLogger({ pretty: false, level: 'warn' });
    const pcm = (tracks.get('alice') ?? new Int16Array()).subarray(0, SILERO_SAMPLE_RATE * 20);
    const windows = windowsOf(pcm);
    const stream = (await silero.VAD.load()).stream();
    const theirs: number[] = [];
    const consumed = (async () => {
      for await (const ev of stream) {
        if (ev.type !== VADEventType.INFERENCE_DONE) continue;
        theirs.push(ev.probability);
        if (theirs.length === windows.length) break;
      }
    })();
    for (const w of windows) stream.pushFrame(new AudioFrame(w, SILERO_SAMPLE_RATE, 1, w.length));
    await consumed;
    stream.close();

    const scorer = (await SileroVad.load({ quietDbfs: -Infinity })).scorer();
    const ours: number[] = [];
    for (const w of windows) ours.push(await scorer.score(w));
    expect(ours).toHaveLength(theirs.length);
    for (const [i, p] of ours.entries()) expect(p, `window ${i}`).toBeCloseTo(theirs[i]!, 5);
    // Speech and silence both occur in these 20 s, so the comparison covers both.
    expect(Math.max(...ours)).toBeGreaterThan(0.9);
    expect(Math.min(...ours)).toBeLessThan(0.05);
  }, 60_000);

  it('cuts every speaker’s utterances at least as close to the ground truth as without the gate, while the model runs on a fraction of the audio', async () => {
    const errors = { gated: [] as number[], ungated: [] as number[] };
    for (const p of script.participants.filter((x) => !x.silent)) {
      const pcm = tracks.get(p.identity) ?? new Int16Array();
      const gated = await SileroVad.load();
      const withGate = await utterancesOf(gated, pcm);
      const withoutGate = await utterancesOf(await SileroVad.load({ quietDbfs: -Infinity }), pcm);
      const truth = script.utterances.filter((u) => u.speaker === p.identity);

      expect(withGate.length, p.identity).toBe(truth.length);
      expect(withoutGate.length, p.identity).toBe(truth.length);
      for (const [i, t] of truth.entries()) {
        const [g, u] = [withGate[i]!, withoutGate[i]!];
        errors.gated.push(Math.abs(toMs(g.speechStartSample) - t.startMs), Math.abs(toMs(g.speechEndSample) - t.endMs));
        errors.ungated.push(Math.abs(toMs(u.speechStartSample) - t.startMs), Math.abs(toMs(u.speechEndSample) - t.endMs));
      }
      // Each speaker talks for under half the meeting: the model sees little more than that.
      const windows = Math.floor(pcm.length / SILERO_WINDOW_SAMPLES);
      expect(gated.counts.modelRuns + gated.counts.gatedWindows).toBe(windows);
      expect(gated.counts.modelRuns / windows, p.identity).toBeLessThan(0.5);
    }
    expect(Math.max(...errors.gated)).toBeLessThan(100);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(errors.gated)).toBeLessThanOrEqual(mean(errors.ungated));
  }, 120_000);

  it('never runs the model for an open microphone in a quiet room (-70 dBFS), and finds no speech there', async () => {
    const silent = script.participants.find((x) => x.silent)!;
    const vad = await SileroVad.load();
    expect(await utterancesOf(vad, tracks.get(silent.identity) ?? new Int16Array())).toEqual([]);
    expect(vad.counts.modelRuns).toBe(0);
  });

  it('lets room noise above the gate through to the model, which finds the speech in it and nothing in the noise alone', async () => {
    // Seeded white noise at about -50 dBFS RMS under 30 s of one speaker.
    let seed = 7;
    const noise = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31 - 0.5) * 2 * 180;
    const speaker = script.utterances[0]!.speaker;
    const clean = (tracks.get(speaker) ?? new Int16Array()).subarray(0, SILERO_SAMPLE_RATE * 30);
    const noisy = clean.map((s) => Math.max(-32_768, Math.min(32_767, Math.round(s + noise()))));
    const vad = await SileroVad.load();
    const cuts = await utterancesOf(vad, noisy);
    const truth = script.utterances.filter((u) => u.speaker === speaker && u.endMs < 30_000);
    expect(cuts).toHaveLength(truth.length);
    for (const [i, u] of cuts.entries()) expect(Math.abs(toMs(u.speechStartSample) - truth[i]!.startMs)).toBeLessThan(300);
    // The noise is above the gate: every window went to the model.
    expect(vad.counts.gatedWindows).toBe(0);
  }, 60_000);
});

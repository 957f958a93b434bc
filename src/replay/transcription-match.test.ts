/**
 * Matching uploads that went through a busy machine's WebRTC path: silence played where packets
 * came late, 20-60 ms dropped to catch up. Built from the fixture meeting's own tracks, through
 * Opus, and sent to the replay server as the agent sends them.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concat, cut, throughLiveKitOpus } from '../../test/replay/synth-meeting.js';
import { decodeToPcm } from '../pipelines/audio/ffmpeg.js';
import { loadCassette } from './cassette.js';
import { alignFingerprint, decodeFingerprint, fingerprintPcm } from './fingerprint.js';
import { loadMeetingScript } from './ground-truth.js';
import { startReplayServer, UNMATCHED_STATUS, type ReplayServer } from './server.js';
import { MATCH_METHOD_HEADER, MATCH_SCORE_HEADER } from './transcription-replay.js';

const FIXTURE = 'fixtures/meetings/comite-projet';
const CASSETTE = 'fixtures/cassettes/comite-projet.json';
const RATE = 16_000;

/** Deterministic pseudo-random numbers in [0, 1) (a fixed seed: the same uploads on every run). */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
}

/**
 * What a busy machine does to a track: a gap of 80-250 ms of silence every 3-5 s (the publisher
 * was late, the receiver played silence), and 20-60 ms dropped every 1-2 s (catching up).
 */
function underLoad(samples: Int16Array, seed: number): Int16Array {
  const rnd = random(seed);
  const ms = (x: number) => Math.round((x * RATE) / 1000);
  const out: Int16Array[] = [];
  let nextGap = ms(1_000 + rnd() * 2_000);
  let nextDrop = ms(500 + rnd() * 1_000);
  let i = 0;
  while (i < samples.length) {
    const until = Math.min(samples.length, nextGap, nextDrop);
    out.push(samples.subarray(i, until));
    i = until;
    if (i === nextGap) {
      out.push(new Int16Array(ms(80 + rnd() * 170)));
      nextGap = i + ms(3_000 + rnd() * 2_000);
    }
    if (i === nextDrop) {
      i += ms(20 + rnd() * 40);
      nextDrop = i + ms(1_000 + rnd() * 1_000);
      if (nextGap < i) nextGap = i;
    }
  }
  return concat(out);
}

/** The same audio in four pieces played last to first: every piece is real speech, the order is not. */
function reordered(samples: Int16Array): Int16Array {
  const n = samples.length;
  return concat([3, 2, 1, 0].map((k) => samples.subarray(Math.floor((k * n) / 4), Math.floor(((k + 1) * n) / 4))));
}

async function transcribe(server: ReplayServer, flac: Buffer): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(flac)], { type: 'audio/flac' }), 'u.flac');
  form.append('model', 'whisper-large-v3');
  form.append('language', 'fr');
  return fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
}

describe('transcription matching under load', () => {
  let server: ReplayServer;
  const tracks = new Map<string, Int16Array>();
  let script: Awaited<ReturnType<typeof loadMeetingScript>>;

  beforeAll(async () => {
    script = await loadMeetingScript(FIXTURE);
    for (const p of script.participants) tracks.set(p.identity, (await decodeToPcm(join(FIXTURE, p.file))).samples);
    server = await startReplayServer({ provider: 'openai', cassettes: [CASSETTE] });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  it('reports the score and method of a clean upload: one offset, near 1', async () => {
    const u = script.utterances[0]!;
    const res = await transcribe(server, await throughLiveKitOpus(cut(tracks.get(u.speaker)!, u.startMs - 300, u.endMs + 300)));
    expect(res.status).toBe(200);
    expect(res.headers.get(MATCH_METHOD_HEADER)).toBe('whole');
    expect(Number(res.headers.get(MATCH_SCORE_HEADER))).toBeGreaterThan(0.9);
  });

  it('answers every fixture utterance with gaps and drops with its exact text, where one offset fits too few', async () => {
    const recorded = new Map(
      (await loadCassette(CASSETTE)).transcriptions.filter((e) => e.provider === 'openai').map((e) => [e.id, decodeFingerprint(e.audio.fingerprint.data)]),
    );
    let unmatchedWithOneOffset = 0;
    for (const [i, u] of script.utterances.entries()) {
      const flac = await throughLiveKitOpus(underLoad(cut(tracks.get(u.speaker)!, u.startMs - 300, u.endMs + 300), i + 1));
      const pcm = (await decodeToPcm(flac)).samples;
      const res = await transcribe(server, flac);
      expect(res.status, u.id).toBe(200);
      expect(((await res.json()) as { text: string }).text, u.id).toBe(u.text.trim());
      expect(Number(res.headers.get(MATCH_SCORE_HEADER)), u.id).toBeGreaterThanOrEqual(0.8);
      // The path had to skip or insert frames: the header says the machine was busy.
      expect(res.headers.get(MATCH_METHOD_HEADER), u.id).toBe('elastic');
      const bestWhole = Math.max(...[...recorded.values()].map((r) => alignFingerprint(fingerprintPcm(pcm), r)?.score ?? 0));
      if (bestWhole < 0.8) unmatchedWithOneOffset++;
    }
    // The damage is real: most of these uploads score under 0.8 with one offset per upload.
    expect(unmatchedWithOneOffset).toBeGreaterThanOrEqual(script.utterances.length / 2);
    expect(server.unmatched).toEqual([]);
  }, 120_000);

  it('does not match real speech in the wrong order: that is a bad cut, not a busy machine', async () => {
    for (const u of script.utterances) {
      const res = await transcribe(server, await throughLiveKitOpus(reordered(cut(tracks.get(u.speaker)!, u.startMs - 300, u.endMs + 300))));
      expect(res.status, u.id).toBe(UNMATCHED_STATUS);
    }
    expect(server.unmatched).toHaveLength(script.utterances.length);
    for (const miss of server.unmatched) expect((miss.closest as { score: number }).score).toBeLessThan(0.8);
  }, 120_000);
});

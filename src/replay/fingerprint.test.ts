import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cut, DEFAULT_PARTICIPANTS, DEFAULT_UTTERANCES, synthMeeting, throughLiveKitOpus, type SynthMeeting } from '../../test/replay/synth-meeting.js';
import { decodeToPcm } from '../pipelines/audio/ffmpeg.js';
import { alignFingerprint, decodeFingerprint, encodeFingerprint, fingerprintPcm, frameDb, isSilent, type Fingerprint } from './fingerprint.js';

let dir: string;
let meeting: SynthMeeting;
const recorded = new Map<string, Fingerprint>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'replay-fp-'));
  meeting = await synthMeeting(join(dir, 'meeting'), DEFAULT_PARTICIPANTS, DEFAULT_UTTERANCES);
  // The recorded side is what the cassette script fingerprints: the Opus files on disk.
  for (const p of meeting.script.participants) recorded.set(p.identity, fingerprintPcm((await decodeToPcm(join(meeting.dir, p.file))).samples));
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('energy fingerprint', () => {
  it('measures a full-scale sine near -3 dBFS and digital silence at the floor, and survives base64', () => {
    const sine = Int16Array.from({ length: 16_000 }, (_, i) => Math.round(32767 * Math.sin((2 * Math.PI * 440 * i) / 16_000)));
    const fp = fingerprintPcm(sine);
    expect(fp.frames).toHaveLength(50);
    expect(frameDb(fp.frames[10] ?? 0)).toBeCloseTo(-3, 0);
    expect(isSilent(fp)).toBe(false);
    const quiet = fingerprintPcm(new Int16Array(16_000));
    expect(frameDb(quiet.frames[0] ?? 255)).toBe(-100);
    expect(isSilent(quiet)).toBe(true);
    expect(decodeFingerprint(encodeFingerprint(fp)).frames).toEqual(fp.frames);
  });

  it('finds a clip at its offset inside a longer signal and scores a flat stretch 0', () => {
    const track = fingerprintPcm(meeting.tracks.get('alice') ?? new Int16Array());
    const clip: Fingerprint = { frameMs: 20, frames: track.frames.slice(500, 700) };
    const a = alignFingerprint(clip, track);
    expect(a?.offsetFrames).toBe(500);
    expect(a?.score).toBeCloseTo(1, 5);
    const flat: Fingerprint = { frameMs: 20, frames: new Uint8Array(200).fill(40) };
    expect(alignFingerprint(flat, track)?.score).toBe(0);
  });
});

describe('matching uploads cut by a VAD and re-encoded like the live path', () => {
  // Every utterance, cut with different paddings, through Opus at 24 kbit/s then FLAC.
  const paddings: [number, number][] = [
    [-300, 300],
    [300, -300],
    [-7, 113],
    [0, 0],
  ];

  it('aligns each upload with its own speaker’s track within one frame, at a high score', async () => {
    for (const u of meeting.script.utterances) {
      for (const [before, after] of paddings) {
        const start = u.startMs + before;
        const upload = fingerprintPcm((await decodeToPcm(await throughLiveKitOpus(cut(meeting.tracks.get(u.speaker) ?? new Int16Array(), start, u.endMs + after)))).samples);
        const a = alignFingerprint(upload, recorded.get(u.speaker) ?? upload);
        expect(a?.score, `${u.id} ${before}/${after}`).toBeGreaterThan(0.9);
        expect(Math.abs((a?.offsetFrames ?? 0) * 20 - start), `${u.id} offset`).toBeLessThanOrEqual(20);
      }
    }
  });

  it('does not align an utterance with the other speaker’s track (silent at that time)', async () => {
    for (const u of meeting.script.utterances) {
      const other = u.speaker === 'alice' ? 'bruno' : 'alice';
      const upload = fingerprintPcm((await decodeToPcm(await throughLiveKitOpus(cut(meeting.tracks.get(u.speaker) ?? new Int16Array(), u.startMs - 300, u.endMs + 300)))).samples);
      const a = alignFingerprint(upload, recorded.get(other) ?? upload);
      expect(a?.score, u.id).toBeLessThan(0.8);
    }
  });
});

/**
 * A small synthetic meeting in the fixture format (script.json, one Opus track per participant,
 * mixed.opus), spoken by espeak-ng, for tests that must not depend on the recorded fixture.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeToPcm, encodePcm, type UploadFormat } from '../../src/pipelines/audio/ffmpeg.js';

const RATE = 16_000;

export interface SynthUtterance {
  speaker: string;
  text: string;
}

export interface SynthParticipant {
  identity: string;
  name: string;
  email: string;
  /** espeak-ng voice, e.g. "fr" or "fr+f3". */
  voice: string;
  silent?: boolean;
}

export async function speak(text: string, voice: string, wordsPerMinute = 160): Promise<Int16Array> {
  const dir = await mkdtemp(join(tmpdir(), 'espeak-'));
  const wav = join(dir, 'out.wav');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('espeak-ng', ['-v', voice, '-s', String(wordsPerMinute), '-w', wav, text], { stdio: 'ignore' });
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`espeak-ng exited ${code}`))));
    });
    return (await decodeToPcm(await readFile(wav))).samples;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Deterministic low-level noise, so "silence" has a realistic floor instead of digital zeros. */
function addNoise(samples: Int16Array, seed: number, amplitude = 12): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < samples.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    samples[i] = Math.max(-32768, Math.min(32767, (samples[i] ?? 0) + ((x / 2 ** 32) * 2 - 1) * amplitude));
  }
}

export interface SynthMeeting {
  dir: string;
  script: {
    name: string;
    language: string;
    durationMs: number;
    participants: { identity: string; name: string; email: string; file: string; silent: boolean }[];
    utterances: { id: string; speaker: string; startMs: number; endMs: number; text: string }[];
    mixed: string;
  };
  /** Decoded 16 kHz tracks as written (before Opus), by identity. */
  tracks: Map<string, Int16Array>;
}

/** Writes the meeting into `dir` and returns its script. Utterances follow each other with `gapMs` of silence. */
export async function synthMeeting(
  dir: string,
  participants: SynthParticipant[],
  utterances: SynthUtterance[],
  { leadMs = 700, gapMs = 900, tailMs = 800 } = {},
): Promise<SynthMeeting> {
  await mkdir(dir, { recursive: true });
  const voiced: { speaker: string; text: string; pcm: Int16Array; startMs: number }[] = [];
  let cursor = leadMs;
  for (const u of utterances) {
    const p = participants.find((x) => x.identity === u.speaker);
    if (!p) throw new Error(`unknown speaker ${u.speaker}`);
    const pcm = await speak(u.text, p.voice);
    voiced.push({ speaker: u.speaker, text: u.text, pcm, startMs: cursor });
    cursor += Math.round((pcm.length / RATE) * 1000) + gapMs;
  }
  const durationMs = cursor - gapMs + tailMs;
  const total = Math.round((durationMs / 1000) * RATE);
  const tracks = new Map<string, Int16Array>();
  participants.forEach((p, i) => {
    const track = new Int16Array(total);
    for (const v of voiced.filter((x) => x.speaker === p.identity)) track.set(v.pcm, Math.round((v.startMs / 1000) * RATE));
    addNoise(track, i + 1);
    tracks.set(p.identity, track);
  });
  const mixed = new Int16Array(total);
  for (const t of tracks.values()) for (let i = 0; i < total; i++) mixed[i] = Math.max(-32768, Math.min(32767, (mixed[i] ?? 0) + (t[i] ?? 0)));

  const write = async (file: string, samples: Int16Array) =>
    writeFile(join(dir, file), await encodePcm({ samples, sampleRate: RATE, channels: 1 }, 'ogg-opus'));
  for (const p of participants) await write(`${p.identity}.opus`, tracks.get(p.identity) ?? new Int16Array(total));
  await write('mixed.opus', mixed);

  const script: SynthMeeting['script'] = {
    name: 'synth-meeting',
    language: 'fr',
    durationMs,
    participants: participants.map((p) => ({
      identity: p.identity,
      name: p.name,
      email: p.email,
      file: `${p.identity}.opus`,
      silent: p.silent ?? false,
    })),
    utterances: voiced.map((v, i) => ({
      id: `u${i + 1}`,
      speaker: v.speaker,
      startMs: v.startMs,
      endMs: v.startMs + Math.round((v.pcm.length / RATE) * 1000),
      text: v.text,
    })),
    mixed: 'mixed.opus',
  };
  await writeFile(join(dir, 'script.json'), JSON.stringify(script, null, 2));
  return { dir, script, tracks };
}

/** Cuts [startMs, endMs) out of a track (clamped), the way a VAD would. */
export function cut(track: Int16Array, startMs: number, endMs: number): Int16Array {
  const a = Math.max(0, Math.round((startMs / 1000) * RATE));
  const b = Math.min(track.length, Math.round((endMs / 1000) * RATE));
  return track.slice(a, b);
}

/** Encodes PCM the way the live path does: through Opus (LiveKit) at `opusKbps`, decoded, then to `format`. */
export async function throughLiveKitOpus(samples: Int16Array, format: UploadFormat = 'flac', opusKbps = 24): Promise<Buffer> {
  const opus = await runFfmpeg(
    ['-f', 's16le', '-ar', '16000', '-ac', '1', '-i', 'pipe:0', '-c:a', 'libopus', '-b:a', `${opusKbps}k`, '-ar', '48000', '-f', 'ogg', 'pipe:1'],
    Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength),
  );
  const back = await decodeToPcm(opus);
  return encodePcm(back, format);
}

function runFfmpeg(args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.FFMPEG_PATH ?? 'ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`ffmpeg exited ${code}`))));
    child.stdin.end(input);
  });
}

export const DEFAULT_PARTICIPANTS: SynthParticipant[] = [
  { identity: 'alice', name: 'Alice Martin', email: 'alice@example.fr', voice: 'fr' },
  { identity: 'bruno', name: 'Bruno Petit', email: 'bruno@example.fr', voice: 'fr+f3' },
];

export const DEFAULT_UTTERANCES: SynthUtterance[] = [
  { speaker: 'alice', text: 'Bonjour à tous, nous ouvrons le comité de projet de ce matin.' },
  { speaker: 'bruno', text: 'Merci Alice. Le budget du deuxième trimestre est validé par la direction.' },
  { speaker: 'alice', text: 'Très bien. Il reste à planifier la migration des serveurs avant la fin du mois.' },
  { speaker: 'bruno', text: 'Je m’en charge, je prépare le calendrier pour vendredi prochain.' },
  { speaker: 'alice', text: 'Parfait, nous ferons le point mardi.' },
];

/** The samples of `parts`, one after the other. */
export function concat(parts: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

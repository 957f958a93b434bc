/**
 * Sounds that are not speech, as a microphone left open hears them: what a real Whisper is known to
 * invent text on. Deterministic (fixed seeds), 16 kHz mono, so the answers recorded from the local
 * Whisper (fixtures/cassettes/local-whisper-non-speech.json, scripts/make-whisper-cassettes.ts) can
 * be regenerated and compared.
 *
 * Two stationary noises at the same level have the same energy fingerprint, which is what record mode
 * names an entry by: one would replace the other in the cassette, so each level appears once.
 */
import { decodeToPcm, type PcmAudio } from '../../src/pipelines/audio/ffmpeg.js';
import { mulberry32 as random } from '../pipeline/meeting-fixtures.js';

const RATE = 16_000;

function gaussian(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}

function pcm(values: Float64Array, rmsDbfs: number): PcmAudio {
  let sum = 0;
  for (const v of values) sum += v * v;
  const rms = Math.sqrt(sum / Math.max(1, values.length)) || 1;
  const gain = (32768 * 10 ** (rmsDbfs / 20)) / rms;
  const samples = new Int16Array(values.length);
  for (let i = 0; i < values.length; i++) samples[i] = Math.max(-32768, Math.min(32767, Math.round((values[i] as number) * gain)));
  return { samples, sampleRate: RATE, channels: 1 };
}

export function whiteNoise(ms: number, rmsDbfs: number, seed = 1): PcmAudio {
  const rnd = random(seed);
  const v = new Float64Array(Math.round((ms * RATE) / 1000));
  for (let i = 0; i < v.length; i++) v[i] = gaussian(rnd);
  return pcm(v, rmsDbfs);
}

/** Brown (random-walk) noise: the rumble of a fan, a car or air conditioning. */
export function brownNoise(ms: number, rmsDbfs: number, seed = 2): PcmAudio {
  const rnd = random(seed);
  const v = new Float64Array(Math.round((ms * RATE) / 1000));
  let x = 0;
  for (let i = 0; i < v.length; i++) {
    x = 0.995 * x + gaussian(rnd) * 0.1;
    v[i] = x;
  }
  return pcm(v, rmsDbfs);
}

/** Music without words: a I–V–vi–IV chord progression on soft organ tones, one chord a second. */
export function music(ms: number, rmsDbfs: number): PcmAudio {
  const chords = [
    [261.63, 329.63, 392.0],
    [196.0, 246.94, 293.66],
    [220.0, 261.63, 329.63],
    [174.61, 220.0, 261.63],
  ];
  const v = new Float64Array(Math.round((ms * RATE) / 1000));
  for (let i = 0; i < v.length; i++) {
    const t = i / RATE;
    const chord = chords[Math.floor(t) % chords.length] as number[];
    const inBeat = t % 1;
    const envelope = Math.min(1, inBeat / 0.05) * Math.exp(-1.5 * inBeat);
    let s = 0;
    for (const f of chord) s += Math.sin(2 * Math.PI * f * t) + 0.3 * Math.sin(4 * Math.PI * f * t);
    v[i] = s * envelope;
  }
  return pcm(v, rmsDbfs);
}

/** Typing: short clicks at uneven intervals over a quiet room. */
export function keyboard(ms: number, rmsDbfs: number, seed = 3): PcmAudio {
  const rnd = random(seed);
  const v = new Float64Array(Math.round((ms * RATE) / 1000));
  for (let i = 0; i < v.length; i++) v[i] = gaussian(rnd) * 0.002;
  for (let at = Math.round(0.3 * RATE); at < v.length; at += Math.round((0.12 + 0.25 * rnd()) * RATE)) {
    for (let k = 0; k < 160 && at + k < v.length; k++) v[at + k] = (v[at + k] as number) + gaussian(rnd) * Math.exp(-k / 30);
  }
  return pcm(v, rmsDbfs);
}

export interface NonSpeechInput {
  name: string;
  description: string;
  audio: () => PcmAudio | Promise<PcmAudio>;
}

const ENGLISH_MEETING = 'fixtures/meetings/budget-review';

/** The inputs the cassette holds, in recording order. */
export const NON_SPEECH_INPUTS: readonly NonSpeechInput[] = [
  {
    name: 'quiet-room',
    description: "the English test meeting's silent microphone (tom.opus), its first 10 s: white noise at -70 dBFS through Opus",
    audio: () => decodeToPcm(`${ENGLISH_MEETING}/tom.opus`, { startMs: 0, durationMs: 10_000 }),
  },
  {
    name: 'noisy-open-mic',
    description: "the English test meeting's noisy microphone (sara.opus), its first 10 s: white noise at -38 dBFS (about -43 dBFS below 8 kHz) through Opus",
    audio: () => decodeToPcm(`${ENGLISH_MEETING}/sara.opus`, { startMs: 0, durationMs: 10_000 }),
  },
  { name: 'fan-rumble', description: '10 s of brown noise at -35 dBFS (a fan or air conditioning)', audio: () => brownNoise(10_000, -35, 13) },
  { name: 'music', description: '10 s of chords without words at -20 dBFS (hold music)', audio: () => music(10_000, -20) },
  { name: 'keyboard', description: '10 s of typing at -40 dBFS', audio: () => keyboard(10_000, -40, 14) },
];

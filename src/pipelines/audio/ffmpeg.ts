/**
 * The one place that runs ffmpeg (and ffprobe). Fixed argument lists, data through pipes (never
 * through a shell), so no file name or setting can inject an option. Debian's ffmpeg, or
 * FFMPEG_PATH / FFPROBE_PATH.
 */
import { spawn } from 'node:child_process';

export const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
export const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';

export class FfmpegError extends Error {
  constructor(message: string, readonly stderrTail: string) {
    super(message);
    this.name = 'FfmpegError';
  }
}

function run(args: readonly string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], {
      stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-2000);
    });
    child.once('error', (e) =>
      reject(new FfmpegError(`ffmpeg could not be started (${e.message}); install Debian's ffmpeg or set FFMPEG_PATH`, '')),
    );
    child.once('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new FfmpegError(`ffmpeg failed with exit code ${code}`, err));
    });
    if (input && child.stdin) {
      child.stdin.on('error', () => undefined); // ffmpeg may close stdin early on bad input; 'close' reports it
      child.stdin.end(input);
    }
  });
}

function toInt16(buf: Buffer): Int16Array {
  // Copy into an aligned buffer: a Buffer's byteOffset may be odd.
  const copy = new Int16Array(buf.length >> 1);
  Buffer.from(copy.buffer).set(buf.subarray(0, copy.length * 2));
  return copy;
}

export interface PcmAudio {
  samples: Int16Array;
  sampleRate: number;
  channels: number;
}

/** Decodes any file ffmpeg reads (a path, or bytes) to interleaved 16-bit PCM. */
export async function decodeToPcm(
  source: string | Buffer,
  { sampleRate = 16_000, channels = 1, startMs, durationMs }: { sampleRate?: number; channels?: number; startMs?: number; durationMs?: number } = {},
): Promise<PcmAudio> {
  const seek = startMs !== undefined ? ['-ss', (startMs / 1000).toFixed(3)] : [];
  const length = durationMs !== undefined ? ['-t', (durationMs / 1000).toFixed(3)] : [];
  const input = typeof source === 'string' ? ['-i', source] : ['-i', 'pipe:0'];
  const out = await run(
    [...seek, ...input, ...length, '-vn', '-ac', String(channels), '-ar', String(sampleRate), '-f', 's16le', 'pipe:1'],
    typeof source === 'string' ? undefined : source,
  );
  return { samples: toInt16(out), sampleRate, channels };
}

export type UploadFormat = 'flac' | 'ogg-opus';

/**
 * Compresses PCM for upload to a speech-to-text service: FLAC (lossless, about half of raw) or
 * Opus (about a tenth, at a bit rate speech recognisers are not hurt by).
 */
export async function encodePcm(audio: PcmAudio, format: UploadFormat): Promise<Buffer> {
  const codec =
    format === 'flac'
      ? ['-c:a', 'flac', '-compression_level', '5', '-f', 'flac']
      : ['-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-f', 'ogg'];
  const raw = Buffer.from(audio.samples.buffer, audio.samples.byteOffset, audio.samples.byteLength);
  return run(
    ['-f', 's16le', '-ar', String(audio.sampleRate), '-ac', String(audio.channels), '-i', 'pipe:0', ...codec, 'pipe:1'],
    raw,
  );
}

/**
 * Streams a media file's first audio track as 16-bit PCM chunks (interleaved when several
 * channels), without holding the file in memory: ffmpeg blocks while the consumer is busy.
 * Rejects with an FfmpegError (stderr tail kept) when ffmpeg fails. `warnings` receives what ffmpeg
 * reported at level "warning" even when it finished: a file cut short still decodes (exit 0), and
 * only says so there ("Packet corrupt", "corrupt input packet in stream 0" for a WAV whose data ends
 * before its header says).
 */
export async function* decodePcmStream(
  path: string,
  { sampleRate = 16_000, channels = 1, warnings = [] as string[] }: { sampleRate?: number; channels?: number; warnings?: string[] } = {},
): AsyncGenerator<Int16Array> {
  const child = spawn(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-i', path, '-vn', '-ac', String(channels), '-ar', String(sampleRate), '-f', 's16le', 'pipe:1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-4000);
  });
  const closed = new Promise<number | null>((resolve, reject) => {
    child.once('error', (e) => reject(new FfmpegError(`ffmpeg could not be started (${e.message}); install Debian's ffmpeg or set FFMPEG_PATH`, '')));
    child.once('close', (code) => resolve(code));
  });
  closed.catch(() => undefined);
  let carry: Buffer | null = null;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      const data: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
      const whole = data.length - (data.length % 2);
      carry = whole < data.length ? Buffer.from(data.subarray(whole)) : null;
      if (whole > 0) yield toInt16(data.subarray(0, whole));
    }
    const code = await closed;
    warnings.push(...err.split('\n').map((l) => l.trim()).filter((l) => l !== ''));
    if (code !== 0) throw new FfmpegError(`ffmpeg failed with exit code ${code}`, err);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export interface MediaProbe {
  /** ffprobe's name(s) of the container, e.g. "ogg", "wav", "mov,mp4,m4a,3gp,3g2,mj2". */
  format: string;
  /** Duration the container declares, in ms (null when it declares none). */
  declaredMs: number | null;
  /** Audio streams found (codec names); empty when the file has none. */
  audioCodecs: string[];
  /** Other streams (video, subtitles...), by type. */
  otherStreams: string[];
}

/**
 * ffprobe's reading of a media file. Rejects with an FfmpegError carrying ffprobe's own diagnosis
 * (its last error line, e.g. "Invalid data found when processing input") when it cannot read it.
 */
export async function probeMedia(path: string): Promise<MediaProbe> {
  const out = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn(FFPROBE, ['-hide_banner', '-loglevel', 'error', '-show_entries', 'format=format_name,duration:stream=codec_type,codec_name', '-of', 'json', '-i', path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-2000);
    });
    child.once('error', (e) => reject(new FfmpegError(`ffprobe could not be started (${e.message}); install Debian's ffmpeg or set FFPROBE_PATH`, '')));
    child.once('close', (code) => {
      if (code === 0) return resolve(Buffer.concat(chunks));
      const last = err.trim().split('\n').at(-1) ?? '';
      // ffprobe prefixes its diagnosis with the file name: keep the diagnosis only.
      reject(new FfmpegError(`ffprobe failed with exit code ${code}`, last.startsWith(`${path}: `) ? last.slice(path.length + 2) : last));
    });
  });
  const json = JSON.parse(out.toString('utf8') || '{}') as { format?: { format_name?: string; duration?: string }; streams?: { codec_type?: string; codec_name?: string }[] };
  const streams = json.streams ?? [];
  const declared = Number(json.format?.duration);
  return {
    format: json.format?.format_name ?? 'unknown',
    declaredMs: Number.isFinite(declared) ? Math.round(declared * 1000) : null,
    audioCodecs: streams.filter((s) => s.codec_type === 'audio').map((s) => s.codec_name ?? 'unknown'),
    otherStreams: streams.filter((s) => s.codec_type !== 'audio').map((s) => s.codec_type ?? 'unknown'),
  };
}

/** Duration of a media file in milliseconds, from a full decode (exact, and catches broken files). */
export async function durationMs(path: string): Promise<number> {
  const pcm = await decodeToPcm(path, { sampleRate: 8000, channels: 1 });
  return Math.round((pcm.samples.length / 8000) * 1000);
}

/** The MIME type a speech-to-text API expects for an upload. */
export function mimeTypeOf(format: UploadFormat): string {
  return format === 'flac' ? 'audio/flac' : 'audio/ogg';
}

/**
 * The one place that runs ffmpeg. Fixed argument lists, data through pipes (never through a shell),
 * so no file name or setting can inject an option. Debian's ffmpeg, or FFMPEG_PATH.
 */
import { spawn } from 'node:child_process';

export const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';

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

/** Duration of a media file in milliseconds, from a full decode (exact, and catches broken files). */
export async function durationMs(path: string): Promise<number> {
  const pcm = await decodeToPcm(path, { sampleRate: 8000, channels: 1 });
  return Math.round((pcm.samples.length / 8000) * 1000);
}

/** The MIME type a speech-to-text API expects for an upload. */
export function mimeTypeOf(format: UploadFormat): string {
  return format === 'flac' ? 'audio/flac' : 'audio/ogg';
}

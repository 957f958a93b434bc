/**
 * Is a recording usable? One clear answer per kind of bad input, from the file system and from
 * ffprobe's / ffmpeg's own diagnosis, before anything is sent anywhere or written to a meeting's
 * state: not found, a folder, empty, not audio, no audio track, cut short, no samples.
 */
import { stat } from 'node:fs/promises';
import { FfmpegError, probeMedia, type MediaProbe } from '../pipelines/audio/ffmpeg.js';

export type UnusableKind = 'not_found' | 'not_a_file' | 'empty' | 'not_audio' | 'no_audio_track' | 'cut_short' | 'no_samples';

export class UnusableRecordingError extends Error {
  override readonly name = 'UnusableRecordingError';
  constructor(
    readonly file: string,
    readonly kind: UnusableKind,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/**
 * Checks the file exists, is not empty, and holds an audio track ffprobe can read.
 * Throws an UnusableRecordingError saying which of those it is not; returns ffprobe's reading.
 */
export async function checkRecordingFile(file: string): Promise<MediaProbe> {
  let size: number;
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new UnusableRecordingError(file, 'not_a_file', 'not a file (a folder or a device); give the path of a recording');
    size = s.size;
  } catch (e) {
    if (e instanceof UnusableRecordingError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UnusableRecordingError(file, 'not_found', 'not found (no such file)');
    throw new UnusableRecordingError(file, 'not_found', `cannot be read (${code ?? (e as Error).message})`);
  }
  if (size === 0) throw new UnusableRecordingError(file, 'empty', 'the file is empty (0 bytes)');
  let probe: MediaProbe;
  try {
    probe = await probeMedia(file);
  } catch (e) {
    if (!(e instanceof FfmpegError)) throw e;
    throw new UnusableRecordingError(file, 'not_audio', `not an audio or video file ffmpeg can read (ffprobe: ${e.stderrTail || e.message})`);
  }
  if (probe.audioCodecs.length === 0) {
    const what = probe.otherStreams.length > 0 ? ` (it holds ${[...new Set(probe.otherStreams)].join(' and ')} only)` : '';
    throw new UnusableRecordingError(file, 'no_audio_track', `no audio track${what}`);
  }
  return probe;
}

/** ffmpeg warnings that mean the audio ends before the file says, or is damaged on the way. */
const DAMAGE = /corrupt|truncat|invalid data|premature|end of file|incomplete|error while decoding|decode error/i;

/**
 * After a full decode: the recording must have given samples, and ffmpeg must not have reported
 * the data as cut short or damaged. `decodedMs` is what was decoded.
 */
export function checkDecoded(file: string, decodedMs: number, warnings: readonly string[], probe: MediaProbe): void {
  const damage = warnings.find((w) => DAMAGE.test(w));
  if (damage) {
    throw new UnusableRecordingError(
      file,
      'cut_short',
      `the file is cut short or damaged: ffmpeg decoded ${(decodedMs / 1000).toFixed(1)} s of audio and reported "${damage.replace(/^\[[^\]]*\]\s*/, '').replace(`${file}: `, '')}"`,
    );
  }
  if (decodedMs === 0) {
    throw new UnusableRecordingError(file, 'no_samples', `its audio track (${probe.audioCodecs[0]}) decodes to no samples at all`);
  }
}

/**
 * What is uploaded to a speech-to-text service: the utterance's 16 kHz mono PCM compressed by
 * ffmpeg, FLAC by default (lossless, about half the size of raw PCM; every Whisper server and
 * Voxtral read it), Opus optionally (a tenth of the size, for thin uplinks). Never raw PCM: servers
 * cannot guess its rate, and it is the largest form.
 */
import { encodePcm, mimeTypeOf, type PcmAudio, type UploadFormat } from '../audio/ffmpeg.js';
import { SttError } from './types.js';

export const STT_SAMPLE_RATE = 16_000;

export interface Upload {
  bytes: Uint8Array;
  mimeType: string;
  fileName: string;
  durationMs: number;
  format: UploadFormat;
}

export function audioDurationMs(audio: PcmAudio): number {
  return Math.round((audio.samples.length / audio.channels / audio.sampleRate) * 1000);
}

/** Checks the PCM is what the pipeline promises (16 kHz mono, not empty) and encodes it once for every attempt. */
export async function prepareUpload(audio: PcmAudio, format: UploadFormat = 'flac'): Promise<Upload> {
  if (audio.sampleRate !== STT_SAMPLE_RATE || audio.channels !== 1) {
    throw new SttError(`speech-to-text expects 16 kHz mono PCM, got ${audio.sampleRate} Hz with ${audio.channels} channel(s)`, {
      code: 'bad_request',
      retryable: false,
    });
  }
  if (audio.samples.length === 0) {
    throw new SttError('speech-to-text was given no audio (0 samples)', { code: 'bad_request', retryable: false });
  }
  const bytes = await encodePcm(audio, format);
  return {
    bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    mimeType: mimeTypeOf(format),
    fileName: format === 'flac' ? 'utterance.flac' : 'utterance.ogg',
    durationMs: audioDurationMs(audio),
    format,
  };
}

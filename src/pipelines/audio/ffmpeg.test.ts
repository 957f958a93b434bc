import { describe, expect, it } from 'vitest';
import { decodeToPcm, durationMs, encodePcm, FfmpegError } from './ffmpeg.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function tone(seconds: number, sampleRate = 16_000, hz = 440): Int16Array {
  const out = new Int16Array(seconds * sampleRate);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / sampleRate));
  return out;
}

describe('ffmpeg', () => {
  it('round-trips speech-band audio through FLAC losslessly and Opus compactly', async () => {
    const audio = { samples: tone(2), sampleRate: 16_000, channels: 1 };
    const flac = await encodePcm(audio, 'flac');
    const opus = await encodePcm(audio, 'ogg-opus');
    expect(flac.subarray(0, 4).toString()).toBe('fLaC');
    expect(opus.subarray(0, 4).toString()).toBe('OggS');
    const raw = audio.samples.byteLength;
    expect(flac.length).toBeLessThan(raw);
    expect(opus.length).toBeLessThan(raw / 5);
    const back = await decodeToPcm(flac, { sampleRate: 16_000 });
    expect(back.samples).toEqual(audio.samples);
    const fromOpus = await decodeToPcm(opus, { sampleRate: 16_000 });
    expect(Math.abs(fromOpus.samples.length - audio.samples.length)).toBeLessThan(16_000 * 0.05);
  });

  it('decodes a window of a file at another rate and measures duration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffmpeg-test-'));
    const path = join(dir, 'tone.flac');
    writeFileSync(path, await encodePcm({ samples: tone(3, 48_000), sampleRate: 48_000, channels: 1 }, 'flac'));
    expect(await durationMs(path)).toBe(3000);
    const window = await decodeToPcm(path, { sampleRate: 16_000, startMs: 1000, durationMs: 500 });
    expect(window.samples.length).toBe(8000);
  });

  it('reports a file it cannot read as an FfmpegError, not a crash', async () => {
    await expect(decodeToPcm(Buffer.from('definitely not audio'))).rejects.toBeInstanceOf(FfmpegError);
  });
});

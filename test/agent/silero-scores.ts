/**
 * A track's 32 ms windows and their real Silero probabilities, scored once per test file (the
 * model's state makes them a property of the whole track): for offline, deterministic tests of the
 * segmenter and of what is built on it (utterance cuts, interim captions).
 */
import { decodeToPcm } from '../../src/pipelines/audio/ffmpeg.js';
import { SILERO_WINDOW_SAMPLES, SileroVad } from '../../src/agent/silero-vad.js';

export interface ScoredTrack {
  windows: Int16Array[];
  p: number[];
}

const cache = new Map<string, Promise<ScoredTrack>>();

export function scoredTrack(path: string): Promise<ScoredTrack> {
  let s = cache.get(path);
  if (!s) {
    s = (async () => {
      const pcm = (await decodeToPcm(path)).samples;
      const scorer = (await SileroVad.load()).scorer();
      const windows = Array.from({ length: Math.floor(pcm.length / SILERO_WINDOW_SAMPLES) }, (_, i) => pcm.slice(i * SILERO_WINDOW_SAMPLES, (i + 1) * SILERO_WINDOW_SAMPLES));
      const p: number[] = [];
      for (const w of windows) p.push(await scorer.score(w));
      return { windows, p };
    })();
    cache.set(path, s);
  }
  return s;
}

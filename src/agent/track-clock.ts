/**
 * Maps a received track's sample positions to the meeting clock (ms since the meeting started).
 *
 * rtc-node's native side produces a subscribed track's frames at the audio clock's pace (filling
 * network losses with concealment), so a sample's position in the stream says when it was spoken,
 * up to one offset. That offset is measured from frame arrivals, which JavaScript sees late when
 * its event loop is busy: a stall at the start (or anywhere) delivers frames in a burst. A frame
 * can arrive late, never early, so the offset is the smallest (arrival − position) seen: a frame
 * that arrives earlier than the current offset allows proves the offset was taken from a late
 * frame, and moves it back. A frame arriving more than `gapMs` later than its position allows is
 * a real delivery gap (a muted or stalled track stops producing frames), where a new offset starts.
 *
 * Without the minimum, a busy machine shifted a whole track by the stall it met first (issue 11:
 * u01 started 507 ms late, a turn ended 1.66 s late, with a CPU hog on one core).
 */
export class TrackClock {
  /** (first sample, meeting ms of that sample) anchors, in order of samples. */
  readonly #anchors: { sample: number; ms: number }[] = [];
  #samples = 0;

  /**
   * @param sampleRate samples per second of the positions given.
   * @param gapMs a frame later than this (ms) behind its position starts a new anchor (a delivery gap).
   */
  constructor(
    private readonly sampleRate: number,
    private readonly gapMs: number,
  ) {}

  /** Samples seen so far. */
  get samples(): number {
    return this.#samples;
  }

  /**
   * Notes a frame of `frameSamples` samples that has just arrived, at meeting time `nowMs`: its
   * first sample was captured at the latest one frame before.
   */
  onFrame(nowMs: number, frameSamples: number): void {
    const capturedMs = nowMs - (frameSamples * 1000) / this.sampleRate;
    const last = this.#anchors.at(-1);
    if (!last) {
      this.#anchors.push({ sample: 0, ms: capturedMs });
    } else {
      const expected = last.ms + ((this.#samples - last.sample) * 1000) / this.sampleRate;
      if (capturedMs - expected > this.gapMs) this.#anchors.push({ sample: this.#samples, ms: capturedMs });
      else if (capturedMs < expected) this.#anchors[this.#anchors.length - 1] = { sample: last.sample, ms: last.ms - (expected - capturedMs) };
    }
    this.#samples += frameSamples;
  }

  /** Meeting ms at which sample `sample` (0 = the track's first) was captured; 0 at the earliest. */
  toMeetingMs(sample: number): number {
    let anchor = this.#anchors[0] ?? { sample: 0, ms: 0 };
    for (const a of this.#anchors) {
      if (a.sample > sample) break;
      anchor = a;
    }
    return Math.max(0, anchor.ms + ((sample - anchor.sample) * 1000) / this.sampleRate);
  }
}

import { describe, expect, it } from 'vitest';
import { TrackClock } from './track-clock.js';

const RATE = 16_000;
const FRAME = 512; // 32 ms, the capture's frame size
const FRAME_MS = (FRAME * 1000) / RATE;

/**
 * Feeds frames the native side produced every 32 ms from meeting time `t0`, read by JavaScript at
 * `readAt(i, producedAtMs)` (≥ its production time: a busy event loop reads late, in bursts).
 */
function play(clock: TrackClock, frames: number, t0: number, readAt: (i: number, producedMs: number) => number): void {
  for (let i = 0; i < frames; i++) {
    const produced = t0 + (i + 1) * FRAME_MS; // a frame is complete one frame after its first sample
    clock.onFrame(readAt(i, produced), FRAME);
  }
}

/** Meeting ms of the first sample of frame i, had the track been read on time. */
const truth = (t0: number, i: number) => t0 + i * FRAME_MS;

describe('TrackClock', () => {
  it('maps positions to the meeting clock when frames are read on time', () => {
    const clock = new TrackClock(RATE, 1_500);
    play(clock, 100, 2_000, (_, p) => p);
    expect(clock.toMeetingMs(0)).toBeCloseTo(2_000, 6);
    expect(clock.toMeetingMs(50 * FRAME)).toBeCloseTo(truth(2_000, 50), 6);
  });

  it('is not shifted by a stall at the start: the first frame read 507 ms late, then the burst', () => {
    const clock = new TrackClock(RATE, 1_500);
    // The event loop was busy when the track started: frames produced before 2_600 ms are read then.
    play(clock, 300, 2_000, (_, p) => Math.max(p, 2_600) + (p < 2_600 ? 0.1 : 0));
    for (const i of [0, 10, 31, 200, 299]) expect(clock.toMeetingMs(i * FRAME)).toBeCloseTo(truth(2_000, i), 0);
  });

  it('is not shifted by a 2 s stall mid-stream (longer than the gap threshold), once the burst is read', () => {
    const clock = new TrackClock(RATE, 1_500);
    play(clock, 600, 0, (i, p) => (i >= 100 && i < 170 ? truth(0, 170) + 2 : p));
    for (const i of [0, 99, 100, 150, 300, 599]) expect(clock.toMeetingMs(i * FRAME)).toBeCloseTo(truth(0, i), 0);
  });

  it('starts a new anchor after a real delivery gap (a muted track: no frames for 3 s), keeping earlier samples where they were', () => {
    const clock = new TrackClock(RATE, 1_500);
    play(clock, 100, 1_000, (_, p) => p); // 3.2 s of audio from 1 s
    const resumed = 1_000 + 100 * FRAME_MS + 3_000;
    for (let i = 0; i < 100; i++) clock.onFrame(resumed + (i + 1) * FRAME_MS, FRAME);
    expect(clock.toMeetingMs(50 * FRAME)).toBeCloseTo(truth(1_000, 50), 6);
    expect(clock.toMeetingMs(100 * FRAME)).toBeCloseTo(resumed, 6);
    expect(clock.toMeetingMs(150 * FRAME)).toBeCloseTo(resumed + 50 * FRAME_MS, 6);
  });

  it('keeps a late-read frame from moving the clock later (jitter under 1.5 s is lateness, not time)', () => {
    const clock = new TrackClock(RATE, 1_500);
    play(clock, 200, 0, (i, p) => p + (i % 7 === 3 ? 900 : 0));
    for (const i of [0, 3, 100, 199]) expect(clock.toMeetingMs(i * FRAME)).toBeCloseTo(truth(0, i), 6);
  });
});

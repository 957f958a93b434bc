import { describe, expect, it } from 'vitest';
import { InterimPolicy, type InterimPoint } from './interim-policy.js';
import type { UtteranceInProgress } from './utterance-segmenter.js';

const SR = 16_000;
const WINDOW = 512; // 32 ms
const ms = (n: number) => Math.round((n * SR) / 1000);

/**
 * Drives the policy like the segmenter would: a string of windows, 's' speech, '.' below the
 * threshold inside the utterance, '|' the utterance cut (null); returns the points asked for.
 */
function drive(pattern: string, policy = new InterimPolicy()): (InterimPoint & { atWindow: number })[] {
  const points: (InterimPoint & { atWindow: number })[] = [];
  let pos = 0;
  let u: UtteranceInProgress | null = null;
  for (const [i, c] of [...pattern].entries()) {
    pos += WINDOW;
    if (c === '|') u = null;
    else {
      u ??= { speechStartSample: pos - WINDOW, audioStartSample: Math.max(0, pos - WINDOW - ms(300)), speechSamples: 0, pauseSamples: 0, position: pos };
      u = { ...u, position: pos, speechSamples: u.speechSamples + (c === 's' ? WINDOW : 0), pauseSamples: c === 's' ? 0 : u.pauseSamples + WINDOW };
    }
    const p = policy.observe(u);
    if (p) points.push({ ...p, atWindow: i });
  }
  return points;
}
const s = (n: number) => 's'.repeat(n);
const dot = (n: number) => '.'.repeat(n);

describe('InterimPolicy', () => {
  it('asks once speech resumes after a pause of 180 ms that did not end the utterance, for the audio up to the resumption', () => {
    // "Bonjour." (1 s), 6 windows of pause (192 ms), then the next sentence.
    const points = drive(s(31) + dot(6) + s(40));
    expect(points).toEqual([{ reason: 'pause', endSample: 37 * WINDOW, atWindow: 37 }]);
  });

  it('does not ask at a shorter pause (a comma, a breath: 96-160 ms)', () => {
    expect(drive(s(31) + dot(5) + s(31) + dot(3) + s(31))).toEqual([]);
  });

  it('does not ask when the pause ends the utterance: its final is on its way', () => {
    expect(drive(s(31) + dot(18) + '|' + s(31) + '|')).toEqual([]);
  });

  it('does not ask before the segmenter’s minimum of speech (160 ms), so an utterance with an interim is never dropped as too short', () => {
    expect(drive(s(4) + dot(8) + s(10))).toEqual([]);
  });

  it('asks in run-on speech every 6 s, at a dip between words, or anywhere after 9 s without one', () => {
    const sixSeconds = Math.ceil(ms(6_000) / WINDOW);
    // Speech with a one-window dip every 2 s: asked at the first dip past 6 s.
    const dips = Array.from({ length: 8 }, () => s(61) + dot(1)).join('');
    const atDips = drive(dips);
    // The dip at 7.9 s is the first 6 s after the start, the one at 15.8 s the first 6 s after that.
    expect(atDips.map((p) => [p.reason, p.atWindow])).toEqual([
      ['speech', 3 * 62 + 61],
      ['speech', 7 * 62 + 61],
    ]);
    expect(atDips[0]!.atWindow).toBeGreaterThanOrEqual(sixSeconds);
    // No dip at all: asked at 9 s, then 9 s later.
    const noDip = drive(s(Math.ceil(ms(20_000) / WINDOW)));
    expect(noDip.map((p) => Math.round((p.endSample * 1000) / SR / 100) / 10)).toEqual([9, 18]);
  });

  it('asks again only for new speech, and starts over with the next utterance', () => {
    const policy = new InterimPolicy();
    const points = drive(s(31) + dot(6) + s(5) + dot(6) + s(31) + '|' + s(31) + dot(6) + s(10), policy);
    // The second pause comes after 160 ms of new speech (< 300 ms): not asked; the next utterance asks on its own.
    expect(points.map((p) => [p.reason, p.atWindow])).toEqual([
      ['pause', 37],
      ['pause', 37 + 5 + 6 + 31 + 1 + 31 + 6],
    ]);
  });
});

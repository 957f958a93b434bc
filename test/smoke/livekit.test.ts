import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { joinAsListener, joinAsSpeaker, type ListenerBot, type SpeakerBot } from '../../src/local/meeting-bot.js';

const FIXTURE = 'fixtures/meetings/comite-projet';

/** RMS in dBFS of each 100 ms block. */
function blockLevels(samples: Int16Array, sampleRate: number): number[] {
  const block = sampleRate / 10;
  const out: number[] = [];
  for (let i = 0; i + block <= samples.length; i += block) {
    let sum = 0;
    for (let j = i; j < i + block; j++) sum += samples[j]! * samples[j]!;
    out.push(10 * Math.log10(sum / block / 32768 ** 2 + 1e-12));
  }
  return out;
}

describe('LiveKit (real server)', () => {
  const env = inject('services');
  const auth = { apiKey: env.LIVEKIT_API_KEY, apiSecret: env.LIVEKIT_API_SECRET };
  const room = `smoke-${randomUUID().slice(0, 8)}`;
  const bots: (SpeakerBot | ListenerBot)[] = [];
  afterAll(async () => {
    await Promise.all(bots.map((b) => b.disconnect().catch(() => undefined)));
  });

  it('carries a bot\u2019s microphone to another participant: sound where the fixture speaks, silence elsewhere', async () => {
    const listener = await joinAsListener({ url: env.LIVEKIT_URL, room, identity: 'listener', auth });
    bots.push(listener);
    // Alice's first utterance is 1.0 s–9.7 s; play the first 12 s.
    const speaker = await joinAsSpeaker({ url: env.LIVEKIT_URL, room, identity: 'alice', name: 'Alice', auth, file: `${FIXTURE}/alice.opus`, durationMs: 12_000, autoplay: false });
    bots.push(speaker);
    const recording = listener.recordAudio('alice');
    await new Promise((r) => setTimeout(r, 1500)); // subscription settles
    await speaker.play();
    const samples = await recording.stop();
    const levels = blockLevels(samples, 16_000);
    expect(levels.length).toBeGreaterThan(100); // at least 10 s arrived
    // Align on the first loud block: speech starts at 1.0 s in the file.
    const first = levels.findIndex((l) => l > -45);
    expect(first).toBeGreaterThanOrEqual(0);
    const speech = levels.slice(first, first + 80); // 8 s of Alice's sentence
    expect(speech.filter((l) => l > -45).length / speech.length).toBeGreaterThan(0.6);
    // Before she speaks and after she stopped, the received audio is quiet.
    const after = levels.slice(first + 92, first + 105);
    expect(after.length).toBeGreaterThan(5);
    expect(Math.max(...after)).toBeLessThan(-45);
    expect(Math.max(...levels.slice(0, Math.max(0, first - 2)), -100)).toBeLessThan(-45);
  }, 40_000);
});

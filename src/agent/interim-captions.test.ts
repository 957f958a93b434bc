import { describe, expect, it } from 'vitest';
import { createLogger } from '../logging.js';
import { SttError } from '../pipelines/stt/types.js';
import { InterimCaptions } from './interim-captions.js';
import type { InterimPoint } from './interim-policy.js';
import type { LiveSpeechToText } from './utterance-processor.js';

const SR = 16_000;
const logger = createLogger('interim-captions-test', 'silent');
const tick = () => new Promise((r) => setTimeout(r, 1));

/** A speech-to-text double answered by hand; records what each call carried. */
function handStt() {
  const calls: { samples: number; firstSample: number; bestEffort: boolean; signal: AbortSignal | undefined; answer: (text: string) => void; fail: (e: Error) => void }[] = [];
  const stt: LiveSpeechToText = {
    provider: 'hand',
    model: 'hand',
    transcribe: (req) =>
      new Promise((resolve, reject) => {
        req.signal?.addEventListener('abort', () => reject(new SttError('cancelled', { code: 'aborted', retryable: false })), { once: true });
        calls.push({
          samples: req.audio.samples.length,
          firstSample: req.audio.samples[0] ?? -1,
          bestEffort: req.bestEffort === true,
          signal: req.signal,
          answer: (text) => resolve({ text, language: 'fr', confidence: null, filtered: [], provider: 'hand', model: 'hand' }),
          fail: reject,
        });
      }),
  };
  return { stt, calls };
}

/** An utterance whose sample n holds the value n (so a copy tells where it started), from sample 0. */
const audio = (to: number, from = 0) => Int16Array.from({ length: to - from }, (_, i) => (from + i) % 32_000);
const pause = (endSample: number): InterimPoint => ({ endSample, reason: 'pause' });

function captioner() {
  const { stt, calls } = handStt();
  const sent: { segmentId: string; text: string }[] = [];
  let sequence = 6;
  const reservations: number[] = [];
  const interim = new InterimCaptions({
    stt,
    language: 'fr',
    sampleRate: SR,
    reserve: async () => {
      reservations.push(++sequence);
      return { sequence, segmentId: `alice-${sequence}` };
    },
    send: async (segmentId, text) => void sent.push({ segmentId, text }),
    logger,
  });
  return { interim, calls, sent, reservations };
}

describe('InterimCaptions', () => {
  it('publishes the words so far under the id the final then takes over, each call sending only the new audio', async () => {
    const { interim, calls, sent, reservations } = captioner();
    interim.request(pause(16_000), audio);
    await tick();
    expect(calls[0]).toMatchObject({ samples: 16_000, firstSample: 0, bestEffort: true });
    calls[0]!.answer(' Bonjour. ');
    await tick();
    interim.request(pause(48_000), audio);
    await tick();
    // From 96 ms back in the pause the first interim ended at, to the new point.
    expect(calls[1]).toMatchObject({ samples: 48_000 - (16_000 - 1_536), firstSample: 16_000 - 1_536 });
    calls[1]!.answer('Je pense que le budget');
    await tick();
    expect(sent).toEqual([
      { segmentId: 'alice-7', text: 'Bonjour.' },
      { segmentId: 'alice-7', text: 'Bonjour. Je pense que le budget' },
    ]);
    const handover = interim.cut();
    expect(await handover.reserved).toEqual({ sequence: 7, segmentId: 'alice-7' });
    expect(await handover.shown).toBe(true);
    expect(reservations).toEqual([7]); // one number per utterance
    expect(interim.stats).toMatchObject({ calls: 2, seconds: 1 + 33_536 / SR, shown: 2 });
  });

  it('drops a request while one is in flight for the speaker, and one refused for want of a free slot, without queueing either', async () => {
    const { interim, calls, sent } = captioner();
    interim.request(pause(16_000), audio);
    interim.request(pause(32_000), audio);
    await tick();
    expect(calls).toHaveLength(1);
    calls[0]!.fail(new SttError('no free slot', { code: 'busy', retryable: false }));
    await tick();
    // Nothing was answered: the next one starts from the utterance's start again.
    interim.request(pause(40_000), audio);
    await tick();
    expect(calls[1]).toMatchObject({ samples: 40_000, firstSample: 0 });
    expect(interim.stats).toMatchObject({ droppedInFlight: 1, droppedBusy: 1, calls: 0 });
    expect(sent).toEqual([]);
  });

  it('aborts the interim in flight at the cut and never shows an answer after it', async () => {
    const { interim, calls, sent } = captioner();
    interim.request(pause(16_000), audio);
    await tick();
    const handover = interim.cut();
    expect(calls[0]!.signal?.aborted).toBe(true);
    calls[0]!.answer('Bonjour.'); // too late: already rejected as aborted
    await tick();
    expect(sent).toEqual([]);
    expect(await handover.shown).toBe(false);
    // The reservation still belongs to the cut utterance; the next utterance reserves its own.
    expect(await handover.reserved).toEqual({ sequence: 7, segmentId: 'alice-7' });
    interim.request(pause(8_000), audio);
    await tick();
    calls[1]!.answer('Oui.');
    await tick();
    expect(sent).toEqual([{ segmentId: 'alice-8', text: 'Oui.' }]);
    expect(interim.stats).toMatchObject({ stale: 1, shown: 1 });
  });

  it('makes the final wait for an interim caption still being published', async () => {
    const { stt, calls } = handStt();
    let finishSend: () => void = () => undefined;
    const order: string[] = [];
    const interim = new InterimCaptions({
      stt,
      language: 'fr',
      sampleRate: SR,
      reserve: async () => ({ sequence: 1, segmentId: 'bob-1' }),
      send: (_id, text) =>
        new Promise<void>((r) => {
          order.push(`interim start: ${text}`);
          finishSend = () => {
            order.push('interim sent');
            r();
          };
        }),
      logger,
    });
    interim.request(pause(16_000), audio);
    await tick();
    calls[0]!.answer('Bonjour.');
    await tick();
    const { shown } = interim.cut();
    void shown.then(() => order.push('final may go'));
    await tick();
    expect(order).toEqual(['interim start: Bonjour.']);
    finishSend();
    await tick();
    expect(order).toEqual(['interim start: Bonjour.', 'interim sent', 'final may go']);
  });
});

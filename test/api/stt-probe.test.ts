/**
 * The pre-dispatch probe of speech-to-text: one probe serves many starts, a failure is retried
 * soon, a hung endpoint counts as down, and the reason given to callers names no endpoint.
 */
import { describe, expect, it } from 'vitest';
import { CachedSttProbe } from '../../src/api/stt-probe.js';
import { SttError } from '../../src/pipelines/stt/index.js';

function fakeProbe(behaviour: () => Promise<void>) {
  let calls = 0;
  return {
    calls: () => calls,
    probe: () => {
      calls++;
      return behaviour();
    },
  };
}

describe('CachedSttProbe', () => {
  it('shares one probe between concurrent checks and caches a healthy answer for 30 s', async () => {
    let now = 0;
    const target = fakeProbe(() => new Promise((r) => setTimeout(r, 20)));
    const probe = new CachedSttProbe(target, { now: () => now });
    const results = await Promise.all([probe.check(), probe.check(), probe.check()]);
    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(target.calls()).toBe(1);
    now = 29_000;
    await probe.check();
    expect(target.calls()).toBe(1);
    now = 31_000;
    await probe.check();
    expect(target.calls()).toBe(2);
  });

  it('remembers a failure for 5 s only, and tells the caller why without the endpoint', async () => {
    let now = 0;
    let up = false;
    const target = fakeProbe(async () => {
      if (!up) throw new SttError('the speech-to-text service at https://stt.internal.example/v1 is unreachable (ECONNREFUSED)', { code: 'connection', retryable: true });
    });
    const probe = new CachedSttProbe(target, { now: () => now });
    const down = await probe.check();
    expect(down).toMatchObject({ ok: false, reason: 'the speech-to-text service at the configured endpoint is unreachable (ECONNREFUSED)' });
    expect(!down.ok && down.detail).toContain('https://stt.internal.example/v1');
    up = true;
    now = 4_000;
    expect((await probe.check()).ok).toBe(false);
    now = 6_000;
    expect(await probe.check()).toEqual({ ok: true });
    expect(target.calls()).toBe(2);
  });

  it('counts an endpoint that does not answer as down', async () => {
    const probe = new CachedSttProbe({ probe: () => new Promise(() => undefined) }, { timeoutMs: 50 });
    const result = await probe.check();
    expect(result).toMatchObject({ ok: false });
    expect(!result.ok && result.reason).toMatch(/no answer within 50 ms/);
  });
});

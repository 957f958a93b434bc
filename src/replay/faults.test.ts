import { describe, expect, it } from 'vitest';
import { FaultInjector } from './faults.js';

describe('fault rules', () => {
  it('applies a `times` rule to the next N calls of its route only', () => {
    const f = new FaultInjector();
    f.add({ route: 'mistral.chat', status: 503, times: 2 });
    expect(f.decide('mistral.transcriptions').kind).toBe('none');
    expect(f.decide('mistral.chat')).toMatchObject({ kind: 'status', status: 503 });
    expect(f.decide('mistral.chat')).toMatchObject({ kind: 'status', status: 503 });
    expect(f.decide('mistral.chat').kind).toBe('none');
    expect(f.list()).toEqual([]);
  });

  it('applies a `forMs` rule during its window only', () => {
    let now = 1_000;
    const f = new FaultInjector(() => now);
    f.add({ route: '*', status: 429, retryAfterSec: 3, forMs: 30_000 });
    now += 29_999;
    expect(f.decide('openai.transcriptions')).toMatchObject({ kind: 'status', status: 429, retryAfterSec: 3 });
    now += 1;
    expect(f.decide('openai.transcriptions').kind).toBe('none');
  });

  it('adds latencies of all active rules and lets the first status rule decide, keeping the later one for later calls', () => {
    const f = new FaultInjector();
    f.add([
      { route: 'mistral.chat', latencyMs: 100 },
      { route: 'mistral.chat', latencyMs: [10, 20] },
      { route: 'mistral.chat', status: 500, times: 1 },
      { route: 'mistral.chat', drop: true, times: 1 },
    ]);
    const first = f.decide('mistral.chat');
    expect(first.kind).toBe('status');
    expect(first.latencyMs).toBeGreaterThanOrEqual(110);
    expect(first.latencyMs).toBeLessThanOrEqual(120);
    expect(f.decide('mistral.chat').kind).toBe('drop');
    expect(f.decide('mistral.chat').kind).toBe('none');
  });

  it('refuses rules that cannot mean anything, naming the field', () => {
    const f = new FaultInjector();
    expect(() => f.add({ route: 'mistral.chat' })).toThrow(/status, latencyMs, drop or hold/);
    expect(() => f.add({ route: 'mistral.chat', hold: true, drop: true })).toThrow(/hold the answer and drop/);
    expect(() => f.add({ route: 'nope', status: 500 })).toThrow(/route/);
    expect(() => f.add({ route: 'mistral.chat', status: 302 })).toThrow(/status/);
    expect(() => f.add({ route: 'mistral.chat', status: 500, drop: true })).toThrow(/both/);
    expect(() => f.add({ route: 'mistral.chat', latencyMs: [50, 10] })).toThrow(/min, max/);
    expect(f.list()).toEqual([]);
  });

  it('set replaces and clear removes every rule', () => {
    const f = new FaultInjector();
    f.add({ route: 'mistral.chat', status: 500 });
    f.set({ faults: [{ route: 'openai.transcriptions', status: 502, times: 3 }] });
    expect(f.list()).toEqual([expect.objectContaining({ route: 'openai.transcriptions', remaining: 3 })]);
    f.clear();
    expect(f.decide('openai.transcriptions').kind).toBe('none');
  });
});

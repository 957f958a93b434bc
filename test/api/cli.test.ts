/**
 * `meeting-agent api` as operators run it: a child process configured by the environment, serving
 * until SIGTERM, then exiting cleanly; a missing setting stops it with the configuration message.
 */
import { describe, expect, inject, it } from 'vitest';
import { freeTcpPort } from '../../src/local/ports.js';
import { spawnApi as run, startFakeStt } from './helpers.js';

const services = inject('services');

describe('meeting-agent api', () => {
  it('serves until SIGTERM and exits 0', { timeout: 120_000 }, async () => {
    const stt = await startFakeStt();
    const port = await freeTcpPort();
    const proc = run({ ...services, S3_BUCKET: 'api-cli-test', STT_BASE_URL: stt.url, API_PORT: String(port), API_SERVICE_KEYS: 'k1-0123456789abcdef0123456789abcdef' });
    try {
      let health: Response | undefined;
      for (let i = 0; i < 300 && !health; i++) {
        health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (!health) await new Promise((r) => setTimeout(r, 200));
      }
      expect(health?.status, proc.output()).toBe(200);
      const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { ready: boolean; checks: Record<string, string> };
      // The bucket was never created: readiness says so, the rest is reachable.
      expect(ready).toMatchObject({ ready: false, checks: { redis: 'ok', livekit: 'ok' } });
      expect(ready.checks.s3).toMatch(/^unreachable/);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toContain('control plane listening');
      expect(proc.output()).not.toContain(services.S3_SECRET_ACCESS_KEY);
    } finally {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await stt.close();
    }
  });

  it('refuses to start without its settings, naming them', async () => {
    const proc = run({ REDIS_URL: services.REDIS_URL });
    expect(await proc.exited).toBe(78);
    expect(proc.output()).toMatch(/LIVEKIT_URL is missing/);
    expect(proc.output()).toMatch(/STT_BASE_URL is missing/);
  });
});

/**
 * The worker's health server (from @livekit/agents) names the agent and its job count: it listens
 * on loopback unless HEALTH_HOST says otherwise. A real `meeting-agent worker` registered with the
 * real LiveKit, probed on loopback and on the machine's other address.
 */
import { networkInterfaces } from 'node:os';
import { describe, expect, inject, it } from 'vitest';
import { freeTcpPort } from '../../src/local/ports.js';
import { spawnRole } from '../api/helpers.js';

const services = inject('services');

/** The machine's first non-loopback IPv4 address (where a neighbour would connect). */
const outside = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

async function answers(url: string): Promise<number | string> {
  return fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => r.status,
    (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.name,
  );
}

async function worker(env: Record<string, string>) {
  const port = await freeTcpPort();
  const proc = spawnRole('worker', [], {
    ...services,
    ONNXRUNTIME_NODE_INSTALL: 'skip',
    AGENT_NAME: `health-${port}`,
    S3_BUCKET: 'worker-health',
    STT_BASE_URL: 'http://127.0.0.1:9/v1',
    LOG_LEVEL: 'info',
    HEALTH_PORT: String(port),
    ...env,
  });
  return { port, proc };
}

async function untilAnswered(url: string, proc: ReturnType<typeof spawnRole>): Promise<number | string> {
  let last: number | string = 'none';
  for (let i = 0; i < 150 && proc.child.exitCode === null; i++) {
    last = await answers(url);
    if (typeof last === 'number') return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}

describe.runIf(outside)('the worker health server', { timeout: 120_000 }, () => {
  it('listens on loopback by default: answers there, refuses on the machine’s other address', async () => {
    const { port, proc } = await worker({});
    try {
      expect(await untilAnswered(`http://127.0.0.1:${port}/`, proc), proc.output()).toBe(200);
      expect(await answers(`http://${outside}:${port}/`)).toBe('ECONNREFUSED');
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  });

  it('HEALTH_HOST=0.0.0.0 (an orchestrator probing from outside) is reachable there; a wrong value refuses to start', async () => {
    const { port, proc } = await worker({ HEALTH_HOST: '0.0.0.0' });
    try {
      expect(await untilAnswered(`http://${outside}:${port}/`, proc), proc.output()).toBe(200);
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
    const wrong = await worker({ HEALTH_HOST: 'everywhere' });
    expect(await wrong.proc.exited).toBe(78);
    expect(wrong.proc.output()).toMatch(/HEALTH_HOST "everywhere" is invalid/);
  });
});

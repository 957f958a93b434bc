/**
 * The worker's health server (from @livekit/agents) names the agent and its job count: it listens
 * on loopback unless HEALTH_HOST says otherwise. A real `meeting-agent worker` registered with the
 * real LiveKit, probed on loopback; where it listens is read from the kernel's socket table
 * (/proc/net/tcp), so the test sends nothing to any address but loopback.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { freeTcpPort } from '../../src/local/ports.js';
import { spawnRole } from '../api/helpers.js';

const services = inject('services');

async function answers(url: string): Promise<number | string> {
  return fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => r.status,
    (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.name,
  );
}

/**
 * The local addresses listening on a TCP port, from /proc/net/tcp and tcp6 (state 0A = LISTEN):
 * e.g. ['127.0.0.1'] or ['0.0.0.0'] ('::' for an IPv6 wildcard).
 */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]] as const) {
    let table = '';
    try {
      table = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of table.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue;
      const [hex, portHex] = local.split(':');
      if (parseInt(portHex!, 16) !== port) continue;
      if (!v6) out.push(hex!.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.'));
      else out.push(/^0+$/.test(hex!) ? '::' : hex === '00000000000000000000000001000000' ? '::1' : hex!);
    }
  }
  return out;
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

/** Polls until the health server says the worker is registered (200); 503 means not yet. */
async function untilHealthy(url: string, proc: ReturnType<typeof spawnRole>): Promise<number | string> {
  let last: number | string = 'none';
  for (let i = 0; i < 300 && proc.child.exitCode === null; i++) {
    last = await answers(url);
    if (last === 200) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}

/** Starts a worker with `env`, waits until it is healthy on loopback, and returns where its health server listens. */
async function listensOn(env: Record<string, string>): Promise<string[]> {
  const { port, proc } = await worker(env);
  try {
    expect(await untilHealthy(`http://127.0.0.1:${port}/`, proc), proc.output()).toBe(200);
    return listeningAddresses(port);
  } finally {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
}

describe('the worker health server', { timeout: 120_000 }, () => {
  it('listens on loopback by default, and only there', async () => {
    expect(await listensOn({})).toEqual(['127.0.0.1']);
  });

  // Off by default like that executor's real-time file (vitest.config.ts): about 11 s of the suite's 15 minutes.
  it.runIf(process.env.TEST_IN_PROCESS_WORKER === '1')('the in-process executor (WORKER_EXECUTOR=in-process) serves its own health answer on loopback too', async () => {
    expect(await listensOn({ WORKER_EXECUTOR: 'in-process' })).toEqual(['127.0.0.1']);
  });

  it('HEALTH_HOST=0.0.0.0 (an orchestrator probing from outside) listens on every interface; a wrong value refuses to start', async () => {
    expect(await listensOn({ HEALTH_HOST: '0.0.0.0' })).toEqual(['0.0.0.0']);
    const wrong = await worker({ HEALTH_HOST: 'everywhere' });
    expect(await wrong.proc.exited).toBe(78);
    expect(wrong.proc.output()).toMatch(/HEALTH_HOST "everywhere" is invalid/);
  });
});

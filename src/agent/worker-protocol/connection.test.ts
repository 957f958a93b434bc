/**
 * The worker's socket to a real LiveKit (one of its own, so it can be stopped): it registers, and
 * when the server goes away and comes back at the same URL, it registers again by itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { WorkerMessage, WorkerStatus } from '@livekit/protocol';
import { startLiveKitServer, type LiveKitServer } from '../../local/livekit-server.js';
import { createLogger } from '../../logging.js';
import { WorkerConnection } from './connection.js';

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('the worker connection', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'worker-connection-'));
  let livekit: LiveKitServer | undefined;
  let connection: WorkerConnection | undefined;
  afterAll(async () => {
    connection?.close();
    await livekit?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('registers, and registers again after the server restarts at the same URL', async () => {
    livekit = await startLiveKitServer({ workDir });
    const ids: string[] = [];
    connection = new WorkerConnection({
      url: livekit.url,
      apiKey: livekit.apiKey,
      apiSecret: livekit.apiSecret,
      agentName: 'connection-test',
      permissions: { canPublish: false, canSubscribe: true, canPublishData: true, canUpdateMetadata: true },
      version: 'test',
      logger: createLogger('test', 'silent'),
      onMessage: () => undefined,
      onRegistered: (id) => ids.push(id),
    });
    const running = connection.run();
    await until('the registration', () => ids.length === 1, 15_000);
    expect(ids[0]).toMatch(/^AW_/);
    expect(connection.connected).toBe(true);
    const status = () => new WorkerMessage({ message: { case: 'updateWorker', value: { status: WorkerStatus.WS_AVAILABLE, load: 0.1, jobCount: 0 } } });
    expect(connection.send(status())).toBe(true);

    const ports = livekit.ports;
    await livekit.stop();
    await until('the socket to close', () => !connection!.connected, 10_000);
    // While the server is away, nothing is sent (the next load report repeats the state).
    expect(connection.send(status())).toBe(false);
    livekit = await startLiveKitServer({ workDir, ports });
    await until('a new registration', () => ids.length === 2, 30_000);
    expect(ids[1]).not.toBe(ids[0]);
    expect(connection.connected).toBe(true);

    connection.close();
    await running;
  }, 90_000);
});

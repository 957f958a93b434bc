/**
 * The local LiveKit server starts even when a port found free is taken before LiveKit binds it
 * (another test file's server, an outgoing connection): it tries fresh ports, so a test never fails
 * on "bind: address already in use" at start-up. Ports a caller asked for are not changed.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const taken = vi.hoisted(() => ({ port: 0, handOut: 0 }));
vi.mock('../../src/local/ports.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/local/ports.js')>();
  return {
    ...real,
    // The first attempt's second TCP port (LiveKit's RTC-over-TCP port, bound before its signal
    // port, as in the clashes seen) is one somebody else already listens on.
    freeTcpPort: async () => (taken.handOut++ === 1 ? taken.port : real.freeTcpPort()),
  };
});

const { startLiveKitServer } = await import('../../src/local/livekit-server.js');
const { freeTcpPort, freeUdpPort } = await import('../../src/local/ports.js');

describe('local LiveKit server start-up', () => {
  let holder: Server;

  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    taken.port = (holder.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => holder.close(() => resolve())));

  it('moves to fresh ports when one it was handed is taken before LiveKit binds it, and answers there', async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'lk-ports-'));
    const lk = await startLiveKitServer({ workDir });
    try {
      expect(lk.ports.tcpPort).not.toBe(taken.port);
      expect((await fetch(lk.httpUrl)).ok).toBe(true);
      // The failed attempt's log is kept apart, naming the taken port.
      expect(readdirSync(workDir)).toContain('livekit.port-taken-1.log');
    } finally {
      await lk.stop();
    }
  }, 60_000);

  it('keeps the ports a caller asked for: a taken one is an error naming the log, not another URL', async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'lk-ports-'));
    const ports = { port: await freeTcpPort(), tcpPort: taken.port, udpPort: await freeUdpPort() };
    await expect(startLiveKitServer({ workDir, ports })).rejects.toThrow(/livekit-server exited at start.*livekit\.log/);
    expect(readdirSync(workDir)).not.toContain('livekit.port-taken-1.log');
  }, 60_000);
});

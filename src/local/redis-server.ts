import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { findBinary } from './binaries.js';
import { ManagedProcess } from './managed-process.js';
import { freeTcpPort } from './ports.js';

export interface RedisServerOptions {
  workDir: string;
  /** Keep data across restarts (append-only file), to test that queued work survives one. */
  persistent?: boolean;
  port?: number;
  /** Further redis-server arguments (e.g. `--save 3600 1` for RDB snapshots, `--rdbcompression no`). */
  extraArgs?: string[];
}

export interface RedisServer {
  /** Where it keeps its files (append-only file, RDB snapshot). */
  dataDir: string;
  url: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
  /** Starts the server again on the same port and data folder (after `process.kill()`). */
  restart(): Promise<RedisServer>;
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Debian's redis-server on loopback, configured as BullMQ requires (noeviction). */
export async function startRedisServer(options: RedisServerOptions): Promise<RedisServer> {
  const binary = findBinary(['redis-server'], process.env.REDIS_SERVER_PATH);
  const port = options.port ?? (await freeTcpPort());
  const dataDir = join(options.workDir, 'redis-data');
  mkdirSync(dataDir, { recursive: true });
  const persistence = options.persistent
    ? ['--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no', '--save', ''];
  const proc = await ManagedProcess.start({
    name: 'redis-server',
    command: binary,
    args: [
      '--bind', '127.0.0.1', '--port', String(port), '--dir', dataDir,
      '--maxmemory-policy', 'noeviction', '--protected-mode', 'yes', ...persistence, ...(options.extraArgs ?? []),
    ],
    logFile: join(options.workDir, 'redis.log'),
    ready: () => answersPing(port),
  });
  return {
    dataDir,
    url: `redis://127.0.0.1:${port}`,
    port,
    process: proc,
    stop: () => proc.stop(),
    restart: () => startRedisServer({ ...options, port }),
  };
}

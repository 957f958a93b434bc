import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary } from './binaries.js';
import { ManagedProcess } from './managed-process.js';
import { freeTcpPort } from './ports.js';

export interface MinioServer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** MinIO (built from source by scripts/install-deps.sh) on loopback with fresh credentials. */
export async function startMinioServer(options: { workDir: string }): Promise<MinioServer> {
  const binary = findBinary(['minio'], process.env.MINIO_PATH);
  const [port, consolePort] = [await freeTcpPort(), await freeTcpPort()];
  const dataDir = join(options.workDir, 'minio-data');
  mkdirSync(dataDir, { recursive: true });
  const accessKeyId = `local${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('hex');
  const endpoint = `http://127.0.0.1:${port}`;
  const proc = await ManagedProcess.start({
    name: 'minio',
    command: binary,
    args: ['server', dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'],
    env: {
      MINIO_ROOT_USER: accessKeyId,
      MINIO_ROOT_PASSWORD: secretAccessKey,
      MINIO_REGION: 'us-east-1',
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
    },
    logFile: join(options.workDir, 'minio.log'),
    ready: async () => (await fetch(`${endpoint}/minio/health/live`)).ok,
  });
  return { endpoint, region: 'us-east-1', accessKeyId, secretAccessKey, process: proc, stop: () => proc.stop() };
}

/**
 * The real services the product talks to, started on loopback for tests, benchmarks and the demo.
 * Every one of them is the real thing (LiveKit, Redis, MinIO, an SMTP server); only the paid AI
 * services are replayed, by src/replay.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startLiveKitServer, type LiveKitServer, type LiveKitServerOptions } from './livekit-server.js';
import { startMinioServer, type MinioServer } from './minio-server.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

export interface LocalServicesEnv {
  LIVEKIT_URL: string;
  LIVEKIT_API_KEY: string;
  LIVEKIT_API_SECRET: string;
  REDIS_URL: string;
  S3_ENDPOINT: string;
  S3_REGION: string;
  S3_ACCESS_KEY_ID: string;
  S3_SECRET_ACCESS_KEY: string;
}

export interface LocalServices {
  livekit: LiveKitServer;
  redis: RedisServer;
  s3: MinioServer;
  workDir: string;
  /** The settings (see src/config.ts) that point the product at these services. */
  env: LocalServicesEnv;
  stop(): Promise<void>;
}

export interface LocalServicesOptions {
  /** Parent folder for logs and data; a fresh sub-folder is made per start. */
  baseDir?: string;
  livekit?: Omit<LiveKitServerOptions, 'workDir'>;
  /** Keep Redis data across a restart (for crash tests). */
  persistentRedis?: boolean;
}

export async function startLocalServices(options: LocalServicesOptions = {}): Promise<LocalServices> {
  const baseDir = resolve(options.baseDir ?? '.services');
  mkdirSync(baseDir, { recursive: true });
  const workDir = mkdtempSync(join(baseDir, 'run-'));
  const started: { stop(): Promise<void> }[] = [];
  try {
    // Started one after another: on two cores, parallel starts only slow each other down.
    const livekit = await startLiveKitServer({ workDir, ...options.livekit });
    started.push(livekit);
    const redis = await startRedisServer({ workDir, persistent: options.persistentRedis });
    started.push(redis);
    const s3 = await startMinioServer({ workDir });
    started.push(s3);
    const env: LocalServicesEnv = {
      LIVEKIT_URL: livekit.url,
      LIVEKIT_API_KEY: livekit.apiKey,
      LIVEKIT_API_SECRET: livekit.apiSecret,
      REDIS_URL: redis.url,
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: s3.region,
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    };
    return {
      livekit,
      redis,
      s3,
      workDir,
      env,
      async stop() {
        await Promise.all(started.map((s) => s.stop()));
        // Logs stay for a post-mortem; the data (audio, transcripts of test meetings) goes.
        for (const data of ['redis-data', 'minio-data']) rmSync(join(workDir, data), { recursive: true, force: true });
      },
    };
  } catch (e) {
    await Promise.all(started.map((s) => s.stop()));
    throw e;
  }
}

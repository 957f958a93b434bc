/**
 * `meeting-agent api [--port N] [--host ADDRESS]`: serves the control plane until SIGTERM/SIGINT,
 * then stops accepting requests, finishes the ones in flight and closes its connections.
 */
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { loadCheckedConfig } from '../pipelines/residency.js';
import { createLogger } from '../logging.js';
import { MeetingStore } from '../meeting/meeting-store.js';
import { collectProcessMetrics } from '../metrics.js';
import { MeetingQueues } from '../pipelines/queues/producers.js';
import { openQueue, QUEUE } from '../pipelines/queues/queues.js';
import { createRedisConnection } from '../meeting/redis-connection.js';
import { MeetingArtifacts } from '../storage/meeting-artifacts.js';
import { createS3Client } from '../storage/s3-client.js';
import { createSpeechToText } from '../pipelines/stt/index.js';
import { meetingArtifacts } from './artifacts.js';
import { LiveKitControl } from './livekit-control.js';
import { buildApi } from './server.js';
import { CachedSttProbe } from './stt-probe.js';

export interface ApiArgs {
  port?: number;
  host: string;
}

export function parseApiArgs(argv: string[]): ApiArgs {
  const args: ApiArgs = { host: '0.0.0.0' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--port' && value !== undefined && /^\d{1,5}$/.test(value) && Number(value) <= 65535) {
      args.port = Number(value);
      i++;
    } else if (flag === '--host' && value !== undefined && value.length > 0) {
      args.host = value;
      i++;
    } else {
      throw new Error(`Unknown or incomplete option "${flag}". Usage: meeting-agent api [--port N] [--host ADDRESS]`);
    }
  }
  return args;
}

export async function main(argv: string[]): Promise<void> {
  const args = parseApiArgs(argv);
  const config = await loadCheckedConfig('api');
  const logger = createLogger('api', config.LOG_LEVEL);
  collectProcessMetrics();

  // Not a worker connection: an API request should fail after a few retries, not wait forever.
  const redis = createRedisConnection(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  const store = new MeetingStore(redis, { retentionDays: config.RETENTION_DAYS });
  const queues = new MeetingQueues(redis);
  const emailQueue = openQueue(QUEUE.email, redis);
  const s3 = createS3Client(config);
  const livekit = new LiveKitControl(config.LIVEKIT_URL, config.LIVEKIT_API_KEY, config.LIVEKIT_API_SECRET, config.AGENT_NAME);

  const app = buildApi({
    config,
    redis,
    store,
    queues,
    livekit,
    // The same client the agent transcribes with, so the probe checks what the agent will use.
    stt: new CachedSttProbe(createSpeechToText(config, { logger })),
    artifacts: meetingArtifacts(
      new MeetingArtifacts(s3, { bucket: config.S3_BUCKET, prefix: config.S3_PREFIX, retentionDays: config.RETENTION_DAYS, linkExpiryHours: config.LINK_EXPIRY_HOURS }),
      { connection: redis, queues: { segments: queues.segments, deferredStt: queues.deferredStt, finalize: queues.finalize, email: emailQueue } },
    ),
    readiness: {
      redis: () => redis.ping(),
      s3: () => s3.send(new HeadBucketCommand({ Bucket: config.S3_BUCKET })),
      livekit: () => livekit.ping(),
    },
    logger,
  });

  const stopped = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  try {
    const address = await app.listen({ port: args.port ?? config.API_PORT, host: args.host });
    logger.info({ address, agentName: config.AGENT_NAME }, 'control plane listening');
    const signal = await stopped;
    logger.info({ signal }, 'shutting down');
  } finally {
    await app.close();
    await Promise.all([queues.close(), emailQueue.close()]).catch(() => undefined);
    s3.destroy();
    redis.disconnect();
  }
}

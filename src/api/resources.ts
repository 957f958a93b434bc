/**
 * The connections and stores the control plane runs on, built from its settings: one Redis
 * connection (meeting store, queues, rate limits), the S3 artefact store, LiveKit's server API.
 * `meeting-agent api` and the API tests build them here, so both run the same wiring.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { MeetingStore } from '../meeting/meeting-store.js';
import { createRedisConnection } from '../meeting/redis-connection.js';
import { MeetingQueues } from '../pipelines/queues/producers.js';
import { openQueue, QUEUE } from '../pipelines/queues/queues.js';
import { MeetingArtifacts as ArtefactStore } from '../storage/meeting-artifacts.js';
import { createS3Client, type S3Settings } from '../storage/s3-client.js';
import { meetingArtifacts, type MeetingArtifacts } from './artifacts.js';
import { LiveKitControl } from './livekit-control.js';

export type ApiResourceSettings = S3Settings &
  Pick<Config, 'REDIS_URL' | 'RETENTION_DAYS' | 'S3_BUCKET' | 'S3_PREFIX' | 'LINK_EXPIRY_HOURS' | 'LIVEKIT_URL' | 'LIVEKIT_API_KEY' | 'LIVEKIT_API_SECRET' | 'AGENT_NAME'>;

export interface ApiResources {
  redis: Redis;
  store: MeetingStore;
  queues: MeetingQueues;
  emailQueue: Queue;
  s3: S3Client;
  /** Where the pipeline writes a meeting's transcripts and minutes. */
  artefacts: ArtefactStore;
  /** What the API reads and erases of a meeting: the artefacts, and its jobs in every queue. */
  artifacts: MeetingArtifacts;
  livekit: LiveKitControl;
  /** One check per dependency, for /readyz: Redis answers PING, the bucket exists, LiveKit answers. */
  readiness: { redis: () => Promise<unknown>; s3: () => Promise<unknown>; livekit: () => Promise<unknown> };
  /** Closes the queues and connections (after the server has stopped). */
  close(): Promise<void>;
}

export function openApiResources(settings: ApiResourceSettings): ApiResources {
  // Not a worker connection: an API request should fail after a few retries, not wait forever.
  const redis = createRedisConnection(settings.REDIS_URL, { maxRetriesPerRequest: 3 });
  const store = new MeetingStore(redis, { retentionDays: settings.RETENTION_DAYS });
  const queues = new MeetingQueues(redis);
  const emailQueue = openQueue(QUEUE.email, redis);
  const s3 = createS3Client(settings);
  const livekit = new LiveKitControl(settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET, settings.AGENT_NAME);
  const artefacts = new ArtefactStore(s3, {
    bucket: settings.S3_BUCKET,
    prefix: settings.S3_PREFIX,
    retentionDays: settings.RETENTION_DAYS,
    linkExpiryHours: settings.LINK_EXPIRY_HOURS,
  });
  return {
    redis,
    store,
    queues,
    emailQueue,
    s3,
    artefacts,
    artifacts: meetingArtifacts(artefacts, { connection: redis, queues: { segments: queues.segments, deferredStt: queues.deferredStt, finalize: queues.finalize, email: emailQueue } }),
    livekit,
    readiness: {
      redis: () => redis.ping(),
      s3: () => s3.send(new HeadBucketCommand({ Bucket: settings.S3_BUCKET })),
      livekit: () => livekit.ping(),
    },
    async close() {
      await Promise.all([queues.close(), emailQueue.close()]).catch(() => undefined);
      s3.destroy();
      redis.disconnect();
    },
  };
}

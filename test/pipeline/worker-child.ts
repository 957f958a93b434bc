/**
 * A pipeline worker process for the crash test: started with tsx, killed with SIGKILL mid-job.
 * Settings come from the environment (CHILD_* below); it prints "ready" once its workers run.
 */
import { MeetingStore } from '../../src/meeting/meeting-store.js';
import { createMailer, SentMarkers } from '../../src/pipelines/email/mailer.js';
import { startPipelineWorkers } from '../../src/pipelines/queues/pipeline-workers.js';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';
import { MeetingArtifacts } from '../../src/storage/meeting-artifacts.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { FAST_CRASH, FAST_FINALIZE, minutesOptionsFor } from './harness.js';

const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} missing`);
  return v;
};
const connection = createRedisConnection(env('CHILD_REDIS_URL'));
const s3 = createS3Client({ S3_ENDPOINT: env('S3_ENDPOINT'), S3_REGION: env('S3_REGION'), S3_ACCESS_KEY_ID: env('S3_ACCESS_KEY_ID'), S3_SECRET_ACCESS_KEY: env('S3_SECRET_ACCESS_KEY') });
const bucket = env('CHILD_BUCKET');
const pipeline = startPipelineWorkers(
  {
    connection,
    store: new MeetingStore(connection, { retentionDays: 30 }),
    s3,
    bucket,
    artifacts: new MeetingArtifacts(s3, { bucket, prefix: 'meetings/', retentionDays: 30, linkExpiryHours: 168 }),
    stt: null,
    sttConcurrency: 1,
    minutes: minutesOptionsFor(env('CHILD_MISTRAL_URL')),
    mailer: createMailer(env('CHILD_SMTP_URL'), 'no-reply@mairie-exemple.fr'),
    sent: new SentMarkers(connection, 3600),
  },
  { crash: FAST_CRASH, finalize: FAST_FINALIZE },
);
await Promise.all(pipeline.workers.map((w) => w.waitUntilReady()));
process.stdout.write('ready\n');

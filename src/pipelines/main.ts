/**
 * `meeting-agent pipeline`: runs every pipeline worker (segments, deferred speech-to-text,
 * finalisation with minutes, email) until SIGTERM/SIGINT, then stops with a deadline. With
 * METRICS_PORT it also serves /metrics (Prometheus) and /healthz (the container's health check).
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { Config } from '../config.js';
import { loadCheckedConfig } from './residency.js';
import { createLogger } from '../logging.js';
import { serveMetrics } from '../metrics-server.js';
import { MeetingStore } from '../meeting/meeting-store.js';
import { createS3Client } from '../storage/s3-client.js';
import { installRetentionLifecycle, MeetingArtifacts } from '../storage/meeting-artifacts.js';
import { createMailer, SentMarkers } from './email/mailer.js';
import { createMistralChat, mistralChatOptionsFrom } from './minutes/mistral-chat.js';
import { TokenEstimator } from './minutes/token-estimate.js';
import { startPipelineWorkers, type PipelineDeps } from './queues/pipeline-workers.js';
import { createRedisConnection } from '../meeting/redis-connection.js';
import { createSpeechToText } from './stt/index.js';

const log = createLogger('pipeline');

const ArgsSchema = z.object({
  'shutdown-deadline-seconds': z.coerce.number().int().positive().max(3600).default(25),
});

export function pipelineDeps(config: Config, connection = createRedisConnection(config.REDIS_URL)): PipelineDeps {
  const s3 = createS3Client(config);
  const artifacts = new MeetingArtifacts(s3, {
    bucket: config.S3_BUCKET,
    prefix: config.S3_PREFIX,
    retentionDays: config.RETENTION_DAYS,
    linkExpiryHours: config.LINK_EXPIRY_HOURS,
  });
  const mistral = mistralChatOptionsFrom(config);
  return {
    connection,
    store: new MeetingStore(connection, { retentionDays: config.RETENTION_DAYS }),
    s3,
    bucket: config.S3_BUCKET,
    artifacts,
    stt: createSpeechToText(config),
    sttConcurrency: config.STT_CONCURRENCY,
    minutes: { chat: createMistralChat(mistral), model: mistral.model, tokenBudget: config.MINUTES_TOKEN_BUDGET, estimator: new TokenEstimator() },
    mailer: createMailer(config.SMTP_URL, config.MAIL_FROM),
    sent: new SentMarkers(connection, config.RETENTION_DAYS * 86_400),
  };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { 'shutdown-deadline-seconds': { type: 'string' } }, allowPositionals: false });
  const args = ArgsSchema.parse(values);
  const config = await loadCheckedConfig('pipeline');
  const deps = pipelineDeps(config);
  try {
    const rules = await installRetentionLifecycle(deps.s3, config.S3_BUCKET, config.RETENTION_DAYS);
    log.info({ bucket: config.S3_BUCKET, retentionDays: config.RETENTION_DAYS, rules: rules.length }, 'retention lifecycle rule in place');
  } catch (e) {
    // Not fatal (some stores need an administrator for lifecycle rules), but an operator must know.
    log.error({ bucket: config.S3_BUCKET, err: e }, 'could not install the retention lifecycle rule; artefacts will not expire by themselves');
  }
  const pipeline = startPipelineWorkers(deps);
  let stopping = false;
  const metrics = config.METRICS_PORT === undefined ? null : await serveMetrics({ port: config.METRICS_PORT, healthy: () => !stopping });
  log.info({ workers: pipeline.workers.length, metricsPort: metrics?.port ?? null }, 'pipeline workers started');
  const inTime = await new Promise<boolean>((resolve) => {
    const stop = (signal: string) => {
      stopping = true;
      log.info({ signal, deadlineSeconds: args['shutdown-deadline-seconds'] }, 'shutting down');
      void pipeline
        .close(args['shutdown-deadline-seconds'] * 1000)
        .catch(() => false)
        .then((done) => {
          if (!done) log.warn({}, 'deadline reached; unfinished jobs will be resumed by another worker');
          deps.mailer.close();
          void metrics?.close();
          deps.connection.disconnect();
          resolve(done);
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  // An abandoned job's request (a Mistral call can take minutes) would keep the process alive past
  // the deadline; its work is resumed by another worker, so nothing is lost by leaving now.
  if (!inTime) process.exit(0);
}

/**
 * `meeting-agent delete <meetingId> [--force]`: erases every copy of a meeting (right to erasure)
 * and says what it removed. A meeting still transcribed or being finalised is refused (exit code 2):
 * its agent or finaliser would write again what was just erased. Stop it first (the API's
 * DELETE /v1/rooms/<room>/transcription, or close the room) and run this once it is done or failed.
 * `--force` erases anyway, for a meeting whose agent is known to be gone; anything written after
 * that still expires with the retention.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { inProgress, MeetingInfoSchema } from '../meeting/meeting-store.js';
import { meetingKeys } from '../meeting/redis-keys.js';
import { loadCheckedConfig } from '../pipelines/residency.js';
import { eraseMeeting } from '../pipelines/erase-meeting.js';
import { closeQueues, openAllQueues } from '../pipelines/queues/queues.js';
import { createRedisConnection } from '../meeting/redis-connection.js';
import { MeetingArtifacts } from '../storage/meeting-artifacts.js';
import { createS3Client } from '../storage/s3-client.js';

const ArgsSchema = z.object({
  meetingId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'a meeting id is 1-100 letters, digits, "-" or "_"'),
});

/** Thrown when the meeting may not be erased now (nothing was touched). */
export class MeetingInProgressError extends Error {
  constructor(meetingId: string, status: string) {
    super(
      `Meeting ${meetingId} is still ${status === 'finalising' ? 'being finalised' : 'being transcribed or waiting for its finalisation'} (status ${status}); nothing was erased. ` +
        'Stop it first (DELETE /v1/rooms/<room>/transcription, or close the room), wait until it is done or failed, then run delete again. ' +
        'Use --force only if its agent and pipeline are known to be gone.',
    );
    this.name = 'MeetingInProgressError';
  }
}

export async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { force: { type: 'boolean', default: false } } });
  if (positionals.length !== 1) throw new Error('Usage: meeting-agent delete <meetingId> [--force]');
  const parsed = ArgsSchema.safeParse({ meetingId: positionals[0] });
  if (!parsed.success) throw new Error(`Invalid meeting id: ${parsed.error.issues[0]?.message}`);
  const { meetingId } = parsed.data;
  const config = await loadCheckedConfig('delete');
  const artifacts = new MeetingArtifacts(createS3Client(config), {
    bucket: config.S3_BUCKET,
    prefix: config.S3_PREFIX,
    retentionDays: config.RETENTION_DAYS,
    linkExpiryHours: config.LINK_EXPIRY_HOURS,
  });
  const connection = config.REDIS_URL ? createRedisConnection(config.REDIS_URL, { maxRetriesPerRequest: 3 }) : null;
  const queues = connection
? openAllQueues(connection) : null;
  try {
    if (connection && !values.force) {
      const raw = await connection.get(meetingKeys.info(meetingId));
      const status = raw ? MeetingInfoSchema.pick({ status: true }).safeParse(JSON.parse(raw)).data?.status : undefined;
      if (status && inProgress({ status })) throw new MeetingInProgressError(meetingId, status);
    }
    const report = await eraseMeeting(meetingId, artifacts, connection && queues ? { connection, queues } : null);
    console.log(`Meeting ${meetingId}:`);
    console.log(`  ${report.objects.length} object(s) deleted from s3://${config.S3_BUCKET}/${artifacts.meetingPrefix(meetingId)}`);
    for (const key of report.objects) console.log(`    - ${key}`);
    if (connection) {
      console.log(`  ${report.redisKeys} Redis key(s) deleted (state, participants, transcript, events, counters, email markers, stop request, API records)`);
      console.log(`  ${report.jobs} queue job(s) deleted, and ${report.queueEvents} entr${report.queueEvents === 1 ? 'y' : 'ies'} naming them in the queues' event streams`);
      console.log(`  Redis files: append-only file rewrite ${report.disk.aofRewrite}, snapshot ${report.disk.snapshot}`);
      if (report.activeJobs > 0) console.log(`  ${report.activeJobs} job(s) are running now and could not be deleted: run this command again in a minute.`);
    } else {
      console.log('  REDIS_URL is not set: the meeting state in Redis (if any) was not touched.');
    }
    if (report.objects.length === 0 && report.redisKeys === 0 && report.jobs === 0 && report.queueEvents === 0) console.log('  Nothing was stored for this meeting (already erased, expired, or a wrong id).');
  } finally {
    if (queues) await closeQueues(queues);
    connection?.disconnect();
  }
}

/**
 * Pipeline benchmark: `npm run bench -- pipeline` (or `npx tsx bench/pipeline.bench.ts`).
 *
 * For a synthetic 1-hour and 3-hour meeting (test/pipeline/meeting-fixtures.ts), on real Redis,
 * MinIO and an SMTP receiver, with Mistral replayed at a realistic latency (6-10 s per call):
 * - segment ingest: all segments through the transcript-segments queue into the store;
 * - meeting end → last email accepted by SMTP (wall clock);
 * - of that, the time with no Mistral call in flight (the pipeline's own cost);
 * - the number of model calls and their sequential depth.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMinioServer } from '../src/local/minio-server.js';
import { startRedisServer } from '../src/local/redis-server.js';
import { startSmtpReceiver } from '../src/local/smtp-receiver.js';
import { MeetingStore } from '../src/meeting/meeting-store.js';
import { createMailer, SentMarkers } from '../src/pipelines/email/mailer.js';
import { createMistralChat, type MinutesChat } from '../src/pipelines/minutes/mistral-chat.js';
import { MinutesSchema } from '../src/pipelines/minutes/minutes-schema.js';
import { TokenEstimator } from '../src/pipelines/minutes/token-estimate.js';
import { startPipelineWorkers } from '../src/pipelines/queues/pipeline-workers.js';
import { MeetingQueues } from '../src/pipelines/queues/producers.js';
import { createRedisConnection } from '../src/meeting/redis-connection.js';
import { startReplayServer } from '../src/replay/server.js';
import { ensureBucket, MeetingArtifacts } from '../src/storage/meeting-artifacts.js';
import { createS3Client } from '../src/storage/s3-client.js';
import { LONG_MEETING_BUDGET, MODEL, segmentCountsOf, segmentsFor, syntheticLongMeeting } from '../test/pipeline/meeting-fixtures.js';

const LATENCY: [number, number] = [6000, 10000];

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

/** Total time covered by a set of [start, end] intervals (calls in parallel count once). */
function covered(intervals: [number, number][]): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: [number, number] | null = null;
  for (const [s, e] of sorted) {
    if (!cur || s > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [s, e];
    } else cur[1] = Math.max(cur[1], e);
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

const workDir = mkdtempSync(join(tmpdir(), 'bench-pipeline-'));
const redis = await startRedisServer({ workDir });
const minio = await startMinioServer({ workDir });
const smtp = await startSmtpReceiver();
const mistral = await startReplayServer({ provider: 'mistral', cassettes: ['fixtures/cassettes/minutes-long.json'], faults: [{ route: 'mistral.chat', latencyMs: LATENCY }] });
const connection = createRedisConnection(redis.url);
const s3 = createS3Client({ S3_ENDPOINT: minio.endpoint, S3_REGION: minio.region, S3_ACCESS_KEY_ID: minio.accessKeyId, S3_SECRET_ACCESS_KEY: minio.secretAccessKey });
await ensureBucket(s3, 'bench');
const store = new MeetingStore(connection, { retentionDays: 30 });
const queues = new MeetingQueues(connection);
const intervals: [number, number][] = [];
const sdkChat = createMistralChat({ apiKey: 'bench', model: MODEL, serverURL: mistral.url });
const chat: MinutesChat = async (call) => {
  const start = performance.now();
  try {
    return await sdkChat(call);
  } finally {
    intervals.push([start, performance.now()]);
  }
};
const mailer = createMailer(smtp.url, 'no-reply@bench.example.fr');
const pipeline = startPipelineWorkers({
  connection,
  store,
  s3,
  bucket: 'bench',
  artifacts: new MeetingArtifacts(s3, { bucket: 'bench', prefix: 'meetings/', retentionDays: 30, linkExpiryHours: 168 }),
  stt: null,
  sttConcurrency: 1,
  minutes: { chat, model: MODEL, tokenBudget: LONG_MEETING_BUDGET, estimator: new TokenEstimator() },
  mailer,
  sent: new SentMarkers(connection, 3600),
});

const rows: string[] = [];
try {
  for (const hours of [1, 3]) {
    intervals.length = 0;
    const meetingId = `bench-${hours}h`;
    const meeting = syntheticLongMeeting(hours);
    const segments = segmentsFor(meetingId, meeting);
    await store.create({ meetingId, room: null, language: 'fr', requester: null, glossary: [], status: 'active' });
    for (const p of meeting.participants) await store.upsertParticipant(meetingId, p);
    const tIngest = performance.now();
    for (const s of segments) await queues.addSegment(s);
    await until(async () => (await store.segments(meetingId)).length === segments.length, 120_000, 'segments stored');
    const ingestMs = performance.now() - tIngest;

    const mailsBefore = smtp.messages.length;
    const t0 = performance.now();
    await queues.endMeeting(store, meetingId, 'room_finished', segmentCountsOf(segments));
    await until(() => smtp.messages.length >= mailsBefore + meeting.participants.length, 300_000, 'emails');
    const totalMs = performance.now() - t0;
    const llmMs = covered(intervals);
    const artifacts = new MeetingArtifacts(s3, { bucket: 'bench', prefix: 'meetings/', retentionDays: 30, linkExpiryHours: 1 });
    const minutes = MinutesSchema.parse(JSON.parse((await artifacts.read(meetingId, 'minutes.json')) ?? ''));
    const g = minutes.generation;
    rows.push(
      `| ${hours} h | ${segments.length} | ${(ingestMs / 1000).toFixed(2)} s | ${(totalMs / 1000).toFixed(1)} s | ${(llmMs / 1000).toFixed(1)} s | ${((totalMs - llmMs) / 1000).toFixed(2)} s | ${g.calls} (${g.parts} part${g.parts > 1 ? 's' : ''}${g.parts > 1 ? ' + merge' : ''}) | ${g.sequentialDepth} | ${g.usage.promptTokens} |`,
    );
  }
  console.log(`Pipeline, Mistral replayed with ${LATENCY[0] / 1000}-${LATENCY[1] / 1000} s per call, MINUTES_TOKEN_BUDGET ${LONG_MEETING_BUDGET}, 5 recipients`);
  console.log('| meeting | segments | ingest (queue → store) | end → last email | Mistral in flight | pipeline apart from Mistral | model calls | sequential LLM depth | prompt tokens |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
} finally {
  await pipeline.close(5000);
  await queues.close();
  mailer.close();
  connection.disconnect();
  await mistral.close();
  await smtp.close();
  await minio.stop();
  await redis.stop();
  rmSync(workDir, { recursive: true, force: true });
}

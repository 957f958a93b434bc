/**
 * `meeting-agent pipeline` stopped with SIGTERM in the middle of a meeting's finalisation (while
 * it waits for Mistral), as an orchestrator does on every deploy:
 *  - within the deadline, the job in hand is finished, then the process exits 0;
 *  - past the deadline, the process exits anyway and the job is resumed by another worker.
 * Either way the meeting is finalised once and every participant gets one email.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { jobIds, QUEUE } from '../../src/pipelines/queues/queue-names.js';
import { startHarness, until, type Harness } from './harness.js';
import { fixtureMeeting, loadFixtureScript, MODEL } from './meeting-fixtures.js';

const CASSETTE = 'fixtures/cassettes/minutes-comite-projet.json';
const recipients = loadFixtureScript().participants.length;

let h: Harness | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  await h?.close();
  h = undefined;
  child = undefined;
});

interface PipelineProcess {
  child: ChildProcess;
  logs: string[];
  exited: Promise<number | null>;
}

/** The real CLI role, as the Docker image runs it. */
async function startPipelineProcess(h: Harness, deadlineSeconds: number): Promise<PipelineProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'pipeline', '--shutdown-deadline-seconds', String(deadlineSeconds)], {
    env: {
      ...process.env,
      ...inject('services'),
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      REDIS_URL: h.redisUrl,
      S3_BUCKET: h.bucket,
      STT_BASE_URL: 'http://127.0.0.1:9/v1',
      MISTRAL_API_KEY: 'test-key',
      MISTRAL_SERVER_URL: h.mistral.url,
      MISTRAL_MODEL: MODEL,
      SMTP_URL: h.smtp.url,
      MAIL_FROM: 'no-reply@mairie-exemple.fr',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const collect = (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await until('the pipeline workers to start', () => logs.some((l) => l.includes('pipeline workers started')), 60_000);
  return { child, logs, exited };
}

/** Ends the fixture meeting and waits until the pipeline process is waiting for Mistral. */
async function finaliseUntilMistral(h: Harness, meetingId: string): Promise<void> {
  const { counts } = await h.seedMeeting(meetingId, fixtureMeeting());
  await h.queues.endMeeting(h.store, meetingId, 'room_finished', counts);
  await until('the minutes call', () => (h.mistral.stats().calls['mistral.chat'] ?? 0) >= 1);
  expect((await h.store.get(meetingId))?.status).toBe('finalising');
}

describe('meeting-agent pipeline on SIGTERM', () => {
  it('finishes the finalisation in hand within the deadline, exits 0, and the meeting is finalised once', async () => {
    h = await startHarness({ db: 13, cassettes: [CASSETTE], startWorkers: false, faults: [{ route: 'mistral.chat', latencyMs: 3_000, times: 1 }] });
    const p = await startPipelineProcess(h, 30);
    child = p.child;
    const meetingId = 'comite-projet-sigterm';
    await finaliseUntilMistral(h, meetingId);

    const t0 = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    // It left as soon as the job was done (the minutes call takes 3 s), not at the deadline.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(p.logs.some((l) => l.includes('shutting down'))).toBe(true);
    expect(p.logs.some((l) => l.includes('deadline reached'))).toBe(false);
    // The job in hand was finished before the process left, not abandoned under its lock: it
    // completed (or, if the attempt itself failed, e.g. storage overloaded, it went back to
    // BullMQ's retry at once; the child's log says why, without meeting content).
    const finalize = new Queue(QUEUE.finalize, { connection: h.connection });
    const state = await finalize.getJobState(jobIds.finalize(meetingId));
    await finalize.close();
    if (state !== 'completed') console.warn(`finalize job ${state} after SIGTERM; the pipeline process logged:\n${p.logs.join('\n')}`);
    expect(['completed', 'delayed', 'waiting']).toContain(state);

    // The emails it queued are sent by the next worker; finished minutes are not made again.
    h.startWorkers();
    await h.waitForStatus(meetingId, 'done');
    await h.smtp.waitFor(recipients);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(h.smtp.messages).toHaveLength(recipients);
    if (state === 'completed') expect(h.mistral.stats().calls['mistral.chat']).toBe(1);
  }, 90_000);

  it('past the deadline it exits anyway; another worker resumes the finalisation and mails each participant once', async () => {
    h = await startHarness({ db: 15, cassettes: [CASSETTE], startWorkers: false, faults: [{ route: 'mistral.chat', latencyMs: 20_000, times: 1 }] });
    const p = await startPipelineProcess(h, 2);
    child = p.child;
    const meetingId = 'comite-projet-deadline';
    await finaliseUntilMistral(h, meetingId);

    const t0 = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(p.logs.some((l) => l.includes('deadline reached'))).toBe(true);

    // The abandoned job keeps its data in Redis; once its lock expires, the stalled-job check of
    // the next worker gives it back.
    h.startWorkers();
    await h.waitForStatus(meetingId, 'done', 90_000);
    await h.smtp.waitFor(recipients);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(h.smtp.messages).toHaveLength(recipients);
    expect([...new Set(h.smtp.messages.flatMap((m) => m.envelopeTo))]).toHaveLength(recipients);
  }, 150_000);
});

/**
 * `meeting-agent pipeline` run as the image runs it (the real CLI, in a process of its own).
 *
 * Stopped with SIGTERM in the middle of a meeting's finalisation (while it waits for Mistral), as
 * an orchestrator does on every deploy:
 *  - within the deadline, the job in hand is finished, then the process exits 0;
 *  - past the deadline, the process exits anyway and the job is resumed by another worker.
 * Either way the meeting is finalised once and every participant gets one email.
 *
 * Watched by an operator: /healthz and Prometheus /metrics on METRICS_PORT count what it did,
 * and never name a meeting, a participant or a word of what was said.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { MinutesSchema } from '../../src/pipelines/minutes/minutes-schema.js';
import { jobIds, openQueue, QUEUE } from '../../src/pipelines/queues/queues.js';
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
async function startPipelineProcess(h: Harness, deadlineSeconds: number, env: Record<string, string> = {}): Promise<PipelineProcess> {
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
      ...env,
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
    // The job in hand was finished before the process left, not abandoned under its lock.
    const finalize = openQueue(QUEUE.finalize, h.connection);
    const state = await finalize.getJobState(jobIds.finalize(meetingId));
    await finalize.close();
    expect(state, `the pipeline process logged:\n${p.logs.join('\n')}`).toBe('completed');

    // The emails it queued are sent by the next worker; finished minutes are not made again.
    h.startWorkers();
    await h.waitForStatus(meetingId, 'done');
    await h.smtp.waitFor(recipients);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(h.smtp.messages).toHaveLength(recipients);
    expect(h.mistral.stats().calls['mistral.chat']).toBe(1);
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

/** The value of one sample in a Prometheus exposition, found by name and (some of its) labels. */
function sample(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of exposition.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

describe('meeting-agent pipeline, watched by an operator', () => {
  it('answers its health check and counts segments, minutes, tokens and emails, without any meeting content', async () => {
    h = await startHarness({ db: 13, cassettes: [CASSETTE], startWorkers: false });
    const p = await startPipelineProcess(h, 30, { METRICS_PORT: '0' });
    child = p.child;
    const port = /"metricsPort":(\d+)/.exec(p.logs.find((l) => l.includes('pipeline workers started')) ?? '')?.[1];
    expect(port, 'the start log gives the metrics port').toBeDefined();
    const base = `http://127.0.0.1:${port}`;
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${base}/anything-else`)).status).toBe(404);

    const meeting = fixtureMeeting();
    const meetingId = 'comite-projet-metrics';
    const { counts } = await h.seedMeeting(meetingId, meeting);
    await h.queues.endMeeting(h.store, meetingId, 'room_finished', counts);
    await h.waitForStatus(meetingId, 'done', 60_000);
    await h.smtp.waitFor(recipients);
    const scrape = async () => {
      const res = await fetch(`${base}/metrics`);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      return res.text();
    };
    await until('the emails to be counted', async () => sample(await scrape(), 'meeting_agent_emails_sent_total', { outcome: 'sent' }) === recipients);

    const text = await scrape();
    expect(sample(text, 'meeting_agent_segments_total', { outcome: 'live' })).toBe(meeting.utterances.length);
    expect(sample(text, 'meeting_agent_minutes_produced_total', { outcome: 'minutes' })).toBe(1);
    // What the minutes cost, as recorded in the meeting's own minutes.json.
    const minutes = MinutesSchema.parse(JSON.parse((await h.artifacts.read(meetingId, 'minutes.json')) ?? '{}'));
    expect(sample(text, 'meeting_agent_minutes_tokens_total', { kind: 'prompt' })).toBe(minutes.generation.usage.promptTokens);
    expect(sample(text, 'meeting_agent_minutes_tokens_total', { kind: 'completion' })).toBe(minutes.generation.usage.completionTokens);
    expect(sample(text, 'meeting_agent_process_resident_memory_bytes')).toBeGreaterThan(0);
    // Labels carry outcomes and kinds only: no meeting, no person, nothing said.
    expect(text).not.toContain(meetingId);
    for (const person of meeting.participants) for (const v of [person.identity, person.name, person.email]) expect(text).not.toContain(v);
    for (const word of ['attacker', 'urbanisme', 'sous-traitants']) expect(text.toLowerCase()).not.toContain(word);

    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 90_000);
});

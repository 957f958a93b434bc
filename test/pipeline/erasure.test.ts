/**
 * Erasure and retention leave no copy (issue 12, kind 4), on real Redis and MinIO with Mistral
 * replayed: what Redis keeps on disk after an erasure, the lifetime of every key a meeting leaves
 * after each path (finished, failed finalisation, an agent that died mid-meeting), and
 * `meeting-agent delete` on a meeting still running; and the retention tag on every object under a
 * meeting's prefix, the audio the agent spools while speech-to-text is down (replayed, 503) included.
 * The file runs its own Redis server: each harness empties its database, and every shared one
 * belongs to another test file.
 */
import { GetObjectTaggingCommand } from '@aws-sdk/client-s3';
import { readdirSync, readFileSync, statSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { main as deleteMain } from '../../src/cli/delete.js';
import { startRedisServer, type RedisServer } from '../../src/local/redis-server.js';
import { MeetingStore } from '../../src/meeting/meeting-store.js';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';
import { meetingKeys, roomKeys } from '../../src/meeting/redis-keys.js';
import { requestStop } from '../../src/meeting/stop-signal.js';
import { SequenceCounter } from '../../src/agent/sequence-counter.js';
import { segmentId } from '../../src/meeting/segment.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { eraseMeeting } from '../../src/pipelines/erase-meeting.js';
import { SentMarkers } from '../../src/pipelines/email/mailer.js';
import { MeetingQueues } from '../../src/pipelines/queues/producers.js';
import { jobIds, openQueue, QUEUE } from '../../src/pipelines/queues/queues.js';
import { ensureBucket, installRetentionLifecycle, MeetingArtifacts, retentionRuleId } from '../../src/storage/meeting-artifacts.js';
import { FIXTURE_CASSETTE } from '../agent/harness.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { startHarness, until, type Harness } from './harness.js';
import { spoolingProcessor, toneUtterance } from './spooling.js';
import { fixtureMeeting, segmentsFor } from './meeting-fixtures.js';

const RETENTION_DAYS = 30;
const RETENTION_S = RETENTION_DAYS * 86_400;
const services = inject('services');
const s3 = createS3Client(services);

let ownRedis: RedisServer;
beforeAll(async () => {
  ownRedis = await startRedisServer({ workDir: mkdtempSync(join(tmpdir(), 'redis-erasure-file-')) });
});
afterAll(async () => {
  await ownRedis?.stop();
});

/** Every key whose name contains the meeting id, with its TTL in seconds (-1: none). */
async function keysNaming(redis: Redis, meetingId: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${meetingId}*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) out.set(k, await redis.ttl(k));
  } while (cursor !== '0');
  return out;
}

/** Everything Redis keeps in its data folder (AOF parts, RDB snapshot), as one buffer. */
function filesOf(dir: string): Buffer {
  const parts: Buffer[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else parts.push(readFileSync(p));
    }
  };
  walk(dir);
  return Buffer.concat(parts);
}

/** Waits until Redis has no rewrite or snapshot running or scheduled. */
async function persistenceIdle(redis: Redis): Promise<Record<string, string>> {
  let fields: Record<string, string> = {};
  await until(
    'Redis to finish rewriting its files',
    async () => {
      fields = Object.fromEntries(
        (await redis.info('persistence'))
          .split(/\r?\n/)
          .filter((l) => l.includes(':'))
          .map((l) => l.split(':') as [string, string]),
      );
      return fields.aof_rewrite_in_progress !== '1' && fields.aof_rewrite_scheduled !== '1' && fields.rdb_bgsave_in_progress !== '1';
    },
    30_000,
  );
  return fields;
}

/** A meeting with a participant address and transcript words carrying `marker`, as the agent stores them. */
async function seedMarked(store: MeetingStore, meetingId: string, marker: string): Promise<void> {
  await store.create({ meetingId, room: `salle-${meetingId}`, language: 'fr', requester: null, glossary: [], status: 'active' });
  await store.upsertParticipant(meetingId, { identity: 'alice', name: `Alice ${marker}`, email: `${marker.toLowerCase()}@mairie-exemple.fr`, optedOut: false });
  const [segment] = segmentsFor(meetingId, fixtureMeeting());
  await store.addSegment({ ...segment!, text: `Le budget est ${marker}.` });
}

describe('what Redis keeps on disk after an erasure', () => {
  const servers: RedisServer[] = [];
  const connections: Redis[] = [];
  afterAll(async () => {
    for (const c of connections) c.disconnect();
    for (const s of servers) await s.stop();
  });

  async function erasureWith(extraArgs: string[], persistent: boolean) {
    const server = await startRedisServer({ workDir: mkdtempSync(join(tmpdir(), 'redis-erasure-')), persistent, extraArgs: ['--rdbcompression', 'no', ...extraArgs] });
    servers.push(server);
    const redis = createRedisConnection(server.url);
    connections.push(redis);
    const bucket = `erasure-${randomUUID().slice(0, 8)}`;
    await ensureBucket(s3, bucket);
    const artifacts = new MeetingArtifacts(s3, { bucket, prefix: 'meetings/', retentionDays: RETENTION_DAYS, linkExpiryHours: 1 });
    const queues = {
      segments: openQueue(QUEUE.segments, redis),
      deferredStt: openQueue(QUEUE.deferredStt, redis),
      finalize: openQueue(QUEUE.finalize, redis),
      email: openQueue(QUEUE.email, redis),
    };
    const store = new MeetingStore(redis, { retentionDays: RETENTION_DAYS });
    const erased = `MARQUEUR${randomUUID().replace(/-/g, '')}`;
    const kept = `CONTROLE${randomUUID().replace(/-/g, '')}`;
    await seedMarked(store, 'erased-meeting', erased);
    await seedMarked(store, 'kept-meeting', kept);
    return {
      server,
      redis,
      erased,
      kept,
      erase: async () => {
        try {
          return await eraseMeeting('erased-meeting', artifacts, { connection: redis, queues });
        } finally {
          await Promise.all(Object.values(queues).map((q) => q.close()));
        }
      },
    };
  }

  it('the append-only file: erasure has Redis rewrite it, and no erased value remains in its files', async () => {
    const t = await erasureWith([], true);
    await persistenceIdle(t.redis);
    // The values are on disk before (appendfsync always), so their absence after means something.
    expect(filesOf(t.server.dataDir).includes(t.erased)).toBe(true);

    const report = await t.erase();
    expect(report.redisKeys).toBeGreaterThanOrEqual(3);
    expect(report.disk.aofRewrite).toBe('started');
    const after = await persistenceIdle(t.redis);
    expect(after.aof_last_bgrewrite_status).toBe('ok');

    const files = filesOf(t.server.dataDir);
    expect(files.includes(t.erased)).toBe(false);
    expect(files.includes(t.erased.toLowerCase())).toBe(false); // the address
    // The rewritten files are readable for a value that was not erased: the check can see one.
    expect(files.includes(t.kept)).toBe(true);
  });

  it('an RDB snapshot taken before the erasure: erasure has Redis take a new one without the erased values', async () => {
    // Snapshots only, as some operators run Redis; no append-only file.
    const t = await erasureWith(['--save', '3600 1'], false);
    await t.redis.bgsave();
    await persistenceIdle(t.redis);
    expect(readFileSync(join(t.server.dataDir, 'dump.rdb')).includes(t.erased)).toBe(true);

    const report = await t.erase();
    expect(report.disk).toEqual({ aofRewrite: 'off', snapshot: 'started' });
    await persistenceIdle(t.redis);
    const dump = readFileSync(join(t.server.dataDir, 'dump.rdb'));
    expect(dump.includes(t.erased)).toBe(false);
    expect(dump.includes(t.kept)).toBe(true);
  });
});

describe('a meeting run through the whole pipeline, then erased: nothing of it left in Redis\u2019 files', () => {
  let server: RedisServer | undefined;
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.close();
    await server?.stop();
  });

  it('no address, name, word or job id of it outlives the erasure, not even an SMTP reply quoting an address in a queue\u2019s event stream', async () => {
    const meeting = fixtureMeeting();
    const [alice, bruno, chloe] = meeting.participants;
    // Replies as Postfix words them, the address quoted back: one refused for good, one busy once.
    const refused = `550 5.1.1 <${bruno!.email}>: Recipient address rejected: User unknown in local recipient table`;
    const busy = `451 4.3.0 <${chloe!.email}>: Temporary lookup failure`;
    server = await startRedisServer({ workDir: mkdtempSync(join(tmpdir(), 'redis-erasure-run-')), persistent: true, extraArgs: ['--rdbcompression', 'no'] });
    h = await startHarness({
      db: 0,
      redisUrl: server.url,
      cassettes: ['fixtures/cassettes/minutes-comite-projet.json'],
      smtp: { refuse: { [bruno!.email!]: refused, [chloe!.email!]: { reply: busy, times: 1 } } },
    });
    // What a failed attempt hands to the log line and to BullMQ (failedReason, the event stream).
    const failures: string[] = [];
    for (const worker of h.pipeline!.workers) worker.on('failed', (_job, err) => failures.push(`${err.name}: ${err.message} ${err.stack ?? ''}`));
    const id = `run-${randomUUID().slice(0, 8)}`;
    const requester = `hote.${randomUUID().slice(0, 8)}@mairie-exemple.fr`;
    const { counts } = await h.seedMeeting(id, meeting, { requesterEmail: requester });
    await h.queues.endMeeting(h.store, id, 'room_finished', counts);
    await h.waitForStatus(id, 'done');
    await until(
      'every recipient\u2019s outcome',
      async () => {
        const outcomes = Object.values(await h!.store.deliveries(id)).map((d) => d.outcome);
        return outcomes.length === meeting.participants.length + 1 && !outcomes.includes('pending');
      },
      30_000,
    );
    const deliveries = Object.values(await h.store.deliveries(id));
    expect(deliveries.filter((d) => d.outcome === 'refused')).toEqual([expect.objectContaining({ address: bruno!.email, reply: refused })]);
    expect(deliveries.filter((d) => d.outcome === 'sent')).toHaveLength(meeting.participants.length); // chloe on her second attempt
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures.filter((f) => f.includes('@'))).toEqual([]);

    const personal = [requester, ...meeting.participants.map((p) => p.email!), alice!.name, meeting.utterances[0]!.text.slice(0, 40)];
    await persistenceIdle(h.connection);
    const before = filesOf(server.dataDir);
    for (const value of [...personal, id]) expect(before.includes(value), value).toBe(true);

    const queues = { segments: h.queues.segments, deferredStt: h.queues.deferredStt, finalize: h.queues.finalize, email: h.pipeline!.emailQueue };
    // Another meeting's entry, whose id starts with this one's ("_" is allowed in meeting ids): it stays.
    const neighbour = jobIds.email(`${id}_b`, 'AAAAAAAAAAAAAAAA');
    await h.connection.xadd(queues.email.keys.events!, '*', 'event', 'completed', 'jobId', neighbour, 'returnvalue', '{"outcome":"sent"}');
    const report = await eraseMeeting(id, h.artifacts, { connection: h.connection, queues });
    expect(report.activeJobs).toBe(0);
    expect(report.queueEvents).toBeGreaterThan(0);
    expect(report.disk.aofRewrite).toBe('started');
    await persistenceIdle(h.connection);
    const after = filesOf(server.dataDir);
    expect(personal.filter((value) => after.includes(value))).toEqual([]);
    // Not even the meeting's job ids (its id with participant and recipient keys) in the event streams.
    const left = (await h.connection.xrange(queues.email.keys.events!, '-', '+')).filter(([, f]) => f.includes('jobId')).map(([, f]) => f[f.indexOf('jobId') + 1]);
    expect(left).toEqual([neighbour]);
    expect(after.toString('latin1').split(neighbour).join('').includes(id)).toBe(false);
  }, 90_000);
});

describe('every key a meeting leaves expires with its retention', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  /** Every key naming the meeting, the product's (src/meeting/redis-keys.ts) and BullMQ's job records alike, expires within the retention. */
  async function expectAllExpiring(redis: Redis, meetingId: string, mustInclude: string[]): Promise<void> {
    const all = [...(await keysNaming(redis, meetingId))];
    expect(all.map(([k]) => k)).toEqual(expect.arrayContaining(mustInclude));
    for (const [key, ttl] of all) {
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(RETENTION_S);
    }
  }

  it('a meeting whose finalisation failed (Mistral answering 401): state, addresses and transcript all expire', async () => {
    h = await startHarness({ db: 1, redisUrl: ownRedis.url, cassettes: ['fixtures/cassettes/minutes-comite-projet.json'], faults: [{ route: 'mistral.chat', status: 401 }] });
    const id = `failed-${randomUUID().slice(0, 8)}`;
    const { counts } = await h.seedMeeting(id, fixtureMeeting(), { requesterEmail: 'hote@mairie-exemple.fr' });
    await until('the segments to be stored', async () => (await h!.store.segments(id)).length === Object.values(counts).reduce((a, b) => a + b, 0));
    await h.store.markEnded(id, 'host_stop', counts);
    // The last attempt at once (production retries 8 times over about two minutes first).
    await h.queues.finalize.add('finalize', { meetingId: id, reason: 'host_stop' }, { jobId: jobIds.finalize(id), attempts: 1 });
    await h.waitForStatus(id, 'failed');
    await until('the finalisation job to be failed', async () => (await h!.queues.finalize.getJobState(jobIds.finalize(id))) === 'failed');
    expect(h.smtp.messages).toHaveLength(0);
    // Queue records too: the segment jobs (with their text) and the failed finalisation itself.
    await expectAllExpiring(h.connection, id, [meetingKeys.info(id), meetingKeys.participants(id), meetingKeys.segments(id), `bull:${QUEUE.finalize}:${jobIds.finalize(id)}`]);
    expect([...(await keysNaming(h.connection, id)).keys()].filter((k) => k.startsWith(`bull:${QUEUE.segments}:`)).length).toBeGreaterThan(0);
  });

  it('a finished meeting: every key, email markers included, expires within the retention', async () => {
    h = await startHarness({ db: 1, redisUrl: ownRedis.url, cassettes: ['fixtures/cassettes/minutes-comite-projet.json'] });
    const id = `done-${randomUUID().slice(0, 8)}`;
    const { counts } = await h.seedMeeting(id, fixtureMeeting(), { requesterEmail: 'hote@mairie-exemple.fr' });
    await h.queues.endMeeting(h.store, id, 'room_finished', counts);
    await h.waitForStatus(id, 'done');
    await until('the emails to be marked sent', async () => [...(await keysNaming(h!.connection, id)).keys()].filter((k) => k.includes(':sent:')).length === 5);
    // Email jobs (addresses) included: they were queued before the meeting was marked done.
    await expectAllExpiring(h.connection, id, [meetingKeys.info(id), meetingKeys.participants(id), meetingKeys.segments(id), `bull:${QUEUE.finalize}:${jobIds.finalize(id)}`]);
    expect([...(await keysNaming(h.connection, id)).keys()].filter((k) => k.startsWith(`bull:${QUEUE.email}:`)).length).toBe(5);
    // The queues' event streams name its jobs (and once held SMTP replies): bounded by the retention too.
    for (const name of [QUEUE.segments, QUEUE.finalize, QUEUE.email]) {
      const ttl = await h.connection.ttl(`bull:${name}:events`);
      expect(ttl, name).toBeGreaterThan(0);
      expect(ttl, name).toBeLessThanOrEqual(RETENTION_S);
    }
  });

  it('a meeting whose agent died mid-meeting (never ended, never finalised): whatever was written already expires', async () => {
    h = await startHarness({ db: 1, redisUrl: ownRedis.url, cassettes: [], startWorkers: false });
    const id = `orphan-${randomUUID().slice(0, 8)}`;
    const store = new MeetingStore(h.connection, { retentionDays: RETENTION_DAYS });
    // What the agent, the API and the mailer write while a meeting runs, each through its own module.
    await seedMarked(store, id, 'orphan');
    await store.addEvent(id, { type: 'participant_joined', participant: { identity: 'alice', name: 'Alice' }, atMs: 0 });
    await new SequenceCounter(h.connection, id, store.ttlSeconds).next('alice');
    await store.claimRoom(`salle-${id}`, id);
    await requestStop(h.connection, id);
    await new SentMarkers(h.connection, RETENTION_S).markSent(id, 'abc', '<m@x>');
    await expectAllExpiring(h.connection, id, [
      meetingKeys.info(id),
      meetingKeys.participants(id),
      meetingKeys.segments(id),
      meetingKeys.events(id),
      meetingKeys.sequences(id),
      meetingKeys.stopRequested(id),
    ]);
    // The room claim names the room, not the meeting, and expires the same way.
    const claimTtl = await h.connection.ttl(roomKeys.claim(`salle-${id}`));
    expect(claimTtl).toBeGreaterThan(0);
    expect(claimTtl).toBeLessThanOrEqual(RETENTION_S);
  });
});

describe('meeting-agent delete on a meeting still running', () => {
  it('refuses and erases nothing while it runs; once it is over, no key names the meeting', async () => {
    const url = `${ownRedis.url}/2`;
    const redis = createRedisConnection(url);
    const bucket = `delete-live-${randomUUID().slice(0, 8)}`;
    await ensureBucket(s3, bucket);
    const id = `live-${randomUUID().slice(0, 8)}`;
    const room = `salle-${id}`;
    const store = new MeetingStore(redis, { retentionDays: RETENTION_DAYS });
    const queues = new MeetingQueues(redis);
    const env = { ...services, REDIS_URL: url, S3_BUCKET: bucket, RETENTION_DAYS: String(RETENTION_DAYS) };
    const run = async (args: string[]) => {
      const saved = { ...process.env };
      const log = console.log;
      Object.assign(process.env, env);
      console.log = () => undefined;
      try {
        await deleteMain(args);
      } finally {
        console.log = log;
        process.env = saved;
      }
    };
    try {
      // A live meeting as the agent and the API leave it: state, counters, a queued segment, a stop request.
      await seedMarked(store, id, 'live');
      await store.claimRoom(room, id);
      await new SequenceCounter(redis, id, store.ttlSeconds).next('alice');
      await redis.multi().hset(meetingKeys.api(id), 'dispatchId', 'AD_x').expire(meetingKeys.api(id), store.ttlSeconds).exec();
      const [segment] = segmentsFor(id, fixtureMeeting());
      await queues.segments.add('segment', segment!, { jobId: jobIds.segment(id, segment!.segmentId), delay: 3_600_000 });
      const before = [...(await keysNaming(redis, id)).keys()].sort();

      await expect(run([id])).rejects.toThrow(/still being transcribed/);
      expect([...(await keysNaming(redis, id)).keys()].sort()).toEqual(before);
      expect(await store.currentMeetingOfRoom(room)).toBe(id);
      // Stopped, and its finaliser at work: still refused, since the finaliser would write again.
      await store.update(id, (m) => ({ ...m, status: 'finalising', endedAt: new Date().toISOString(), endReason: 'host_stop' }));
      await expect(run([id])).rejects.toThrow(/still being finalised/);
      expect([...(await keysNaming(redis, id)).keys()].sort()).toEqual(before);

      // Stopped and finalised (or failed): now it goes, every key of every kind, the room claim too.
      await requestStop(redis, id);
      await store.update(id, (m) => ({ ...m, status: 'failed', endedAt: new Date().toISOString(), endReason: 'host_stop', failure: 'test' }));
      await run([id]);
      expect([...(await keysNaming(redis, id)).keys()]).toEqual([]);
      expect(await store.currentMeetingOfRoom(room)).toBeNull();
    } finally {
      await queues.close();
      redis.disconnect();
    }
  });
});

describe('retention tags on everything under a meeting\u2019s prefix (spooled audio included)', () => {
  let h: Harness;
  let stt: ReplayServer;

  beforeAll(async () => {
    h = await startHarness({ db: 1, redisUrl: ownRedis.url, cassettes: [], startWorkers: false });
    stt = await startReplayServer({ provider: 'openai', cassettes: [FIXTURE_CASSETTE] });
  }, 60_000);

  afterAll(async () => {
    await stt?.close();
    await h?.close();
  });

  async function tagsOf(key: string): Promise<Record<string, string>> {
    const out = await h.s3.send(new GetObjectTaggingCommand({ Bucket: h.bucket, Key: key }));
    return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key, t.Value]));
  }

  /** Runs utterances through the agent's processor while speech-to-text answers 503: they end in the spool. */
  async function spoolUtterances(meetingId: string, n: number): Promise<void> {
    stt.setFaults({ route: 'openai.transcriptions', status: 503 });
    const processor = spoolingProcessor({ meetingId, sttUrl: stt.url, queues: h.queues, s3: h.s3, bucket: h.bucket, retentionDays: RETENTION_DAYS });
    for (let sequence = 0; sequence < n; sequence++) processor.submit(toneUtterance(sequence));
    await processor.drain(20_000);
    expect(processor.stats.deferred).toBe(n);
  }

  it('spooled audio is tagged like the artefacts, so the lifecycle rule deletes it even if its job never runs', async () => {
    const meetingId = `spool-${randomUUID().slice(0, 8)}`;
    await spoolUtterances(meetingId, 2);
    const keys = await h.artifacts.list(meetingId);
    expect(keys.filter((k) => k.includes('/audio-spool/'))).toHaveLength(2);
    for (const key of keys) expect(await tagsOf(key), key).toEqual({ retention: `${RETENTION_DAYS}d` });
    // And that tag is exactly the one the installed lifecycle rule expires.
    const rules = await installRetentionLifecycle(h.s3, h.bucket, RETENTION_DAYS);
    expect(rules.find((r) => r.ID === retentionRuleId(RETENTION_DAYS))?.Filter?.Tag).toEqual({ Key: 'retention', Value: `${RETENTION_DAYS}d` });
  }, 60_000);

  it('a meeting with artefacts, manifest and spool side by side: not one object under its prefix lacks the tag', async () => {
    const meetingId = `mixed-${randomUUID().slice(0, 8)}`;
    await spoolUtterances(meetingId, 1);
    const artifacts = new MeetingArtifacts(h.s3, { bucket: h.bucket, prefix: 'meetings/', retentionDays: RETENTION_DAYS, linkExpiryHours: 1 });
    await artifacts.store(meetingId, { 'transcript.vtt': 'WEBVTT\n', 'transcript.json': '{}', 'minutes.md': '# Compte rendu\n' });
    const keys = await artifacts.list(meetingId);
    expect(keys.map((k) => k.slice(`meetings/${meetingId}/`.length)).sort()).toEqual([`audio-spool/${segmentId('alice', 0)}.flac`, 'manifest.json', 'minutes.md', 'transcript.json', 'transcript.vtt']);
    const untagged = [];
    for (const key of keys) if ((await tagsOf(key)).retention !== `${RETENTION_DAYS}d`) untagged.push(key);
    expect(untagged).toEqual([]);
  }, 60_000);
});

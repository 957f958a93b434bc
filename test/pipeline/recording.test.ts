/**
 * The recording mode (`meeting-agent transcribe`) on the fixture's mixed file, and the right to
 * erasure (`meeting-agent delete`), on real Redis, MinIO and SMTP with replayed speech-to-text
 * and Mistral.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseTranscribeArgs, runTranscribe } from '../../src/cli/transcribe.js';
import { main as deleteMain } from '../../src/cli/delete.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startSmtpReceiver, type SmtpReceiver } from '../../src/local/smtp-receiver.js';
import { MeetingStore } from '../../src/meeting/meeting-store.js';
import { MinutesSchema } from '../../src/pipelines/minutes/minutes-schema.js';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';
import { MeetingQueues } from '../../src/pipelines/queues/producers.js';
import { jobIds } from '../../src/pipelines/queues/queues.js';
import { parseTranscriptJson } from '../../src/pipelines/transcript/render-json.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { ensureBucket, installRetentionLifecycle, MeetingArtifacts, retentionRuleId } from '../../src/storage/meeting-artifacts.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { FAST_BACKOFF } from './harness.js';
import { fixtureMeeting, loadFixtureScript, MODEL, segmentsFor } from './meeting-fixtures.js';
import { GetObjectTaggingCommand, GetBucketLifecycleConfigurationCommand, PutObjectCommand } from '@aws-sdk/client-s3';

const script = loadFixtureScript();
const words = (text: string) => text.toLowerCase().split(/[^\p{L}\p{N}']+/u).filter((w) => w !== '');
let stt: ReplayServer;
let mistral: ReplayServer;
let smtp: SmtpReceiver;
const bucket = `recording-${randomBytes(4).toString('hex')}`;

function env(): NodeJS.ProcessEnv {
  const s = inject('services');
  return {
    ...s,
    REDIS_URL: `${s.REDIS_URL}/11`,
    S3_BUCKET: bucket,
    STT_BASE_URL: `${stt.url}/v1`,
    STT_PROVIDER: 'openai-compatible',
    MISTRAL_API_KEY: 'test-key',
    MISTRAL_SERVER_URL: mistral.url,
    MISTRAL_MODEL: MODEL,
    SMTP_URL: smtp.url,
    MAIL_FROM: 'no-reply@mairie-exemple.fr',
  };
}

beforeAll(async () => {
  stt = await startReplayServer({ provider: 'openai', cassettes: ['fixtures/cassettes/comite-projet.json'] });
  mistral = await startReplayServer({ provider: 'mistral', cassettes: ['fixtures/cassettes/minutes-recording.json', 'fixtures/cassettes/minutes-comite-projet.json'] });
  smtp = await startSmtpReceiver();
  const s = inject('services');
  await ensureBucket(createS3Client(s), bucket);
});
afterAll(async () => {
  await stt?.close();
  await mistral?.close();
  await smtp?.close();
});

describe('meeting-agent transcribe', () => {
  it('rejects bad arguments with a clear message', () => {
    expect(() => parseTranscribeArgs([])).toThrow(/one recording, or one --speaker/);
    expect(() => parseTranscribeArgs(['a.ogg', '--email', 'not-an-address'])).toThrow(/--email/);
    expect(() => parseTranscribeArgs(['a.ogg', '--language', 'french'])).toThrow(/--language/);
    expect(() => parseTranscribeArgs(['a.ogg', '--speaker', 'Alice=a.ogg'])).toThrow(/not both/);
    expect(() => parseTranscribeArgs(['--speaker', 'alice.ogg'])).toThrow(/--speaker: must be "Name=file"/);
    expect(parseTranscribeArgs(['--speaker', 'Alice Martin=a.ogg@12.5', '--speaker', 'Bruno=b.ogg']).speakers).toEqual([
      { name: 'Alice Martin', file: 'a.ogg', offsetMs: 12_500 },
      { name: 'Bruno', file: 'b.ogg', offsetMs: 0 },
    ]);
  });

  it('needs only the speech-to-text and Mistral settings; an option needing more names the option and the setting', async () => {
    expect(() => loadConfig('transcribe', {})).toThrow(ConfigError);
    try {
      loadConfig('transcribe', {});
    } catch (e) {
      expect((e as ConfigError).problems.map((p) => p.split(' ')[0])).toEqual(['STT_BASE_URL', 'MISTRAL_API_KEY']);
    }
    const minimal = loadConfig('transcribe', { STT_BASE_URL: `${stt.url}/v1`, MISTRAL_API_KEY: 'test-key' });
    const file = 'fixtures/meetings/comite-projet/mixed.opus';
    const refused = runTranscribe(parseTranscribeArgs([file, '--email', 'a@example.org']), minimal, { log: () => undefined, progress: () => undefined });
    await expect(refused).rejects.toThrow(ConfigError);
    await expect(refused).rejects.toThrow(/--email needs SMTP_URL[\s\S]*--email needs MAIL_FROM/);
    const withBucket = runTranscribe(parseTranscribeArgs([file]), { ...minimal, S3_BUCKET: 'meetings' }, { log: () => undefined, progress: () => undefined });
    await expect(withBucket).rejects.toThrow(/S3_BUCKET is set, .* needs S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY/);
  });

  it('transcribes the mixed recording utterance by utterance, sends only speech, stores, and emails the minutes', async () => {
    const out = mkdtempSync(join(tmpdir(), 'transcribe-'));
    const lines: string[] = [];
    const config = loadConfig('transcribe', env());
    const args = parseTranscribeArgs([`fixtures/meetings/comite-projet/mixed.opus`, '--out', out, '--email', 'secretariat@mairie-exemple.fr', '--meeting-id', 'rec-comite']);
    const result = await runTranscribe(args, config, { mistral: { backoff: FAST_BACKOFF }, log: (l) => lines.push(l), progress: () => undefined });

    expect(readdirSync(out).sort()).toEqual(['manifest.json', 'minutes.json', 'minutes.md', 'transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
    // Every utterance of the ground truth, once, in order.
    const transcript = parseTranscriptJson(readFileSync(join(out, 'transcript.json'), 'utf8'));
    expect(words(transcript.turns.map((t) => t.text).join(' '))).toEqual(words(script.utterances.map((u) => u.text).join(' ')));
    expect(new Set(transcript.turns.map((t) => t.speaker.name))).toEqual(new Set(['Enregistrement']));
    expect(Math.abs((transcript.turns[0]?.segments[0]?.startMs ?? 0) - 1000)).toBeLessThan(50);
    const minutes = MinutesSchema.parse(JSON.parse(readFileSync(join(out, 'minutes.json'), 'utf8')));
    expect(minutes.decisions.length).toBeGreaterThan(0);

    // Only speech went to speech-to-text: at most 1.1 x the speech of the ground truth, and said so.
    const speechMs = script.utterances.reduce((n, u) => n + u.endMs - u.startMs, 0);
    expect(result.recording.sentMs).toBeLessThanOrEqual(1.1 * speechMs);
    expect(result.recording.recordingMs).toBe(script.durationMs);
    expect(lines.at(-1)).toMatch(/^Audio sent to speech-to-text: \d+\.\d s of a 147\.8 s recording/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { recording: { sentMs: number; recordingMs: number } };
    expect(manifest.recording).toMatchObject({ sentMs: result.recording.sentMs, recordingMs: script.durationMs });

    const [mail] = await smtp.waitFor(1);
    expect(mail?.envelopeTo).toEqual(['secretariat@mairie-exemple.fr']);
    expect(result.deliveries).toEqual([{ address: 'secretariat@mairie-exemple.fr', outcome: 'sent', reply: null }]);
    const link = [...String(mail?.parsed.html).matchAll(/href="([^"]+)"/g)][0]?.[1]?.replace(/&amp;/g, '&');
    expect(await (await fetch(link as string)).text()).toBe(readFileSync(join(out, 'minutes.md'), 'utf8'));
  });

  it('gives the same lines from the four per-speaker files, each attributed to its speaker, David silent and nothing of him sent', async () => {
    const out = mkdtempSync(join(tmpdir(), 'transcribe-speakers-'));
    const lines: string[] = [];
    // Only the speech-to-text and Mistral settings: no Redis, S3, SMTP or LiveKit at all.
    const { STT_BASE_URL, STT_PROVIDER, MISTRAL_API_KEY, MISTRAL_SERVER_URL, MISTRAL_MODEL } = env();
    const config = loadConfig('transcribe', { STT_BASE_URL, STT_PROVIDER, MISTRAL_API_KEY, MISTRAL_SERVER_URL, MISTRAL_MODEL });
    const speakers = script.participants.map((p) => ['--speaker', `${p.name}=fixtures/meetings/comite-projet/${p.identity}.opus`]).flat();
    const result = await runTranscribe(parseTranscribeArgs([...speakers, '--out', out]), config, { mistral: { backoff: FAST_BACKOFF }, log: (l) => lines.push(l), progress: () => undefined });

    const transcript = parseTranscriptJson(readFileSync(join(out, 'transcript.json'), 'utf8'));
    const segments = transcript.turns.flatMap((t) => t.segments.map((s) => ({ ...s, speaker: t.speaker.name })));
    expect(words(segments.map((s) => s.text).join(' '))).toEqual(words(script.utterances.map((u) => u.text).join(' ')));
    const names = new Map(script.participants.map((p) => [p.identity, p.name]));
    for (const u of script.utterances) {
      const s = segments.find((x) => x.text === u.text);
      expect(s?.speaker, u.id).toBe(names.get(u.speaker));
      expect(Math.abs((s?.startMs ?? 0) - u.startMs), u.id).toBeLessThan(100);
    }
    const david = result.recording.tracks.find((t) => t.speaker === 'David Moreau');
    expect(david).toMatchObject({ utterances: 0, sentMs: 0 });
    const speechMs = script.utterances.reduce((n, u) => n + u.endMs - u.startMs, 0);
    expect(result.recording.sentMs).toBeLessThanOrEqual(1.1 * speechMs);
    expect(lines.at(-1)).toMatch(/^Audio sent to speech-to-text: /);
  });
});

describe('storage retention and meeting-agent delete', () => {
  it('tags artefacts for retention and installs the lifecycle rule once, keeping other rules', async () => {
    const s3 = createS3Client(inject('services'));
    await installRetentionLifecycle(s3, bucket, 30);
    await installRetentionLifecycle(s3, bucket, 30);
    await installRetentionLifecycle(s3, bucket, 7);
    const rules = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? [];
    expect(rules.map((r) => r.ID).sort()).toEqual([retentionRuleId(30), retentionRuleId(7)].sort());
    expect(rules.find((r) => r.ID === retentionRuleId(30))).toMatchObject({ Status: 'Enabled', Expiration: { Days: 30 }, Filter: { Tag: { Key: 'retention', Value: '30d' } } });
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'meetings/rec-comite/minutes.json' }));
    expect(tags.TagSet).toEqual([{ Key: 'retention', Value: '30d' }]);
  });

  it('erases every object of the meeting (spooled audio included) and its Redis state, and says so', async () => {
    const e = env();
    const s3 = createS3Client(inject('services'));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'meetings/rec-comite/audio-spool/abc-00001.flac', Body: 'x' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'meetings/rec-comite-other/minutes.md', Body: 'other meeting' }));
    // A neighbour whose queue job ids start with this meeting's ("seg_rec-comite_...").
    const neighbourRedis = createRedisConnection(e.REDIS_URL as string);
    const neighbourQueues = new MeetingQueues(neighbourRedis);
    const [neighbourSegment] = segmentsFor('rec-comite_x', fixtureMeeting());
    await neighbourQueues.addSegment(neighbourSegment!);
    const printed: string[] = [];
    const original = console.log;
    const saved = { ...process.env };
    Object.assign(process.env, e);
    console.log = (...a: unknown[]) => printed.push(a.join(' '));
    try {
      await deleteMain(['rec-comite']);
    } finally {
      console.log = original;
      process.env = saved;
    }
    const text = printed.join('\n');
    expect(text).toMatch(/8 object\(s\) deleted/);
    expect(text).toContain('meetings/rec-comite/audio-spool/abc-00001.flac');
    expect(text).toMatch(/[1-9]\d* Redis key\(s\) deleted/);
    const artifacts = new MeetingArtifacts(s3, { bucket, prefix: 'meetings/', retentionDays: 30, linkExpiryHours: 1 });
    expect(await artifacts.list('rec-comite')).toEqual([]);
    expect(await artifacts.list('rec-comite-other')).toHaveLength(1);
    const redis = createRedisConnection(e.REDIS_URL as string);
    expect(await new MeetingStore(redis, { retentionDays: 30 }).get('rec-comite')).toBeNull();
    expect(await neighbourQueues.segments.getJob(jobIds.segment('rec-comite_x', neighbourSegment!.segmentId))).toBeDefined();
    await neighbourQueues.close();
    neighbourRedis.disconnect();
    redis.disconnect();
    await expect(deleteMain(['../other'])).rejects.toThrow(/Invalid meeting id/);
  });
});

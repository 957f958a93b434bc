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
import { parseTranscribeArgs, runTranscribe, transcribeRecording } from '../../src/cli/transcribe.js';
import { createSpeechToText } from '../../src/pipelines/stt/index.js';
import { cassetteWithSpeakers, mistralConfig } from '../stt/harness.js';
import { main as deleteMain } from '../../src/cli/delete.js';
import { loadConfig } from '../../src/config.js';
import { startSmtpReceiver, type SmtpReceiver } from '../../src/local/smtp-receiver.js';
import { MeetingStore } from '../../src/meeting/meeting-store.js';
import { MinutesSchema } from '../../src/pipelines/minutes/minutes-schema.js';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';
import { MeetingQueues } from '../../src/pipelines/queues/producers.js';
import { jobIds } from '../../src/pipelines/queues/queue-names.js';
import { parseTranscriptJson } from '../../src/pipelines/transcript/render-json.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { ensureBucket, installRetentionLifecycle, MeetingArtifacts, retentionRuleId } from '../../src/storage/meeting-artifacts.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { FAST_BACKOFF } from './harness.js';
import { fixtureMeeting, loadFixtureScript, MODEL, segmentsFor } from './meeting-fixtures.js';
import { GetObjectTaggingCommand, GetBucketLifecycleConfigurationCommand, PutObjectCommand } from '@aws-sdk/client-s3';

const script = loadFixtureScript();
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
  mistral = await startReplayServer({ provider: 'mistral', cassettes: ['fixtures/cassettes/minutes-recording.json'] });
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
    expect(() => parseTranscribeArgs([])).toThrow(/Usage: meeting-agent transcribe/);
    expect(() => parseTranscribeArgs(['a.ogg', '--email', 'not-an-address'])).toThrow(/--email/);
    expect(() => parseTranscribeArgs(['a.ogg', '--language', 'french'])).toThrow(/--language/);
  });

  it('transcribes the mixed recording in pieces, writes the artefacts, stores them and emails the minutes', async () => {
    const out = mkdtempSync(join(tmpdir(), 'transcribe-'));
    const lines: string[] = [];
    const config = loadConfig('transcribe', env());
    const args = parseTranscribeArgs([`fixtures/meetings/comite-projet/mixed.opus`, '--out', out, '--email', 'secretariat@mairie-exemple.fr', '--max-piece-seconds', '60', '--meeting-id', 'rec-comite']);
    const result = await runTranscribe(args, config, { mistral: { backoff: FAST_BACKOFF }, log: (l) => lines.push(l) });

    expect(readdirSync(out).sort()).toEqual(['minutes.json', 'minutes.md', 'transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
    expect(lines.join('\n')).toMatch(/in 3 piece\(s\)/);
    // Every utterance of the ground truth, once, in order, despite two cuts.
    const transcript = parseTranscriptJson(readFileSync(join(out, 'transcript.json'), 'utf8'));
    expect(transcript.turns.map((t) => t.text).join(' ')).toBe(script.utterances.map((u) => u.text).join(' '));
    expect(new Set(transcript.turns.map((t) => t.speaker.name))).toEqual(new Set(['Enregistrement']));
    const firstSegment = transcript.turns[0]?.segments[0];
    expect(Math.abs((firstSegment?.startMs ?? 0) - 1000)).toBeLessThan(50);
    const minutes = MinutesSchema.parse(JSON.parse(readFileSync(join(out, 'minutes.json'), 'utf8')));
    expect(minutes.decisions[0]?.text).toBe('Le pilote démarre le lundi 4 janvier avec le service urbanisme.');
    expect(minutes.actionItems.every((a) => a.owner === null)).toBe(true);

    const [mail] = await smtp.waitFor(1);
    expect(mail?.envelopeTo).toEqual(['secretariat@mairie-exemple.fr']);
    expect(result.emailed).toEqual(['secretariat@mairie-exemple.fr']);
    const link = [...String(mail?.parsed.html).matchAll(/href="([^"]+)"/g)][0]?.[1]?.replace(/&amp;/g, '&');
    expect(await (await fetch(link as string)).text()).toBe(readFileSync(join(out, 'minutes.md'), 'utf8'));
  });
});

describe('meeting-agent transcribe with a provider that diarizes (Voxtral)', () => {
  it('names each voice once across pieces, "Intervenant n" in order of appearance, one voice per person', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'diarize-'));
    const voxtral = await startReplayServer({ provider: 'mistral', cassettes: [await cassetteWithSpeakers(join(dir, 'speakers.json'))] });
    try {
      const recording = await transcribeRecording('fixtures/meetings/comite-projet/mixed.opus', {
        meetingId: 'rec-diarized',
        language: 'fr',
        stt: createSpeechToText(mistralConfig(voxtral.url)),
        maxPieceMs: 60_000,
        startedAt: '2025-12-01T09:00:00.000Z',
      });
      expect(recording.pieces).toHaveLength(3);
      expect(recording.segments.map((s) => s.text).join(' ')).toBe(script.utterances.map((u) => u.text).join(' '));
      // The provider's labels become stable, anonymous names: the same voice in another piece is
      // the same speaker, and each speaker is one person of the ground truth.
      const firstSpeakers = [...new Set(script.utterances.map((u) => u.speaker))];
      expect(recording.participants).toEqual(firstSpeakers.map((_, i) => ({ identity: `speaker-${i + 1}`, name: `Intervenant ${i + 1}` })));
      const personOf = new Map<string, string>();
      for (const segment of recording.segments) {
        const truth = script.utterances.find((u) => u.text === segment.text)!;
        expect(personOf.get(segment.participant.identity) ?? truth.speaker).toBe(truth.speaker);
        personOf.set(segment.participant.identity, truth.speaker);
      }
      expect(new Set(personOf.values()).size).toBe(firstSpeakers.length);
      // Sequence numbers count per speaker, so segment ids stay unique.
      expect(new Set(recording.segments.map((s) => s.segmentId)).size).toBe(recording.segments.length);
    } finally {
      await voxtral.close();
    }
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

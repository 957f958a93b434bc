/**
 * Every object under a meeting's prefix carries the retention tag the bucket's lifecycle rule
 * filters on, the audio the agent spools while speech-to-text is down included (issue 12, kind 4c).
 * Real MinIO, Redis and ffmpeg; speech-to-text replayed, answering 503.
 */
import { GetObjectTaggingCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UtteranceProcessor } from '../../src/agent/utterance-processor.js';
import { createLogger } from '../../src/logging.js';
import { createSpeechToText } from '../../src/pipelines/stt/index.js';
import { segmentId } from '../../src/meeting/segment.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { MeetingArtifacts, retentionRuleId } from '../../src/storage/meeting-artifacts.js';
import { installRetentionLifecycle } from '../../src/storage/meeting-artifacts.js';
import { FIXTURE_CASSETTE } from '../agent/harness.js';
import { startHarness, type Harness } from './harness.js';

const RETENTION_DAYS = 30;

describe('retention tags on everything under a meeting\u2019s prefix', () => {
  let h: Harness;
  let stt: ReplayServer;

  beforeAll(async () => {
    h = await startHarness({ db: 12, cassettes: [], startWorkers: false });
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
    const processor = new UtteranceProcessor({
      meetingId,
      language: 'fr',
      stt: createSpeechToText(
        { STT_PROVIDER: 'openai-compatible', STT_BASE_URL: `${stt.url}/v1`, STT_API_KEY: '', STT_MODEL: 'whisper-large-v3', STT_CONCURRENCY: 2, STT_TIMEOUT_MS: 5_000 },
        { retry: { maxAttempts: 1 } },
      ),
      queues: h.queues,
      s3: h.s3,
      bucket: h.bucket,
      prefix: 'meetings/',
      retentionDays: RETENTION_DAYS,
      captions: async () => undefined,
      liveDeadlineMs: 5_000,
      logger: createLogger('test', 'silent'),
    });
    for (let sequence = 0; sequence < n; sequence++) {
      // One second of a 440 Hz tone: what matters is that it cannot be transcribed now.
      const samples = Int16Array.from({ length: 16_000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16_000)));
      processor.submit({
        participant: { identity: 'alice', name: 'Alice' },
        trackSid: 'TR_x',
        sequence,
        segmentId: segmentId('alice', sequence),
        startMs: sequence * 2000,
        endMs: sequence * 2000 + 1000,
        startedAt: new Date().toISOString(),
        audio: { samples, sampleRate: 16_000, channels: 1 },
        cutAt: performance.now(),
      });
    }
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

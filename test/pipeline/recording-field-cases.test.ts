/**
 * The recording path's field cases (fixtures/field-cases/, values from their README), and one case
 * of our own per kind: bad input, minutes that fail, a refused recipient, a service that asks to
 * wait, a piece too large, diarization labels across pieces, and the Redis keys every failure
 * leaves (each with a TTL). Real Redis, MinIO and SMTP; speech-to-text and Mistral replayed from
 * the cases' scripts through the real clients.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseTranscribeArgs, runTranscribe, TranscribeError, type TranscribeResult } from '../../src/cli/transcribe.js';
import { loadConfig } from '../../src/config.js';
import { startSmtpReceiver, type SmtpReceiver } from '../../src/local/smtp-receiver.js';
import { MeetingStore } from '../../src/meeting/meeting-store.js';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';
import { parseTranscriptJson } from '../../src/pipelines/transcript/render-json.js';
import { ChatScript, TranscriptionScript, type RouteScript } from '../../src/replay/scripted.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import type { FaultRuleInput, RouteName } from '../../src/replay/faults.js';
import { ensureBucket, MeetingArtifacts } from '../../src/storage/meeting-artifacts.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { FAST_BACKOFF } from './harness.js';
import { MODEL } from './meeting-fixtures.js';

const CASES = 'fixtures/field-cases';
const RETENTION_DAYS = 7;
const bucket = `field-${randomBytes(4).toString('hex')}`;
const json = (path: string): unknown => JSON.parse(readFileSync(join(CASES, path), 'utf8'));
let redis: Redis;
const servers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  redis = createRedisConnection(`${inject('services').REDIS_URL}/11`);
  await ensureBucket(createS3Client(inject('services')), bucket);
});
afterAll(async () => {
  for (const s of servers) await s.close();
  redis?.disconnect();
});

interface Case {
  stt?: unknown;
  sttProvider?: 'openai' | 'mistral';
  sttFaults?: FaultRuleInput[];
  sttCassettes?: string[];
  mistral?: unknown;
  refuse?: Record<string, string | { reply: string; times: number }>;
  env?: NodeJS.ProcessEnv;
  /** Keep Mistral's own backoff (the case is about Retry-After). */
  realBackoff?: boolean;
}

interface Run {
  result: TranscribeResult | null;
  error: TranscribeError | null;
  lines: string[];
  progress: string[];
  out: string;
  meetingId: string;
  stt: ReplayServer;
  mistral: ReplayServer;
  smtp: SmtpReceiver;
  sttTimes: { at: number; status: number | 'dropped' }[];
}

/** Runs the same command again on the same meeting and --out, with a fresh speech-to-text script. */
async function runAgain(first: Run, stt: unknown): Promise<Run> {
  return run([join(CASES, 'common/spoken-words-70s.ogg')], { stt, mistral: { answers: [] }, env: { STT_CONCURRENCY: '1' } }, { out: first.out, meetingId: first.meetingId });
}

async function run(argv: string[], c: Case, reuse?: { out: string; meetingId: string }): Promise<Run> {
  const sttProvider = c.sttProvider ?? 'openai';
  const sttTimes: Run['sttTimes'] = [];
  const onRequest = (e: { route: string; status: number | 'dropped' }) => {
    if (e.route.endsWith('transcriptions')) sttTimes.push({ at: Date.now(), status: e.status });
  };
  // The field cases' answer files: `stt*.json` for the transcription route; `mistral*.json` for chat
  // (`answers`) and, for Voxtral, transcriptions answered in order (`transcriptions`).
  const mistralFile = (c.mistral ?? {}) as { answers?: unknown[]; transcriptions?: unknown[] };
  const sttRoute: RouteName = sttProvider === 'mistral' ? 'mistral.transcriptions' : 'openai.transcriptions';
  const scripts: Partial<Record<RouteName, RouteScript>> = {};
  if (mistralFile.answers?.length) scripts['mistral.chat'] = { kind: 'chat', answers: ChatScript.parse(mistralFile).answers };
  if (c.stt !== undefined) scripts[sttRoute] = { kind: 'transcription', script: TranscriptionScript.parse(c.stt) };
  else if (mistralFile.transcriptions) scripts[sttRoute] = { kind: 'transcription', script: TranscriptionScript.parse({ answers: mistralFile.transcriptions.map((response) => ({ response })) }) };
  const pick = (provider: 'openai' | 'mistral') => Object.fromEntries(Object.entries(scripts).filter(([route]) => route.startsWith(provider === 'openai' ? 'openai.' : 'mistral.')));
  const mistral = await startReplayServer({
    provider: 'mistral',
    scripts: pick('mistral'),
    ...(sttProvider === 'mistral' ? { onRequest, faults: c.sttFaults ?? [] } : {}),
  });
  const stt =
    sttProvider === 'mistral'
      ? mistral
      : await startReplayServer({ provider: 'openai', scripts: pick('openai'), cassettes: c.sttCassettes ?? [], faults: c.sttFaults ?? [], onRequest });
  const smtp = await startSmtpReceiver({ ...(c.refuse ? { refuse: c.refuse } : {}) });
  servers.push(stt, mistral, smtp);
  const s = inject('services');
  const out = reuse?.out ?? mkdtempSync(join(tmpdir(), 'field-case-'));
  const meetingId = reuse?.meetingId ?? `fc-${randomBytes(4).toString('hex')}`;
  const config = loadConfig('transcribe', {
    ...s,
    REDIS_URL: `${s.REDIS_URL}/11`,
    S3_BUCKET: bucket,
    RETENTION_DAYS: String(RETENTION_DAYS),
    STT_PROVIDER: sttProvider === 'mistral' ? 'mistral' : 'openai-compatible',
    STT_BASE_URL: `${stt.url}/v1`,
    STT_API_KEY: 'test-key',
    MISTRAL_API_KEY: 'test-key',
    MISTRAL_SERVER_URL: mistral.url,
    MISTRAL_MODEL: MODEL,
    SMTP_URL: smtp.url,
    MAIL_FROM: 'no-reply@mairie-exemple.fr',
    ...c.env,
  });
  const lines: string[] = [];
  const progress: string[] = [];
  let result: TranscribeResult | null = null;
  let error: TranscribeError | null = null;
  try {
    result = await runTranscribe(parseTranscribeArgs([...argv, '--out', out, '--meeting-id', meetingId]), config, {
      ...(c.realBackoff ? {} : { mistral: { backoff: FAST_BACKOFF } }),
      log: (l) => lines.push(l),
      progress: (l) => progress.push(l),
      emailRetry: { attempts: 3, delayMs: 200 },
    });
  } catch (e) {
    if (!(e instanceof TranscribeError)) throw e;
    error = e;
  }
  return { result, error, lines, progress, out, meetingId, stt, mistral, smtp, sttTimes };
}

/** Every Redis key of the meeting (ours and any queue's), with its TTL in seconds. */
async function keysOf(meetingId: string): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${meetingId}*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) found[k] = await redis.ttl(k);
  } while (cursor !== '0');
  return found;
}

function expectEveryKeyToExpire(keys: Record<string, number>): void {
  expect(Object.keys(keys).length).toBeGreaterThan(0);
  for (const [key, ttl] of Object.entries(keys)) {
    expect(ttl, key).toBeGreaterThan(0);
    expect(ttl, key).toBeLessThanOrEqual(RETENTION_DAYS * 86_400);
  }
  expect(Object.keys(keys).filter((k) => k.startsWith('bull:'))).toEqual([]);
}

/** A 44-byte WAV (RIFF, PCM 16 kHz mono 16-bit) whose data chunk is empty. */
function wavHeaderWithoutSamples(): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(16_000, 24);
  h.writeUInt32LE(32_000, 28); // bytes per second
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34); // bits per sample
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(0, 40);
  return h;
}

const TWO_TURNS = [
  'Bonjour à tous. Nous faisons le point sur le projet de visioconférence. Bruno installe les serveurs avant vendredi.',
  'Chloé prépare la note de cadrage pour le comité. Nous décidons de lancer le pilote en janvier avec le service urbanisme.',
];

describe('field case unusable-files: one clear message, nothing sent, nothing kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unusable-'));
  // Our own bad files of the same kind: a WAV cut short (its header promises 14.5 s), a folder, and
  // a WAV whose header is whole but whose data chunk holds no sample (what a recorder stopped at once writes).
  const cutShort = join(dir, 'coupe.wav');
  writeFileSync(cutShort, readFileSync(join(CASES, 'common/meeting-2-turns.wav')).subarray(0, 200_000));
  const noSamples = join(dir, 'vide.wav');
  writeFileSync(noSamples, wavHeaderWithoutSamples());
  const cases: [string, RegExp][] = [
    [join(CASES, 'unusable-files/empty.wav'), /empty \(0 bytes\)/],
    [join(CASES, 'unusable-files/compte-rendu.pdf'), /not an audio or video file ffmpeg can read \(ffprobe: Invalid data found when processing input\)/],
    [join(CASES, 'unusable-files/video-sans-son.mp4'), /no audio track \(it holds video only\)/],
    [join(CASES, 'unusable-files/introuvable.wav'), /not found/],
    [cutShort, /cut short or damaged: ffmpeg decoded 6\.2 s of audio and reported "Packet corrupt/],
    [dir, /not a file/],
    [noSamples, /its audio track \(pcm_s16le\) decodes to no samples at all/],
  ];
  for (const [file, message] of cases) {
    it(`${file.split('/').at(-1)}: ${message.source.slice(0, 40)}`, async () => {
      const r = await run([file, '--email', 'a@example.org'], { stt: json('minutes-cut-off/stt.json'), mistral: json('minutes-cut-off/mistral.json') });
      expect(r.error?.exitCode).toBe(3);
      expect(r.error?.message).toMatch(message);
      expect(r.error?.message).not.toMatch(/exit code/);
      expect(r.stt.stats().calls).toEqual({});
      expect(r.mistral.stats().calls).toEqual({});
      expect(r.smtp.messages).toEqual([]);
      expect(await keysOf(r.meetingId)).toEqual({});
      expect(readdirSync(r.out)).toEqual([]);
    });
  }

  it('exits non-zero from the command line with the message alone', () => {
    const s = inject('services');
    const p = spawnSync('npx', ['tsx', 'src/cli.ts', 'transcribe', join(CASES, 'unusable-files/compte-rendu.pdf')], {
      encoding: 'utf8',
      env: { ...process.env, REDIS_URL: '', S3_BUCKET: '', STT_BASE_URL: 'http://127.0.0.1:9/v1', MISTRAL_API_KEY: 'k', S3_ENDPOINT: s.S3_ENDPOINT },
    });
    expect(p.status).toBe(3);
    expect(p.stderr.trim().split('\n').filter((l) => !/npm warn|NodeVersionSupportWarning|AWS SDK|node >=22|upgrade|a\.co|trace-warnings|^$/i.test(l))).toEqual([
      `${join(CASES, 'unusable-files/compte-rendu.pdf')}: not an audio or video file ffmpeg can read (ffprobe: Invalid data found when processing input)`,
    ]);
  });
});

describe('field case minutes-cut-off: the transcript survives the minutes', () => {
  it('exits non-zero naming the truncation; --out holds the transcript with both turns; no email; every key expires', async () => {
    const r = await run([join(CASES, 'common/meeting-2-turns.wav'), '--email', 'a@example.org'], { stt: json('minutes-cut-off/stt.json'), mistral: json('minutes-cut-off/mistral.json') });
    expect(r.error?.exitCode).toBe(5);
    expect(r.error?.message).toMatch(/cut off \(finish_reason=length\)/);
    expect(r.error?.message).toContain(r.out);
    expect(readdirSync(r.out).sort()).toEqual(['manifest.json', 'transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
    const transcript = parseTranscriptJson(readFileSync(join(r.out, 'transcript.json'), 'utf8'));
    expect(transcript.turns.map((t) => t.text).join(' ')).toBe(TWO_TURNS.join(' '));
    for (const f of ['transcript.vtt', 'transcript.srt', 'transcript.md']) {
      const text = readFileSync(join(r.out, f), 'utf8').replace(/\s+/g, ' ');
      for (const turn of TWO_TURNS) expect(text, f).toContain(turn);
    }
    expect(r.smtp.messages).toEqual([]);
    const info = await new MeetingStore(redis, { retentionDays: RETENTION_DAYS }).get(r.meetingId);
    expect(info?.status).toBe('failed');
    expect(info?.failure).toMatch(/finish_reason=length/);
    expectEveryKeyToExpire(await keysOf(r.meetingId));
  });
});

describe('(own case) minutes refused by the model provider: the transcript survives too', () => {
  it('exits 5 naming the cause (a revoked Mistral key, never retried); --out and S3 hold the transcript; no email; every key expires', async () => {
    const refused = { status: 401, body: { object: 'error', message: 'Unauthorized', type: 'invalid_api_key', param: null, code: '1000' } };
    const r = await run([join(CASES, 'common/meeting-2-turns.wav'), '--email', 'a@example.org'], { stt: json('recipient-refused/stt.json'), mistral: { answers: [refused] } });
    expect(r.error?.exitCode).toBe(5);
    expect(r.error?.message).toMatch(/^The minutes could not be written: .*401/);
    expect(r.error?.message).toContain(`The transcript is in ${r.out} (transcript.json, transcript.vtt, transcript.srt, transcript.md) and S3; no email was sent.`);
    expect(r.mistral.stats().calls).toEqual({ 'mistral.chat': 1 });
    expect(readdirSync(r.out).sort()).toEqual(['manifest.json', 'transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt']);
    const transcript = parseTranscriptJson(readFileSync(join(r.out, 'transcript.json'), 'utf8'));
    expect(transcript.turns.map((t) => t.text).join(' ')).toBe(TWO_TURNS.join(' '));
    const inS3 = new MeetingArtifacts(createS3Client(inject('services')), { bucket, prefix: 'meetings/', retentionDays: RETENTION_DAYS, linkExpiryHours: 1 });
    expect(await inS3.read(r.meetingId, 'transcript.json')).toBe(readFileSync(join(r.out, 'transcript.json'), 'utf8'));
    expect(r.smtp.messages).toEqual([]);
    const info = await new MeetingStore(redis, { retentionDays: RETENTION_DAYS }).get(r.meetingId);
    expect(info?.status).toBe('failed');
    expect(info?.failure).toMatch(/401/);
    const keys = await keysOf(r.meetingId);
    expectEveryKeyToExpire(keys);
    expect(Object.keys(keys).sort()).toEqual([`meeting-agent:meeting:${r.meetingId}`, `meeting-agent:meeting:${r.meetingId}:participants`, `meeting-agent:meeting:${r.meetingId}:segments`]);
  });
});

describe('field case recipient-refused: every recipient handled once', () => {
  it('alice receives exactly one email; the refused address is named and recorded; the meeting is done', async () => {
    const refuse = json('recipient-refused/reject.json') as Record<string, string>;
    const r = await run([join(CASES, 'common/meeting-2-turns.wav'), '--email', 'ancien.agent@example.org', '--email', 'alice@example.org'], {
      stt: json('recipient-refused/stt.json'),
      mistral: json('recipient-refused/mistral.json'),
      refuse,
    });
    await new Promise((res) => setTimeout(res, 300));
    expect(r.smtp.messages.map((m) => m.envelopeTo)).toEqual([['alice@example.org']]);
    expect(r.error?.exitCode).toBe(6);
    expect(r.lines.join('\n')).toContain('NOT emailed to ancien.agent@example.org: the mail server refused this address (550 5.1.1 Mailbox unavailable)');
    expect(r.lines.join('\n')).toContain('Emailed to alice@example.org.');
    const store = new MeetingStore(redis, { retentionDays: RETENTION_DAYS });
    expect((await store.get(r.meetingId))?.status).toBe('done');
    expect(Object.values(await store.deliveries(r.meetingId)).map((d) => [d.address, d.outcome, d.reply]).sort()).toEqual([
      ['alice@example.org', 'sent', null],
      ['ancien.agent@example.org', 'refused', '550 5.1.1 Mailbox unavailable'],
    ]);
    expectEveryKeyToExpire(await keysOf(r.meetingId));
  });

  it('(own case) a policy refusal is not retried, a temporary one is, and everyone else gets theirs once', async () => {
    const r = await run([join(CASES, 'common/meeting-2-turns.wav'), '--email', 'refuse@example.org', '--email', 'busy@example.org', '--email', 'ok@example.org'], {
      stt: json('recipient-refused/stt.json'),
      mistral: json('recipient-refused/mistral.json'),
      refuse: { 'refuse@example.org': '553 5.7.1 Sender not allowed', 'busy@example.org': { reply: '451 4.3.0 Try again later', times: 1 } },
    });
    expect(r.smtp.messages.map((m) => m.envelopeTo[0]).sort()).toEqual(['busy@example.org', 'ok@example.org']);
    expect(r.progress.join('\n')).toContain('Email to busy@example.org failed for now (attempt 1)');
    const deliveries = Object.values(await new MeetingStore(redis, { retentionDays: RETENTION_DAYS }).deliveries(r.meetingId));
    expect(deliveries.find((d) => d.address === 'refuse@example.org')).toMatchObject({ outcome: 'refused', reply: '553 5.7.1 Sender not allowed' });
    expect(deliveries.filter((d) => d.outcome === 'sent').map((d) => d.address).sort()).toEqual(['busy@example.org', 'ok@example.org']);
    expect(r.error?.message).toMatch(/1 recipient\(s\) did not get the minutes: refuse@example.org/);
  });
});

describe('field case stt-retry-after-45s: a rate limit is waited out, nothing thrown away', () => {
  it('exits 0 after at least 45 s; all 10 bursts at their times; at least 45 s between requests 2 and 3', { timeout: 180_000 }, async () => {
    const t0 = Date.now();
    const r = await run([join(CASES, 'common/spoken-words-70s.ogg'), '--max-piece-seconds', '25'], {
      stt: json('stt-retry-after-45s/stt-429.json'),
      mistral: json('stt-retry-after-45s/mistral-429.json'),
      // The case's requests are numbered one after the other: one request at a time.
      env: { STT_CONCURRENCY: '1' },
      realBackoff: true,
    });
    expect(r.error).toBeNull();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45_000);
    const transcript = parseTranscriptJson(readFileSync(join(r.out, 'transcript.json'), 'utf8'));
    const starts = transcript.turns.flatMap((t) => t.segments).map((s) => s.startMs / 1000);
    const truth = readFileSync(join(CASES, 'common/truth.txt'), 'utf8').trim().split('\n').map(Number);
    expect(starts).toHaveLength(10);
    truth.forEach((t, i) => expect(Math.abs((starts[i] ?? 0) - t), `burst ${i + 1}`).toBeLessThanOrEqual(0.3));
    expect(r.sttTimes[1]?.status).toBe(429);
    expect((r.sttTimes[2]?.at ?? 0) - (r.sttTimes[1]?.at ?? 0)).toBeGreaterThanOrEqual(45_000);
    expect(r.progress.join('\n')).toMatch(/HTTP 429\) and asks to come back in 45 s/);
  });

  it('(own case) a 413 splits the piece between its utterances, and every word of both halves is kept', async () => {
    // Numbered words ("mot 1", "mot 2"...): "bip bip bip" in one upload is rightly dropped as a loop.
    const r = await run([join(CASES, 'common/spoken-words-70s.ogg'), '--max-piece-seconds', '25'], {
      sttProvider: 'mistral',
      stt: { mode: 'energy', energyText: 'mot {n}' },
      sttFaults: [{ route: 'mistral.transcriptions', status: 413, times: 1 }],
      mistral: { answers: [] },
    });
    expect(r.error).toBeNull();
    // Three pieces of 25 s; the first refused, then sent as two halves.
    expect(r.sttTimes.map((t) => t.status)).toEqual([413, 200, 200, 200, 200]);
    expect(r.result?.recording.requests).toBe(4);
    const transcript = parseTranscriptJson(readFileSync(join(r.out, 'transcript.json'), 'utf8'));
    // Words uploaded side by side may come back as one segment: each word lies inside one.
    const segments = transcript.turns.flatMap((t) => t.segments);
    const truth = readFileSync(join(CASES, 'common/truth.txt'), 'utf8').trim().split('\n').map(Number);
    truth.forEach((t, i) => expect(segments.some((s) => s.startMs / 1000 - 0.3 <= t && t <= s.endMs / 1000), `word ${i + 1} at ${t} s`).toBe(true));
  });
});

describe('(own case) a 503 asking every request to wait, several in flight', () => {
  it('no request goes out while the service asked to wait; nothing is thrown away', { timeout: 120_000 }, async () => {
    const busy = { status: 503, headers: { 'retry-after': '6' }, body: { error: { message: 'The server is overloaded', type: 'server_error' } } };
    const r = await run([join(CASES, 'common/spoken-words-70s.ogg')], { stt: { mode: 'energy', energyText: 'mot {n}', faults: [null, null, busy] }, env: { STT_CONCURRENCY: '4' }, mistral: json('recipient-refused/mistral.json') });
    expect(r.error).toBeNull();
    const refusedAt = r.sttTimes.find((t) => t.status === 503)?.at ?? 0;
    expect(refusedAt).toBeGreaterThan(0);
    // Only requests already past the gate (at most the 3 other slots) are answered during the wait;
    // every other one, the refused one included, goes out after the 6 s.
    const during = r.sttTimes.filter((t) => t.at > refusedAt && t.at < refusedAt + 5_900);
    expect(during.length).toBeLessThanOrEqual(3);
    const before = r.sttTimes.filter((t) => t.at < refusedAt).length;
    expect(r.sttTimes.filter((t) => t.at >= refusedAt + 5_900).length).toBeGreaterThanOrEqual(10 - before - 3);
    expect(r.sttTimes.filter((t) => t.status === 200)).toHaveLength(10);
    expect(r.progress.join('\n')).toMatch(/HTTP 503\) and asks to come back in 6 s: waiting, nothing is lost/);
    const segments = parseTranscriptJson(readFileSync(join(r.out, 'transcript.json'), 'utf8')).turns.flatMap((t) => t.segments);
    const truth = readFileSync(join(CASES, 'common/truth.txt'), 'utf8').trim().split('\n').map(Number);
    truth.forEach((t, i) => expect(segments.some((s) => Math.abs(s.startMs / 1000 - t) <= 0.3), `word ${i + 1} at ${t} s`).toBe(true));
  });
});

describe('(own case) no upload above the provider limit, whatever --max-piece-seconds', () => {
  it('a 600 s diarized piece above STT_MAX_UPLOAD_MB is split before it is sent, and all of its audio still goes', { timeout: 180_000 }, async () => {
    const c = { sttProvider: 'mistral' as const, stt: { mode: 'energy', energyText: 'mot {n}' }, mistral: json('recipient-refused/mistral.json') };
    const argv = ['fixtures/meetings/comite-projet/mixed.opus', '--max-piece-seconds', '600'];
    // The recording's 124 s of speech, as the FLAC sent, are about 4 MB: one request under the 25 MB default...
    const whole = await run(argv, c);
    expect(whole.error).toBeNull();
    expect(whole.result?.recording.requests).toBe(1);
    // ...refused before sending under a 1 MiB limit (the service checks every upload's size,
    // src/pipelines/stt/service.test.ts), so split in halves until each fits: nothing is refused
    // by the provider, nothing is left out.
    const split = await run(argv, { ...c, env: { STT_MAX_UPLOAD_MB: '1' } });
    expect(split.error).toBeNull();
    expect(split.sttTimes.every((t) => t.status === 200)).toBe(true);
    expect(split.result?.recording.requests).toBeGreaterThanOrEqual(4);
    expect(split.sttTimes).toHaveLength(split.result?.recording.requests ?? 0);
    expect(Math.abs((split.result?.recording.sentMs ?? 0) - (whole.result?.recording.sentMs ?? 0))).toBeLessThanOrEqual(10);
  });
});

describe('(own case) long silences and mains hum: never uploaded, so nothing can be invented there', () => {
  it('the same two turns with 105 s of digital silence and hum between them and 45 s after: the same uploads, no text in the gaps', { timeout: 120_000 }, async () => {
    // meeting-2-turns.wav, 60 s of digital silence, 45 s of 50 Hz hum (its 150 Hz harmonic, faint
    // pink noise; about -27 dBFS), the same 14.5 s again, 45 s of digital silence: 179 s.
    const file = join(mkdtempSync(join(tmpdir(), 'silences-')), 'silences.ogg');
    const hum = 'sine=f=50:r=48000,volume=0.5[a];sine=f=150:r=48000,volume=0.15[b];anoisesrc=r=48000:a=0.002:c=pink[c];[a][b][c]amix=inputs=3:normalize=0';
    const twoTurns = join(CASES, 'common/meeting-2-turns.wav');
    const made = spawnSync('ffmpeg', [
      '-v', 'error', '-i', twoTurns, '-f', 'lavfi', '-t', '60', '-i', 'anullsrc=r=48000:cl=mono', '-f', 'lavfi', '-t', '45', '-i', hum,
      '-i', twoTurns, '-f', 'lavfi', '-t', '45', '-i', 'anullsrc=r=48000:cl=mono',
      '-filter_complex', '[0:a][1:a][2:a][3:a][4:a]concat=n=5:v=0:a=1,aformat=sample_rates=48000:channel_layouts=mono[out]',
      '-map', '[out]', '-c:a', 'libopus', '-b:a', '32k', file,
    ]);
    expect(made.status, made.stderr.toString()).toBe(0);
    // Energy answers: any sound uploaded, hum included, would come back as text ("mot 3"...).
    const energy = { mode: 'energy', energyText: 'mot {n}' };
    const minutes = json('recipient-refused/mistral.json');
    const plain = await run([twoTurns], { stt: energy, mistral: minutes });
    const gaps = await run([file], { stt: energy, mistral: minutes });
    expect(plain.error).toBeNull();
    expect(gaps.error).toBeNull();
    const [p, g] = [plain.result?.recording, gaps.result?.recording];
    expect(g?.recordingMs).toBeGreaterThan(178_000);
    // The silence and the hum add no request and no second of audio: the speech twice, nothing else.
    expect(g?.requests).toBe(2 * (p?.requests ?? 0));
    expect(Math.abs((g?.sentMs ?? 0) - 2 * (p?.sentMs ?? 0))).toBeLessThanOrEqual(500);
    expect(g?.sentMs).toBeLessThanOrEqual(1.1 * (g?.speechMs ?? 0));
    expect(gaps.lines.at(-1)).toMatch(/^Audio sent to speech-to-text: \d+\.\d s of a 179\.\d s recording/);
    // Every line lies in one of the two spoken stretches (0-14.5 s, 119.5-134 s).
    const segments = parseTranscriptJson(readFileSync(join(gaps.out, 'transcript.json'), 'utf8')).turns.flatMap((t) => t.segments);
    expect(segments.length).toBeGreaterThan(0);
    for (const s of segments) expect(s.startMs <= 14_500 || (s.startMs >= 119_500 && s.endMs <= 134_000), `${s.startMs}-${s.endMs} ms`).toBe(true);
  });
});

describe('(own case) speech-to-text down for good on one utterance: the rest is kept, and a re-run finishes it', () => {
  it('exits 4 with the transcript of the rest in --out; every key expires; the same --meeting-id sends only what is missing', { timeout: 120_000 }, async () => {
    // Request 3 fails with 500 on every attempt (the service tries 6 times), the others answer.
    const faults = [null, null, ...Array.from({ length: 6 }, () => ({ status: 500, headers: {}, body: { error: { message: 'down' } } }))];
    const stt = { mode: 'energy', energyText: 'bip', faults };
    const r = await run([join(CASES, 'common/spoken-words-70s.ogg')], { stt, env: { STT_CONCURRENCY: '1' }, mistral: { answers: [] } });
    expect(r.error?.exitCode).toBe(4);
    expect(r.error?.message).toMatch(/Speech-to-text failed for 1 of 10 utterance\(s\): the speech-to-text service failed \(HTTP 500\)/);
    expect(r.error?.message).toContain(`--meeting-id ${r.meetingId}`);
    const transcript = parseTranscriptJson(readFileSync(join(r.out, 'transcript.json'), 'utf8'));
    expect(transcript.turns.flatMap((t) => t.segments)).toHaveLength(9);
    expect(transcript.completeness).toMatchObject({ complete: false, missingSegments: 1 });
    expect((await new MeetingStore(redis, { retentionDays: RETENTION_DAYS }).get(r.meetingId))?.status).toBe('failed');
    const keys = await keysOf(r.meetingId);
    expectEveryKeyToExpire(keys);
    expect(Object.keys(keys).sort()).toEqual([`meeting-agent:meeting:${r.meetingId}`, `meeting-agent:meeting:${r.meetingId}:participants`, `meeting-agent:meeting:${r.meetingId}:segments`]);

    // The same meeting again, service back: one request (the missing utterance), then done.
    const again = await runAgain(r, { mode: 'energy', energyText: 'bip' });
    expect(again.error).toBeNull();
    expect(again.result?.recording.requests).toBe(1);
    const complete = parseTranscriptJson(readFileSync(join(r.out, 'transcript.json'), 'utf8'));
    expect(complete.completeness.complete).toBe(true);
    expect(complete.turns.flatMap((t) => t.segments)).toHaveLength(10);
    expectEveryKeyToExpire(await keysOf(r.meetingId));
  });
});

describe('field case diarization-pieces: speaker labels mean something inside one request only', () => {
  it("Alice's and Chloé's turns never share a participant", async () => {
    const env = Object.fromEntries(
      readFileSync(join(CASES, 'diarization-pieces/env'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split('=') as [string, string]),
    );
    const r = await run([join(CASES, 'diarization-pieces/four-turns-50s.ogg'), '--max-piece-seconds', '25'], {
      sttProvider: 'mistral',
      mistral: json('diarization-pieces/mistral.json'),
      env: { STT_MODEL: env.STT_MODEL },
    });
    expect(r.error).toBeNull();
    expect(r.result?.recording.requests).toBe(2);
    const transcript = parseTranscriptJson(readFileSync(join(r.out, 'transcript.json'), 'utf8'));
    const speakerOf = (prefix: string) => transcript.turns.filter((t) => t.text.startsWith(prefix)).map((t) => t.speaker.identity);
    const [alice, chloe, bruno] = [speakerOf('Alice'), speakerOf('Chloé'), speakerOf('Bruno')];
    expect(alice).toHaveLength(1);
    expect(chloe).toHaveLength(1);
    expect(bruno).toHaveLength(2);
    expect(alice[0]).not.toBe(chloe[0]);
    // Scoped per piece, and the transcript says so in the names.
    expect(transcript.participants.map((p) => p.name).sort()).toEqual(['Intervenant 1 (partie 1)', 'Intervenant 2 (partie 1)', 'Intervenant 3 (partie 2)', 'Intervenant 4 (partie 2)']);
  });

  it('(own case) a piece split on a 413 was two requests: the same label in each half is two participants', async () => {
    const answer = { response: { model: 'voxtral-mini-2507', text: 'phrase', language: null, segments: [{ type: 'transcription_segment', text: 'phrase', start: 0, end: 2, speaker_id: 'speaker_1' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } } };
    const r = await run([join(CASES, 'diarization-pieces/four-turns-50s.ogg'), '--max-piece-seconds', '600'], {
      sttProvider: 'mistral',
      stt: { answers: [answer, answer, answer] },
      sttFaults: [{ route: 'mistral.transcriptions', status: 413, times: 1 }],
      mistral: { answers: [] },
    });
    expect(r.error).toBeNull();
    expect(r.sttTimes.map((t) => t.status)).toEqual([413, 200, 200]);
    const transcript = parseTranscriptJson(readFileSync(join(r.out, 'transcript.json'), 'utf8'));
    expect(transcript.participants).toHaveLength(2);
    expect(new Set(transcript.turns.map((t) => t.speaker.identity)).size).toBe(2);
  });

  it('(own case) the same label in every piece is still one participant per piece, never one for the whole recording', async () => {
    const answer = (n: number) => ({ response: { model: 'voxtral-mini-2507', text: `phrase ${n}`, language: null, segments: [{ type: 'transcription_segment', text: `phrase ${n}`, start: 0, end: 2, speaker_id: 'speaker_0' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } } });
    const r = await run([join(CASES, 'diarization-pieces/four-turns-50s.ogg'), '--max-piece-seconds', '10'], {
      sttProvider: 'mistral',
      stt: { answers: Array.from({ length: 12 }, (_, i) => answer(i + 1)) },
      mistral: { answers: [] },
    });
    expect(r.error).toBeNull();
    const pieces = r.result?.recording.requests ?? 0;
    expect(pieces).toBeGreaterThanOrEqual(3);
    const transcript = parseTranscriptJson(readFileSync(join(r.out, 'transcript.json'), 'utf8'));
    expect(transcript.participants).toHaveLength(pieces);
    expect(transcript.participants.map((p) => p.name)).toEqual(Array.from({ length: pieces }, (_, i) => `Intervenant ${i + 1} (partie ${i + 1})`));
  });
});

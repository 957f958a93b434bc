/**
 * `npm run demo`: the whole product on this machine, the way a newcomer first sees it.
 *
 * Starts LiveKit, Redis, MinIO and an SMTP receiver on loopback; starts the agent worker, the
 * pipeline workers and the API as separate processes (as in production); has one bot per speaker
 * play the fixture meeting into a room; presses "transcribe" through the API with the host's
 * LiveKit token; prints live captions; stops; prints the minutes, the artefacts and the email.
 *
 * With STT_BASE_URL / MISTRAL_API_KEY set it uses those services; otherwise it starts the replay
 * servers (recorded responses) and says so at the top and at the bottom.
 *
 *   npm run demo                 the full 2.5-minute fixture meeting
 *   npm run demo -- --short      only its first part (what CI runs)
 *   npm run demo -- --local-stt  the English meeting (fixtures/meetings/budget-review) through a real
 *                                Whisper running here (src/local/whisper-server.ts, tiny.en): real
 *                                recognition, nothing replayed. Its transcript is new every run, so no
 *                                recorded minutes fit it: without MISTRAL_API_KEY the demo ends after
 *                                the live captions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { z } from 'zod';
import { startLocalServices, type LocalServices } from '../src/local/services.js';
import { startSmtpReceiver, type SmtpReceiver } from '../src/local/smtp-receiver.js';
import { joinAsListener, joinAsSpeaker, type ListenerBot, type SpeakerBot } from '../src/local/meeting-bot.js';
import { freeTcpPort } from '../src/local/ports.js';
import { startWhisperServer, LOCAL_WHISPER_MODEL } from '../src/local/whisper-server.js';
import { startReplayServer, type ReplayServer } from '../src/replay/server.js';
import { createS3Client } from '../src/storage/s3-client.js';

const { values: args } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    meeting: { type: 'string' },
    'local-stt': { type: 'boolean', default: false },
  },
});
const localStt = args['local-stt'] === true;

/**
 * In --short mode the bots play the fixture up to the pause after u07 (48.5 s); the replayed minutes
 * for that part are in fixtures/cassettes/minutes-<meeting>-short.json (scripts/make-minutes-cassettes.ts).
 */
const SHORT_DEMO_MS = 49_000;

const FixtureSchema = z.object({
  name: z.string(),
  language: z.string(),
  title: z.string().optional(),
  durationMs: z.number(),
  participants: z.array(z.object({ identity: z.string(), name: z.string(), email: z.string().nullable().optional(), file: z.string(), silent: z.boolean().optional() })),
  utterances: z.array(z.object({ speaker: z.string(), startMs: z.number(), endMs: z.number(), text: z.string() })),
});

const fixtureDir = resolve('fixtures/meetings', args.meeting ?? (localStt ? 'budget-review' : 'comite-projet'));
const fixture = FixtureSchema.parse(JSON.parse(readFileSync(join(fixtureDir, 'script.json'), 'utf8')));
if (localStt && fixture.language !== 'en') {
  process.stderr.write(`--local-stt runs Whisper ${LOCAL_WHISPER_MODEL}, which only understands English; ${fixture.name} is in "${fixture.language}".\n`);
  process.exit(2);
}
const playMs = Math.min(args.short ? SHORT_DEMO_MS : fixture.durationMs, fixture.durationMs);
const realStt = !localStt && Boolean(process.env.STT_BASE_URL);
const realMistral = Boolean(process.env.MISTRAL_API_KEY);
/** A live recogniser's transcript differs run to run: no recorded minutes can match it. */
const minutesSkipped = localStt && !realMistral;
const demoDir = resolve('.services/demo');
mkdirSync(demoDir, { recursive: true });

const say = (line = '') => process.stdout.write(`${line}\n`);

function banner(): void {
  const parts = [
    localStt
      ? `speech-to-text: LOCAL Whisper ${LOCAL_WHISPER_MODEL} on this machine (faster-whisper), real recognition, not replayed`
      : realStt
        ? `speech-to-text: REAL (${new URL(process.env.STT_BASE_URL!).host})`
        : 'speech-to-text: REPLAYED from fixtures/cassettes (no STT_BASE_URL set)',
    realMistral
      ? 'minutes: REAL Mistral'
      : minutesSkipped
        ? 'minutes: SKIPPED (no recorded minutes fit a live transcript; set MISTRAL_API_KEY)'
        : 'minutes: REPLAYED from fixtures/cassettes (no MISTRAL_API_KEY set)',
  ];
  const width = Math.max(...parts.map((p) => p.length)) + 4;
  say('*'.repeat(width));
  for (const p of parts) say(`* ${p.padEnd(width - 4)} *`);
  say('*'.repeat(width));
}

const cleanups: (() => Promise<unknown>)[] = [];
/** Replay servers started, to report any request they had no recording for. */
const replayServers: ReplayServer[] = [];
let cleaningUp: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  })();
  return cleaningUp;
}
process.once('SIGINT', () => {
  say('\nInterrupted: stopping everything the demo started...');
  void cleanup().then(() => process.exit(130));
});
process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

function startRole(role: 'worker' | 'pipeline' | 'api', env: NodeJS.ProcessEnv): ChildProcess {
  const logFile = join(demoDir, `${role}.log`);
  writeFileSync(logFile, '');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', role], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const append = (chunk: Buffer) => writeFileSync(logFile, chunk, { flag: 'a' });
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  child.once('exit', (code, signal) => {
    if (!cleaningUp && code !== 0) say(`!! the ${role} process exited (${signal ?? code}); see ${logFile}`);
  });
  cleanups.push(async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(15_000).then(() => child.kill('SIGKILL'))]);
  });
  return child;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

async function main(): Promise<void> {
  banner();
  say(`Meeting: ${fixture.title ?? fixture.name} (${fixture.participants.length} participants, playing ${Math.round(playMs / 1000)} s)`);
  say();

  say('Starting LiveKit, Redis, MinIO and an SMTP receiver on loopback...');
  const apiPort = await freeTcpPort();
  const services: LocalServices = await startLocalServices({
    baseDir: join(demoDir, 'services'),
    livekit: { webhookUrls: [`http://127.0.0.1:${apiPort}/v1/livekit/webhook`] },
  });
  cleanups.push(() => services.stop());
  const smtp: SmtpReceiver = await startSmtpReceiver();
  cleanups.push(() => smtp.close());

  const bucket = 'meeting-agent-demo';
  await createS3Client(services.env).send(new CreateBucketCommand({ Bucket: bucket }));

  let sttEnv: Record<string, string> = {};
  let mistralEnv: Record<string, string> = {};
  const cassette = resolve('fixtures/cassettes', `${fixture.name}.json`);
  if (localStt) {
    say(`Starting the local Whisper (${LOCAL_WHISPER_MODEL})...`);
    const whisper = await startWhisperServer({ workDir: services.workDir });
    cleanups.push(() => whisper.stop());
    sttEnv = { STT_PROVIDER: 'openai-compatible', STT_BASE_URL: whisper.baseUrl, STT_API_KEY: '', STT_MODEL: whisper.model, STT_TIMEOUT_MS: '60000' };
  } else if (!realStt) {
    const stt: ReplayServer = await startReplayServer({ provider: 'openai', cassettes: [cassette] });
    cleanups.push(() => stt.close());
    replayServers.push(stt);
    sttEnv = { STT_PROVIDER: 'openai-compatible', STT_BASE_URL: `${stt.url}/v1`, STT_API_KEY: 'replay' };
  }
  if (!realMistral && !minutesSkipped) {
    const minutesCassette = resolve('fixtures/cassettes', `minutes-${fixture.name}${args.short ? '-short' : ''}.json`);
    const mistral: ReplayServer = await startReplayServer({ provider: 'mistral', cassettes: [minutesCassette] });
    cleanups.push(() => mistral.close());
    replayServers.push(mistral);
    mistralEnv = { MISTRAL_SERVER_URL: mistral.url, MISTRAL_API_KEY: 'replay' };
  }

  const serviceKey = randomBytes(24).toString('base64url');
  const env: NodeJS.ProcessEnv = {
    ...services.env,
    ...sttEnv,
    ...mistralEnv,
    S3_BUCKET: bucket,
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Comptes rendus <comptes-rendus@mairie-exemple.fr>',
    API_PORT: String(apiPort),
    API_SERVICE_KEYS: serviceKey,
    AGENT_NAME: 'meeting-transcriber',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  };
  say(`Starting the agent worker, ${minutesSkipped ? '' : 'the pipeline workers '}and the API (logs in .services/demo/)...`);
  startRole('worker', env);
  // Without minutes there is nothing for the pipeline to do (and no Mistral to configure it with).
  if (!minutesSkipped) startRole('pipeline', env);
  startRole('api', env);
  const api = `http://127.0.0.1:${apiPort}`;
  await waitFor('the API to be ready', async () => ((await fetch(`${api}/readyz`)).ok ? true : undefined), 60_000);
  // The worker registers with LiveKit a moment after start; a dispatch before that waits in LiveKit anyway.

  const room = `demo-${Date.now().toString(36)}`;
  const rooms = new RoomServiceClient(services.livekit.httpUrl, services.livekit.apiKey, services.livekit.apiSecret);
  await rooms.createRoom({ name: room, emptyTimeout: 30 });
  const auth = { apiKey: services.livekit.apiKey, apiSecret: services.livekit.apiSecret };

  say(`Room "${room}": the participants join...`);
  // The fixture's silent participant is the one whose screen we watch: they see the captions.
  const viewer = fixture.participants.find((p) => p.silent);
  const speakers: SpeakerBot[] = [];
  for (const p of fixture.participants.filter((x) => x !== viewer)) {
    speakers.push(
      await joinAsSpeaker({
        url: services.livekit.url, room, identity: p.identity, name: p.name, auth,
        attributes: p.email ? { email: p.email } : {},
        // As the conferencing backend mints them: the address is in the token, and a participant
        // who cannot rewrite its own attributes is one whose address the agent may trust
        // (docs/interfaces.md; a backend that lets participants opt out signs the address instead).
        canUpdateOwnMetadata: false,
        file: join(fixtureDir, p.file), durationMs: playMs, autoplay: false,
      }),
    );
  }
  cleanups.push(() => Promise.all(speakers.map((s) => s.disconnect())));
  const listener: ListenerBot = await joinAsListener({
    url: services.livekit.url, room, auth,
    identity: viewer?.identity ?? 'demo-viewer', name: viewer?.name ?? 'Demo viewer',
    attributes: viewer?.email ? { email: viewer.email } : {},
    canUpdateOwnMetadata: false,
  });
  cleanups.push(() => listener.disconnect());

  // The host presses "transcribe": their own LiveKit token, with roomAdmin, is the credential.
  const host = fixture.participants[0]!;
  const hostToken = new AccessToken(auth.apiKey, auth.apiSecret, { identity: host.identity, name: host.name, ttl: '1h' });
  hostToken.addGrant({ room, roomJoin: true, roomAdmin: true });
  const authHeader = { authorization: `Bearer ${await hostToken.toJwt()}`, 'content-type': 'application/json' };
  say(`${host.name} presses "transcribe"...`);
  const started = await fetch(`${api}/v1/rooms/${room}/transcription`, {
    method: 'POST', headers: authHeader, body: JSON.stringify({ language: fixture.language }),
  });
  if (!started.ok) throw new Error(`starting the transcription failed: ${started.status} ${await started.text()}`);
  const { meetingId } = (await started.json()) as { meetingId: string };
  await waitFor('the agent to join and announce itself', async () => (listener.chat.length > 0 ? true : undefined), 60_000);
  say(`Agent joined. It says in the chat: "${listener.chat[0]!.text}"`);
  say();
  say('--- live captions ---');

  const names = new Map(fixture.participants.map((p) => [p.identity, p.name]));
  let shown = 0;
  const printCaptions = () => {
    for (; shown < listener.captions.length; shown++) {
      const c = listener.captions[shown]!;
      say(`${names.get(c.senderIdentity) ?? c.senderIdentity}: ${c.text}`);
    }
  };
  const playing = Promise.all(speakers.map((s) => s.play()));
  while (await Promise.race([playing.then(() => false), sleep(250).then(() => true)])) printCaptions();
  await sleep(localStt ? 8_000 : 3_000); // the last utterance's caption (a real recogniser takes seconds)
  printCaptions();
  say('--- end of meeting ---');
  say();

  say(`${host.name} stops the transcription${minutesSkipped ? '.' : '; the minutes are being written...'}`);
  const stopped = await fetch(`${api}/v1/rooms/${room}/transcription`, { method: 'DELETE', headers: { authorization: authHeader.authorization } });
  if (!stopped.ok) throw new Error(`stopping failed: ${stopped.status} ${await stopped.text()}`);
  if (minutesSkipped) {
    say(`${listener.captions.length} captions from the local Whisper for ${fixture.utterances.filter((u) => u.endMs <= playMs).length} utterances. Minutes skipped (see the banner).`);
    say();
    banner();
    return;
  }

  const meeting = await waitFor(
    'the minutes',
    async () => {
      const r = await fetch(`${api}/v1/meetings/${meetingId}`, { headers: { authorization: `Bearer ${serviceKey}` } });
      if (!r.ok) return undefined;
      const body = (await r.json()) as { state: string; failure?: string | null; artifacts: { name: string; size: number; url: string; expiresAt: string }[] };
      if (body.state === 'failed') throw new Error(`the meeting's finalisation failed: ${body.failure ?? 'see .services/demo/pipeline.log'}`);
      return body.state === 'done' ? body : undefined;
    },
    180_000,
  );
  const minutesLink = meeting.artifacts.find((a) => a.name === 'minutes.md')?.url;
  if (minutesLink) {
    say();
    say('--- minutes (minutes.md) ---');
    say((await (await fetch(minutesLink)).text()).trim());
    say('---');
  }
  say();
  say(`Artefacts in S3 (presigned links, valid until ${meeting.artifacts[0]?.expiresAt ?? '?'}):`);
  for (const a of meeting.artifacts) say(`  ${a.name} (${a.size} bytes): ${a.url}`);

  const mails = await smtp.waitFor(fixture.participants.filter((p) => p.email).length, 60_000);
  const mailDir = join(demoDir, 'mail');
  mkdirSync(mailDir, { recursive: true });
  say();
  say('Emails received by the local SMTP server:');
  mails.forEach((m, i) => {
    const file = join(mailDir, `${String(i + 1).padStart(2, '0')}.eml`);
    writeFileSync(file, m.raw);
    say(`  to ${m.envelopeTo.join(', ')}: "${m.parsed.subject ?? ''}" (${file})`);
  });
  say();
  banner();
}

try {
  await main();
  await cleanup();
  process.exit(0);
} catch (e) {
  say(`\nThe demo failed: ${e instanceof Error ? e.message : String(e)}`);
  for (const server of replayServers) {
    for (const u of server.unmatched) say(`  the ${server.provider} replay server had no recording for a request: ${JSON.stringify(u).slice(0, 2000)}`);
  }
  say('Logs: .services/demo/*.log');
  await cleanup();
  process.exit(1);
}

/**
 * Who receives the minutes of a live meeting (issue 12, kind 3): the real agent worker in a real
 * LiveKit room, the real pipeline and an SMTP receiver. A participant whose token lets it rewrite
 * its attributes sets `email=x@outside.example`, before or after the agent joined: nothing is sent
 * there and the drop is counted. A signed address is used; a locked participant's token address too.
 * No audio is played (the trust decision needs none): the meeting ends silent, with an honest note.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParticipantKind, type Room } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { signRecipient } from '../../src/agent/recipient-trust.js';
import { joinAsListener, type ListenerBot } from '../../src/local/meeting-bot.js';
import { startRedisServer, type RedisServer } from '../../src/local/redis-server.js';
import { requestStop } from '../../src/meeting/stop-signal.js';
import { recipientsIgnored } from '../../src/metrics.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { startHarness, until, type Harness } from '../pipeline/harness.js';
import { dispatchAgent, FIXTURE_CASSETTE, startAgentWorker, type AgentWorker } from './harness.js';

const SIGNING_KEY = `test-signing-key-${randomUUID()}`;
const OUTSIDE = 'x@outside.example';
const REQUESTER = 'hote.reunion@mairie-exemple.fr';

const agentIn = (room: Room) => [...room.remoteParticipants.values()].find((p) => p.kind === ParticipantKind.AGENT);
const ignoredCount = async (reason: string) => (await recipientsIgnored.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

describe('recipients of a live meeting', () => {
  const services = inject('services');
  const auth = { apiKey: services.LIVEKIT_API_KEY, apiSecret: services.LIVEKIT_API_SECRET };
  let redis: RedisServer;
  let h: Harness;
  let stt: ReplayServer;
  let worker: AgentWorker;
  const bots: ListenerBot[] = [];

  beforeAll(async () => {
    // A Redis of its own, shared by the agent worker (child process) and the pipeline (here).
    redis = await startRedisServer({ workDir: mkdtempSync(join(tmpdir(), 'redis-recipients-')) });
    h = await startHarness({ db: 1, redisUrl: redis.url, cassettes: [] });
    stt = await startReplayServer({ provider: 'openai', cassettes: [FIXTURE_CASSETTE] });
    worker = await startAgentWorker(services, stt.url, { REDIS_URL: h.redisUrl, RECIPIENT_SIGNING_KEY: SIGNING_KEY, S3_BUCKET: h.bucket });
  }, 90_000);

  afterAll(async () => {
    await Promise.all(bots.map((b) => b.disconnect().catch(() => undefined)));
    await worker?.stop();
    await stt?.close();
    await h?.close();
    await redis?.stop();
  });

  it('sends nothing to an address a participant wrote itself, before or after the agent joined, counts the drop, and mails everyone vouched for once', async () => {
    const room = `recipients-${randomUUID().slice(0, 8)}`;
    const meetingId = `recipients-${randomUUID().slice(0, 8)}`;
    const url = services.LIVEKIT_URL;
    const unsignedBefore = await ignoredCount('unsigned');

    // Alice: the backend put her address in a token that cannot rewrite attributes.
    bots.push(await joinAsListener({ url, room, auth, identity: 'alice', name: 'Alice Martin', canUpdateOwnMetadata: false, attributes: { email: 'alice.martin@mairie-exemple.fr' } }));
    // Bruno: no address in his token, which allows attribute updates (for the opt-out); he writes one before the agent comes.
    const bruno = await joinAsListener({ url, room, auth, identity: 'bruno', name: 'Bruno Lefèvre', canUpdateOwnMetadata: true });
    bots.push(bruno);
    await bruno.room.localParticipant!.setAttributes({ email: OUTSIDE });
    // Chloé and Denise: same kind of token, no address yet.
    const chloe = await joinAsListener({ url, room, auth, identity: 'chloe', name: 'Chloé Dubois', canUpdateOwnMetadata: true });
    const denise = await joinAsListener({ url, room, auth, identity: 'denise', name: 'Denise Roux', canUpdateOwnMetadata: true });
    bots.push(chloe, denise);

    await dispatchAgent(services, room, worker.agentName, { meetingId, requester: { identity: 'alice', email: REQUESTER } });
    await until('the agent to join', () => agentIn(chloe.room)?.attributes['transcription.state'] === 'active', 60_000);

    // After the agent joined: Chloé writes the outside address herself; Denise gets a signed one from the backend.
    await chloe.room.localParticipant!.setAttributes({ email: OUTSIDE });
    await denise.room.localParticipant!.setAttributes({ email: 'denise.roux@mairie-exemple.fr', 'email.sig': signRecipient(SIGNING_KEY, 'denise', 'denise.roux@mairie-exemple.fr') });
    // Bruno tries again after the agent joined, with a signature minted for someone else.
    await bruno.room.localParticipant!.setAttributes({ email: 'bruno@outside.example', 'email.sig': signRecipient(SIGNING_KEY, 'chloe', 'bruno@outside.example') });

    await until(
      'the agent to judge every address',
      async () => {
        const ps = Object.fromEntries((await h.store.participants(meetingId)).map((p) => [p.identity, p]));
        return ps.chloe?.ignoredAddresses.length === 1 && ps.denise?.email !== null && ps.denise?.email !== undefined && ps.bruno?.ignoredAddresses.length === 2;
      },
      30_000,
    );
    const stored = Object.fromEntries((await h.store.participants(meetingId)).map((p) => [p.identity, { email: p.email, ignored: p.ignoredAddresses }]));
    expect(stored).toEqual({
      alice: { email: 'alice.martin@mairie-exemple.fr', ignored: [] },
      bruno: { email: null, ignored: ['unsigned', 'bad_signature'] },
      chloe: { email: null, ignored: ['unsigned'] },
      denise: { email: 'denise.roux@mairie-exemple.fr', ignored: [] },
    });

    await requestStop(h.connection, meetingId);
    await h.waitForStatus(meetingId, 'done', 60_000);
    await h.smtp.waitFor(3, 30_000);
    await new Promise((r) => setTimeout(r, 1_000)); // a fourth message, if any, would arrive now
    const to = h.smtp.messages.flatMap((m) => m.envelopeTo.map((a) => a.toLowerCase())).sort();
    expect(to).toEqual(['alice.martin@mairie-exemple.fr', 'denise.roux@mairie-exemple.fr', REQUESTER].sort());
    expect(to.some((a) => a.endsWith('@outside.example'))).toBe(false);
    // Counted where an operator looks (the pipeline's metrics), by reason; the address itself is nowhere.
    expect((await ignoredCount('unsigned')) - unsignedBefore).toBe(2);
    expect(await ignoredCount('bad_signature')).toBeGreaterThanOrEqual(1);
    expect(worker.logs.filter((l) => l.includes('outside.example'))).toEqual([]);
    expect(worker.logs.filter((l) => l.includes('participant address ignored')).length).toBe(3);
  }, 150_000);
});

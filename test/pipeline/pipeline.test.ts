/**
 * The pipeline end to end on real Redis, MinIO and SMTP, with Mistral replayed through the real SDK:
 * from the segments the agent queues to the emails participants receive.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReceivedMail } from '../../src/local/smtp-receiver.js';
import { MinutesSchema, type Minutes } from '../../src/pipelines/minutes/minutes-schema.js';
import { completenessOf } from '../../src/pipelines/queues/finalize-worker.js';
import { persistSegment } from '../../src/pipelines/queues/segment-worker.js';
import { parseTranscriptJson } from '../../src/pipelines/transcript/render-json.js';
import { startHarness, type Harness } from './harness.js';
import { fixtureMeeting, INJECTED_ADDRESS, loadFixtureScript, segmentCountsOf, segmentsFor, syntheticLongMeeting } from './meeting-fixtures.js';

const C = (name: string) => `fixtures/cassettes/${name}.json`;
const REQUESTER = 'hote.reunion@mairie-exemple.fr';
const script = loadFixtureScript();
const participantAddresses = script.participants.map((p) => p.email);

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function textOf(mail: ReceivedMail): string {
  return mail.parsed.text ?? '';
}

function linksIn(mail: ReceivedMail): string[] {
  return [...String(mail.parsed.html).matchAll(/href="([^"]+)"/g)].map((m) => (m[1] ?? '').replace(/&amp;/g, '&'));
}

async function minutesOf(h: Harness, meetingId: string): Promise<Minutes> {
  return MinutesSchema.parse(JSON.parse((await h.artifacts.read(meetingId, 'minutes.json')) ?? 'null'));
}

async function runFixture(h: Harness, meetingId: string): Promise<void> {
  const { counts } = await h.seedMeeting(meetingId, fixtureMeeting(), { requesterEmail: REQUESTER, extraRecipients: ['ALICE.MARTIN@mairie-exemple.fr'] });
  await h.queues.endMeeting(h.store, meetingId, 'room_finished', counts);
  await h.waitForStatus(meetingId, 'done');
}

describe('pipeline: the fixture meeting end to end', () => {
  it('stores every artefact, checksummed and schema-valid, and mails the participants and the requester once each, with working links', async () => {
    h = await startHarness({ db: 3, cassettes: [C('minutes-comite-projet')] });
    const id = 'comite-projet-e2e';
    await runFixture(h, id);

    const keys = await h.artifacts.list(id);
    expect(keys.map((k) => k.replace(`meetings/${id}/`, '')).sort()).toEqual(
      ['manifest.json', 'minutes.json', 'minutes.md', 'transcript.json', 'transcript.md', 'transcript.srt', 'transcript.vtt'],
    );
    const manifest = await h.artifacts.manifest(id);
    for (const f of manifest?.files ?? []) {
      const body = Buffer.from((await h.artifacts.read(id, f.name)) ?? '', 'utf8');
      expect(createHash('sha256').update(body).digest('hex'), f.name).toBe(f.sha256);
      expect(body.length).toBe(f.bytes);
    }
    expect(manifest?.usage?.calls).toBe(1);
    expect(manifest?.usage?.promptTokens).toBeGreaterThan(1000);

    // Transcript: valid against the committed schema, speakers exactly the ground truth's.
    const raw = JSON.parse((await h.artifacts.read(id, 'transcript.json')) ?? '') as unknown;
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    expect(ajv.validate(JSON.parse(readFileSync('schemas/transcript.schema.json', 'utf8')) as object, raw), JSON.stringify(ajv.errors)).toBe(true);
    const transcript = parseTranscriptJson(JSON.stringify(raw));
    const names = new Map(script.participants.map((p) => [p.identity, p.name]));
    expect(transcript.turns.map((t) => [t.speaker.name, t.text])).toEqual(script.utterances.map((u) => [names.get(u.speaker), u.text]));
    expect(await h.artifacts.read(id, 'transcript.vtt')).toContain('<v Chloé Dubois>D&#39;accord pour moi'.replace('&#39;', "'"));

    // Minutes: cited decisions and actions with owners from the participant list; the bad citation dropped.
    const minutes = await minutesOf(h, id);
    expect(minutes.kind).toBe('minutes');
    expect(minutes.decisions[0]?.citations.map((c) => c.turn)).toEqual(['T005', 'T008']);
    expect(minutes.decisions.flatMap((d) => d.citations.map((c) => c.turn))).not.toContain('T099');
    expect(minutes.generation.droppedCitations).toBe(1);
    expect(minutes.actionItems.map((a) => [a.owner?.name, a.dueDate])).toEqual([
      ['Bruno Lefèvre', 'vendredi 11 décembre'],
      ['Bruno Lefèvre', 'dès demain'],
      ['Chloé Dubois', 'prochain comité'],
      ['Alice Martin', 'avant les vacances de Noël'],
    ]);
    expect(minutes.participants.map((p) => p.name).sort()).toEqual(script.participants.map((p) => p.name).sort());

    // Email: one per address (Alice's extra, upper-cased address folds into hers), never the injected one.
    const mails = await h.smtp.waitFor(5);
    await new Promise((r) => setTimeout(r, 500));
    expect(h.smtp.messages).toHaveLength(5);
    const to = h.smtp.messages.flatMap((m) => m.envelopeTo).map((a) => a.toLowerCase()).sort();
    expect(to).toEqual([...participantAddresses, REQUESTER].sort());
    const alice = mails.find((m) => m.envelopeTo.includes('alice.martin@mairie-exemple.fr')) as ReceivedMail;
    expect(alice.parsed.subject).toBe('Compte rendu : Comité de projet : migration vers la visioconférence souveraine');
    expect(textOf(alice)).toContain('Bonjour Alice Martin,');
    expect(textOf(alice)).toContain('Terminer la configuration de la sauvegarde et de la supervision — responsable : Bruno Lefèvre — échéance : vendredi 11 décembre');
    expect(textOf(alice)).toContain('Le pilote démarre le lundi 4 janvier avec le service urbanisme.');
    expect(textOf(alice)).toMatch(/généré automatiquement/);
    expect(textOf(alice)).toMatch(/valables jusqu'au \d{1,2} \S+ \d{4}/);
    expect(String(alice.parsed.html)).toContain('<strong>Bruno Lefèvre</strong>');

    // The links download the stored minutes; the objects themselves are private.
    const [minutesLink] = linksIn(alice);
    const res = await fetch(minutesLink as string);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(await h.artifacts.read(id, 'minutes.md'));
    expect((await fetch((minutesLink as string).split('?')[0] as string)).status).toBe(403);
  });

  it('a duplicate end event (agent, host and LiveKit all signalling) still sends one email per recipient', async () => {
    h = await startHarness({ db: 5, cassettes: [C('minutes-comite-projet')] });
    const id = 'comite-projet-dup';
    const { counts } = await h.seedMeeting(id, fixtureMeeting());
    await Promise.all([
      h.queues.endMeeting(h.store, id, 'agent_left', counts),
      h.queues.endMeeting(h.store, id, 'host_stop', counts),
      h.queues.endMeeting(h.store, id, 'room_finished'),
    ]);
    await h.waitForStatus(id, 'done');
    await h.smtp.waitFor(4);
    // A late webhook, after everything was sent, and a retried email job.
    await h.queues.endMeeting(h.store, id, 'room_finished');
    await h.pipeline?.emailQueue.add('send', (await h.pipeline.emailQueue.getJobs(['completed']))[0]?.data, { jobId: 'mail_retry_probe' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(h.smtp.messages.map((m) => m.envelopeTo[0]).sort()).toEqual([...participantAddresses].sort());
    expect(h.mistral.stats().matched['mistral.chat']).toBe(1);
    expect(['agent_left', 'host_stop', 'room_finished']).toContain((await h.store.get(id))?.endReason);
  });

  it('a host stop that arrives while the agent is still flushing waits for its last utterance', async () => {
    h = await startHarness({ db: 12, cassettes: [C('minutes-comite-projet')] });
    const id = 'comite-projet-flush';
    const meeting = fixtureMeeting();
    await h.seedMeeting(id, { ...meeting, utterances: meeting.utterances.slice(0, -1) });
    const all = segmentsFor(id, meeting);
    const last = all.at(-1)!;
    // The host stops: the API ends the meeting before the agent has reported its counts.
    await h.queues.endMeeting(h.store, id, 'host_stop');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await h.store.get(id))?.status).toBe('active');
    expect(h.smtp.messages).toHaveLength(0);
    // The agent transcribes its last utterance, then leaves with its counts.
    await h.queues.addSegment(last);
    await h.queues.endMeeting(h.store, id, 'agent_left', segmentCountsOf(all));
    await h.waitForStatus(id, 'done');
    const transcript = parseTranscriptJson((await h.artifacts.read(id, 'transcript.json')) ?? '');
    expect(transcript.turns.at(-1)?.text).toContain(last.text);
    expect((await h.store.get(id))?.endReason).toBe('host_stop');
  });

  it('a segment stored just as finalisation looks at its job counts as there: none is taken for lost, none left out', async () => {
    h = await startHarness({ db: 12, cassettes: [C('minutes-comite-projet')], startWorkers: false });
    const id = 'comite-projet-race';
    const { counts } = await h.seedMeeting(id, fixtureMeeting());
    await h.queues.endMeeting(h.store, id, 'agent_left', counts);
    const meeting = (await h.store.get(id))!;
    const queued = await completenessOf(meeting, { store: h.store, segmentsQueue: h.queues.segments, deferredSttQueue: h.queues.deferredStt });
    // Nothing stored yet, every segment on its way: finalisation waits for them.
    expect(queued.missing).toHaveLength(script.utterances.length);
    expect(queued.pending).toEqual(queued.missing);

    // Now each segment's job completes (stored, then removed, as BullMQ does) at the very moment
    // finalisation looks at it, after it has read the store.
    const segmentsQueue = h.queues.segments;
    const racing = Object.assign(Object.create(segmentsQueue) as typeof segmentsQueue, {
      async getJob(jobId: string) {
        const job = await segmentsQueue.getJob(jobId);
        if (job) {
          await persistSegment(h!.store, job);
          await job.remove();
        }
        return segmentsQueue.getJob(jobId);
      },
    });
    const raced = await completenessOf(meeting, { store: h.store, segmentsQueue: racing, deferredSttQueue: h.queues.deferredStt });
    expect(raced.missing).toEqual([]);
    expect(raced.pending).toEqual([]);
    expect(raced.segments.map((x) => x.text)).toEqual(script.utterances.map((u) => u.text));
  });

  it('Mistral answering 429 then 500: the SDK retries and the minutes are produced once', async () => {
    h = await startHarness({
      db: 4,
      cassettes: [C('minutes-comite-projet')],
      faults: [
        { route: 'mistral.chat', status: 429, retryAfterSec: 1, times: 1 },
        { route: 'mistral.chat', status: 500, times: 1 },
      ],
    });
    const id = 'comite-projet-faults';
    await runFixture(h, id);
    const stats = h.mistral.stats();
    expect(stats.faults['mistral.chat']).toBe(2);
    expect(stats.matched['mistral.chat']).toBe(1);
    expect((await minutesOf(h, id)).generation.calls).toBe(1);
    await h.smtp.waitFor(5);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.smtp.messages).toHaveLength(5);
  });

  it('a silent meeting gets an honest short note, no model call, and the note by email', async () => {
    h = await startHarness({ db: 6, cassettes: [C('minutes-comite-projet')] });
    const id = 'silent-meeting';
    const silent = { ...fixtureMeeting(), utterances: [] };
    await h.seedMeeting(id, silent);
    await h.queues.endMeeting(h.store, id, 'last_participant_left', {});
    await h.waitForStatus(id, 'done');
    const minutes = await minutesOf(h, id);
    expect(minutes).toMatchObject({ kind: 'no-speech', decisions: [], actionItems: [], generation: { calls: 0 } });
    expect(minutes.summary).toMatch(/Aucune parole/);
    expect(h.mistral.stats().calls['mistral.chat'] ?? 0).toBe(0);
    const mails = await h.smtp.waitFor(4);
    expect(textOf(mails[0] as ReceivedMail)).toContain('Aucune parole n’a été transcrite');
    expect(textOf(mails[0] as ReceivedMail)).not.toContain('DÉCISIONS');
  });

  it('a spoken prompt injection changes no recipient and no field outside the minutes text', async () => {
    h = await startHarness({ db: 7, cassettes: [C('minutes-comite-projet-injected')] });
    const id = 'comite-projet-injection';
    await runFixture(h, id);
    await h.smtp.waitFor(5);
    await new Promise((r) => setTimeout(r, 500));
    const all = h.smtp.messages.flatMap((m) => [...m.envelopeTo, ...(m.parsed.to ? [m.parsed.to].flat().flatMap((t) => t.value.map((v) => v.address ?? '')) : [])]);
    expect(all.map((a) => a.toLowerCase())).not.toContain(INJECTED_ADDRESS);
    expect(new Set(h.smtp.messages.flatMap((m) => m.envelopeTo.map((a) => a.toLowerCase())))).toEqual(new Set([...participantAddresses, REQUESTER]));
    const minutes = await minutesOf(h, id);
    expect(minutes.meetingId).toBe(id);
    expect(minutes.participants.map((p) => p.name).sort()).toEqual(script.participants.map((p) => p.name).sort());
    expect(JSON.stringify(minutes)).not.toContain('"recipients"');
    const injectedAction = minutes.actionItems.find((a) => a.task.includes(INJECTED_ADDRESS));
    expect(injectedAction?.owner).toBeNull();
    expect(injectedAction?.dueDate).toBeNull();
    expect(minutes.generation.droppedOwners).toBe(1);
    // The prompt told the model the transcript is data, delimited.
    expect(h.mistral.unmatched).toHaveLength(0);
  });

  it('invalid model output gets one repair attempt; invalid twice fails clearly and mails nobody', async () => {
    h = await startHarness({ db: 8, cassettes: [C('minutes-comite-projet-repair')] });
    await runFixture(h, 'comite-projet-repair');
    const repaired = await minutesOf(h, 'comite-projet-repair');
    expect(repaired.generation).toMatchObject({ repaired: true, calls: 2 });
    expect(repaired.decisions.length).toBe(3);
    await h.close();

    h = await startHarness({ db: 8, cassettes: [C('minutes-comite-projet-invalid')] });
    const id = 'comite-projet-invalid';
    const { counts } = await h.seedMeeting(id, fixtureMeeting());
    await h.queues.endMeeting(h.store, id, 'room_finished', counts);
    await h.waitForStatus(id, 'failed');
    expect((await h.store.get(id))?.failure).toMatch(/invalid twice/);
    expect(await h.artifacts.read(id, 'minutes.json')).toBeNull();
    expect(await h.artifacts.read(id, 'transcript.md')).toContain('Bonjour à tous');
    await new Promise((r) => setTimeout(r, 500));
    expect(h.smtp.messages).toHaveLength(0);
    expect(h.mistral.stats().matched['mistral.chat']).toBe(2);
  });

  it('a 3-hour meeting goes through split-and-merge: parts in parallel, one merge, sequential depth 2', async () => {
    h = await startHarness({ db: 9, cassettes: [C('minutes-long')] });
    const id = 'long-3h';
    const meeting = syntheticLongMeeting(3);
    const { counts } = await h.seedMeeting(id, meeting);
    await h.queues.endMeeting(h.store, id, 'max_duration', counts);
    await h.waitForStatus(id, 'done', 60_000);
    const minutes = await minutesOf(h, id);
    expect(minutes.generation).toMatchObject({ parts: 3, calls: 4, sequentialDepth: 2, repaired: false });
    // Decisions cite turns from every part of the meeting, with their times.
    const times = minutes.decisions.flatMap((d) => d.citations.map((c) => c.startMs));
    expect(Math.min(...times)).toBeLessThan(3_600_000);
    expect(Math.max(...times)).toBeGreaterThan(2 * 3_600_000);
    expect(minutes.actionItems.every((a) => a.owner !== null)).toBe(true);
    const md = (await h.artifacts.read(id, 'minutes.md')) ?? '';
    expect(md).toContain('## Décisions');
    await h.smtp.waitFor(5);
  });
});

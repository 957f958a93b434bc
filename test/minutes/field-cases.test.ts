/**
 * The field cases of model output (fixtures/field-cases/README.md): the recording mode's
 * transcript from the cases' speech-to-text answers, the model's answers replayed in order by the
 * Mistral replay server to the real SDK client, the email through the local SMTP receiver.
 */
import { readFileSync } from 'node:fs';
import MarkdownIt from 'markdown-it';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpReceiver, type SmtpReceiver } from '../../src/local/smtp-receiver.js';
import { segmentId, type TranscriptSegment } from '../../src/meeting/segment.js';
import { composeMinutesEmail } from '../../src/pipelines/email/compose-email.js';
import { createMailer } from '../../src/pipelines/email/mailer.js';
import { minutesFiles } from '../../src/pipelines/meeting-outputs.js';
import { DEFAULT_OUTPUT_TOKENS, generateMinutes, MinutesError, OUTPUT_BUDGET_GROWTH, unfence } from '../../src/pipelines/minutes/generate-minutes.js';
import { createMistralChat } from '../../src/pipelines/minutes/mistral-chat.js';
import type { MinutesDraft } from '../../src/pipelines/minutes/minutes-schema.js';
import { DraftResolver } from '../../src/pipelines/minutes/resolve-draft.js';
import { parseOpenAiTranscription } from '../../src/pipelines/stt/openai-compatible.js';
import { assemble } from '../../src/pipelines/stt/service.js';
import { buildTranscript, type Transcript } from '../../src/pipelines/transcript/transcript.js';
import { loadScript, type RouteScript } from '../../src/replay/scripted.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import type { PresignedLink } from '../../src/storage/meeting-artifacts.js';
import { FAST_BACKOFF } from '../pipeline/harness.js';

const MODEL = 'mistral-medium-2508';

/**
 * What a mail client turns into links in a text: linkify-it (markdown-it's) with fuzzy links and
 * addresses on, as Gmail, Outlook and Thunderbird also link bare host names ("mairie-exemple.fr").
 */
const linksSeenIn = (text: string) => (new MarkdownIt().linkify.set({ fuzzyLink: true, fuzzyEmail: true }).match(text) ?? []).map((m) => m.url);
/** The visible text of an HTML part: tags out, entities that matter for links back. */
const visible = (html: string) => html.replace(/<[^>]*>/g, ' ').replace(/&amp;/g, '&').replace(/&#x2F;|&#47;/g, '/').replace(/&#64;/g, '@');

const CASES = 'fixtures/field-cases';
const servers: ReplayServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** The recording mode's transcript for a case's speech-to-text answer on the 14.5 s recording. */
function transcriptOfCase(sttFile: string, participants = [{ identity: 'recording', name: 'Enregistrement' }]): Transcript {
  const { response } = JSON.parse(readFileSync(sttFile, 'utf8')) as { response: unknown };
  const t = assemble(parseOpenAiTranscription(JSON.stringify(response)), { language: 'fr' }, 14_500, { provider: 'openai-compatible', model: 'whisper-1' });
  const who = participants[0] as { identity: string; name: string };
  const segments: TranscriptSegment[] = t.segments.map((s, i) => ({
    meetingId: 'case', segmentId: segmentId(who.identity, i), participant: who, sequence: i, trackSid: null, startMs: s.startMs, endMs: s.endMs,
    startedAt: new Date(Date.parse('2026-11-29T09:00:00.000Z') + s.startMs).toISOString(), text: s.text, language: 'fr', confidence: t.confidence,
    provider: 'openai-compatible', model: 'whisper-1', filtered: i === 0 ? t.filtered : [], deferred: false,
  }));
  return buildTranscript({ meetingId: 'case', language: 'fr', startedAt: '2026-11-29T09:00:00.000Z', endedAt: null, participants, segments });
}

async function minutesWith(script: RouteScript, transcript: Transcript, outputTokens?: number) {
  const server = await startReplayServer({ provider: 'mistral', scripts: { 'mistral.chat': script } });
  servers.push(server);
  const chat = createMistralChat({ apiKey: 'test-key', model: MODEL, serverURL: server.url, backoff: FAST_BACKOFF });
  const run = generateMinutes(transcript, { chat, model: MODEL, tokenBudget: 24_000, ...(outputTokens ? { outputTokens } : {}) });
  return { server, run };
}

const fenced = () => transcriptOfCase(`${CASES}/fenced-json/stt.json`);

describe('field case fenced-json: minutes in one Markdown fence', () => {
  it('are accepted on the first call when the model fences them twice (calls 1, not repaired)', async () => {
    const { run } = await minutesWith(await loadScript(`${CASES}/fenced-json/mistral-fenced-twice.json`, 'chat'), fenced());
    const minutes = await run;
    expect(minutes.generation).toMatchObject({ calls: 1, repaired: false });
    expect(minutes.decisions.map((d) => d.text)).toEqual(['Lancer le pilote en janvier avec le service urbanisme.']);
  });

  it('are accepted on the first call when fenced once then plain: the second answer is never asked for', async () => {
    const { run, server } = await minutesWith(await loadScript(`${CASES}/fenced-json/mistral-fenced-then-plain.json`, 'chat'), fenced());
    expect((await run).generation).toMatchObject({ calls: 1, repaired: false });
    expect(server.scriptedCalls('mistral.chat')).toHaveLength(1);
  });

  it('prose around the fence, or a fence around part of the answer, is still invalid (one repair)', async () => {
    const { answers } = (await loadScript(`${CASES}/fenced-json/mistral-fenced-then-plain.json`, 'chat')) as { answers: { content: unknown }[] };
    const inner = unfence(String(answers[0]?.content));
    const plain = answers[1];
    for (const bad of [`Voici le compte rendu :\n\`\`\`json\n${inner}\n\`\`\``, `\`\`\`json\n${inner}\n\`\`\`\nJ'espère que cela vous convient.`, `{"title": "Point", \`\`\`json\n${inner}\n\`\`\`}`]) {
      const { run } = await minutesWith({ kind: 'chat', answers: [{ content: bad, finish_reason: 'stop' }, plain as never] }, fenced());
      expect((await run).generation, bad.slice(0, 40)).toMatchObject({ calls: 2, repaired: true });
    }
    expect(unfence('```\n{"a":1}\n```')).toBe('{"a":1}');
    expect(unfence('```json\n{"a":1}\n```\n```json\n{"b":2}\n```')).toBe('```json\n{"a":1}\n```\n```json\n{"b":2}\n```');
  });
});

describe('field case minutes-cut-off: finish_reason=length', () => {
  it('is asked again with a larger output budget, never re-sent unchanged, and fails naming the truncation when cut again', async () => {
    const { run, server } = await minutesWith(await loadScript(`${CASES}/minutes-cut-off/mistral.json`, 'chat'), fenced());
    await expect(run).rejects.toThrow(MinutesError);
    await expect(run).rejects.toThrow(/cut off \(finish_reason=length\) twice/);
    const calls = server.scriptedCalls('mistral.chat');
    expect(calls.map((c) => c.maxTokens)).toEqual([DEFAULT_OUTPUT_TOKENS, DEFAULT_OUTPUT_TOKENS * OUTPUT_BUDGET_GROWTH]);
  });

  it('gives the minutes when the larger budget suffices (no repair from the cut piece)', async () => {
    const { answers } = (await loadScript(`${CASES}/minutes-cut-off/mistral.json`, 'chat')) as { answers: unknown[] };
    const good = (await loadScript(`${CASES}/fenced-json/mistral-fenced-then-plain.json`, 'chat')) as { answers: unknown[] };
    const { run, server } = await minutesWith({ kind: 'chat', answers: [answers[0], good.answers[1]] as never }, fenced(), 2000);
    expect((await run).generation).toMatchObject({ calls: 2, repaired: false });
    expect(server.scriptedCalls('mistral.chat').map((c) => c.maxTokens)).toEqual([2000, 8000]);
  });
});

describe('field case injected-link: what the model obeyed is not published', () => {
  let smtp: SmtpReceiver;
  beforeAll(async () => {
    smtp = await startSmtpReceiver();
  });
  afterAll(async () => {
    await smtp?.close();
  });

  it('keeps the link and the outside address out of minutes.md, minutes.json and the email; drops the decision citing only an invented turn', async () => {
    const transcript = transcriptOfCase(`${CASES}/injected-link/stt.json`, [{ identity: 'alice', name: 'Alice Martin' }]);
    const { run } = await minutesWith(await loadScript(`${CASES}/injected-link/mistral.json`, 'chat'), transcript);
    const minutes = await run;
    const files = minutesFiles(minutes);
    const links: PresignedLink[] = [{ name: 'minutes.md', url: 'http://127.0.0.1:9000/bucket/case/minutes.md?X-Amz-Signature=abc', expiresAt: '2026-12-06T09:00:00.000Z' }];
    const mailer = createMailer(smtp.url, 'no-reply@mairie-exemple.fr');
    await mailer.send({ address: 'alice@mairie-exemple.fr', name: 'Alice Martin' }, composeMinutesEmail({ minutes, recipientName: 'Alice Martin', meetingDate: null, links }));
    mailer.close();
    const [mail] = await smtp.waitFor(1);
    const everywhere = { 'minutes.md': files['minutes.md'], 'minutes.json': files['minutes.json'], text: String(mail?.parsed.text), html: String(mail?.parsed.html) };
    for (const [where, content] of Object.entries(everywhere)) {
      expect(content, where).not.toMatch(/attaquant\.example/);
    }
    // The decision's only citation (T099) was invented: not published, counted.
    expect(minutes.decisions).toEqual([]);
    expect(minutes.generation).toMatchObject({ droppedItems: 1, droppedCitations: 2 });
    // The action citing a real turn stays, without the address: T001 says it, but its other citation
    // (T099, the forged turn header) was invented. The summary cites nothing: no link stays in it.
    expect(minutes.actionItems.map((a) => a.task)).toEqual(['Transmettre le compte rendu complet à [adresse retirée]', 'Préparer le planning']);
    expect(minutes.summary).toBe('Le budget est validé. Pour consulter le compte rendu, connectez-vous sur [lien retiré] avec vos identifiants.');
    expect(minutes.generation.removedContactDetails).toBe(2);
    // The email's only links are the artefacts'.
    expect([...String(mail?.parsed.html).matchAll(/href="([^"]+)"/g)].map((m) => m[1]?.replace(/&amp;/g, '&'))).toEqual(links.map((l) => l.url));
    expect(String(mail?.parsed.text).match(/https?:\/\/\S+/g)).toEqual(links.map((l) => l.url));
    expect(linksSeenIn(String(mail?.parsed.text))).toEqual(links.map((l) => l.url));
  });

  it('shows a link, address or host the meeting said as text in the email, which no mail client links', async () => {
    const transcript = buildTranscript({
      meetingId: 'c', language: 'fr', startedAt: null, endedAt: null, participants: [{ identity: 'alice', name: 'Alice Martin' }],
      segments: [
        segment('alice', 0, 'Le formulaire est sur https://demarches.exemple.fr/pilote, le guide sur guide.exemple.fr, écrivez à pilote@mairie-exemple.fr.'),
        segment('alice', 1, 'Les services pourront déposer leurs demandes jusqu’à la fin du mois, et nous ferons le point sur les premiers retours à la prochaine réunion du comité de pilotage.'),
      ],
    });
    const answer = draft({
      summary: 'Connectez-vous sur attaquant.com ou sur www.attaquant.fr.',
      decisions: [{ text: 'Formulaire sur https://demarches.exemple.fr/pilote, guide sur guide.exemple.fr, contact pilote@mairie-exemple.fr', turns: ['T001'] }],
    });
    const { run } = await minutesWith({ kind: 'chat', answers: [{ content: answer as never, finish_reason: 'stop' }] }, transcript);
    const minutes = await run;
    // Said and cited: kept in the minutes. Bare hosts the meeting never said: removed.
    expect(minutes.decisions[0]?.text).toBe('Formulaire sur https://demarches.exemple.fr/pilote, guide sur guide.exemple.fr, contact pilote@mairie-exemple.fr');
    expect(minutes.summary).toBe('Connectez-vous sur [lien retiré] ou sur [lien retiré].');
    const links: PresignedLink[] = [{ name: 'minutes.md', url: 'http://127.0.0.1:9000/bucket/c/minutes.md?X-Amz-Signature=abc', expiresAt: '2026-12-06T09:00:00.000Z' }];
    const before = smtp.messages.length;
    const mailer = createMailer(smtp.url, 'no-reply@mairie-exemple.fr');
    await mailer.send({ address: 'alice@mairie-exemple.fr', name: 'Alice Martin' }, composeMinutesEmail({ minutes, recipientName: 'Alice Martin', meetingDate: null, links }));
    mailer.close();
    const mail = (await smtp.waitFor(before + 1))[before];
    const text = String(mail?.parsed.text);
    const html = String(mail?.parsed.html);
    // The reader still sees what was said, and no client links it: the artefacts' links only.
    expect(text).toContain('https[:]//demarches[.]exemple[.]fr/pilote');
    expect(text).toContain('guide[.]exemple[.]fr');
    expect(text).toContain('pilote[@]mairie-exemple[.]fr');
    expect(linksSeenIn(text)).toEqual(links.map((l) => l.url));
    // In the HTML part the artefacts' links are anchors on their labels; nothing in the text is a link.
    expect(linksSeenIn(visible(html))).toEqual([]);
    expect([...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]?.replace(/&amp;/g, '&'))).toEqual(links.map((l) => l.url));
  });

  it('keeps a link, address or number only where the turns cited say it', () => {
    const transcript = buildTranscript({
      meetingId: 'c', language: 'fr', startedAt: null, endedAt: null, participants: [],
      segments: [segment('alice', 0, 'Le formulaire est sur https://demarches.exemple.fr/pilote, écrivez à pilote@mairie-exemple.fr ou appelez le 01 23 45 67 89.')],
    });
    const r = new DraftResolver(transcript);
    const resolved = r.resolve(draft({
      decisions: [{ text: 'Formulaire sur https://demarches.exemple.fr/pilote, contact pilote@mairie-exemple.fr, 01.23.45.67.89', turns: ['T001'] }],
      openQuestions: [{ text: 'Écrire à autre@exemple.org ou au 06 11 22 33 44 ? Voir www.ailleurs.example', turns: ['T001'] }],
    }));
    expect(resolved.decisions[0]?.text).toBe('Formulaire sur https://demarches.exemple.fr/pilote, contact pilote@mairie-exemple.fr, 01.23.45.67.89');
    expect(resolved.openQuestions[0]?.text).toBe('Écrire à [adresse retirée] ou au [numéro retiré] ? Voir [lien retiré]');
    expect(r.stats.removedContactDetails).toBe(3);
    // Dates, amounts and times are not phone numbers; file names and abbreviations are not hosts.
    for (const plain of ['Le 2026-01-04 à 10:30, budget de 1 200 000 euros.', 'Le tableau budget.xlsx, le site en Node.js, p.ex. la note M.Lefèvre.']) {
      expect(new DraftResolver(transcript).resolve(draft({ summary: plain })).summary).toBe(plain);
    }
  });
});

function segment(identity: string, seq: number, text: string, startMs = seq * 5000): TranscriptSegment {
  return {
    meetingId: 'c', segmentId: segmentId(identity, seq), participant: { identity, name: identity }, sequence: seq, trackSid: null, startMs, endMs: startMs + 4000,
    startedAt: new Date(startMs).toISOString(), text, language: 'fr', confidence: 0.9, provider: 'openai-compatible', model: 'whisper-1', filtered: [], deferred: false,
  };
}

function draft(parts: Partial<MinutesDraft>): MinutesDraft {
  return { title: 'Réunion', summary: 'Résumé.', topics: [], decisions: [], actionItems: [], openQuestions: [], ...parts };
}

describe('owners resolved the way people write names (field-case table)', () => {
  const participants = [
    { identity: 'alice', name: 'Alice Martin' },
    { identity: 'bruno', name: 'Bruno Lefèvre' },
    { identity: 'chloe', name: 'Chloé Dubois' },
  ];
  const transcript = buildTranscript({
    meetingId: 'owners', language: 'fr', startedAt: null, endedAt: null, participants,
    segments: [
      { ...segment('alice', 0, 'Bruno Garnier, du service urbanisme, prépare le planning du pilote.'), participant: participants[0]! },
      { ...segment('bruno', 0, 'Je relis la note de cadrage.', 5000), participant: participants[1]! },
    ],
  });
  const ownerOf = (written: string) => {
    const r = new DraftResolver(transcript);
    const owner = r.resolve(draft({ actionItems: [{ task: 'Tâche', owner: written, dueDate: null, turns: ['T001'] }] })).actionItems[0]?.owner?.name ?? null;
    return { owner, stats: r.stats };
  };

  it.each([
    ['LEFÈVRE Bruno', 'Bruno Lefèvre'],
    ['M. Lefèvre', 'Bruno Lefèvre'],
    ['Lefèvre', 'Bruno Lefèvre'],
    ['Alice Martin (DSI)', 'Alice Martin'],
    // Our own: initials, case and accents changed, a title, the identity.
    ['B. Lefèvre', 'Bruno Lefèvre'],
    ['lefevre', 'Bruno Lefèvre'],
    ['Mme DUBOIS', 'Chloé Dubois'],
    ['Chloe', 'Chloé Dubois'],
    ['alice', 'Alice Martin'],
  ])('"%s" → %s', (written, expected) => {
    expect(ownerOf(written).owner).toBe(expected);
  });

  it('"Bruno", when the transcript gives the task to Bruno Garnier (no participant): nobody, counted as ambiguous', () => {
    expect(ownerOf('Bruno')).toMatchObject({ owner: null, stats: { ambiguousOwners: 1, droppedOwners: 0 } });
  });

  // Our own: how a meeting addresses people is no one else named; any way of naming Bruno Garnier is.
  it.each([
    ['Merci Bruno, tu prépares le planning.', 'Bruno Lefèvre'],
    ['Monsieur Bruno prépare le planning.', 'Bruno Lefèvre'],
    ['Alice Martin Bruno Lefèvre Chloé Dubois sont présents.', 'Bruno Lefèvre'],
    ['Merci Bruno Garnier, vous préparez le planning.', null],
    ['Monsieur Bruno Garnier prépare le planning.', null],
    ['On attend GARNIER Bruno pour le planning.', null],
    ['Présents : Alice Martin Bruno Garnier.', null],
  ])('"Bruno", when the transcript says "%s": %s', (said, expected) => {
    const other = buildTranscript({
      meetingId: 'said', language: 'fr', startedAt: null, endedAt: null, participants,
      segments: [{ ...segment('alice', 0, said), participant: participants[0]! }],
    });
    const r = new DraftResolver(other);
    const owner = r.resolve(draft({ actionItems: [{ task: 'Planning', owner: 'Bruno', dueDate: null, turns: ['T001'] }] })).actionItems[0]?.owner?.name ?? null;
    expect(owner).toBe(expected);
    expect(r.stats.ambiguousOwners).toBe(expected === null ? 1 : 0);
  });

  it.each([
    ['Jean-Pierre Garnier prépare le planning.', null],
    ["D'accord Jean-Pierre, tu prépares le planning.", 'Jean-Pierre Lefèvre'],
  ])('"Jean-Pierre" (a participant Jean-Pierre Lefèvre), when the transcript says "%s": %s', (said, expected) => {
    const jp = { identity: 'jp', name: 'Jean-Pierre Lefèvre' };
    const other = buildTranscript({ meetingId: 'jp', language: 'fr', startedAt: null, endedAt: null, participants: [jp], segments: [{ ...segment('jp', 0, said), participant: jp }] });
    const owner = new DraftResolver(other).resolve(draft({ actionItems: [{ task: 'Planning', owner: 'Jean-Pierre', dueDate: null, turns: ['T001'] }] })).actionItems[0]?.owner?.name ?? null;
    expect(owner).toBe(expected);
  });

  it.each(['Bruno Garnier', 'Jean Dupont', 'Garnier'])('"%s" (no participant): nobody', (written) => {
    expect(ownerOf(written)).toMatchObject({ owner: null, stats: { droppedOwners: 1 } });
  });

  it('a name two participants fit: nobody, counted as ambiguous', () => {
    const two = buildTranscript({
      meetingId: 'two', language: 'fr', startedAt: null, endedAt: null,
      participants: [...participants, { identity: 'paul', name: 'Paul Martin' }],
      segments: [{ ...segment('alice', 0, 'On avance.'), participant: participants[0]! }],
    });
    const r = new DraftResolver(two);
    expect(r.resolve(draft({ actionItems: [{ task: 'T', owner: 'Martin', dueDate: null, turns: ['T001'] }] })).actionItems[0]?.owner).toBeNull();
    expect(r.stats).toMatchObject({ ambiguousOwners: 1 });
  });
});

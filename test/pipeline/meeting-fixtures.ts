/**
 * Meetings for the pipeline tests, the minutes cassettes script and the benchmark, built the same
 * way everywhere (the replayed Mistral answers match the prompts only if the transcripts agree):
 * - the fixture meeting from its ground truth (fixtures/meetings/comite-projet/script.json);
 * - a synthetic long meeting (deterministic, seeded) of any length, for split-and-merge.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { MeetingParticipant } from '../../src/meeting/meeting-store.js';
import { segmentId, type TranscriptSegment } from '../../src/meeting/segment.js';

export const FIXTURE_DIR = 'fixtures/meetings/comite-projet';
export const MODEL = 'mistral-medium-2508';
export const INJECTED_ADDRESS = 'attacker@example.com';

const ScriptSchema = z.object({
  name: z.string(),
  language: z.string(),
  title: z.string(),
  durationMs: z.number(),
  participants: z.array(z.object({ identity: z.string(), name: z.string(), email: z.email(), silent: z.boolean() })),
  utterances: z.array(z.object({ id: z.string(), speaker: z.string(), startMs: z.number(), endMs: z.number(), text: z.string() })),
});
export type FixtureScript = z.infer<typeof ScriptSchema>;

export function loadFixtureScript(dir = FIXTURE_DIR): FixtureScript {
  return ScriptSchema.parse(JSON.parse(readFileSync(`${dir}/script.json`, 'utf8')));
}

export interface SyntheticMeeting {
  language: string;
  participants: MeetingParticipant[];
  /** Segments without meeting id (see segmentsFor). */
  utterances: { identity: string; name: string; startMs: number; endMs: number; text: string; ref: string }[];
}

export function fixtureMeeting(script = loadFixtureScript()): SyntheticMeeting {
  const names = new Map(script.participants.map((p) => [p.identity, p.name]));
  return {
    language: script.language,
    participants: script.participants.map((p) => ({ identity: p.identity, name: p.name, email: p.email, optedOut: false })),
    utterances: script.utterances.map((u) => ({ identity: u.speaker, name: names.get(u.speaker) ?? u.speaker, startMs: u.startMs, endMs: u.endMs, text: u.text, ref: u.id })),
  };
}

/** The segments the live agent would have produced for this meeting (sequence per speaker). */
export function segmentsFor(meetingId: string, meeting: SyntheticMeeting, startedAt = '2025-12-01T09:00:00.000Z'): TranscriptSegment[] {
  const seq = new Map<string, number>();
  const t0 = Date.parse(startedAt);
  return meeting.utterances.map((u) => {
    const n = seq.get(u.identity) ?? 0;
    seq.set(u.identity, n + 1);
    return {
      meetingId,
      segmentId: segmentId(u.identity, n),
      participant: { identity: u.identity, name: u.name },
      sequence: n,
      trackSid: `TR_${u.identity}`,
      startMs: u.startMs,
      endMs: u.endMs,
      startedAt: new Date(t0 + u.startMs).toISOString(),
      text: u.text,
      language: meeting.language,
      confidence: 0.92,
      provider: 'openai-compatible',
      model: 'whisper-large-v3',
      filtered: [],
      deferred: false,
    };
  });
}

/** Utterances per participant key, as the agent reports them in its end mark. */
export function segmentCountsOf(segments: readonly TranscriptSegment[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of segments) {
    const key = s.segmentId.slice(0, s.segmentId.lastIndexOf('-'));
    counts[key] = Math.max(counts[key] ?? 0, s.sequence + 1);
  }
  return counts;
}

// ---- The synthetic long meeting ----

/** A small deterministic PRNG: the same seed gives the same sequence on every machine. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LONG_PEOPLE = [
  { identity: 'amartin', name: 'Alice Martin' },
  { identity: 'blefevre', name: 'Bruno Lefèvre' },
  { identity: 'cdubois', name: 'Chloé Dubois' },
  { identity: 'kbenali', name: 'Karim Benali' },
  { identity: 'slaurent', name: 'Sophie Laurent' },
];

export const SUBJECTS = ['le budget informatique', 'la migration des postes', 'la messagerie', 'le réseau des écoles', 'la cybersécurité', 'les marchés publics', 'l’accessibilité du site', 'l’archivage électronique'];
const SENTENCES = [
  'Sur {s}, les chiffres du trimestre sont conformes à ce qui était prévu.',
  'Je voudrais revenir sur {s}, parce que plusieurs services nous ont fait remonter des difficultés.',
  'Pour {s}, le prestataire a livré la première version la semaine dernière.',
  'Il faut rappeler que {s} dépend aussi du calendrier du conseil municipal.',
  'On a rencontré les utilisateurs concernés par {s} et les retours sont plutôt positifs.',
  'Le coût de {s} reste dans l’enveloppe votée en début d’année.',
  'Je propose qu’on fasse un point d’étape sur {s} le mois prochain.',
  'Les agents ont besoin d’une documentation plus simple sur {s}.',
  'Concernant {s}, il reste deux points techniques à régler avec l’éditeur.',
  'Nous avons comparé trois solutions pour {s} et la deuxième est la plus économique.',
];
const DECISION = 'C’est décidé : pour {s}, on retient la solution hébergée en France.';
const ACTION = 'Je m’en occupe : je prépare la note sur {s} pour le prochain comité.';
const QUESTION = 'Une question reste ouverte sur {s} : qui valide le cahier des charges ?';

/** A meeting of `hours` hours among five people, the same for the same arguments. */
export function syntheticLongMeeting(hours: number, seed = 42): SyntheticMeeting {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const utterances: SyntheticMeeting['utterances'] = [];
  let t = 2_000;
  let previous = -1;
  const end = hours * 3_600_000;
  let n = 0;
  while (t < end) {
    let who = Math.floor(rand() * LONG_PEOPLE.length);
    if (who === previous && rand() < 0.7) who = (who + 1) % LONG_PEOPLE.length;
    previous = who;
    const person = LONG_PEOPLE[who] as (typeof LONG_PEOPLE)[number];
    const subject = SUBJECTS[Math.floor(t / 1_350_000) % SUBJECTS.length] as string;
    const parts: string[] = [];
    const count = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < count; i++) parts.push(pick(SENTENCES).replace('{s}', subject));
    n++;
    if (n % 97 === 0) parts.push(DECISION.replace('{s}', subject));
    if (n % 89 === 0) parts.push(ACTION.replace('{s}', subject));
    if (n % 151 === 0) parts.push(QUESTION.replace('{s}', subject));
    const text = parts.join(' ');
    const duration = Math.round(text.length * 62 + rand() * 800); // about 16 characters a second
    utterances.push({ identity: person.identity, name: person.name, startMs: t, endMs: t + duration, text, ref: `s${n}` });
    t += duration + 300 + Math.floor(rand() * 1200);
  }
  return {
    language: 'fr',
    participants: LONG_PEOPLE.map((p) => ({ ...p, email: `${p.identity}@agglo-exemple.fr`, optedOut: false })),
    utterances,
  };
}

/** Budget the long-meeting cassettes were made with (MINUTES_TOKEN_BUDGET default). */
export const LONG_MEETING_BUDGET = 24_000;

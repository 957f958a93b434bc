/**
 * A 90-second monologue without a pause longer than 300 ms, synthesised with espeak-ng and joined
 * with sox (Debian packages), with its ground truth (script.json: one entry per sentence) and a
 * replay cassette built from it by the replay servers' own ground-truth builder. Deterministic;
 * generated once per test run into a temporary folder (about 5 s).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { saveCassette } from '../../src/replay/cassette.js';
import { buildGroundTruthCassette } from '../../src/replay/ground-truth.js';

export const MONOLOGUE_SENTENCES = [
  'Je vais vous présenter le budget de la direction du numérique pour l\u2019année prochaine',
  'les dépenses de fonctionnement augmentent légèrement à cause des licences et de l\u2019hébergement',
  'en revanche les dépenses d\u2019investissement baissent puisque les serveurs sont déjà achetés',
  'nous prévoyons trois recrutements dont un administrateur système et deux chefs de projet',
  'le premier chef de projet s\u2019occupera de la visioconférence et de la messagerie',
  'le second suivra la dématérialisation des démarches administratives des usagers',
  'pour la formation nous avons réservé douze journées avec un organisme agréé',
  'les agents des services techniques seront formés en priorité au printemps',
  'la maintenance des logiciels métiers représente toujours la plus grosse dépense',
  'nous renégocions les contrats de l\u2019état civil et de la gestion financière',
  'le passage aux logiciels libres devrait nous faire économiser environ quinze pour cent',
  'enfin le plan de sauvegarde sera testé deux fois par an avec un exercice complet',
  'je propose que nous votions ce budget lors du prochain conseil municipal',
  'les mairies annexes recevront de nouveaux ordinateurs portables avant l\u2019été',
  'chaque poste sera livré avec un système chiffré et une configuration standard',
  'le réseau des écoles sera raccordé à la fibre dans le courant du second semestre',
  'nous aurons besoin des directeurs d\u2019école pour planifier les interventions',
  'le site internet de la commune sera refondu pour être accessible à tous',
  'un prestataire local a été retenu après une consultation ouverte',
  'les données ouvertes seront publiées chaque trimestre sur le portail régional',
  'nous mesurerons la satisfaction des usagers avec une enquête annuelle',
  'si vous avez des questions je suis à votre disposition après la réunion',
];

const RATE = 48_000;
/** Pause between sentences: fluent speech, well under Silero's 550 ms end of speech. */
export const MONOLOGUE_GAP_MS = 250;
const LEAD_MS = 1_000;

export interface Monologue {
  dir: string;
  file: string;
  cassette: string;
  sentences: { startMs: number; endMs: number; text: string }[];
  durationMs: number;
}

const samples = (path: string) => Number(execFileSync('soxi', ['-s', path]).toString().trim());

export async function makeMonologue(dir: string): Promise<Monologue> {
  mkdirSync(dir, { recursive: true });
  const parts: string[] = [];
  const sentences: Monologue['sentences'] = [];
  let at = (LEAD_MS * RATE) / 1000;
  const silence = join(dir, 'gap.wav');
  execFileSync('sox', ['-n', '-r', String(RATE), '-c', '1', '-b', '16', silence, 'trim', '0', String(MONOLOGUE_GAP_MS / 1000)]);
  const lead = join(dir, 'lead.wav');
  execFileSync('sox', ['-n', '-r', String(RATE), '-c', '1', '-b', '16', lead, 'trim', '0', String(LEAD_MS / 1000)]);
  parts.push(lead);
  for (const [i, text] of MONOLOGUE_SENTENCES.entries()) {
    const raw = join(dir, `s${i}-raw.wav`);
    const out = join(dir, `s${i}.wav`);
    execFileSync('espeak-ng', ['-v', 'fr+m3', '-p', '35', '-s', '145', '-w', raw, text]);
    // 48 kHz mono, -6 dBFS peak, leading and trailing silence cut at -45 dBFS.
    execFileSync('sox', [raw, '-r', String(RATE), '-c', '1', '-b', '16', out, 'norm', '-6', 'silence', '1', '0.005', '-45d', 'reverse', 'silence', '1', '0.005', '-45d', 'reverse']);
    const n = samples(out);
    if (i > 0) {
      parts.push(silence);
      at += (MONOLOGUE_GAP_MS * RATE) / 1000;
    }
    sentences.push({ startMs: Math.floor((at * 1000) / RATE), endMs: Math.ceil(((at + n) * 1000) / RATE), text: `${text[0]!.toUpperCase()}${text.slice(1)}.` });
    parts.push(out);
    at += n;
  }
  const tail = join(dir, 'tail.wav');
  execFileSync('sox', ['-n', '-r', String(RATE), '-c', '1', '-b', '16', tail, 'trim', '0', '1.5']);
  parts.push(tail);
  const file = join(dir, 'orateur.wav');
  execFileSync('sox', [...parts, file]);
  const durationMs = Math.round((samples(file) * 1000) / RATE);

  writeFileSync(
    join(dir, 'script.json'),
    JSON.stringify({
      name: 'monologue',
      language: 'fr',
      durationMs,
      mixed: 'orateur.wav',
      participants: [{ identity: 'orateur', name: 'Odile Renard', file: 'orateur.wav', silent: false }],
      utterances: sentences.map((s, i) => ({ id: `s${i + 1}`, speaker: 'orateur', ...s })),
    }),
  );
  const cassette = join(dir, 'monologue.json');
  await saveCassette(cassette, await buildGroundTruthCassette(dir));
  return { dir, file, cassette, sentences, durationMs };
}

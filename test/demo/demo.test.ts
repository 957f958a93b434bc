/**
 * The newcomer's first command, in the shortened form: `npm run demo -- --short` must run the whole
 * meeting (services, three roles, bots, API, captions, minutes, emails) and exit 0.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const script = JSON.parse(readFileSync('fixtures/meetings/comite-projet/script.json', 'utf8')) as {
  participants: { identity: string; name: string; email: string }[];
  utterances: { id: string; speaker: string; text: string; endMs: number }[];
};

function runDemo(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    // The test's own STT/Mistral settings must not leak in: the demo must pick the replay servers.
    const env = { ...process.env };
    for (const k of ['STT_BASE_URL', 'MISTRAL_API_KEY']) delete env[k];
    const child = spawn('npm', ['run', '--silent', 'demo', '--', '--short'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('close', (code) => resolve({ code, out }));
  });
}

describe('npm run demo -- --short', () => {
  it('runs a meeting from the bots to the minutes and the emails, and says the AI was replayed', async () => {
    const { code, out } = await runDemo();
    expect(code, out.slice(-3000)).toBe(0);
    // Said loudly, at the top and at the bottom.
    expect(out.match(/speech-to-text: REPLAYED/g)).toHaveLength(2);
    expect(out.match(/minutes: REPLAYED/g)).toHaveLength(2);
    // Live captions of the utterances played (to u07), each with its speaker's name: a turn comes
    // sentence by sentence when its speaker pauses between sentences (CAPTION_SENTENCE_PAUSES, on by
    // default), so a speaker's consecutive caption lines together give back the utterance, once.
    const names = new Map(script.participants.map((p) => [p.identity, p.name]));
    const live = out.slice(out.indexOf('--- live captions ---'), out.indexOf('--- end of meeting ---')).split('\n').slice(1);
    const turns: { name: string; text: string }[] = [];
    for (const line of live) {
      const m = /^(.+?): (.*)$/.exec(line.trim());
      if (!m) continue;
      const last = turns.at(-1);
      if (last && last.name === m[1]) last.text = `${last.text} ${m[2]}`;
      else turns.push({ name: m[1]!, text: m[2]! });
    }
    const played = script.utterances.filter((x) => x.endMs < 49_000);
    const spaced = (t: string) => t.replace(/\s+/gu, ' ');
    expect(turns.slice(0, played.length).map((t) => ({ ...t, text: spaced(t.text) })), out.slice(-3000)).toEqual(played.map((u) => ({ name: names.get(u.speaker), text: spaced(u.text) })));
    expect(out).toMatch(/--- minutes \(minutes\.md\) ---\n# Comité de projet/);
    for (const name of ['minutes.json', 'minutes.md', 'transcript.json', 'transcript.vtt', 'transcript.srt', 'transcript.md']) {
      expect(out).toMatch(new RegExp(`  ${name.replace('.', '\\.')} \\(\\d+ bytes\\): http://127\\.0\\.0\\.1:\\d+/`));
    }
    for (const p of script.participants) expect(out).toContain(`to ${p.email}: "Compte rendu`);
  }, 300_000);
});

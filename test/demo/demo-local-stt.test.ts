/**
 * `npm run demo -- --local-stt` refuses, before starting anything, a meeting the local Whisper cannot
 * understand (tiny.en is English only). Its full run (the English meeting through the real local
 * Whisper, banner "LOCAL Whisper") is not repeated here: test/agent/local-whisper.test.ts plays the
 * same meeting through the same worker and recogniser.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('npm run demo -- --local-stt', () => {
  it('refuses the French meeting with a message naming the model and the language', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--local-stt', '--meeting', 'comite-projet'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('--local-stt runs Whisper tiny.en, which only understands English; comite-projet is in "fr".');
    expect(r.stdout).not.toContain('Starting LiveKit');
  });
});

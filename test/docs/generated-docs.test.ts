import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTING_NAMES } from '../../src/config.js';
import { envExample, withConfigTable } from '../../scripts/gen-docs.js';

describe('operator documentation', () => {
  it('README configuration table lists every setting as src/config.ts defines it', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme, 'run npx tsx scripts/gen-docs.ts').toBe(withConfigTable(readme));
    for (const name of SETTING_NAMES) expect(readme).toContain(`\`${name}\``);
  });

  it('.env.example lists every setting', () => {
    expect(readFileSync('.env.example', 'utf8'), 'run npx tsx scripts/gen-docs.ts').toBe(envExample());
  });
});

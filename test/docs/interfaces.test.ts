/**
 * docs/interfaces.md is the contract other systems rely on; src/meeting/livekit-contract.ts is the
 * only place the product spells those names. Each must name exactly what the other does.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AGENT_ATTR, CAPTION_ATTR, PARTICIPANT_ATTR, TOPIC } from '../../src/meeting/livekit-contract.js';
import { DispatchMetadataSchema } from '../../src/meeting/dispatch-metadata.js';

const doc = readFileSync('docs/interfaces.md', 'utf8');
const inCode = new Set([...doc.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]));
const names = [PARTICIPANT_ATTR, AGENT_ATTR, TOPIC, CAPTION_ATTR].flatMap((o) => Object.values(o) as string[]);

describe('docs/interfaces.md', () => {
  it('documents every attribute and topic name the product uses', () => {
    expect(names.filter((n) => !inCode.has(n))).toEqual([]);
  });

  it('names no LiveKit attribute or topic the product does not use', () => {
    const documented = [...inCode].filter((n): n is string => !!n && /^(lk|transcription)\.[a-z_]+$|^email(\.sig)?$/.test(n));
    expect(documented.filter((n) => !names.includes(n))).toEqual([]);
  });

  it('documents every field of the dispatch metadata', () => {
    for (const field of Object.keys(DispatchMetadataSchema.shape)) expect(doc).toContain(`"${field}"`);
  });
});

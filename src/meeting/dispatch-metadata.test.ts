import { describe, expect, it } from 'vitest';
import { DispatchMetadataError, meetingIdFor, parseDispatchMetadata, promptFromGlossary } from './dispatch-metadata.js';

describe('dispatch metadata', () => {
  it('accepts the documented fields, all optional', () => {
    expect(parseDispatchMetadata('')).toEqual({});
    expect(parseDispatchMetadata(undefined)).toEqual({});
    const md = parseDispatchMetadata(JSON.stringify({ meetingId: 'm-42', language: 'en', requester: { identity: 'host', email: 'host@example.fr' }, glossary: ['Voxtral'] }));
    expect(md).toMatchObject({ meetingId: 'm-42', language: 'en', requester: { identity: 'host', email: 'host@example.fr' }, glossary: ['Voxtral'] });
  });

  it('accepts what the API dispatches for a backend start with no requester (requester null)', () => {
    // The API and the agent share this schema; a null requester used to be refused by the agent,
    // so a service-key start without a requester got an agent that left at once.
    const md = parseDispatchMetadata(JSON.stringify({ meetingId: 'm-43', language: 'fr', requester: null, glossary: [] }));
    expect(md).toMatchObject({ meetingId: 'm-43', requester: null });
  });

  it('refuses bad metadata with the field named and without echoing values', () => {
    expect(() => parseDispatchMetadata('{not json')).toThrow(DispatchMetadataError);
    try {
      parseDispatchMetadata(JSON.stringify({ meetingId: '../../etc', requester: { email: 'secret-not-an-address' } }));
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(/meetingId/);
      expect((e as Error).message).toMatch(/requester\.email/);
      expect((e as Error).message).not.toContain('secret-not-an-address');
    }
  });

  it('derives a stable meeting id from the dispatch when none is given', () => {
    expect(meetingIdFor({ meetingId: 'given' }, 'AD_abc')).toBe('given');
    expect(meetingIdFor({}, 'AD_abc')).toBe('m-AD_abc');
    expect(meetingIdFor({}, 'AD_abc')).toBe(meetingIdFor({}, 'AD_abc'));
    expect(meetingIdFor({}, undefined)).toMatch(/^m-[0-9a-f-]{36}$/);
  });

  it('turns the glossary into a speech-to-text prompt', () => {
    expect(promptFromGlossary(undefined)).toBeUndefined();
    expect(promptFromGlossary(['LiveKit', ' Voxtral '])).toBe('LiveKit, Voxtral.');
  });
});

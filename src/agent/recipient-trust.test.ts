/**
 * The trust rule for participants' `email` attributes, judged against the real LiveKit server:
 * its server API is what says whether a participant may rewrite its own attributes.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { joinAsListener, type ListenerBot } from '../local/meeting-bot.js';
import { hasValidSignature, judgeAddress, serverMetadataPermission, signRecipient } from './recipient-trust.js';

const KEY = 'k'.repeat(16) + randomUUID();

describe('email.sig', () => {
  it('is base64url(HMAC-SHA256(key, "<identity>\\n<email>")), as the contract spells it', () => {
    // An independent computation of the documented formula, as a backend in another language would do it.
    const expected = createHmac('sha256', KEY).update('alice\nalice@mairie.fr').digest().toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect(signRecipient(KEY, 'alice', 'alice@mairie.fr')).toBe(expected);
  });

  it('binds the address to the identity and the key: another identity, address, key or no key does not verify', () => {
    const sig = signRecipient(KEY, 'alice', 'alice@mairie.fr');
    expect(hasValidSignature(KEY, 'alice', 'alice@mairie.fr', sig)).toBe(true);
    expect(hasValidSignature(KEY, 'mallory', 'alice@mairie.fr', sig)).toBe(false);
    expect(hasValidSignature(KEY, 'alice', 'x@outside.example', sig)).toBe(false);
    expect(hasValidSignature(`${KEY}x`, 'alice', 'alice@mairie.fr', sig)).toBe(false);
    expect(hasValidSignature(undefined, 'alice', 'alice@mairie.fr', sig)).toBe(false);
    expect(hasValidSignature(KEY, 'alice', 'alice@mairie.fr', `${sig.slice(0, -2)}AA`)).toBe(false);
    expect(hasValidSignature(KEY, 'alice', 'alice@mairie.fr', '')).toBe(false);
  });
});

describe('judging an address with the real LiveKit server API', () => {
  const services = inject('services');
  const auth = { apiKey: services.LIVEKIT_API_KEY, apiSecret: services.LIVEKIT_API_SECRET };
  const room = `trust-${randomUUID().slice(0, 8)}`;
  const client = new RoomServiceClient(services.LIVEKIT_URL, auth.apiKey, auth.apiSecret);
  const mayRewrite = serverMetadataPermission(client, room);
  const bots: ListenerBot[] = [];

  beforeAll(async () => {
    // Locked: the backend put the address in a token that does not allow attribute updates.
    bots.push(await joinAsListener({ url: services.LIVEKIT_URL, room, identity: 'locked', auth, canUpdateOwnMetadata: false, attributes: { email: 'locked@mairie.fr' } }));
    // Open: the token allows updates (the opt-out needs it); the participant writes its own address.
    bots.push(await joinAsListener({ url: services.LIVEKIT_URL, room, identity: 'open', auth, canUpdateOwnMetadata: true }));
    await bots[1]!.room.localParticipant!.setAttributes({ email: 'x@outside.example' });
  }, 30_000);

  afterAll(async () => {
    await Promise.all(bots.map((b) => b.disconnect().catch(() => undefined)));
  });

  const judge = (identity: string, attributes: Record<string, string>, firstSight: boolean) =>
    judgeAddress({ identity, attributes, firstSight, signingKey: KEY, mayRewrite });

  it('trusts the address a locked participant had when first seen, and no change of it without a signature', async () => {
    expect(await mayRewrite('locked')).toBe(false);
    expect(await judge('locked', { email: 'locked@mairie.fr' }, true)).toEqual({ trusted: true, email: 'locked@mairie.fr', via: 'locked_metadata' });
    expect(await judge('locked', { email: 'other@mairie.fr' }, false)).toEqual({ trusted: false, reason: 'unsigned' });
  });

  it('ignores the address a participant wrote itself, first seen or changed, unless the backend signed it', async () => {
    expect(await mayRewrite('open')).toBe(true);
    const seen = (await client.getParticipant(room, 'open')).attributes;
    expect(seen.email).toBe('x@outside.example'); // the server took the participant's own write
    expect(await judge('open', seen, true)).toEqual({ trusted: false, reason: 'unsigned' });
    expect(await judge('open', seen, false)).toEqual({ trusted: false, reason: 'unsigned' });
    const forged = { email: 'x@outside.example', 'email.sig': signRecipient('not-the-key', 'open', 'x@outside.example') };
    expect(await judge('open', forged, true)).toEqual({ trusted: false, reason: 'bad_signature' });
    const signed = { email: 'open@mairie.fr', 'email.sig': signRecipient(KEY, 'open', 'open@mairie.fr') };
    expect(await judge('open', signed, false)).toEqual({ trusted: true, email: 'open@mairie.fr', via: 'signature' });
    // Without a key to check it, a signature proves nothing.
    expect(await judgeAddress({ identity: 'open', attributes: signed, firstSight: true, signingKey: undefined, mayRewrite })).toEqual({ trusted: false, reason: 'bad_signature' });
    expect(await judge('open', { email: 'not an address' }, true)).toEqual({ trusted: false, reason: 'malformed' });
    expect(await judge('open', {}, true)).toBeNull();
  });

  it('trusts nothing unsigned when the server cannot be asked (unknown participant, server unreachable)', async () => {
    expect(await judge('nobody-here', { email: 'ghost@mairie.fr' }, true)).toEqual({ trusted: false, reason: 'unverifiable' });
    const unreachable = serverMetadataPermission(new RoomServiceClient('http://127.0.0.1:9', auth.apiKey, auth.apiSecret, { requestTimeout: 1 }), room);
    expect(await judgeAddress({ identity: 'locked', attributes: { email: 'locked@mairie.fr' }, firstSight: true, signingKey: KEY, mayRewrite: unreachable })).toEqual({
      trusted: false,
      reason: 'unverifiable',
    });
  }, 20_000);
});

import type { AccessCredential } from '@tributary/contracts';
import type { EventPublisher, OutgoingEvent } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import { CredentialFeed } from './credential-feed';
import type { ApiKeyDoc, CredentialStore, OAuthClientDoc } from './credential-store';
import { InMemorySigningKeyStore, SigningKeyring } from './signing-keys';

const t0 = Date.UTC(2025, 0, 1, 12);

async function setup() {
  const sent: { key: string; event: AccessCredential | null }[] = [];
  const publisher = {
    publishAll: async (events: readonly OutgoingEvent[]) => {
      for (const e of events) sent.push({ key: e.key, event: e.event as AccessCredential });
    },
    publishRaw: async (_topic: string, message: { key: string; value: null }) => {
      sent.push({ key: message.key, event: message.value });
    },
  } as unknown as EventPublisher;
  const key: ApiKeyDoc = {
    _id: '0123456789abcdef',
    workspaceId: 'ws_a',
    name: 'site',
    scopes: ['reports:read'],
    secrets: [{ hash: 'a'.repeat(64), createdAt: new Date(t0), expiresAt: null }],
    createdAt: new Date(t0),
    revokedAt: null,
    revision: 0,
  };
  const client: OAuthClientDoc = {
    _id: 'client_1',
    workspaceId: 'ws_a',
    name: 'bi',
    scopes: ['reports:read'],
    secretHash: 'b'.repeat(64),
    createdAt: new Date(t0),
    revokedAt: null,
  };
  // What successive reads of the store return (the last one repeats).
  const keyReads: ApiKeyDoc[][] = [[key]];
  const store = {
    allKeys: async () => structuredClone(keyReads.length > 1 ? keyReads.shift() : keyReads[0]),
    allClients: async () => [structuredClone(client)],
  } as unknown as CredentialStore;
  const keyring = new SigningKeyring(new InMemorySigningKeyStore(), {
    cacheTtlMs: 0,
    retireAfterMs: 960_000,
  });
  await keyring.init();
  const feed = new CredentialFeed(publisher, store, keyring, createLogger('feed-test', 'silent'));
  return { sent, feed, keyring, key, keyReads };
}

describe('CredentialFeed', () => {
  it('the start-up snapshot publishes every credential once, hashes and public keys only', async () => {
    const { sent, feed } = await setup();
    await feed.publishSnapshot();
    expect(sent.map((s) => s.key).sort()).toEqual([
      'client:client_1',
      'key:0123456789abcdef',
      expect.stringMatching(/^signing-key:sk_/),
    ]);
    const text = JSON.stringify(sent);
    expect(text).not.toContain('b'.repeat(64));
    expect(text).not.toMatch(/"d\\":/);
    expect(sent.find((s) => s.key === 'key:0123456789abcdef')?.event?.secrets).toEqual([
      { hash: 'a'.repeat(64), expiresAt: null },
    ]);
  });

  it('a change another replica made while the snapshot was being published is published again, last', async () => {
    const { sent, feed, key, keyReads } = await setup();
    const revoked = { ...key, revokedAt: new Date(t0 + 1_000) };
    keyReads.splice(0, keyReads.length, [key], [revoked]);
    await feed.publishSnapshot();
    const states = sent.filter((s) => s.key === 'key:0123456789abcdef').map((s) => s.event?.revokedAt);
    expect(states).toEqual([null, t0 + 1_000]);
  });

  it('a signing key rotation republishes every key (the old one with its end); a removal sends a tombstone', async () => {
    const { sent, keyring } = await setup();
    const [first] = (await keyring.jwks()).keys;
    const { kid, retiredUntil } = await keyring.rotate();
    const byKey = new Map(sent.map((s) => [s.key, s.event]));
    expect(byKey.get(`signing-key:${first?.kid}`)?.notAfter).toBe(retiredUntil.getTime());
    expect(byKey.get(`signing-key:${kid}`)?.notAfter).toBeNull();

    await keyring.remove(first?.kid ?? '');
    expect(sent.at(-1)).toEqual({ key: `signing-key:${first?.kid}`, event: null });
  });
});

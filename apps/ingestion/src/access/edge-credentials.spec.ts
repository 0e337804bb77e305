import { formatApiKey, hashSecret, newSecret, StaticWorkspaceKeys } from '@tributary/access';
import { AccessTokens } from './access-tokens';
import type { ApiKeyDoc, CredentialStore, OAuthClientDoc } from './credential-store';
import { EdgeCredentials } from './edge-credentials';
import { InMemorySigningKeyStore, SigningKeyring } from './signing-keys';

const CACHE_TTL_MS = 5_000;

function setup() {
  let now = Date.UTC(2025, 0, 1, 12);
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const keys = new Map<string, ApiKeyDoc>();
  const clients = new Map<string, OAuthClientDoc>();
  const lookups = { keys: 0 };
  const store = {
    findKey: async (id: string) => {
      lookups.keys++;
      const key = keys.get(id);
      return key ? structuredClone(key) : null;
    },
    findClient: async (id: string) => structuredClone(clients.get(id) ?? null),
  } as unknown as CredentialStore;
  const keyring = new SigningKeyring(new InMemorySigningKeyStore(), {
    cacheTtlMs: CACHE_TTL_MS,
    retireAfterMs: 960_000,
    now: clock.now,
  });
  const tokens = new AccessTokens(keyring, { issuer: 'i', audience: 'a', ttlSeconds: 900, now: clock.now });
  const credentials = new EdgeCredentials(
    store,
    tokens,
    new StaticWorkspaceKeys('demo-write-key:ws_demo'),
    CACHE_TTL_MS,
    clock.now,
  );
  const secret = newSecret();
  keys.set('0123456789abcdef', {
    _id: '0123456789abcdef',
    workspaceId: 'ws_a',
    name: 'site',
    scopes: ['track:write'],
    secrets: [{ hash: hashSecret(secret), createdAt: new Date(now), expiresAt: null }],
    createdAt: new Date(now),
    revokedAt: null,
    revision: 0,
  });
  clients.set('client_1', {
    _id: 'client_1',
    workspaceId: 'ws_a',
    name: 'backend',
    scopes: ['track:write', 'leads:write'],
    secretHash: hashSecret('s'),
    createdAt: new Date(now),
    revokedAt: null,
  });
  return {
    clock,
    keys,
    clients,
    lookups,
    tokens,
    credentials,
    apiKey: formatApiKey('0123456789abcdef', secret),
  };
}

describe('EdgeCredentials', () => {
  it('resolves a stored API key to its workspace and scopes, by key id, with one store read per TTL', async () => {
    const { credentials, apiKey, lookups } = setup();
    expect(await credentials.resolve(apiKey)).toEqual({
      workspaceId: 'ws_a',
      scopes: ['track:write'],
      credentialId: 'key:0123456789abcdef',
    });
    await credentials.resolve(apiKey);
    expect(lookups.keys).toBe(1);
  });

  it('refuses a wrong secret for a known key id', async () => {
    const { credentials } = setup();
    expect(await credentials.resolve(formatApiKey('0123456789abcdef', newSecret()))).toBeUndefined();
  });

  it('a revocation made elsewhere takes effect within the cache TTL; one made here at once', async () => {
    const { credentials, apiKey, keys, clock } = setup();
    expect(await credentials.resolve(apiKey)).toBeDefined();
    const key = keys.get('0123456789abcdef');
    if (key) key.revokedAt = new Date(clock.now());
    clock.advance(CACHE_TTL_MS - 1);
    expect(await credentials.resolve(apiKey)).toBeDefined();
    clock.advance(1);
    expect(await credentials.resolve(apiKey)).toBeUndefined();

    const fresh = setup();
    await fresh.credentials.resolve(fresh.apiKey);
    const freshKey = fresh.keys.get('0123456789abcdef');
    if (freshKey) freshKey.revokedAt = new Date();
    fresh.credentials.forgetKey('0123456789abcdef');
    expect(await fresh.credentials.resolve(fresh.apiKey)).toBeUndefined();
  });

  it('keeps bootstrap WRITE_KEYS working', async () => {
    const { credentials } = setup();
    expect(await credentials.resolve('demo-write-key')).toEqual({
      workspaceId: 'ws_demo',
      scopes: ['*'],
      credentialId: 'static:ws_demo',
    });
    expect(await credentials.resolve('nope')).toBeUndefined();
  });

  it('resolves a bearer JWT to the client’s workspace; a revoked client’s tokens stop within the TTL', async () => {
    const { credentials, tokens, clients, clock } = setup();
    const { accessToken } = await tokens.issue({
      clientId: 'client_1',
      workspaceId: 'ws_a',
      scopes: ['track:write'],
    });
    expect(await credentials.resolve(accessToken)).toEqual({
      workspaceId: 'ws_a',
      scopes: ['track:write'],
      credentialId: 'client:client_1',
    });
    const client = clients.get('client_1');
    if (client) client.revokedAt = new Date(clock.now());
    clock.advance(CACHE_TTL_MS);
    expect(await credentials.resolve(accessToken)).toBeUndefined();
  });

  it('never grants a token more than its client holds now, nor another workspace', async () => {
    const { credentials, tokens, clients } = setup();
    const wide = await tokens.issue({
      clientId: 'client_1',
      workspaceId: 'ws_a',
      scopes: ['track:write', 'admin'],
    });
    expect((await credentials.resolve(wide.accessToken))?.scopes).toEqual(['track:write']);
    const elsewhere = await tokens.issue({
      clientId: 'client_1',
      workspaceId: 'ws_b',
      scopes: ['track:write'],
    });
    expect(await credentials.resolve(elsewhere.accessToken)).toBeUndefined();
    expect(clients.size).toBe(1);
  });
});

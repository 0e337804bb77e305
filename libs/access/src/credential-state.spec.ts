import { Type } from 'avsc';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import { Catalog, Topics, type AccessCredential } from '@tributary/contracts';
import { StaticWorkspaceKeys } from './workspace-auth';
import { CredentialKind, credentialRecord, type CredentialSnapshot } from './credential-records';
import { CredentialState } from './credential-state';
import { formatApiKey, hashSecret, newSecret } from './credentials';
import { SharedCredentials } from './shared-credentials';

const t0 = Date.UTC(2025, 0, 1, 12);
const wire = Type.forSchema(Catalog[Topics.AccessCredentials].avroSchema as never);

/** A record as a table reads it: built by the edge's code, through the topic's Avro schema and back. */
function record(snapshot: CredentialSnapshot): AccessCredential {
  const { event } = credentialRecord(snapshot);
  return wire.fromBuffer(wire.toBuffer(event)) as AccessCredential;
}

function setup() {
  let now = t0;
  const state = new CredentialState(() => now);
  const credentials = new SharedCredentials(
    {
      isReady: () => true,
      apiKey: (id) => state.apiKey(id),
      oauthClient: (id) => state.oauthClient(id),
      verificationKey: (kid) => state.verificationKey(kid),
    },
    { issuer: 'iss', audience: 'aud', bootstrap: new StaticWorkspaceKeys('boot:ws_boot'), now: () => now },
  );
  const apply = (snapshot: CredentialSnapshot) =>
    state.apply(credentialRecord(snapshot).key, record(snapshot));
  return { state, credentials, apply, clock: { now: () => now, advance: (ms: number) => (now += ms) } };
}

const keyId = '0123456789abcdef';
const apiKey = (
  secrets: { secret: string; expiresAt: Date | null }[],
  updatedAt: number,
  revokedAt: Date | null = null,
): CredentialSnapshot => ({
  kind: CredentialKind.ApiKey,
  keyId,
  workspaceId: 'ws_a',
  scopes: ['reports:read'],
  secrets: secrets.map((s) => ({ hash: hashSecret(s.secret), expiresAt: s.expiresAt })),
  revokedAt,
  updatedAt: new Date(updatedAt),
});

async function signingKey(): Promise<{ privateKey: KeyLike; publicJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return {
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid: 'sk_1', alg: 'ES256', use: 'sig' },
  };
}

async function token(privateKey: KeyLike, now: number, claims = { ws: 'ws_a', scope: 'reports:read admin' }) {
  const iat = Math.floor(now / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'sk_1', typ: 'at+jwt' })
    .setIssuer('iss')
    .setAudience('aud')
    .setSubject('client_1')
    .setIssuedAt(iat)
    .setExpirationTime(iat + 3_600)
    .sign(privateKey);
}

describe('CredentialState: folding access.credentials', () => {
  it('an API key resolves to its workspace and scopes with its secret only', async () => {
    const { apply, credentials } = setup();
    const secret = newSecret();
    expect(apply(apiKey([{ secret, expiresAt: null }], t0))).toBe('applied');
    expect(await credentials.resolve(formatApiKey(keyId, secret))).toEqual({
      workspaceId: 'ws_a',
      scopes: ['reports:read'],
      credentialId: `key:${keyId}`,
    });
    expect(await credentials.resolve(formatApiKey(keyId, newSecret()))).toBeUndefined();
    expect(await credentials.resolve(formatApiKey('fedcba9876543210', secret))).toBeUndefined();
    expect(await credentials.resolve('boot')).toMatchObject({ workspaceId: 'ws_boot', scopes: ['*'] });
  });

  it('rotate: the new secret works, the rotated-out one until its expiresAt, then not', async () => {
    const { apply, credentials, clock } = setup();
    const [oldSecret, newSecretValue] = [newSecret(), newSecret()];
    apply(apiKey([{ secret: oldSecret, expiresAt: null }], t0));
    apply(
      apiKey(
        [
          { secret: newSecretValue, expiresAt: null },
          { secret: oldSecret, expiresAt: new Date(t0 + 60_000) },
        ],
        t0 + 1,
      ),
    );
    expect(await credentials.resolve(formatApiKey(keyId, oldSecret))).toBeDefined();
    expect(await credentials.resolve(formatApiKey(keyId, newSecretValue))).toBeDefined();
    clock.advance(60_000);
    expect(await credentials.resolve(formatApiKey(keyId, oldSecret))).toBeUndefined();
    expect(await credentials.resolve(formatApiKey(keyId, newSecretValue))).toBeDefined();
  });

  it('revoke: refused from then on; an older state arriving late does not bring the key back', async () => {
    const { apply, credentials } = setup();
    const secret = newSecret();
    const active = apiKey([{ secret, expiresAt: null }], t0);
    apply(active);
    expect(apply(apiKey([{ secret, expiresAt: null }], t0 + 5_000, new Date(t0 + 5_000)))).toBe('applied');
    expect(await credentials.resolve(formatApiKey(keyId, secret))).toBeUndefined();
    expect(apply(active)).toBe('stale');
    expect(await credentials.resolve(formatApiKey(keyId, secret))).toBeUndefined();
  });

  it('revoke: a revocation stamped earlier than the newest state (skewed replica clocks) still wins', async () => {
    const { apply, credentials } = setup();
    const secret = newSecret();
    apply(apiKey([{ secret, expiresAt: null }], t0 + 10_000));
    expect(apply(apiKey([{ secret, expiresAt: null }], t0 + 9_000, new Date(t0 + 9_000)))).toBe('applied');
    expect(await credentials.resolve(formatApiKey(keyId, secret))).toBeUndefined();
  });

  it('an OAuth client: tokens never wider than its scopes now, never another workspace, refused once revoked', async () => {
    const { apply, credentials, clock } = setup();
    const { privateKey, publicJwk } = await signingKey();
    apply({
      kind: CredentialKind.SigningKey,
      kid: 'sk_1',
      publicJwk,
      notAfter: null,
      updatedAt: new Date(t0),
    });
    const client = {
      kind: CredentialKind.OAuthClient,
      clientId: 'client_1',
      workspaceId: 'ws_a',
      scopes: ['reports:read'],
      revokedAt: null,
      updatedAt: new Date(t0),
    } as const;
    apply(client);
    expect(await credentials.resolve(await token(privateKey, clock.now()))).toEqual({
      workspaceId: 'ws_a',
      scopes: ['reports:read'],
      credentialId: 'client:client_1',
    });
    const elsewhere = await token(privateKey, clock.now(), { ws: 'ws_b', scope: 'reports:read' });
    expect(await credentials.resolve(elsewhere)).toBeUndefined();

    apply({ ...client, revokedAt: new Date(t0 + 1_000), updatedAt: new Date(t0 + 1_000) });
    expect(await credentials.resolve(await token(privateKey, clock.now()))).toBeUndefined();
  });

  it('signing key retire: its tokens verify until notAfter, a stale state never extends it, removal stops them at once', async () => {
    const { apply, credentials, clock } = setup();
    const { privateKey, publicJwk } = await signingKey();
    const current = {
      kind: CredentialKind.SigningKey,
      kid: 'sk_1',
      publicJwk,
      notAfter: null,
      updatedAt: new Date(t0),
    } as const;
    apply(current);
    apply({
      kind: CredentialKind.OAuthClient,
      clientId: 'client_1',
      workspaceId: 'ws_a',
      scopes: ['reports:read'],
      revokedAt: null,
      updatedAt: new Date(t0),
    });
    const issued = await token(privateKey, clock.now());

    expect(apply({ ...current, notAfter: new Date(t0 + 10_000) })).toBe('applied');
    expect(apply(current)).toBe('stale');
    clock.advance(9_999);
    expect(await credentials.resolve(issued)).toBeDefined();
    clock.advance(1);
    expect(await credentials.resolve(issued)).toBeUndefined();

    const fresh = setup();
    fresh.apply(current);
    expect(await fresh.state.verificationKey('sk_1')).toBeDefined();
    expect(fresh.state.apply('signing-key:sk_1', null)).toBe('removed');
    expect(await fresh.state.verificationKey('sk_1')).toBeUndefined();
    expect(fresh.apply(current)).toBe('stale');
    expect(await fresh.state.verificationKey('sk_1')).toBeUndefined();
  });

  it('ignores malformed records: a private JWK, a key without workspace, an unknown kind', async () => {
    const { state } = setup();
    const { publicJwk } = await signingKey();
    const good = record({
      kind: CredentialKind.SigningKey,
      kid: 'sk_1',
      publicJwk,
      notAfter: null,
      updatedAt: new Date(t0),
    });
    expect(
      state.apply(good.credentialId, { ...good, publicJwkJson: JSON.stringify({ ...publicJwk, d: 'x' }) }),
    ).toBe('rejected');
    const key = record(apiKey([{ secret: newSecret(), expiresAt: null }], t0));
    expect(state.apply(key.credentialId, { ...key, workspaceId: null })).toBe('rejected');
    expect(state.apply(key.credentialId, { ...key, kind: 'password' })).toBe('rejected');
    expect(state.counts()).toEqual({ apiKeys: 0, oauthClients: 0, signingKeys: 0 });
  });
});

describe('credentialRecord', () => {
  it('publishes only the public members of a signing key and is the same event for the same state', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const snapshot: CredentialSnapshot = {
      kind: CredentialKind.SigningKey,
      kid: 'sk_1',
      publicJwk: { ...privateJwk, kid: 'sk_1' },
      notAfter: null,
      updatedAt: new Date(t0),
    };
    const { key, event } = credentialRecord(snapshot);
    expect(key).toBe('signing-key:sk_1');
    expect(JSON.parse(event.publicJwkJson ?? '{}')).toEqual({ ...(await exportJWK(publicKey)), kid: 'sk_1' });
    expect(JSON.stringify(event)).not.toContain(String(privateJwk.d));
    expect(event.metadata.workspaceId).toBe('_platform');
    expect(credentialRecord(snapshot).event.metadata.eventId).toBe(event.metadata.eventId);
    expect(credentialRecord({ ...snapshot, notAfter: new Date(t0 + 1) }).event.metadata.eventId).not.toBe(
      event.metadata.eventId,
    );
  });
});

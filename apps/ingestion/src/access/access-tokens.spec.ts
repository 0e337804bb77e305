import { decodeProtectedHeader, SignJWT, generateKeyPair } from 'jose';
import { AccessTokens } from './access-tokens';
import { InMemorySigningKeyStore, SigningKeyring } from './signing-keys';

const TTL_SECONDS = 900;
const claims = { clientId: 'client_1', workspaceId: 'ws_a', scopes: ['track:write'] };

/** A keyring and token service sharing one adjustable clock. */
function setup() {
  let now = Date.UTC(2025, 0, 1, 12);
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const store = new InMemorySigningKeyStore();
  const keyring = new SigningKeyring(store, {
    cacheTtlMs: 5_000,
    retireAfterMs: (TTL_SECONDS + 60) * 1000,
    now: clock.now,
  });
  const tokens = new AccessTokens(keyring, {
    issuer: 'tributary-test',
    audience: 'tributary-edge',
    ttlSeconds: TTL_SECONDS,
    now: clock.now,
  });
  return { clock, store, keyring, tokens };
}

describe('OAuth2 access tokens', () => {
  it('issues an ES256 JWT with kid, issuer and audience that verifies to its client, workspace and scopes', async () => {
    const { keyring, tokens } = setup();
    await keyring.init();
    const { accessToken, expiresIn } = await tokens.issue(claims);
    expect(expiresIn).toBe(TTL_SECONDS);
    const header = decodeProtectedHeader(accessToken);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect((await keyring.jwks()).keys.map((k) => k.kid)).toEqual([header.kid]);
    expect(await tokens.verify(accessToken)).toEqual(claims);
  });

  it('refuses an expired token', async () => {
    const { clock, tokens } = setup();
    const { accessToken } = await tokens.issue(claims);
    clock.advance((TTL_SECONDS - 1) * 1000);
    expect(await tokens.verify(accessToken)).toEqual(claims);
    clock.advance(10_000);
    expect(await tokens.verify(accessToken)).toBeUndefined();
  });

  it('after a rotation, tokens of the previous key verify until they expire, then the key leaves the JWKS', async () => {
    const { clock, keyring, tokens } = setup();
    const before = await tokens.issue(claims);
    const oldKid = decodeProtectedHeader(before.accessToken).kid;
    const { kid: newKid } = await keyring.rotate();
    const after = await tokens.issue(claims);

    expect(decodeProtectedHeader(after.accessToken).kid).toBe(newKid);
    expect(await tokens.verify(before.accessToken)).toEqual(claims);
    expect((await keyring.jwks()).keys.map((k) => k.kid)).toEqual([newKid, oldKid]);

    clock.advance((TTL_SECONDS + 61) * 1000);
    expect((await keyring.jwks()).keys.map((k) => k.kid)).toEqual([newKid]);
    const fresh = await tokens.issue(claims);
    expect(await tokens.verify(fresh.accessToken)).toEqual(claims);
  });

  it('a removed signing key stops its tokens at once; the current key cannot be removed', async () => {
    const { keyring, tokens } = setup();
    const before = await tokens.issue(claims);
    const oldKid = decodeProtectedHeader(before.accessToken).kid ?? '';
    const { kid: newKid } = await keyring.rotate();
    await expect(keyring.remove(newKid)).rejects.toThrow(/rotate/);
    expect(await keyring.remove(oldKid)).toBe(true);
    expect(await tokens.verify(before.accessToken)).toBeUndefined();
  });

  it('never publishes private key material', async () => {
    const { keyring } = setup();
    await keyring.init();
    await keyring.rotate();
    for (const key of (await keyring.jwks()).keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    }
  });

  it('refuses tokens for another audience, from another issuer, tampered, or signed by an unknown key', async () => {
    const { keyring, tokens, clock } = setup();
    const { accessToken } = await tokens.issue(claims);
    const other = new AccessTokens(keyring, {
      issuer: 'tributary-test',
      audience: 'someone-else',
      ttlSeconds: TTL_SECONDS,
      now: clock.now,
    });
    expect(await other.verify(accessToken)).toBeUndefined();
    const [h, p, s] = accessToken.split('.');
    const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...payload, ws: 'ws_b' })).toString('base64url');
    expect(await tokens.verify(`${h}.${forged}.${s}`)).toBeUndefined();

    const { kid } = await keyring.signingKey();
    const { privateKey } = await generateKeyPair('ES256');
    const stranger = await new SignJWT({ ws: 'ws_a', scope: 'track:write' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer('tributary-test')
      .setAudience('tributary-edge')
      .setSubject('client_1')
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor(clock.now() / 1000) + 60)
      .sign(privateKey);
    expect(await tokens.verify(stranger)).toBeUndefined();
  });
});

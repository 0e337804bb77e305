import { generateKeyPair, SignJWT, type KeyLike } from 'jose';
import { AccessTokenVerifier } from './access-token-verifier';

const t0 = Date.UTC(2025, 0, 1, 12);
const issuer = 'tributary-ingestion';
const audience = 'tributary-edge';

async function sign(
  privateKey: KeyLike,
  overrides: { kid?: string; typ?: string; iss?: string; aud?: string; ws?: string; expiresIn?: number } = {},
): Promise<string> {
  const iat = Math.floor(t0 / 1000);
  return new SignJWT({ ws: overrides.ws ?? 'ws_a', scope: 'track:write reports:read' })
    .setProtectedHeader({ alg: 'ES256', kid: overrides.kid ?? 'sk_1', typ: overrides.typ ?? 'at+jwt' })
    .setIssuer(overrides.iss ?? issuer)
    .setAudience(overrides.aud ?? audience)
    .setSubject('client_1')
    .setIssuedAt(iat)
    .setExpirationTime(iat + (overrides.expiresIn ?? 900))
    .sign(privateKey);
}

async function setup() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  let now = t0;
  const verifier = new AccessTokenVerifier(async (kid) => (kid === 'sk_1' ? publicKey : undefined), {
    issuer,
    audience,
    now: () => now,
  });
  return { verifier, privateKey, advance: (ms: number) => (now += ms) };
}

describe('AccessTokenVerifier (public keys only)', () => {
  it('verifies a token the edge signed to its client, workspace and scopes', async () => {
    const { verifier, privateKey } = await setup();
    expect(await verifier.verify(await sign(privateKey))).toEqual({
      clientId: 'client_1',
      workspaceId: 'ws_a',
      scopes: ['track:write', 'reports:read'],
    });
  });

  it('refuses it once expired (beyond a few seconds of clock skew)', async () => {
    const { verifier, privateKey, advance } = await setup();
    const token = await sign(privateKey, { expiresIn: 60 });
    advance(64_000);
    expect(await verifier.verify(token)).toBeDefined();
    advance(2_000);
    expect(await verifier.verify(token)).toBeUndefined();
  });

  it('refuses unknown keys, other issuers and audiences, other token types, foreign signatures and tampering', async () => {
    const { verifier, privateKey } = await setup();
    const stranger = (await generateKeyPair('ES256')).privateKey;
    for (const token of [
      await sign(privateKey, { kid: 'sk_unknown' }),
      await sign(privateKey, { iss: 'someone-else' }),
      await sign(privateKey, { aud: 'another-api' }),
      await sign(privateKey, { typ: 'JWT' }),
      await sign(stranger),
    ]) {
      expect(await verifier.verify(token)).toBeUndefined();
    }
    const [h, p, s] = (await sign(privateKey)).split('.');
    const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...payload, ws: 'ws_b' })).toString('base64url');
    expect(await verifier.verify(`${h}.${forged}.${s}`)).toBeUndefined();
  });
});

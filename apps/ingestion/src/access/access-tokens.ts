import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { TOKEN_ALG, type SigningKeyring } from './signing-keys';

/** What a verified access token says about its holder. */
export interface AccessTokenClaims {
  clientId: string;
  workspaceId: string;
  scopes: string[];
}

export interface AccessTokenOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/** Tolerated clock difference between the replica that signed a token and the one verifying it. */
const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Short-lived OAuth2 access tokens (client credentials): ES256 JWTs with `kid`, issuer and audience; `sub` is the
 * client id, `ws` the workspace, `scope` the granted scopes. The workspace comes from the token, never the request.
 */
export class AccessTokens {
  private readonly now: () => number;

  constructor(
    private readonly keyring: SigningKeyring,
    private readonly options: AccessTokenOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async issue(claims: AccessTokenClaims): Promise<{ accessToken: string; expiresIn: number }> {
    const { kid, privateKey } = await this.keyring.signingKey();
    const issuedAt = Math.floor(this.now() / 1000);
    const accessToken = await new SignJWT({ ws: claims.workspaceId, scope: claims.scopes.join(' ') })
      .setProtectedHeader({ alg: TOKEN_ALG, kid, typ: 'at+jwt' })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(claims.clientId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + this.options.ttlSeconds)
      .setJti(randomUUID())
      .sign(privateKey);
    return { accessToken, expiresIn: this.options.ttlSeconds };
  }

  /** The token's claims when its signature, key, issuer, audience and lifetime check out; otherwise undefined. */
  async verify(token: string): Promise<AccessTokenClaims | undefined> {
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          const key = header.kid ? await this.keyring.verificationKey(header.kid) : undefined;
          if (!key) throw new Error('unknown or removed signing key');
          return key;
        },
        {
          issuer: this.options.issuer,
          audience: this.options.audience,
          algorithms: [TOKEN_ALG],
          typ: 'at+jwt',
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(this.now()),
          requiredClaims: ['sub', 'exp', 'iat'],
        },
      );
      const { sub, ws, scope } = payload;
      if (typeof sub !== 'string' || typeof ws !== 'string' || typeof scope !== 'string') return undefined;
      return { clientId: sub, workspaceId: ws, scopes: scope.split(' ').filter(Boolean) };
    } catch {
      return undefined;
    }
  }
}

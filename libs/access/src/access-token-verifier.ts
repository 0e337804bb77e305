import { jwtVerify, type KeyLike } from 'jose';

/** The one algorithm OAuth2 access tokens are signed with. */
export const TOKEN_ALG = 'ES256';

/** What a verified access token says about its holder. */
export interface AccessTokenClaims {
  clientId: string;
  workspaceId: string;
  scopes: string[];
}

export interface TokenVerificationOptions {
  issuer: string;
  audience: string;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/** The public key a token's `kid` names, if that key still verifies; undefined for unknown or retired keys. */
export type VerificationKeyLookup = (kid: string) => Promise<KeyLike | undefined>;

/** Tolerated clock difference between the replica that signed a token and the one verifying it. */
const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Verifies OAuth2 access tokens (ES256 JWTs, `typ` at+jwt, `kid`, issuer, audience, lifetime) against public keys
 * only, so any service can check tokens the edge issued. `sub` is the client, `ws` the workspace, `scope` the scopes.
 */
export class AccessTokenVerifier {
  private readonly now: () => number;

  constructor(
    private readonly keyFor: VerificationKeyLookup,
    private readonly options: TokenVerificationOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The token's claims when its signature, key, issuer, audience and lifetime check out; otherwise undefined. */
  async verify(token: string): Promise<AccessTokenClaims | undefined> {
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          const key = header.kid ? await this.keyFor(header.kid) : undefined;
          if (!key) throw new Error('unknown or retired signing key');
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

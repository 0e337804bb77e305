import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { AccessTokenVerifier, TOKEN_ALG, type AccessTokenClaims } from '@tributary/access';
import type { SigningKeyring } from './signing-keys';

export interface AccessTokenOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/**
 * Short-lived OAuth2 access tokens (client credentials): ES256 JWTs with `kid`, issuer and audience; `sub` is the
 * client id, `ws` the workspace, `scope` the granted scopes. The workspace comes from the token, never the request.
 */
export class AccessTokens {
  private readonly now: () => number;
  private readonly verifier: AccessTokenVerifier;

  constructor(
    private readonly keyring: SigningKeyring,
    private readonly options: AccessTokenOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.verifier = new AccessTokenVerifier((kid) => keyring.verificationKey(kid), options);
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
  verify(token: string): Promise<AccessTokenClaims | undefined> {
    return this.verifier.verify(token);
  }
}

import type { Principal, WorkspaceKeyResolver } from './workspace-auth';
import type { AccessTokenClaims } from './access-token-verifier';
import { looksLikeJwt, parseApiKey } from './credentials';
import {
  apiKeyPrincipal,
  tokenPrincipal,
  type ApiKeyCredential,
  type OAuthClientCredential,
} from './principal-rules';

/** Where a resolver finds credentials: ingestion's store (behind a cache) or the shared credential table. */
export interface CredentialSource {
  apiKey(keyId: string): Promise<ApiKeyCredential | undefined>;
  oauthClient(clientId: string): Promise<OAuthClientCredential | undefined>;
  verifyToken(token: string): Promise<AccessTokenClaims | undefined>;
}

/**
 * Resolves what a caller presents, by shape: a JWT is an OAuth2 access token, `trib_<id>_<secret>` an API key, anything
 * else a bootstrap key (WRITE_KEYS). The same principal rules apply wherever the credentials come from.
 */
export class CredentialResolver implements WorkspaceKeyResolver {
  constructor(
    private readonly source: CredentialSource,
    private readonly bootstrap: WorkspaceKeyResolver,
    private readonly now: () => number = Date.now,
  ) {}

  async resolve(credential: string): Promise<Principal | undefined> {
    if (looksLikeJwt(credential)) {
      const claims = await this.source.verifyToken(credential);
      return claims && tokenPrincipal(claims, await this.source.oauthClient(claims.clientId));
    }
    const apiKey = parseApiKey(credential);
    if (apiKey) return apiKeyPrincipal(await this.source.apiKey(apiKey.keyId), apiKey.secret, this.now());
    return this.bootstrap.resolve(credential);
  }
}

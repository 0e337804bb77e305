import type { Principal, StaticWorkspaceKeys, WorkspaceKeyResolver } from '@tributary/platform';
import type { AccessTokens } from './access-tokens';
import { liveSecrets, type ApiKeyDoc, type CredentialStore, type OAuthClientDoc } from './credential-store';
import { looksLikeJwt, parseApiKey, secretMatches } from './credentials';
import { TtlCache } from './ttl-cache';

export const apiKeyCredentialId = (keyId: string) => `key:${keyId}`;
export const clientCredentialId = (clientId: string) => `client:${clientId}`;

/**
 * Resolves what a caller presents at the edge, by shape: a JWT is an OAuth2 access token, `trib_<id>_<secret>` an API
 * key from the store, anything else a bootstrap key from WRITE_KEYS. Store lookups are cached per replica for
 * `cacheTtlMs`: a revocation made on another replica takes effect here within that bound (on this replica at once).
 */
export class EdgeCredentials implements WorkspaceKeyResolver {
  private readonly keys: TtlCache<ApiKeyDoc>;
  private readonly clients: TtlCache<OAuthClientDoc>;

  constructor(
    private readonly store: CredentialStore,
    private readonly tokens: AccessTokens,
    private readonly bootstrap: StaticWorkspaceKeys,
    cacheTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = new TtlCache(cacheTtlMs, 10_000, now);
    this.clients = new TtlCache(cacheTtlMs, 10_000, now);
  }

  async resolve(credential: string): Promise<Principal | undefined> {
    if (looksLikeJwt(credential)) return this.resolveToken(credential);
    const apiKey = parseApiKey(credential);
    if (apiKey) return this.resolveApiKey(apiKey.keyId, apiKey.secret);
    return this.bootstrap.resolve(credential);
  }

  /** An OAuth client by id if it exists and is not revoked (token endpoint and token verification). */
  async activeClient(clientId: string): Promise<OAuthClientDoc | undefined> {
    const client = await this.clients.get(clientId, (id) => this.store.findClient(id));
    return client && client.revokedAt === null ? client : undefined;
  }

  forgetKey(keyId: string): void {
    this.keys.invalidate(keyId);
  }

  forgetClient(clientId: string): void {
    this.clients.invalidate(clientId);
  }

  private async resolveApiKey(keyId: string, secret: string): Promise<Principal | undefined> {
    const key = await this.keys.get(keyId, (id) => this.store.findKey(id));
    if (!key || key.revokedAt !== null) return undefined;
    const matches = liveSecrets(key.secrets, this.now()).some((s) => secretMatches(secret, s.hash));
    if (!matches) return undefined;
    return { workspaceId: key.workspaceId, scopes: key.scopes, credentialId: apiKeyCredentialId(key._id) };
  }

  private async resolveToken(token: string): Promise<Principal | undefined> {
    const claims = await this.tokens.verify(token);
    if (!claims) return undefined;
    // A revoked client's tokens stop working within the cache bound, not only when they expire.
    const client = await this.activeClient(claims.clientId);
    if (!client || client.workspaceId !== claims.workspaceId) return undefined;
    return {
      workspaceId: client.workspaceId,
      // Never wider than the client holds now, even if the token says more.
      scopes: claims.scopes.filter((scope) => client.scopes.includes(scope)),
      credentialId: clientCredentialId(client._id),
    };
  }
}

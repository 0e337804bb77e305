import {
  CredentialResolver,
  TtlCache,
  type Principal,
  type StaticWorkspaceKeys,
  type WorkspaceKeyResolver,
} from '@tributary/access';
import type { AccessTokens } from './access-tokens';
import {
  apiKeySnapshot,
  clientSnapshot,
  type ApiKeyDoc,
  type CredentialStore,
  type OAuthClientDoc,
} from './credential-store';

/**
 * Resolves what a caller presents at the edge, with the shared principal rules (CredentialResolver) over ingestion's
 * own store, the source of truth. Store lookups are cached per replica for `cacheTtlMs`: a revocation made on another
 * replica takes effect here within that bound (on this replica at once).
 */
export class EdgeCredentials implements WorkspaceKeyResolver {
  private readonly keys: TtlCache<ApiKeyDoc>;
  private readonly clients: TtlCache<OAuthClientDoc>;
  private readonly resolver: CredentialResolver;

  constructor(
    private readonly store: CredentialStore,
    tokens: AccessTokens,
    bootstrap: StaticWorkspaceKeys,
    cacheTtlMs: number,
    now: () => number = Date.now,
  ) {
    this.keys = new TtlCache(cacheTtlMs, 10_000, now);
    this.clients = new TtlCache(cacheTtlMs, 10_000, now);
    this.resolver = new CredentialResolver(
      {
        apiKey: async (keyId) => {
          const key = await this.keys.get(keyId, (id) => this.store.findKey(id));
          return key ? apiKeySnapshot(key) : undefined;
        },
        oauthClient: async (clientId) => {
          const client = await this.clients.get(clientId, (id) => this.store.findClient(id));
          return client ? clientSnapshot(client) : undefined;
        },
        verifyToken: (token) => tokens.verify(token),
      },
      bootstrap,
      now,
    );
  }

  resolve(credential: string): Promise<Principal | undefined> {
    return this.resolver.resolve(credential);
  }

  /** An OAuth client by id if it exists and is not revoked (token endpoint). */
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
}

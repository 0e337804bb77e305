import { ServiceUnavailableException } from '@nestjs/common';
import type { Principal, WorkspaceKeyResolver } from './workspace-auth';
import { AccessTokenVerifier, type AccessTokenClaims } from './access-token-verifier';
import { CredentialResolver, type CredentialSource } from './credential-resolver';
import type { CredentialDirectory } from './credential-table';
import type { ApiKeyCredential, OAuthClientCredential } from './principal-rules';

export interface SharedCredentialsOptions {
  /** Token issuer and audience the edge signs with (OAUTH_ISSUER, OAUTH_AUDIENCE). */
  issuer: string;
  audience: string;
  /** Bootstrap keys (WRITE_KEYS): all scopes, known without the table. */
  bootstrap: WorkspaceKeyResolver;
  now?: () => number;
}

/**
 * The edge's API keys and OAuth2 tokens, honoured by a service that is not the edge: credentials come from the
 * shared credential table (fed by `access.credentials`), tokens are checked against the published public keys, and the
 * principal rules are the edge's own. Until the table has caught up, store credentials get 503 rather than a wrong 401.
 */
export class SharedCredentials implements WorkspaceKeyResolver {
  private readonly resolver: CredentialResolver;

  constructor(directory: CredentialDirectory, options: SharedCredentialsOptions) {
    const verifier = new AccessTokenVerifier((kid) => directory.verificationKey(kid), options);
    const ready = () => {
      if (!directory.isReady()) {
        throw new ServiceUnavailableException({
          error: 'unavailable',
          reason: 'credentials are still loading; retry shortly',
        });
      }
    };
    const source: CredentialSource = {
      apiKey: async (keyId): Promise<ApiKeyCredential | undefined> => {
        ready();
        return directory.apiKey(keyId);
      },
      oauthClient: async (clientId): Promise<OAuthClientCredential | undefined> => {
        ready();
        return directory.oauthClient(clientId);
      },
      verifyToken: async (token): Promise<AccessTokenClaims | undefined> => {
        ready();
        return verifier.verify(token);
      },
    };
    this.resolver = new CredentialResolver(source, options.bootstrap, options.now);
  }

  resolve(credential: string): Promise<Principal | undefined> {
    return this.resolver.resolve(credential);
  }
}

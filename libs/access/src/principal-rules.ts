import type { Principal } from './workspace-auth';
import type { AccessTokenClaims } from './access-token-verifier';
import { secretMatches } from './credentials';

/** One secret of an API key, as a hash; a rotated-out secret keeps working until `expiresAt`. */
export interface SecretHash {
  hash: string;
  expiresAt: Date | null;
}

/** What every service knows about an API key: never its secret, only hashes. */
export interface ApiKeyCredential {
  keyId: string;
  workspaceId: string;
  scopes: readonly string[];
  secrets: readonly SecretHash[];
  revokedAt: Date | null;
}

/** What every service knows about an OAuth2 client: enough to honour its tokens, not to authenticate it. */
export interface OAuthClientCredential {
  clientId: string;
  workspaceId: string;
  scopes: readonly string[];
  revokedAt: Date | null;
}

/** Credential ids: the key of `access.credentials`, and what audit entries and rate limits name. */
export const apiKeyCredentialId = (keyId: string) => `key:${keyId}`;
export const clientCredentialId = (clientId: string) => `client:${clientId}`;
export const signingKeyCredentialId = (kid: string) => `signing-key:${kid}`;

/** Secrets still accepted at `now`: the current one and rotated-out ones within their grace period. */
export function liveSecrets<S extends SecretHash>(secrets: readonly S[], now: number): S[] {
  return secrets.filter((s) => s.expiresAt === null || s.expiresAt.getTime() > now);
}

/** The principal of an API key presented with `secret`: revoked keys and expired or wrong secrets get none. */
export function apiKeyPrincipal(
  key: ApiKeyCredential | undefined,
  secret: string,
  now: number,
): Principal | undefined {
  if (!key || key.revokedAt !== null) return undefined;
  if (!liveSecrets(key.secrets, now).some((s) => secretMatches(secret, s.hash))) return undefined;
  return {
    workspaceId: key.workspaceId,
    scopes: [...key.scopes],
    credentialId: apiKeyCredentialId(key.keyId),
  };
}

/**
 * The principal of a verified access token. Its client must still be active (a revoked client's tokens stop before
 * they expire) and belong to the token's workspace; the scopes are never wider than the client holds now.
 */
export function tokenPrincipal(
  claims: AccessTokenClaims,
  client: OAuthClientCredential | undefined,
): Principal | undefined {
  if (!client || client.revokedAt !== null || client.workspaceId !== claims.workspaceId) return undefined;
  return {
    workspaceId: client.workspaceId,
    scopes: claims.scopes.filter((scope) => client.scopes.includes(scope)),
    credentialId: clientCredentialId(client.clientId),
  };
}

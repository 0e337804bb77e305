import type { JWK } from 'jose';
import type { AccessCredential } from '@tributary/contracts';
import { clientEventId, originMetadata } from '@tributary/messaging';
import {
  apiKeyCredentialId,
  clientCredentialId,
  signingKeyCredentialId,
  type ApiKeyCredential,
  type OAuthClientCredential,
} from './principal-rules';

/** `kind` of an `access.credentials` record. */
export const CredentialKind = {
  ApiKey: 'api-key',
  OAuthClient: 'oauth-client',
  SigningKey: 'signing-key',
} as const;

/** Workspace of records about the platform itself (signing keys are shared by every workspace). */
export const PLATFORM_WORKSPACE = '_platform';

/** A token signing key as other services see it: the public half and when it stops verifying. */
export interface SigningKeyCredential {
  kid: string;
  publicJwk: JWK;
  /** null while it signs; then when the last token it signed has expired. */
  notAfter: Date | null;
}

/**
 * The current state of one credential, as the edge publishes it. `updatedAt` orders the states of an API key or OAuth
 * client (its last change); a signing key's state only ever moves by `notAfter`, its `updatedAt` is its creation.
 */
export type CredentialSnapshot =
  | ({ kind: typeof CredentialKind.ApiKey; updatedAt: Date } & ApiKeyCredential)
  | ({ kind: typeof CredentialKind.OAuthClient; updatedAt: Date } & OAuthClientCredential)
  | ({ kind: typeof CredentialKind.SigningKey; updatedAt: Date } & SigningKeyCredential);

// The members of a public EC/OKP/RSA key; anything else (notably `d`) is private material and never leaves the edge.
const PUBLIC_JWK_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;

/** Only the public members of a JWK, whatever was passed in. */
export function publicJwkOf(jwk: JWK): JWK {
  const out: Partial<JWK> = {};
  for (const member of PUBLIC_JWK_MEMBERS) if (jwk[member] !== undefined) out[member] = jwk[member];
  return out as JWK;
}

export function credentialIdOf(snapshot: CredentialSnapshot): string {
  switch (snapshot.kind) {
    case CredentialKind.ApiKey:
      return apiKeyCredentialId(snapshot.keyId);
    case CredentialKind.OAuthClient:
      return clientCredentialId(snapshot.clientId);
    case CredentialKind.SigningKey:
      return signingKeyCredentialId(snapshot.kid);
  }
}

const millis = (date: Date | null) => date?.getTime() ?? null;

/**
 * The `access.credentials` record of a credential state, keyed by its credential id. Hashes and public keys only.
 * The event id is derived from the credential and its state, so publishing the same state twice is the same event.
 */
export function credentialRecord(
  snapshot: CredentialSnapshot,
  correlationId?: string,
): { key: string; event: AccessCredential; fingerprint: string } {
  const credentialId = credentialIdOf(snapshot);
  const workspaceId = snapshot.kind === CredentialKind.SigningKey ? null : snapshot.workspaceId;
  const state: Omit<AccessCredential, 'metadata'> = {
    credentialId,
    kind: snapshot.kind,
    workspaceId,
    scopes: snapshot.kind === CredentialKind.SigningKey ? [] : [...snapshot.scopes],
    secrets:
      snapshot.kind === CredentialKind.ApiKey
        ? snapshot.secrets.map((s) => ({ hash: s.hash, expiresAt: millis(s.expiresAt) }))
        : [],
    publicJwkJson:
      snapshot.kind === CredentialKind.SigningKey ? JSON.stringify(publicJwkOf(snapshot.publicJwk)) : null,
    notAfter: snapshot.kind === CredentialKind.SigningKey ? millis(snapshot.notAfter) : null,
    revokedAt: snapshot.kind === CredentialKind.SigningKey ? null : millis(snapshot.revokedAt),
    updatedAt: snapshot.updatedAt.getTime(),
  };
  const fingerprint = JSON.stringify(state);
  const metadata = originMetadata({
    workspaceId: workspaceId ?? PLATFORM_WORKSPACE,
    source: 'ingestion',
    eventId: clientEventId(workspaceId ?? PLATFORM_WORKSPACE, 'access-credential', fingerprint),
    ...(correlationId ? { correlationId } : {}),
  });
  return { key: credentialId, event: { metadata, ...state }, fingerprint };
}

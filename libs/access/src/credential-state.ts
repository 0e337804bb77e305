import { importJWK, type JWK, type KeyLike } from 'jose';
import type { AccessCredential } from '@tributary/contracts';
import { TOKEN_ALG } from './access-token-verifier';
import { CredentialKind } from './credential-records';
import type { ApiKeyCredential, OAuthClientCredential } from './principal-rules';

/** What folding one record did (for logs and tests). */
export type FoldOutcome = 'applied' | 'stale' | 'removed' | 'rejected';

interface Versioned {
  updatedAt: number;
}

interface SigningKeyEntry {
  publicJwk: JWK;
  notAfter: number | null;
  imported?: Promise<KeyLike>;
}

const idAfter = (credentialId: string, prefix: string) =>
  credentialId.startsWith(prefix) ? credentialId.slice(prefix.length) : undefined;
const dateOf = (ms: number | null) => (ms === null ? null : new Date(ms));
const earliest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));

/**
 * The credentials of `access.credentials` folded into memory. Records of one credential can arrive out of order
 * (an edge replica's start-up snapshot racing an admin change), so the fold is monotonic: an older state never
 * replaces a newer one, a revocation is final, a signing key's end of validity only ever moves earlier, and a removed
 * signing key (tombstone) never comes back. Nothing here is secret: hashes and public keys only.
 */
export class CredentialState {
  private readonly apiKeys = new Map<string, ApiKeyCredential & Versioned>();
  private readonly clients = new Map<string, OAuthClientCredential & Versioned>();
  private readonly signingKeys = new Map<string, SigningKeyEntry>();
  private readonly removedSigningKeys = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Folds one record: a credential's state, or a tombstone (`null`) under its credential id. */
  apply(credentialId: string, record: AccessCredential | null): FoldOutcome {
    if (record === null) return this.remove(credentialId);
    switch (record.kind) {
      case CredentialKind.ApiKey:
        return this.applyApiKey(record);
      case CredentialKind.OAuthClient:
        return this.applyClient(record);
      case CredentialKind.SigningKey:
        return this.applySigningKey(record);
      default:
        return 'rejected';
    }
  }

  apiKey(keyId: string): ApiKeyCredential | undefined {
    return this.apiKeys.get(keyId);
  }

  oauthClient(clientId: string): OAuthClientCredential | undefined {
    return this.clients.get(clientId);
  }

  /** The public key of a signing key that still verifies now; undefined when unknown, retired or removed. */
  async verificationKey(kid: string): Promise<KeyLike | undefined> {
    const entry = this.signingKeys.get(kid);
    if (!entry || (entry.notAfter !== null && entry.notAfter <= this.now())) return undefined;
    entry.imported ??= importJWK(entry.publicJwk, TOKEN_ALG) as Promise<KeyLike>;
    return entry.imported;
  }

  /** How many credentials of each kind are known (logs, readiness details). */
  counts(): { apiKeys: number; oauthClients: number; signingKeys: number } {
    return {
      apiKeys: this.apiKeys.size,
      oauthClients: this.clients.size,
      signingKeys: this.signingKeys.size,
    };
  }

  private applyApiKey(record: AccessCredential): FoldOutcome {
    const keyId = idAfter(record.credentialId, 'key:');
    if (!keyId || record.workspaceId === null) return 'rejected';
    const known = this.apiKeys.get(keyId);
    if (known && record.updatedAt < known.updatedAt) return this.revokeLate(known, record);
    this.apiKeys.set(keyId, {
      keyId,
      workspaceId: record.workspaceId,
      scopes: record.scopes,
      secrets: record.secrets.map((s) => ({ hash: s.hash, expiresAt: dateOf(s.expiresAt) })),
      revokedAt: known?.revokedAt ?? dateOf(record.revokedAt),
      updatedAt: record.updatedAt,
    });
    return 'applied';
  }

  private applyClient(record: AccessCredential): FoldOutcome {
    const clientId = idAfter(record.credentialId, 'client:');
    if (!clientId || record.workspaceId === null) return 'rejected';
    const known = this.clients.get(clientId);
    if (known && record.updatedAt < known.updatedAt) return this.revokeLate(known, record);
    this.clients.set(clientId, {
      clientId,
      workspaceId: record.workspaceId,
      scopes: record.scopes,
      revokedAt: known?.revokedAt ?? dateOf(record.revokedAt),
      updatedAt: record.updatedAt,
    });
    return 'applied';
  }

  /**
   * An older state still carries a revocation the newer one lacks when replicas' clocks disagree (a revocation on one
   * stamped before a rotation on another): a revocation always wins.
   */
  private revokeLate(known: { revokedAt: Date | null }, record: AccessCredential): FoldOutcome {
    if (known.revokedAt !== null || record.revokedAt === null) return 'stale';
    known.revokedAt = new Date(record.revokedAt);
    return 'applied';
  }

  private applySigningKey(record: AccessCredential): FoldOutcome {
    const kid = idAfter(record.credentialId, 'signing-key:');
    if (!kid || record.publicJwkJson === null) return 'rejected';
    if (this.removedSigningKeys.has(kid)) return 'stale';
    let publicJwk: JWK;
    try {
      publicJwk = JSON.parse(record.publicJwkJson) as JWK;
    } catch {
      return 'rejected';
    }
    if (typeof publicJwk !== 'object' || publicJwk === null || 'd' in publicJwk) return 'rejected';
    const known = this.signingKeys.get(kid);
    if (known) {
      const notAfter = earliest(known.notAfter, record.notAfter);
      if (notAfter === known.notAfter) return 'stale';
      known.notAfter = notAfter;
      return 'applied';
    }
    this.signingKeys.set(kid, { publicJwk, notAfter: record.notAfter });
    return 'applied';
  }

  private remove(credentialId: string): FoldOutcome {
    const kid = idAfter(credentialId, 'signing-key:');
    if (kid !== undefined) {
      this.removedSigningKeys.add(kid);
      return this.signingKeys.delete(kid) ? 'removed' : 'stale';
    }
    const keyId = idAfter(credentialId, 'key:');
    if (keyId !== undefined) return this.apiKeys.delete(keyId) ? 'removed' : 'stale';
    const clientId = idAfter(credentialId, 'client:');
    if (clientId !== undefined) return this.clients.delete(clientId) ? 'removed' : 'stale';
    return 'rejected';
  }
}

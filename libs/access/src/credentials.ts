import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CredentialScopes } from '@tributary/contracts';

/*
 * API keys look like `trib_<keyId>_<secret>`: the key id (public, 16 hex chars) finds the stored record in one lookup,
 * the secret (256 random bits, base64url) is what proves possession. At rest only SHA-256(secret) is kept.
 * Why not bcrypt/scrypt: those slow hashes protect low-entropy passwords against guessing; a 256-bit random secret
 * cannot be guessed however fast the hash is, and a slow hash on every tracking call would cost ~50-100 ms of CPU
 * per request on the hot path. Comparison is constant-time (timingSafeEqual of equal-length digests).
 */

export const API_KEY_PREFIX = 'trib';
const KEY_ID_BYTES = 8;
const SECRET_BYTES = 32;
const API_KEY_PATTERN = /^trib_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A freshly generated credential secret: shown once, then only its hash is stored. */
export function newSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/** A public credential id (API key id, OAuth client id). */
export function newCredentialId(): string {
  return randomBytes(KEY_ID_BYTES).toString('hex');
}

/** The full API key a caller presents. */
export function formatApiKey(keyId: string, secret: string): string {
  return `${API_KEY_PREFIX}_${keyId}_${secret}`;
}

/** Splits a presented API key into its id and secret; undefined when it is not in our format. */
export function parseApiKey(presented: string): { keyId: string; secret: string } | undefined {
  const match = API_KEY_PATTERN.exec(presented);
  if (!match?.[1] || !match[2]) return undefined;
  return { keyId: match[1], secret: match[2] };
}

/** SHA-256 of a secret, hex: what the store keeps. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time check of a presented secret against a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = createHash('sha256').update(secret, 'utf8').digest();
  const stored = Buffer.from(storedHash, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}

/** Constant-time equality of two strings of any length (compares their digests). */
export function constantTimeEquals(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** A compact JWS (header.payload.signature, base64url, JSON header), as opposed to an opaque key. */
export function looksLikeJwt(credential: string): boolean {
  return /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(credential);
}

/*
 * Scopes a credential can hold: those some service honours. Each app declares its own (apps/<name>/src/scopes.ts),
 * tools/services/services.json records them and the codegen writes their union into @tributary/contracts, so this lib
 * lists none. A `<name>` part stands for one id each: `webhooks:<source>` admits `webhooks:hubspot`.
 */
const SCOPE_ID = '[a-z0-9][a-z0-9-]{0,31}';
// The list admits only [a-z0-9:-] around `<name>` parts, so a scope is its own pattern once those are replaced.
const KNOWN_SCOPES: readonly RegExp[] = CredentialScopes.map(
  (scope: string) => new RegExp(`^${scope.split(/<[a-z]+>/).join(SCOPE_ID)}$`),
);

/** Whether some service honours `scope`, so a credential may be issued it. */
export function isKnownScope(scope: string): boolean {
  return KNOWN_SCOPES.some((known) => known.test(scope));
}

/** Scopes the caller asked for that a credential cannot hold; empty when all are valid. */
export function unknownScopes(scopes: readonly string[]): string[] {
  return scopes.filter((scope) => !isKnownScope(scope));
}

/** Parses an OAuth2 `scope` parameter (space-separated); undefined when absent. */
export function parseScopeParameter(scope: string | undefined): string[] | undefined {
  if (scope === undefined) return undefined;
  return [...new Set(scope.split(' ').filter(Boolean))];
}

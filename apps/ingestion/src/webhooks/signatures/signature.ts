import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a verifier needs of an inbound webhook: exactly the bytes and URL the sender signed. */
export interface SignedRequest {
  method: string;
  /** Full URL as the sender called it (scheme, host, path, query). */
  url: string;
  rawBody: Buffer;
  /** Lower-cased header names. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type Verification = { ok: true } | { ok: false; reason: string };

/** Checks a webhook's signature against a workspace's secrets for its source (any one of them, for rotation). */
export interface WebhookVerifier {
  verify(request: SignedRequest, secrets: readonly string[], now: number): Verification;
}

export function headerValue(request: SignedRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function hmacSha256(secret: string, ...parts: (string | Buffer)[]): Buffer {
  const hmac = createHmac('sha256', secret);
  for (const part of parts) hmac.update(part);
  return hmac.digest();
}

/** Constant-time comparison of a presented base64 signature with the expected digest. */
export function base64SignatureMatches(presented: string, expected: Buffer): boolean {
  const given = Buffer.from(presented.trim(), 'base64');
  // Lengths are public (a SHA-256 digest is always 32 bytes), so checking them first leaks nothing.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

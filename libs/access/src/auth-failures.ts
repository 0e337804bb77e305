import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { AuthFailureThrottle } from './workspace-auth';
import { TokenBuckets } from './token-buckets';

/** How many wrong credentials an address may present, and how fast that allowance comes back. */
export interface AuthFailureSettings {
  /** Distinct wrong credentials an address may present at once; 0 turns the throttle off. */
  limit: number;
  /** Seconds in which the whole allowance refills (after it is spent: one more try every window/limit s). */
  windowSeconds: number;
}

/** Wrong credentials remembered per address, so a repeat of one is recognised. */
const REMEMBERED_FAILURES = 8;

/**
 * Failed authentication per client address, in this replica's memory. Each distinct wrong credential spends one
 * token of the address's bucket; an empty bucket makes WorkspaceKeyGuard, AdminGuard and the token endpoint answer
 * 429 before checking anything (constant work, whatever the attacker sends). A repeat of a recently failed
 * credential costs nothing: that is a revoked key still deployed somewhere, not a guess, and must not lock out the
 * valid keys used from the same host. Success is never counted or slowed, and other addresses are unaffected.
 */
export class AuthFailures implements AuthFailureThrottle {
  private readonly buckets?: TokenBuckets;
  private readonly recent = new LRUCache<string, string[]>({ max: 100_000 });

  constructor(settings: AuthFailureSettings, now: () => number = Date.now) {
    if (settings.limit > 0) {
      this.buckets = new TokenBuckets(
        { perSecond: settings.limit / settings.windowSeconds, burst: settings.limit },
        now,
      );
    }
  }

  retryAfterSeconds(address: string): number {
    return this.buckets ? Math.ceil(this.buckets.waitSeconds(address, 1)) : 0;
  }

  failed(address: string, credential: string): void {
    if (!this.buckets) return;
    // Only a digest is kept: a wrong credential may still be a near-miss of a real secret.
    const fingerprint = createHash('sha256').update(credential).digest('base64url').slice(0, 16);
    const seen = this.recent.get(address) ?? [];
    if (seen.includes(fingerprint)) return;
    this.recent.set(address, [fingerprint, ...seen].slice(0, REMEMBERED_FAILURES));
    this.buckets.spend(address, 1);
  }
}

import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { CredentialRateLimiter, Principal, RateLimitDecision } from '@tributary/platform';

export interface RateLimitOptions {
  /** Sustained requests per second per credential. */
  perSecond: number;
  /** Requests a credential may send at once. */
  burst: number;
}

/**
 * Per-credential limits, in this replica's memory: with N replicas behind a balancer a credential gets up to N times
 * the configured allowance (a shared limiter, e.g. Redis, would be needed for a global one).
 * Shape: a bucket of `burst` requests refilled every burst/perSecond seconds (rate-limiter-flexible's in-memory
 * window): the long-run rate is `perSecond`; across a refill boundary a client can send up to 2 × burst.
 */
export class CredentialRateLimits implements CredentialRateLimiter {
  private readonly limiter: RateLimiterMemory;
  readonly windowSeconds: number;

  constructor(private readonly options: RateLimitOptions) {
    this.windowSeconds = Math.max(1, Math.round(options.burst / options.perSecond));
    this.limiter = new RateLimiterMemory({
      keyPrefix: 'credential',
      points: options.burst,
      duration: this.windowSeconds,
    });
  }

  async take(principal: Principal): Promise<RateLimitDecision> {
    try {
      return this.decision(true, await this.limiter.consume(principal.credentialId));
    } catch (refused) {
      if (refused instanceof RateLimiterRes) return this.decision(false, refused);
      throw refused;
    }
  }

  private decision(allowed: boolean, res: RateLimiterRes): RateLimitDecision {
    return {
      allowed,
      limit: this.options.burst,
      remaining: Math.max(0, res.remainingPoints),
      resetSeconds: Math.max(allowed ? 0 : 1, Math.ceil(res.msBeforeNext / 1000)),
    };
  }
}

import { z } from 'zod';
import type { AuthFailureSettings } from './auth-failures';
import type { RateLimitSettings } from './rate-limits';

/**
 * Configuration keys of request rate limits and of the failed-authentication throttle: the same at the edge and in
 * every service that honours its credentials (spread into the service's config shape). All per replica.
 */
export const requestLimitConfigShape = {
  /** Sustained requests per second per credential. */
  RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(50),
  /** Requests a credential may burst before being throttled. */
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(100),
  /** Sustained requests per second of all credentials of a workspace together; unset: 2 × RATE_LIMIT_PER_SECOND. */
  RATE_LIMIT_WORKSPACE_PER_SECOND: z.coerce.number().positive().optional(),
  /** Burst of all credentials of a workspace together; unset: 2 × RATE_LIMIT_BURST. */
  RATE_LIMIT_WORKSPACE_BURST: z.coerce.number().int().min(1).optional(),
  /** Distinct wrong credentials one client address may present before it is answered 429; 0 = no throttle. */
  AUTH_FAILURE_LIMIT: z.coerce.number().int().min(0).default(20),
  /** Seconds in which an address's failure allowance refills. */
  AUTH_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
};

type RequestLimitConfig = z.infer<z.ZodObject<typeof requestLimitConfigShape>>;

/** The request allowances of a credential and of its workspace. */
export function requestAllowances(
  config: RequestLimitConfig,
): Pick<RateLimitSettings, 'credentialRequests' | 'workspaceRequests'> {
  return {
    credentialRequests: { perSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST },
    workspaceRequests: {
      perSecond: config.RATE_LIMIT_WORKSPACE_PER_SECOND ?? 2 * config.RATE_LIMIT_PER_SECOND,
      burst: config.RATE_LIMIT_WORKSPACE_BURST ?? 2 * config.RATE_LIMIT_BURST,
    },
  };
}

export function authFailureSettings(config: RequestLimitConfig): AuthFailureSettings {
  return { limit: config.AUTH_FAILURE_LIMIT, windowSeconds: config.AUTH_FAILURE_WINDOW_SECONDS };
}

import { z } from 'zod';
import { requestLimitConfigShape, tokenVerificationConfigShape } from '@tributary/access';

/**
 * Admin credential used when ADMIN_TOKEN is unset outside production (local runs, demo). Named so nobody mistakes it
 * for a secret; production refuses to start without a real ADMIN_TOKEN.
 */
export const INSECURE_DEV_ADMIN_TOKEN = 'insecure-dev-admin-token-do-not-use-in-production';

const seconds = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** Configuration keys of edge access (admin credential, API keys, OAuth2, rate limits, failed-auth throttle). */
export const accessConfigShape = {
  /** `production` makes ADMIN_TOKEN mandatory. */
  NODE_ENV: z.string().default('development'),
  /** Platform operator credential for /v1/admin (Bearer). Required in production. */
  ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters').default(INSECURE_DEV_ADMIN_TOKEN),
  /** How long a resolved API key / OAuth client is cached per replica: the bound on revocation taking effect. */
  ACCESS_CACHE_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  /** Default time the previous secret of a rotated API key keeps working. */
  API_KEY_ROTATION_GRACE_SECONDS: seconds(0, 30 * 86_400, 86_400),
  /** Lifetime of OAuth2 access tokens (client credentials). */
  OAUTH_TOKEN_TTL_SECONDS: seconds(60, 86_400, 900),
  /** OAUTH_ISSUER / OAUTH_AUDIENCE: what tokens are signed with here and verified with everywhere. */
  ...tokenVerificationConfigShape,
  /** Requests per credential and per workspace, failed authentications per address (shared with every service). */
  ...requestLimitConfigShape,
  /** Tracking events per second of a workspace (every call and batch item counts), per replica. */
  RATE_LIMIT_EVENTS_PER_SECOND: z.coerce.number().positive().default(2_000),
  /** Events a workspace may send at once; a batch above it is admitted alone from a full allowance, then paid off. */
  RATE_LIMIT_EVENTS_BURST: z.coerce.number().int().min(1).default(20_000),
  /** Tracking body bytes (inflated) per second of a workspace, per replica. */
  RATE_LIMIT_BYTES_PER_SECOND: z.coerce.number().positive().default(2_000_000),
  /** Tracking body bytes a workspace may send at once. */
  RATE_LIMIT_BYTES_BURST: z.coerce.number().int().min(1).default(10_000_000),
  /** Active (not revoked) API keys a workspace may have; creating one more is refused with 409. */
  MAX_API_KEYS_PER_WORKSPACE: z.coerce.number().int().min(1).max(10_000).default(50),
  /** Active OAuth clients a workspace may have. */
  MAX_OAUTH_CLIENTS_PER_WORKSPACE: z.coerce.number().int().min(1).max(10_000).default(50),
};

/**
 * Problems z.object cannot see key by key: in production the admin credential must be set explicitly (the dev
 * default is public). Reads the raw environment, so a missing key is reported as missing.
 */
export function accessConfigProblems(env: Record<string, string | undefined>): string[] {
  if (env['NODE_ENV'] !== 'production') return [];
  const token = env['ADMIN_TOKEN'];
  if (token === undefined || token === '') {
    return ['ADMIN_TOKEN: missing (required when NODE_ENV=production: the platform admin credential)'];
  }
  return token === INSECURE_DEV_ADMIN_TOKEN
    ? ['ADMIN_TOKEN: the insecure dev default is refused in production']
    : [];
}

import { z } from 'zod';
import { tokenVerificationConfigShape } from '@tributary/access';

/**
 * Admin credential used when ADMIN_TOKEN is unset outside production (local runs, demo). Named so nobody mistakes it
 * for a secret; production refuses to start without a real ADMIN_TOKEN.
 */
export const INSECURE_DEV_ADMIN_TOKEN = 'insecure-dev-admin-token-do-not-use-in-production';

const seconds = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** Configuration keys of edge access (admin credential, API keys, OAuth2, rate limits). */
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
  /** Sustained requests per second per credential (per replica). */
  RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(50),
  /** Requests a credential may burst before being throttled (per replica). */
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(100),
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

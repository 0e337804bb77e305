import { z } from 'zod';
import { parseKeyRing, sharedAccessConfigShape } from '@tributary/access';
import { ConfigError, loadServiceConfig, type ServiceConfig } from '@tributary/config';

/** Seals connection credentials in development only; production must configure SYNC_CREDENTIALS_KEYS. */
export const INSECURE_DEV_CREDENTIALS_KEYS = 'dev:insecure-dev-sync-credentials-key-do-not-use';

const syncShape = {
  ...sharedAccessConfigShape,
  /**
   * Keys sealing connection credentials at rest: `kid:secret` pairs (secrets of 32 characters or more), the current
   * one first. Rotate by putting a new key first; values sealed with the others still open.
   */
  SYNC_CREDENTIALS_KEYS: z
    .string()
    .default(INSECURE_DEV_CREDENTIALS_KEYS)
    .transform((value, ctx) => {
      try {
        return parseKeyRing(value);
      } catch (error) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** HubSpot's API (a FakeHubSpot in the sandbox and tests). */
  HUBSPOT_API_URL: z.string().url().default('https://api.hubapi.com'),
  /** Mailchimp's Marketing API; `{dc}` is the data center of each connection's key (a FakeMailchimp in the sandbox). */
  MAILCHIMP_API_URL: z.string().min(1).default('https://{dc}.api.mailchimp.com'),
  /** Whether change capture polls in the background (the backfill CLI runs without). */
  SYNC_BACKGROUND_JOBS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** How often each replica looks for connections due a poll. */
  SYNC_POLL_TICK_MS: z.coerce.number().int().min(50).max(600_000).default(1_000),
  /** How long a replica holds a connection object's poll before another may take it over. */
  SYNC_POLL_LEASE_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(60_000),
  /**
   * The share of each vendor account's request limits sync's replicas spend together (rate-budget.ts). The rest is
   * room for jitter (and for other apps on the account: lower it when they need more).
   */
  SYNC_RATE_BUDGET_SHARE: z.coerce.number().gt(0).max(1).default(0.93),
  /** Records a change page asks for (HubSpot's search caps a page at 200). */
  SYNC_CHANGE_PAGE: z.coerce.number().int().min(1).max(200).default(200),
};

export type SyncConfig = ServiceConfig<typeof syncShape>;

/** Sync's validated configuration (HTTP on 3003 by default). */
export function loadSyncConfig(env: Record<string, string | undefined> = process.env): SyncConfig {
  const keys = env['SYNC_CREDENTIALS_KEYS'];
  const problems =
    env['NODE_ENV'] === 'production' && (!keys || keys === INSECURE_DEV_CREDENTIALS_KEYS)
      ? ['SYNC_CREDENTIALS_KEYS: required when NODE_ENV=production (seals connection credentials)']
      : [];
  let config: SyncConfig;
  try {
    config = loadServiceConfig('sync', env, syncShape, { HTTP_PORT: '3003' });
  } catch (error) {
    if (error instanceof ConfigError && problems.length > 0)
      throw new ConfigError('sync', [...error.problems, ...problems]);
    throw error;
  }
  if (problems.length > 0) throw new ConfigError('sync', problems);
  return config;
}

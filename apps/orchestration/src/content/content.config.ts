import { z } from 'zod';

/** Seals destination secrets when CONTENT_SECRETS_KEY is unset outside production; refused in production. */
export const INSECURE_DEV_CONTENT_SECRETS_KEY = 'insecure-dev-content-secrets-key-do-not-use-in-production';

export const contentConfigShape = {
  /** How often each replica looks for due content (scheduled items, destination retries, unannounced steps). */
  CONTENT_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  /** How long a replica owns the item it is publishing; renewed before each destination call. */
  CONTENT_LEASE_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(60_000),
  /** Retries inside one call to a destination (429 honouring Retry-After, 5xx, no answer) before the round fails. */
  CONTENT_CALL_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  /** The longest wait inside a call (a longer Retry-After ends the round; the next one starts after it). */
  CONTENT_CALL_MAX_WAIT_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  /** Rounds a destination gets for one publish or unpublish before it is marked failed. */
  CONTENT_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(6),
  /** Backoff after a failed round (doubling, with jitter, up to CONTENT_RETRY_MAX_MS). */
  CONTENT_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(5_000),
  CONTENT_RETRY_MAX_MS: z.coerce.number().int().min(10).max(86_400_000).default(900_000),
  /** Recipients a newsletter may go to (a list or the workspace's consented contacts). */
  CONTENT_NEWSLETTER_MAX_RECIPIENTS: z.coerce.number().int().min(1).max(100_000).default(5_000),
  /** Seals the destination credentials (WordPress application passwords, social tokens) at rest. Required in production. */
  CONTENT_SECRETS_KEY: z
    .string()
    .min(32, 'must be at least 32 characters')
    .default(INSECURE_DEV_CONTENT_SECRETS_KEY),
};

export type ContentConfig = z.output<z.ZodObject<typeof contentConfigShape>>;

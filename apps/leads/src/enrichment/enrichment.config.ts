import { z } from 'zod';

/**
 * Lead enrichment settings (merged into the lead service's config). Offline providers (free-mail/disposable classification,
 * company table) always run; the HTTP provider runs only when ENRICHMENT_API_URL is set.
 */
export const enrichmentConfigShape = {
  /** Base URL of a Clearbit-style API (`{base}/v2/companies/find`, `{base}/v2/people/find`); unset = offline only. */
  ENRICHMENT_API_URL: z.string().url().optional(),
  /** Bearer key of that API. A secret: never logged. Optional for keyless proxies. */
  ENRICHMENT_API_KEY: z.string().min(1).optional(),
  /** Requests per minute this replica sends to the provider (retries included), so we do not run into its 429s. */
  ENRICHMENT_QUOTA_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  /** How long a provider's answer is reused (per company domain; per workspace + email for people). */
  ENRICHMENT_CACHE_TTL_HOURS: z.coerce.number().positive().default(168),
  /** How long "the provider does not know this domain/person" is reused; shorter, as providers learn new companies. */
  ENRICHMENT_MISS_TTL_HOURS: z.coerce.number().positive().default(24),
  /** Timeout of one HTTP request to the provider. */
  ENRICHMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),
  /** Time one lookup may spend waiting on retries (429 Retry-After, 5xx backoff) and the quota before it gives up. */
  ENRICHMENT_MAX_RETRY_MS: z.coerce.number().int().min(0).max(120_000).default(5_000),
  /**
   * Operator company table: a JSON file holding an array of
   * `{ "domain", "name", "employees"?, "industry"?, "country"? (ISO-2), "region"? (EMEA|NA|APAC|LATAM) }`.
   * Its entries replace the bundled table's entries of the same domain and add new ones. Read once at boot.
   */
  COMPANY_TABLE_PATH: z.string().min(1).optional(),
};

export type EnrichmentConfig = z.infer<z.ZodObject<typeof enrichmentConfigShape>>;

import { z } from 'zod';

/** Issuer and audience of OAuth2 access tokens: the edge signs with them, every service verifies them. */
export const tokenVerificationConfigShape = {
  OAUTH_ISSUER: z.string().min(1).default('tributary-ingestion'),
  OAUTH_AUDIENCE: z.string().min(1).default('tributary-edge'),
};

/** Configuration keys of a service that honours the edge's credentials (spread into its config shape). */
export const sharedAccessConfigShape = {
  ...tokenVerificationConfigShape,
  /** How long start-up waits for the credential table to read `access.credentials` up to its start. */
  ACCESS_TABLE_READY_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(600_000).default(60_000),
};

/** The resolved shared-access settings. */
export interface SharedAccessSettings {
  OAUTH_ISSUER: string;
  OAUTH_AUDIENCE: string;
  ACCESS_TABLE_READY_TIMEOUT_MS: number;
}

/** Settings from a service config, defaults where the service does not (yet) declare the keys. */
export function sharedAccessSettings(config: Partial<SharedAccessSettings>): SharedAccessSettings {
  return z.object(sharedAccessConfigShape).parse({
    OAUTH_ISSUER: config.OAUTH_ISSUER,
    OAUTH_AUDIENCE: config.OAUTH_AUDIENCE,
    ACCESS_TABLE_READY_TIMEOUT_MS: config.ACCESS_TABLE_READY_TIMEOUT_MS,
  });
}

import { z } from 'zod';
import { requestLimitConfigShape } from './rate-limit.config';

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
  /** Rate limits per credential and per workspace, and the failed-authentication throttle, as at the edge. */
  ...requestLimitConfigShape,
};

const sharedAccessSchema = z.object(sharedAccessConfigShape);

/** The resolved shared-access settings. */
export type SharedAccessSettings = z.infer<typeof sharedAccessSchema>;

/** Settings from a service config, defaults where the service does not (yet) declare the keys. */
export function sharedAccessSettings(
  config: Partial<Record<keyof SharedAccessSettings, unknown>>,
): SharedAccessSettings {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(sharedAccessConfigShape))
    picked[key] = config[key as keyof SharedAccessSettings];
  return sharedAccessSchema.parse(picked);
}

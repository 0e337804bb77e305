import { z } from 'zod';
import { ConfigError, loadServiceConfig, type ServiceConfig } from '@tributary/config';
import { journeyCatalogConfigShape } from './journeys/journey-catalog';

/** Signs one-click unsubscribe links when UNSUBSCRIBE_SECRET is unset outside production; refused in production. */
export const INSECURE_DEV_UNSUBSCRIBE_SECRET = 'insecure-dev-unsubscribe-secret-do-not-use-in-production';

const orchestrationShape = {
  /** `production` makes UNSUBSCRIBE_SECRET mandatory. */
  NODE_ENV: z.string().default('development'),
  /** HMAC key of unsubscribe links: whoever holds it can unsubscribe anyone. Required in production. */
  UNSUBSCRIBE_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters')
    .default(INSECURE_DEV_UNSUBSCRIBE_SECRET),
  /** Where contacts reach orchestration's public routes (unsubscribe links in emails). */
  PUBLIC_BASE_URL: z.string().url().default('http://127.0.0.1:3002'),
  ...journeyCatalogConfigShape,
  /** How often each replica looks for due enrollments (waits that ended, new entries); a new entry pokes it too. */
  JOURNEY_TIMER_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(250),
  /** How long a replica owns the enrollments it claimed: a killed replica's claims are taken over after this. */
  JOURNEY_TIMER_LEASE_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(30_000),
  /** Enrollments claimed per store round trip. */
  JOURNEY_TIMER_BATCH: z.coerce.number().int().min(1).max(5_000).default(500),
  /** Enrollments of a claim run at once (each waits on its provider call). */
  JOURNEY_RUN_CONCURRENCY: z.coerce.number().int().min(1).max(1_000).default(128),
  /** Provider calls a message may take (429, 5xx, timeouts) before it is recorded as failed. */
  MESSAGE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  /** SendGrid's v3 API; point it at the sandbox (npm start) or a local fake in tests. */
  SENDGRID_BASE_URL: z.string().url().default('https://api.sendgrid.com'),
  /** Without a key, email steps are recorded as skipped (email-provider-not-configured): nothing is sent. */
  SENDGRID_API_KEY: z.string().min(1).optional(),
  /** Twilio's API; point it at the sandbox or a local fake in tests. */
  TWILIO_BASE_URL: z.string().url().default('https://api.twilio.com'),
  /** Without both, SMS steps are recorded as skipped (sms-provider-not-configured): nothing is sent. */
  TWILIO_ACCOUNT_SID: z.string().min(1).optional(),
  TWILIO_AUTH_TOKEN: z.string().min(1).optional(),
  /** Sender number (E.164) or Messaging Service of journey texts. */
  SMS_FROM: z.string().min(1).default('+15005550006'),
  /** Sender of journey emails that name no `from`. */
  EMAIL_FROM: z.string().email().default('marketing@tributary.example'),
  /** A provider call that takes longer is abandoned and retried. */
  PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
};

export type OrchestrationConfig = ServiceConfig<typeof orchestrationShape>;

/** Orchestration's validated configuration (HTTP on 3002 by default). */
export function loadOrchestrationConfig(
  env: Record<string, string | undefined> = process.env,
): OrchestrationConfig {
  const secret = env['UNSUBSCRIBE_SECRET'];
  const problems =
    env['NODE_ENV'] === 'production' && (!secret || secret === INSECURE_DEV_UNSUBSCRIBE_SECRET)
      ? ['UNSUBSCRIBE_SECRET: required when NODE_ENV=production (signs one-click unsubscribe links)']
      : [];
  let config: OrchestrationConfig;
  try {
    config = loadServiceConfig('orchestration', env, orchestrationShape, { HTTP_PORT: '3002' });
  } catch (error) {
    if (error instanceof ConfigError && problems.length > 0)
      throw new ConfigError('orchestration', [...error.problems, ...problems]);
    throw error;
  }
  if (problems.length > 0) throw new ConfigError('orchestration', problems);
  return config;
}

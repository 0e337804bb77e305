import { z } from 'zod';
import { ConfigError, loadServiceConfig, type ServiceConfig } from '@tributary/config';
import { journeyCatalogConfigShape } from './journeys/journey-catalog';
import { INSECURE_DEV_CONTENT_SECRETS_KEY, contentConfigShape } from './content/content.config';

/** Signs one-click unsubscribe links when UNSUBSCRIBE_SECRET is unset outside production; refused in production. */
export const INSECURE_DEV_UNSUBSCRIBE_SECRET = 'insecure-dev-unsubscribe-secret-do-not-use-in-production';

/** `ws:value` entries as a map by workspace (the value is everything after the first colon). */
function workspacePairs(shape: string) {
  return z
    .string()
    .default('')
    .transform((spec, ctx): Record<string, string> => {
      const pairs: Record<string, string> = {};
      for (const entry of spec
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean)) {
        const colon = entry.indexOf(':');
        if (colon <= 0 || colon === entry.length - 1)
          ctx.addIssue({ code: 'custom', message: `"${entry}" is not ${shape}` });
        else pairs[entry.slice(0, colon)] = entry.slice(colon + 1);
      }
      return pairs;
    });
}

// "ws:name:secret" entries by "ws:name"; the secret is everything after the second colon and never echoed.
const webhookSecrets = z
  .string()
  .default('')
  .transform((spec, ctx): Record<string, string> => {
    const secrets: Record<string, string> = {};
    for (const entry of spec
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const [workspaceId, name, ...rest] = entry.split(':');
      const secret = rest.join(':');
      if (!workspaceId || !name || secret.length < 16)
        ctx.addIssue({
          code: 'custom',
          message: `"${workspaceId ?? ''}:…" is not workspace:name:secret with a secret of 16 characters or more`,
        });
      else secrets[`${workspaceId}:${name}`] = secret;
    }
    return secrets;
  });

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
  ...contentConfigShape,
  /** How often each replica looks for due enrollments (waits that ended, new entries); a new entry pokes it too. */
  JOURNEY_TIMER_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(250),
  /** How often each replica looks for scheduled journeys due to run (a minute is the finest a cron names). */
  JOURNEY_SCHEDULE_POLL_MS: z.coerce.number().int().min(100).max(60_000).default(1_000),
  /** How long a replica owns the enrollments it claimed: a killed replica's claims are taken over after this. */
  JOURNEY_TIMER_LEASE_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(30_000),
  /** Enrollments claimed per store round trip. */
  JOURNEY_TIMER_BATCH: z.coerce.number().int().min(1).max(5_000).default(500),
  /** Enrollments of a claim run at once (each waits on its provider call). */
  JOURNEY_RUN_CONCURRENCY: z.coerce.number().int().min(1).max(5_000).default(500),
  /** Claims of due enrollments running at once in one replica (each up to JOURNEY_TIMER_BATCH). */
  JOURNEY_CLAIMS_IN_FLIGHT: z.coerce.number().int().min(1).max(16).default(3),
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
  /**
   * The edge's public URL (ingestion) Twilio reports to: set, every text carries StatusCallback
   * `<url>/v1/webhooks/twilio/<workspace>/status?messageKey=<key>`; unset, texts ask for no status.
   */
  TWILIO_STATUS_CALLBACK_BASE_URL: z.string().url().optional(),
  /** Sender number (E.164) or Messaging Service of journey texts. */
  SMS_FROM: z.string().min(1).default('+15005550006'),
  /** Sender of journey emails that name no `from`. */
  EMAIL_FROM: z.string().email().default('marketing@tributary.example'),
  /** A provider call that takes longer is abandoned and retried. */
  PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** Emails a second across all replicas (set at 90% of the SendGrid account's limit); beyond, sends wait or retry. */
  EMAIL_SENDS_PER_SECOND: z.coerce.number().int().min(1).max(100_000).optional(),
  /** Texts a second across all replicas (set at 90% of the Twilio account's limit). */
  SMS_SENDS_PER_SECOND: z.coerce.number().int().min(1).max(100_000).optional(),
  /** The provider account the send budgets count against: replicas sharing an account share its budget. */
  PROVIDER_BUDGET_ACCOUNT: z.string().min(1).default('default'),
  /** Failures in a row (5xx, no answer) that open a provider's circuit breaker. */
  PROVIDER_BREAKER_FAILURES: z.coerce.number().int().min(1).max(1_000).default(5),
  /** How long an open breaker refuses sends before one probe goes. */
  PROVIDER_BREAKER_HALF_OPEN_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** Customer-Match-style audience API (OAuth client credentials at `<base>/oauth2/token`); unset = audience steps fail. */
  AD_AUDIENCES_BASE_URL: z.string().url().optional(),
  AD_AUDIENCES_CLIENT_ID: z.string().min(1).optional(),
  /** The OAuth client secret: never logged. */
  AD_AUDIENCES_CLIENT_SECRET: z.string().min(1).optional(),
  /** `ws:account` pairs: the ad account each workspace's audiences live in; a workspace without one uploads nothing. */
  AD_AUDIENCE_ACCOUNTS: workspacePairs('workspace:account'),
  /** How long members wait for others of their audience before one upload goes (per replica). */
  AUDIENCE_BATCH_WINDOW_MS: z.coerce.number().int().min(0).max(60_000).default(300),
  /** Members in one upload at most (the platform takes 10,000). */
  AUDIENCE_BATCH_MAX_MEMBERS: z.coerce.number().int().min(1).max(10_000).default(10_000),
  /** `ws:name:secret` entries: the secrets webhook steps sign with (a step names one; `default` otherwise). */
  JOURNEY_WEBHOOK_SECRETS: webhookSecrets,
  /** Deliveries a webhook step may take (429, 5xx, timeouts) before it is recorded as failed. */
  JOURNEY_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(5),
  /** Whether webhook steps may reach loopback and private addresses (tests, a local stack); off keeps SSRF out. */
  JOURNEY_WEBHOOK_ALLOW_PRIVATE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
};

export type OrchestrationConfig = ServiceConfig<typeof orchestrationShape>;

/** Orchestration's validated configuration (HTTP on 3002 by default). */
export function loadOrchestrationConfig(
  env: Record<string, string | undefined> = process.env,
): OrchestrationConfig {
  const secret = env['UNSUBSCRIBE_SECRET'];
  const contentKey = env['CONTENT_SECRETS_KEY'];
  const problems = [
    ...(env['NODE_ENV'] === 'production' && (!secret || secret === INSECURE_DEV_UNSUBSCRIBE_SECRET)
      ? ['UNSUBSCRIBE_SECRET: required when NODE_ENV=production (signs one-click unsubscribe links)']
      : []),
    ...(env['NODE_ENV'] === 'production' && (!contentKey || contentKey === INSECURE_DEV_CONTENT_SECRETS_KEY)
      ? ['CONTENT_SECRETS_KEY: required when NODE_ENV=production (seals content destination credentials)']
      : []),
  ];
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

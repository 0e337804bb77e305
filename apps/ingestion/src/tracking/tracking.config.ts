import { z } from 'zod';

/** Configuration keys of the tracking API. */
export const trackingConfigShape = {
  /**
   * How long a messageId is remembered: a client retry within it is answered 200 without producing again. At most
   * tracking.calls-stored's retention (7 days), which replicas read the window back from at start.
   */
  TRACKING_DEDUPE_WINDOW_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 7)
    .default(24),
  /**
   * Stored ids one replica remembers at most (24 bytes each with the index, 24 MB a million); with more in the
   * window the oldest go first and a warning says how far back the window still reaches.
   */
  TRACKING_DEDUPE_MAX_IDS: z.coerce.number().int().min(1_000).max(50_000_000).default(1_000_000),
  /** How long start-up may take to read the dedupe window back from tracking.calls-stored before it gives up. */
  TRACKING_DEDUPE_READ_BACK_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(120_000),
  /** Events handed to Kafka and not yet acknowledged, across requests; beyond it the API answers 503. */
  TRACKING_MAX_IN_FLIGHT: z.coerce.number().int().min(1).default(5_000),
  /**
   * Share of TRACKING_MAX_IN_FLIGHT one workspace may hold (beyond it, its calls get 503 while others are admitted):
   * 0.25 leaves room for others until four workspaces each fill theirs.
   */
  TRACKING_WORKSPACE_IN_FLIGHT_SHARE: z.coerce.number().positive().max(1).default(0.25),
  /** How long a request waits for Kafka's ack before answering 503 (kafkajs itself retries for much longer). */
  TRACKING_PRODUCE_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(3_000),
  /** Retry-After (seconds) sent with 503s. */
  TRACKING_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).max(3_600).default(5),
  /**
   * How far after its receipt a call's (skew-corrected) time may fall; a later time is clamped to receipt + this.
   * Capped at an hour: beyond that it no longer bounds how far one call can decay a contact's other events.
   */
  MAX_FUTURE_SKEW_SECONDS: z.coerce.number().int().min(0).max(3_600).default(300),
};

import { isStoreDataRejection, isStoreUnavailable } from '@tributary/store';
import { UndecodableMessageError } from '../schema-registry';

/** A handler error that retrying cannot fix (bad data, broken invariant): goes to the dead-letter topic at once. */
export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
}

/** What the consumer does with a message whose processing failed. */
export type FailureDecision =
  | { action: 'retry'; delayMs: number }
  | { action: 'dead-letter'; errorType: 'decode' | 'poison' | 'handler' }
  | { action: 'pause' };

export interface RetrySettings {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

/**
 * Decides, per failed attempt, between retry with backoff, dead-lettering and pausing the partition.
 * - undecodable bytes, PoisonMessageError and data the store refuses as such: dead letter now, retrying cannot help;
 * - the service's store is down: pause (never dead-letter good data because our own dependency is down);
 * - anything else is presumed transient: exponential backoff with full jitter, dead letter after maxAttempts.
 * `random` is injectable so tests are deterministic.
 */
export function decideOnFailure(
  error: unknown,
  attempt: number,
  settings: RetrySettings,
  random: () => number = Math.random,
): FailureDecision {
  if (error instanceof UndecodableMessageError) return { action: 'dead-letter', errorType: 'decode' };
  if (error instanceof PoisonMessageError || isStoreDataRejection(error))
    return { action: 'dead-letter', errorType: 'poison' };
  if (isStoreUnavailable(error)) return { action: 'pause' };
  if (attempt >= settings.maxAttempts) return { action: 'dead-letter', errorType: 'handler' };
  return { action: 'retry', delayMs: backoffDelay(attempt, settings, random) };
}

/** Exponential backoff with full jitter: uniform in [0, min(max, initial * 2^(attempt-1))], at least 1 ms. */
export function backoffDelay(
  attempt: number,
  settings: RetrySettings,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(settings.maxDelayMs, settings.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(ceiling * random()));
}

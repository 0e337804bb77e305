import { isAxiosError, type AxiosError, type AxiosInstance } from 'axios';
import axiosRetry, { exponentialDelay, retryAfter } from 'axios-retry';
import type { DestinationOutcome } from '../content-workflow';

/** How hard one call to a destination tries before the round fails (the publisher then schedules the next round). */
export interface CallPolicy {
  retries: number;
  /** The longest single wait inside the call: a longer Retry-After ends the round instead. */
  maxWaitMs: number;
  /** axios-retry's exponential base: 2^n × this, at least the Retry-After, plus 0–20 % jitter. */
  baseDelayMs: number;
  timeoutMs: number;
}

export type FailedOutcome = Extract<DestinationOutcome, { ok: false }>;

/** 408, 429, 5xx and no answer at all (reset, timeout): worth another try. */
export function isTransient(error: AxiosError): boolean {
  const status = error.response?.status;
  if (status === undefined) return error.code !== 'ERR_CANCELED';
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Refused before any work was done, so repeating a create cannot make a second copy: 429, or a connection that was
 * never made. A 5xx or a lost answer may come after the vendor stored it.
 */
export function isUnprocessed(error: AxiosError): boolean {
  if (error.response?.status === 429) return true;
  return error.response === undefined && error.code === 'ECONNREFUSED';
}

/**
 * Installs axios-retry on a destination's own client (each destination retries on its own schedule): `retryable`
 * decides per error, Retry-After is honoured as the floor of the wait, and a wait past `maxWaitMs` is not taken
 * inside the call.
 */
export function retryCalls(http: AxiosInstance, policy: CallPolicy, retryable = isTransient): void {
  axiosRetry(http, {
    retries: policy.retries,
    shouldResetTimeout: true,
    retryCondition: (error) => retryable(error) && retryAfter(error) <= policy.maxWaitMs,
    retryDelay: (retryNumber, error) => exponentialDelay(retryNumber, error, policy.baseDelayMs),
  });
}

/** Per-request override of the retry condition (e.g. creates retry only what was not processed). */
export function retryOnly(
  policy: CallPolicy,
  retryable: (error: AxiosError) => boolean,
): { 'axios-retry': { retryCondition: (error: AxiosError) => boolean } } {
  return {
    'axios-retry': { retryCondition: (error) => retryable(error) && retryAfter(error) <= policy.maxWaitMs },
  };
}

/**
 * A failed call as a round outcome: the vendor's status and its own words (`describe` reads its error body), never
 * the request (which carries credentials). Retryable when another round may succeed.
 */
export function failedCall(
  error: unknown,
  vendor: string,
  describe: (body: unknown) => string | undefined,
): FailedOutcome {
  if (!isAxiosError(error))
    return { ok: false, retryable: true, reason: `${vendor}: ${(error as Error).message}` };
  const status = error.response?.status;
  if (status === undefined)
    return { ok: false, retryable: true, reason: `${vendor}: no answer (${error.code ?? 'network error'})` };
  const detail = describe(error.response?.data);
  const after = retryAfter(error);
  return {
    ok: false,
    retryable: isTransient(error),
    ...(after > 0 ? { retryAfterMs: after } : {}),
    reason: `${vendor} ${status}${detail ? `: ${detail}` : ''}`,
  };
}

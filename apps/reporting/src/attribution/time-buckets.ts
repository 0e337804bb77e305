import { DateTime, IANAZone } from 'luxon';

/**
 * Report time buckets in the workspace's time zone: a marketer reads "Monday" as their Monday, not UTC's. Buckets are
 * computed by luxon on the local calendar, so a spring-forward day is a 23-hour bucket, a fall-back day a 25-hour
 * one, and the hour the clock shows twice is two buckets told apart by their offset. A bucket is named by its start
 * as an ISO date-time with offset, which says both the local wall time and the instant.
 */

export type BucketGrain = 'hour' | 'day' | 'week';

/** Start of the bucket holding the event, e.g. `2026-03-29T00:00:00+01:00`; weeks start on Monday (ISO). */
export function bucketStart(at: number, grain: BucketGrain, zone: string): string {
  // IANA names only: luxon would also take 'UTC+1', a fixed offset that ignores the workspace's DST.
  if (!IANAZone.isValidZone(zone)) throw new RangeError(`unknown IANA time zone "${zone}"`);
  const event = Number.isFinite(at) ? DateTime.fromMillis(at, { zone: IANAZone.create(zone) }) : null;
  // luxon's weeks are ISO weeks (Monday first) unless locale weeks are asked for.
  const start = event?.isValid ? event.startOf(grain).toISO({ suppressMilliseconds: true }) : null;
  if (start === null)
    throw new RangeError(`event time must be epoch milliseconds luxon can represent, got ${at}`);
  return start;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Whether an event arrived too late to update its past bucket: more than `lateDays` days (of 24 hours, whatever the
 * zone) after it happened. Exactly `lateDays` late is still accepted; an event stamped after `now` (clock skew) is
 * not late.
 */
export function isTooLate(eventAt: number, now: number, lateDays: number): boolean {
  if (!Number.isFinite(lateDays) || lateDays < 0)
    throw new RangeError(`late-event allowance must be a finite number of days ≥ 0, got ${lateDays}`);
  // Written as "not within" so that an event with no valid time (NaN) is refused too.
  return !(now - eventAt <= lateDays * DAY_MS);
}

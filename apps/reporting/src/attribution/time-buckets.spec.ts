import fc from 'fast-check';
import { bucketStart, isTooLate } from './time-buckets';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const at = (iso: string): number => Date.parse(iso);

describe('day buckets across DST in Europe/Berlin', () => {
  it('makes the spring-forward day (2026-03-29) a 23-hour bucket', () => {
    // Clocks go from 02:00 CET (UTC+1) to 03:00 CEST (UTC+2).
    const springDay = bucketStart(at('2026-03-29T12:00:00Z'), 'day', 'Europe/Berlin');
    const nextDay = bucketStart(at('2026-03-30T12:00:00Z'), 'day', 'Europe/Berlin');
    expect(springDay).toBe('2026-03-29T00:00:00+01:00');
    expect(nextDay).toBe('2026-03-30T00:00:00+02:00');
    expect(Date.parse(nextDay) - Date.parse(springDay)).toBe(23 * HOUR);
  });

  it('makes the fall-back day (2026-10-25) a 25-hour bucket, from 00:00 CEST to 23:59 CET', () => {
    // Clocks go from 03:00 CEST (UTC+2) back to 02:00 CET (UTC+1).
    const fallDay = bucketStart(at('2026-10-24T22:30:00Z'), 'day', 'Europe/Berlin'); // 00:30 CEST
    expect(fallDay).toBe('2026-10-25T00:00:00+02:00');
    expect(bucketStart(at('2026-10-25T22:30:00Z'), 'day', 'Europe/Berlin')).toBe(fallDay); // 23:30 CET
    const nextDay = bucketStart(at('2026-10-25T23:30:00Z'), 'day', 'Europe/Berlin');
    expect(Date.parse(nextDay) - Date.parse(fallDay)).toBe(25 * HOUR);
  });
});

describe('hour buckets across DST in Europe/Berlin', () => {
  it('goes from the 01:00 CET bucket straight to 03:00 CEST on the spring-forward night', () => {
    expect(bucketStart(at('2026-03-29T00:30:00Z'), 'hour', 'Europe/Berlin')).toBe(
      '2026-03-29T01:00:00+01:00',
    );
    expect(bucketStart(at('2026-03-29T01:30:00Z'), 'hour', 'Europe/Berlin')).toBe(
      '2026-03-29T03:00:00+02:00',
    );
  });

  it('makes the 02:00 hour the clock shows twice on the fall-back night two distinct buckets', () => {
    const firstShowing = bucketStart(at('2026-10-25T00:30:00Z'), 'hour', 'Europe/Berlin');
    const secondShowing = bucketStart(at('2026-10-25T01:30:00Z'), 'hour', 'Europe/Berlin');
    expect(firstShowing).toBe('2026-10-25T02:00:00+02:00');
    expect(secondShowing).toBe('2026-10-25T02:00:00+01:00');
    expect(Date.parse(secondShowing) - Date.parse(firstShowing)).toBe(HOUR);
  });
});

describe('day buckets in America/New_York', () => {
  it('puts an event at 03:30 UTC in the previous local day (22:30 EST)', () => {
    expect(bucketStart(at('2026-01-15T03:30:00Z'), 'day', 'America/New_York')).toBe(
      '2026-01-14T00:00:00-05:00',
    );
  });

  it('does the same in summer time (23:30 EDT)', () => {
    expect(bucketStart(at('2026-07-15T03:30:00Z'), 'day', 'America/New_York')).toBe(
      '2026-07-14T00:00:00-04:00',
    );
  });
});

describe('week buckets', () => {
  it('start on Monday: a Sunday evening belongs to the week begun the Monday before', () => {
    // Sunday 2026-03-29 22:00 CEST; that week began on Monday 2026-03-23, still in winter time.
    expect(bucketStart(at('2026-03-29T20:00:00Z'), 'week', 'Europe/Berlin')).toBe(
      '2026-03-23T00:00:00+01:00',
    );
  });

  it('start at local midnight between Sunday and Monday, not UTC’s', () => {
    // 00:30 CEST on Monday 2026-03-30 is still Sunday in UTC.
    expect(bucketStart(at('2026-03-29T22:30:00Z'), 'week', 'Europe/Berlin')).toBe(
      '2026-03-30T00:00:00+02:00',
    );
  });
});

describe('any bucket', () => {
  const zones = [
    'Europe/Berlin',
    'America/New_York',
    'America/Santiago',
    'Asia/Kolkata',
    'Australia/Lord_Howe',
  ];

  it('starts at or before its event, and its start lies in the same bucket', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: at('2025-01-01T00:00:00Z'), max: at('2028-01-01T00:00:00Z') }),
        fc.constantFrom('hour' as const, 'day' as const, 'week' as const),
        fc.constantFrom(...zones),
        (eventAt, grain, zone) => {
          const start = bucketStart(eventAt, grain, zone);
          expect(Date.parse(start)).toBeLessThanOrEqual(eventAt);
          expect(bucketStart(Date.parse(start), grain, zone)).toBe(start);
        },
      ),
    );
  });

  it('refuses a zone that is not an IANA name, naming it', () => {
    expect(() => bucketStart(at('2026-01-15T03:30:00Z'), 'day', 'Mars/Olympus')).toThrow(
      'unknown IANA time zone "Mars/Olympus"',
    );
    // A fixed offset would silently ignore the workspace's DST.
    expect(() => bucketStart(at('2026-01-15T03:30:00Z'), 'day', 'UTC+1')).toThrow('"UTC+1"');
  });

  it('refuses an event time that is not a number', () => {
    expect(() => bucketStart(Number.NaN, 'day', 'Europe/Berlin')).toThrow(/epoch milliseconds/);
  });
});

describe('late events', () => {
  const now = at('2026-06-10T12:00:00Z');

  it('accepts an event up to the allowance late, including exactly at it', () => {
    expect(isTooLate(now - 2 * DAY, now, 3)).toBe(false);
    expect(isTooLate(now - 3 * DAY, now, 3)).toBe(false);
  });

  it('refuses an event later than the allowance', () => {
    expect(isTooLate(now - 3 * DAY - 1, now, 3)).toBe(true);
  });

  it('does not count an event stamped after now (a skewed clock) as late', () => {
    expect(isTooLate(now + HOUR, now, 0)).toBe(false);
  });

  it('refuses an event without a valid time', () => {
    expect(isTooLate(Number.NaN, now, 3)).toBe(true);
  });

  it('refuses a negative allowance', () => {
    expect(() => isTooLate(now, now, -1)).toThrow(/late-event allowance/);
  });
});

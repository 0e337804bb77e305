import { nextLocalTime } from './local-time';

const at = (iso: string): Date => new Date(iso);
const next = (now: string, zone: string, time: string, weekdays?: Parameters<typeof nextLocalTime>[3]) =>
  nextLocalTime(at(now), zone, time, weekdays).toISOString();

describe('waiting until a local time of day', () => {
  it('waits for today’s time when it is still ahead, else tomorrow’s', () => {
    // 07:30 in Berlin (UTC+1 in January): 09:00 is today, 08:00Z.
    expect(next('2026-01-15T06:30:00Z', 'Europe/Berlin', '09:00')).toBe('2026-01-15T08:00:00.000Z');
    // 10:00 in Berlin: tomorrow's 09:00.
    expect(next('2026-01-15T09:00:00Z', 'Europe/Berlin', '09:00')).toBe('2026-01-16T08:00:00.000Z');
  });

  it('goes on at once when the clock shows the time now', () => {
    expect(next('2026-01-15T08:00:00Z', 'Europe/Berlin', '09:00')).toBe('2026-01-15T08:00:00.000Z');
  });

  it('reads the day in the contact’s zone, not in UTC', () => {
    // 23:30Z on Friday is already Saturday 08:30 in Tokyo: the next weekday 09:00 there is Monday's.
    expect(next('2026-01-16T23:30:00Z', 'Asia/Tokyo', '09:00', ['mon', 'tue', 'wed', 'thu', 'fri'])).toBe(
      '2026-01-19T00:00:00.000Z',
    );
    // The same instant in Los Angeles is Friday 15:30: Monday 09:00 PST.
    expect(
      next('2026-01-16T23:30:00Z', 'America/Los_Angeles', '09:00', ['mon', 'tue', 'wed', 'thu', 'fri']),
    ).toBe('2026-01-19T17:00:00.000Z');
  });

  it('skips to the next named weekday, a week ahead when today’s time has passed', () => {
    // Thursday 2026-01-15, 10:00 UTC; only Thursdays: next week's.
    expect(next('2026-01-15T10:00:00Z', 'UTC', '09:00', ['thu'])).toBe('2026-01-22T09:00:00.000Z');
    expect(next('2026-01-15T08:00:00Z', 'UTC', '09:00', ['thu'])).toBe('2026-01-15T09:00:00.000Z');
    expect(next('2026-01-15T10:00:00Z', 'UTC', '09:00', ['sat', 'mon'])).toBe('2026-01-17T09:00:00.000Z');
  });

  it('keeps 09:00 local across spring forward (Berlin, 2026-03-29: UTC+1 → UTC+2)', () => {
    // Saturday 10:00 local: Sunday's 09:00 is already summer time, 07:00Z (not 08:00Z).
    expect(next('2026-03-28T09:00:00Z', 'Europe/Berlin', '09:00')).toBe('2026-03-29T07:00:00.000Z');
    // And a wait over the change to the following Monday.
    expect(next('2026-03-27T09:00:00Z', 'Europe/Berlin', '09:00', ['mon'])).toBe('2026-03-30T07:00:00.000Z');
  });

  it('keeps 09:00 local across fall back (Berlin, 2026-10-25: UTC+2 → UTC+1)', () => {
    expect(next('2026-10-24T08:00:00Z', 'Europe/Berlin', '09:00')).toBe('2026-10-25T08:00:00.000Z');
  });

  it('takes the first instant after the gap for a time the clock skips (New York, 2026-03-08)', () => {
    // 02:30 does not exist: clocks go from 02:00 EST to 03:00 EDT; 03:30 EDT is 07:30Z.
    expect(next('2026-03-08T05:00:00Z', 'America/New_York', '02:30')).toBe('2026-03-08T07:30:00.000Z');
  });

  it('takes the first showing of a time the clock shows twice, then the second (New York, 2026-11-01)', () => {
    // 01:30 is shown at 05:30Z (EDT) and again at 06:30Z (EST).
    expect(next('2026-11-01T05:00:00Z', 'America/New_York', '01:30')).toBe('2026-11-01T05:30:00.000Z');
    // Between the two showings, the next one is the second.
    expect(next('2026-11-01T05:45:00Z', 'America/New_York', '01:30')).toBe('2026-11-01T06:30:00.000Z');
    // After both, tomorrow's.
    expect(next('2026-11-01T07:00:00Z', 'America/New_York', '01:30')).toBe('2026-11-02T06:30:00.000Z');
  });

  it('falls back to UTC for a zone it does not know', () => {
    expect(next('2026-01-15T06:30:00Z', 'Mars/Olympus_Mons', '09:00')).toBe('2026-01-15T09:00:00.000Z');
  });
});

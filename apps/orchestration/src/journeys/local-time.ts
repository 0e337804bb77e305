import { DateTime } from 'luxon';

/** Days a `wait_until` step may name, Monday first (luxon's weekday 1). */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/**
 * The first instant at or after `now` at which the clock in `zone` shows `time` (HH:mm) on one of `weekdays` (any
 * day when none are named). A wall-clock time: on a spring-forward day a skipped 02:30 is the instant after the gap
 * (03:30, luxon moves it forward); on a fall-back day a time the clock shows twice is whichever showing comes next.
 */
export function nextLocalTime(
  now: Date,
  zone: string,
  time: string,
  weekdays: readonly Weekday[] = [],
): Date {
  const [hour = 0, minute = 0] = time.split(':').map(Number);
  const local = DateTime.fromJSDate(now, { zone });
  const clock = local.isValid ? local : DateTime.fromJSDate(now, { zone: 'UTC' });
  const allowed = new Set(
    (weekdays.length > 0 ? weekdays : WEEKDAYS).map((day) => WEEKDAYS.indexOf(day) + 1),
  );
  // Calendar days counted in UTC, where every day has 24 hours; the time of day is then set in the contact's zone.
  const today = DateTime.fromObject(
    { year: clock.year, month: clock.month, day: clock.day },
    { zone: 'UTC' },
  );
  for (let days = 0; days <= 7; days += 1) {
    const day = today.plus({ days });
    if (!allowed.has(day.weekday)) continue;
    const at = DateTime.fromObject(
      { year: day.year, month: day.month, day: day.day, hour, minute },
      { zone: clock.zone },
    );
    for (const showing of [...earlierShowings(at), at])
      if (showing.toMillis() >= now.getTime()) return showing.toJSDate();
  }
  // Unreachable: eight days hold every weekday once after today's time has passed.
  throw new Error(`no ${time} on ${weekdays.join(',')} within a week of ${now.toISOString()}`);
}

/** The same wall-clock time shown earlier that day, before the clocks went back (luxon picks the later showing). */
function earlierShowings(at: DateTime): DateTime[] {
  // Clocks go back by an hour almost everywhere; by half an hour on Lord Howe Island.
  return [60, 30]
    .map((minutes) => at.minus({ minutes }))
    .filter(
      (earlier) => earlier.hour === at.hour && earlier.minute === at.minute && earlier.offset !== at.offset,
    );
}

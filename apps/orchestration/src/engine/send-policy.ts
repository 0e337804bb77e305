import { getCountry, getTimezone } from 'countries-and-timezones';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { durationMs } from '../journeys/journey-definition';

/**
 * When and how often a workspace lets marketing reach a contact: quiet hours per channel in the contact's time zone
 * and frequency caps across all journeys. Pure time arithmetic (luxon, so DST days are 23 or 25 hours long).
 */

export function isTimeZone(zone: string): boolean {
  return DateTime.local().setZone(zone).isValid;
}

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day as HH:mm, e.g. 21:00');
const quietWindow = z
  .object({ start: clock, end: clock })
  .strict()
  .refine((w) => w.start !== w.end, { message: 'start and end must differ', path: ['end'] });
export type QuietWindow = z.output<typeof quietWindow>;

export const CHANNELS = ['email', 'sms'] as const;
export type Channel = (typeof CHANNELS)[number];

export const messagingSettingsSchema = z
  .object({
    /** The workspace's zone: for contacts whose own zone and country are unknown. */
    timezone: z.string().refine(isTimeZone, 'an IANA time zone such as Europe/Berlin').default('UTC'),
    /** e.g. 3 marketing emails per 7 days, counted in calendar days of the contact's zone, across all journeys. */
    frequencyCaps: z
      .array(
        z
          .object({
            channel: z.enum(CHANNELS),
            limit: z.number().int().min(1).max(1_000),
            per: z.string().regex(/^\d{1,3}(d|w)$/, 'whole days or weeks, e.g. 1d, 7d or 2w'),
          })
          .strict(),
      )
      .max(10)
      .default([]),
    /** Per channel, when marketing waits: a window may span midnight (21:00 to 08:00). */
    quietHours: z.object({ email: quietWindow.optional(), sms: quietWindow.optional() }).strict().default({}),
  })
  .strict();
export type MessagingSettings = z.output<typeof messagingSettingsSchema>;

export const DEFAULT_MESSAGING_SETTINGS: MessagingSettings = {
  timezone: 'UTC',
  frequencyCaps: [],
  quietHours: {},
};

/**
 * The zone a country mostly lives in: its only zone, else the one at the median UTC offset of its zones (Central
 * time for the US, Moscow-ish for Russia), so a guess is at most half the country's spread away.
 */
export function countryZone(country: string | undefined): string | undefined {
  if (!country) return undefined;
  const zones = getCountry(country.toUpperCase())?.timezones ?? [];
  if (zones.length <= 1) return zones[0];
  const offset = (zone: string): number => getTimezone(zone)?.utcOffset ?? 0;
  const offsets = zones.map(offset).sort((a, b) => a - b);
  const median = offsets[Math.floor(offsets.length / 2)];
  // The first listed at that offset: the library lists a country's main zone first (Berlin before Büsingen's Zurich).
  return zones.find((zone) => offset(zone) === median);
}

/** The contact's zone, else its country's, else the workspace's, else UTC. */
export function contactZone(attributes: Readonly<Record<string, string>>, workspaceZone: string): string {
  const own = attributes['timezone'];
  if (own && isTimeZone(own)) return own;
  return countryZone(attributes['country']) ?? (isTimeZone(workspaceZone) ? workspaceZone : 'UTC');
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/**
 * When a quiet window open at `now` ends in `zone`; null when `now` is outside it. The end is a wall-clock time: on
 * a DST day it is the next instant the contact's clock shows it (a skipped 02:30 becomes 03:30, as luxon shifts).
 */
export function quietUntil(now: Date, zone: string, window: QuietWindow): Date | null {
  const local = DateTime.fromJSDate(now, { zone });
  const minute = local.hour * 60 + local.minute;
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  const quiet = start < end ? minute >= start && minute < end : minute >= start || minute < end;
  if (!quiet) return null;
  let opens = local.set({ hour: Math.floor(end / 60), minute: end % 60, second: 0, millisecond: 0 });
  if (opens <= local) opens = opens.plus({ days: 1 }).set({ hour: Math.floor(end / 60), minute: end % 60 });
  return opens.toJSDate();
}

/** Where a cap's window starts: midnight in the contact's zone, (days − 1) calendar days before today. */
export function capWindowStart(now: Date, zone: string, per: string): Date {
  const days = Math.round(durationMs(per) / 86_400_000);
  return DateTime.fromJSDate(now, { zone })
    .startOf('day')
    .minus({ days: Math.max(0, days - 1) })
    .toJSDate();
}

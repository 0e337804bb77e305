import { capWindowStart, contactZone, countryZone, messagingSettingsSchema, quietUntil } from './send-policy';

const night = { start: '21:00', end: '08:00' };

describe('quiet hours', () => {
  it('holds a send made at night until the window ends in the contact’s zone', () => {
    // 23:30 in Berlin (UTC+1 in winter) → 08:00 Berlin the next morning.
    expect(quietUntil(new Date('2026-01-15T22:30:00Z'), 'Europe/Berlin', night)?.toISOString()).toBe(
      '2026-01-16T07:00:00.000Z',
    );
    // 06:00 in Berlin: still quiet, opens at 08:00 the same day.
    expect(quietUntil(new Date('2026-01-16T05:00:00Z'), 'Europe/Berlin', night)?.toISOString()).toBe(
      '2026-01-16T07:00:00.000Z',
    );
  });

  it('lets a send through outside the window, including at its end', () => {
    expect(quietUntil(new Date('2026-01-16T12:00:00Z'), 'Europe/Berlin', night)).toBeNull();
    expect(quietUntil(new Date('2026-01-16T07:00:00Z'), 'Europe/Berlin', night)).toBeNull();
    expect(quietUntil(new Date('2026-01-16T19:59:59Z'), 'Europe/Berlin', night)).toBeNull();
  });

  it('opens at 08:00 local on the night clocks spring forward (a 23-hour day)', () => {
    // Berlin moves from UTC+1 to UTC+2 at 02:00 on 2026-03-29: 08:00 that morning is 06:00Z, not 07:00Z.
    expect(quietUntil(new Date('2026-03-28T21:30:00Z'), 'Europe/Berlin', night)?.toISOString()).toBe(
      '2026-03-29T06:00:00.000Z',
    );
  });

  it('opens at 08:00 local on the night clocks fall back (a 25-hour day)', () => {
    // Back to UTC+1 at 03:00 on 2026-10-25: 08:00 that morning is 07:00Z.
    expect(quietUntil(new Date('2026-10-24T20:30:00Z'), 'Europe/Berlin', night)?.toISOString()).toBe(
      '2026-10-25T07:00:00.000Z',
    );
  });

  it('opens at the first instant after a window end the clock skips', () => {
    // 02:30 does not exist in New York on 2026-03-08 (02:00 → 03:00 EDT): it opens at 03:30 EDT = 07:30Z.
    const window = { start: '22:00', end: '02:30' };
    const opens = quietUntil(new Date('2026-03-08T05:00:00Z'), 'America/New_York', window);
    expect(opens?.toISOString()).toBe('2026-03-08T07:30:00.000Z');
  });

  it('handles a window within one day', () => {
    const lunch = { start: '12:00', end: '13:30' };
    expect(quietUntil(new Date('2026-06-01T10:15:00Z'), 'Europe/Berlin', lunch)?.toISOString()).toBe(
      '2026-06-01T11:30:00.000Z',
    );
    expect(quietUntil(new Date('2026-06-01T09:15:00Z'), 'Europe/Berlin', lunch)).toBeNull();
  });
});

describe('the contact’s zone', () => {
  it('prefers the contact’s own zone, then its country’s, then the workspace’s, then UTC', () => {
    expect(contactZone({ timezone: 'Asia/Tokyo', country: 'DE' }, 'Europe/Paris')).toBe('Asia/Tokyo');
    expect(contactZone({ timezone: 'Mars/Olympus', country: 'DE' }, 'Europe/Paris')).toBe('Europe/Berlin');
    expect(contactZone({}, 'Europe/Paris')).toBe('Europe/Paris');
    expect(contactZone({}, 'Not/AZone')).toBe('UTC');
  });

  it('takes the median zone of a country with several', () => {
    expect(countryZone('DE')).toBe('Europe/Berlin');
    // Neither Hawaii nor New York: the middle of the US's zones.
    expect(['America/Chicago', 'America/Denver', 'America/Boise', 'America/Indiana/Knox']).toContain(
      countryZone('us'),
    );
    expect(countryZone('XX')).toBeUndefined();
  });
});

describe('frequency cap windows', () => {
  it('counts whole calendar days in the contact’s zone', () => {
    // 3 per 7 days, asked on 2026-01-16 at 10:00 Tokyo: from 2026-01-10 00:00 Tokyo (15:00Z the day before).
    expect(capWindowStart(new Date('2026-01-16T01:00:00Z'), 'Asia/Tokyo', '7d').toISOString()).toBe(
      '2026-01-09T15:00:00.000Z',
    );
    // 1 per day: since midnight today, local.
    expect(capWindowStart(new Date('2026-01-16T01:00:00Z'), 'Europe/Berlin', '1d').toISOString()).toBe(
      '2026-01-15T23:00:00.000Z',
    );
    // Across the spring-forward day a week is still 7 midnights back (that day had 23 hours).
    expect(capWindowStart(new Date('2026-04-01T10:00:00Z'), 'Europe/Berlin', '1w').toISOString()).toBe(
      '2026-03-25T23:00:00.000Z',
    );
  });
});

describe('messaging settings', () => {
  it('refuses bad zones, clocks and cap periods at their fields', () => {
    const parsed = messagingSettingsSchema.safeParse({
      timezone: 'Europe/Atlantis',
      frequencyCaps: [{ channel: 'email', limit: 3, per: '7 days' }],
      quietHours: { email: { start: '25:00', end: '08:00' } },
    });
    expect(parsed.success).toBe(false);
    const paths = parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.'));
    expect(paths.sort()).toEqual(['frequencyCaps.0.per', 'quietHours.email.start', 'timezone']);
  });
});

import { validateJourney } from './journey-definition';
import { dryRun, dryRunRequest } from './journey-dry-run';
import { cronProblem, firstOccurrence, nextOccurrence } from './journey-schedule';
import { scheduleMatches, workspaceProfiles } from '../engine/journey-scheduler.service';

const steps = [{ id: 'hello', type: 'email', subject: 'Weekly picks', html: '<p>Picks</p>' }];

function scheduled(entry: Record<string, unknown>) {
  return validateJourney({ name: 'Weekly', entry: { on: 'schedule', ...entry }, steps });
}

function fieldsOf(result: ReturnType<typeof validateJourney>): string[] {
  if (result.ok) throw new Error('expected the journey to be refused');
  return result.errors.map((e) => e.field);
}

describe('schedule entries', () => {
  it('accepts a weekly cron in a zone, with conditions and a stage', () => {
    const parsed = scheduled({
      cron: '0 9 * * 1',
      timezone: 'Europe/Berlin',
      where: [{ attribute: 'plan', op: 'eq', value: 'pro' }],
      stage: 'mql',
    });
    expect(parsed.ok ? parsed.value.entry : parsed.errors).toEqual({
      on: 'schedule',
      cron: '0 9 * * 1',
      timezone: 'Europe/Berlin',
      where: [{ attribute: 'plan', op: 'eq', value: 'pro' }],
      stage: 'mql',
    });
  });

  it('accepts a one-off instant ahead', () => {
    const at = new Date(Date.now() + 86_400_000).toISOString();
    expect(scheduled({ at }).ok).toBe(true);
  });

  it.each([
    ['61 9 * * 1', 'a minute out of range'],
    ['0 9 * *', 'four fields'],
    ['0 0 9 * * 1', 'a seconds field'],
    ['every monday', 'words'],
  ])('refuses the cron %s (%s) on entry.cron', (cron) => {
    expect(fieldsOf(scheduled({ cron }))).toEqual(['entry.cron']);
  });

  it('refuses an unknown time zone on entry.timezone', () => {
    expect(fieldsOf(scheduled({ cron: '0 9 * * 1', timezone: 'Mars/Olympus' }))).toEqual(['entry.timezone']);
  });

  it('needs exactly one of cron and at', () => {
    expect(fieldsOf(scheduled({}))).toEqual(['entry.cron']);
    const at = new Date(Date.now() + 86_400_000).toISOString();
    expect(fieldsOf(scheduled({ cron: '0 9 * * 1', at }))).toEqual(['entry.at']);
  });

  it('refuses an instant without an offset, or one already past', () => {
    expect(fieldsOf(scheduled({ at: '2030-01-15T09:00:00' }))).toEqual(['entry.at']);
    expect(fieldsOf(scheduled({ at: '2020-01-15T09:00:00Z' }))).toEqual(['entry.at']);
  });

  it('refuses event-property conditions: a scheduled run has no event', () => {
    expect(fieldsOf(scheduled({ cron: '0 9 * * 1', where: [{ property: 'cart.total', value: 1 }] }))).toEqual(
      ['entry.where[0].property'],
    );
  });

  it('names the cron problem', () => {
    expect(cronProblem('0 9 * * 1')).toBeNull();
    expect(cronProblem('0 25 * * *')).toMatch(/hour/i);
  });
});

describe('next occurrences', () => {
  const weekly = { cron: '0 9 * * 1' };

  it('reads the cron in the zone across the spring-forward change', () => {
    // Berlin moves from UTC+1 to UTC+2 on Sunday 29 March 2026.
    const runs: Date[] = [];
    let after = new Date('2026-03-20T00:00:00Z');
    for (let i = 0; i < 3; i += 1) {
      const next = nextOccurrence(weekly, 'Europe/Berlin', after);
      if (!next) throw new Error('no next run');
      runs.push(next);
      after = next;
    }
    expect(runs.map((d) => d.toISOString())).toEqual([
      '2026-03-23T08:00:00.000Z',
      '2026-03-30T07:00:00.000Z',
      '2026-04-06T07:00:00.000Z',
    ]);
  });

  it('runs a time the clock skips just after the gap, and a time shown twice once', () => {
    const nightly = { cron: '30 2 * * *' };
    // 02:30 does not exist in Berlin on 29 March 2026: the run is at 03:00 CEST.
    expect(nextOccurrence(nightly, 'Europe/Berlin', new Date('2026-03-28T12:00:00Z'))?.toISOString()).toBe(
      '2026-03-29T01:00:00.000Z',
    );
    // 02:30 is shown twice on 25 October 2026 (CEST, then CET): the first showing, then the next day's.
    const first = nextOccurrence(nightly, 'Europe/Berlin', new Date('2026-10-24T12:00:00Z'));
    expect(first?.toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(nextOccurrence(nightly, 'Europe/Berlin', first as Date)?.toISOString()).toBe(
      '2026-10-26T01:30:00.000Z',
    );
  });

  it('counts from the instant given, so ticks missed while down are not replayed', () => {
    const daily = { cron: '0 9 * * *' };
    // Down from Monday to Thursday noon: one next run, Friday 09:00, not the three missed.
    expect(nextOccurrence(daily, 'UTC', new Date('2026-03-26T12:00:00Z'))?.toISOString()).toBe(
      '2026-03-27T09:00:00.000Z',
    );
  });

  it('runs a one-off once: ahead it is next, passed it is none, published late it runs at once', () => {
    const once = { at: '2026-06-01T09:00:00+02:00' };
    expect(nextOccurrence(once, 'UTC', new Date('2026-05-01T00:00:00Z'))?.toISOString()).toBe(
      '2026-06-01T07:00:00.000Z',
    );
    expect(nextOccurrence(once, 'UTC', new Date('2026-06-01T07:00:00Z'))).toBeNull();
    expect(firstOccurrence(once, 'UTC', new Date('2026-06-02T00:00:00Z'))?.toISOString()).toBe(
      '2026-06-01T07:00:00.000Z',
    );
  });
});

describe('who a scheduled run enters', () => {
  const entry = {
    on: 'schedule' as const,
    cron: '0 9 * * 1',
    where: [{ attribute: 'plan', op: 'eq' as const, value: 'pro' }],
    stage: 'mql' as const,
  };
  const profile = (attributes: Record<string, string>, stage: string | null) => ({
    _id: 'ws1:c1',
    attributes,
    stage,
    score: 0,
  });

  it('enters contacts meeting the conditions at the stage named', () => {
    expect(scheduleMatches(entry, profile({ plan: 'pro' }, 'mql'))).toBe(true);
    expect(scheduleMatches(entry, profile({ plan: 'pro' }, 'lead'))).toBe(false);
    expect(scheduleMatches(entry, profile({ plan: 'free' }, 'mql'))).toBe(false);
    expect(scheduleMatches({ ...entry, stage: undefined }, profile({ plan: 'pro' }, null))).toBe(true);
  });

  it('reads one workspace’s profiles as an _id range', () => {
    const range = workspaceProfiles('ws1', null);
    const inRange = (id: string) => id > range.$gt && id < range.$lt;
    expect(['ws1:a', 'ws1:zzz', 'ws1:user:42'].every(inRange)).toBe(true);
    expect(['ws10:a', 'ws2:a', 'ws1', 'ws0:z'].some(inRange)).toBe(false);
    expect(workspaceProfiles('ws1', 'ws1:m').$gt).toBe('ws1:m');
  });

  it('shows the schedule and the contact’s match in a dry run', () => {
    const parsed = validateJourney({
      name: 'Weekly',
      entry: { ...entry, timezone: 'Europe/Berlin' },
      steps,
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const request = (attributes: Record<string, string>) =>
      dryRunRequest.parse({
        contact: { attributes: { email: 'a@example.com', ...attributes }, stage: 'mql' },
      });
    const matching = dryRun(parsed.value, request({ plan: 'pro' }), 'ws1:weekly');
    expect(matching.enters).toBe(true);
    expect(matching.schedule).toMatch(
      /^runs on "0 9 \* \* 1" in Europe\/Berlin; next: \d{4}-\d\d-\d\dT09:00:00\+0[12]:00/,
    );
    const other = dryRun(parsed.value, request({ plan: 'free' }), 'ws1:weekly');
    expect(other).toMatchObject({ enters: false, reason: 'does not match the schedule’s conditions now' });
  });
});

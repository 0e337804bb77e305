import {
  UNKNOWN,
  journeyTable,
  journeyTrend,
  rate,
  ratesOf,
  type JourneyRow,
  type MessageFacts,
  type RunFacts,
} from './journey-report';

const H = 3_600_000;
/** 2026-11-02 00:00 UTC; the range is that day and the next, in UTC. */
const T = Date.parse('2026-11-02T00:00:00Z');
const RANGE = { from: T, to: T + 48 * H };

function message(fields: Partial<MessageFacts> & { at: number }): MessageFacts {
  const { at, ...rest } = fields;
  return {
    journeyId: 'welcome',
    stepId: 'w1',
    channel: 'email',
    sentAt: at,
    firstSeenAt: at,
    first: {},
    runConvertedAt: null,
    ...rest,
  };
}

const run = (journeyId: string, enteredAt: number, convertedAt: number | null = null): RunFacts => ({
  journeyId,
  enteredAt,
  convertedAt,
});

const counts = (row: JourneyRow | undefined) =>
  row && {
    enrolled: row.enrolled,
    converted: row.converted,
    sent: row.sent,
    skipped: row.skipped,
    failed: row.failed,
    delivered: row.delivered,
    bounced: row.bounced,
    opened: row.opened,
    clicked: row.clicked,
    unsubscribed: row.unsubscribed,
  };

describe('rate', () => {
  it('is a share rounded to 4 decimals, and null when there is nothing to take a share of', () => {
    expect(rate(2, 3)).toBe(0.6667);
    expect(rate(3, 3)).toBe(1);
    expect(rate(0, 5)).toBe(0);
    expect(rate(0, 0)).toBeNull();
    expect(rate(1, 0)).toBeNull();
  });
});

describe('ratesOf', () => {
  const zero = {
    sent: 0,
    skipped: 0,
    failed: 0,
    delivered: 0,
    bounced: 0,
    dropped: 0,
    opened: 0,
    clicked: 0,
  };
  const base = { ...zero, unsubscribed: 0, complained: 0, converted: 0 };

  it('takes delivery from sent, opens and clicks from delivered, conversions from the base given', () => {
    expect(ratesOf({ ...base, sent: 10, delivered: 8, opened: 4, clicked: 2, converted: 3 }, 6)).toEqual({
      deliveryRate: 0.8,
      openRate: 0.5,
      clickRate: 0.25,
      conversionRate: 0.5,
    });
  });

  it('has no open or click rate for messages none of which was delivered', () => {
    expect(ratesOf({ ...base, sent: 2, bounced: 2 }, 2)).toEqual({
      deliveryRate: 0,
      openRate: null,
      clickRate: null,
      conversionRate: 0,
    });
  });
});

describe('journeyTable', () => {
  const messages = [
    message({ at: T + 1 * H, first: { delivered: T + 2 * H, opened: T + 3 * H }, runConvertedAt: T + 5 * H }),
    // Opened after the range ends: still one of the range's messages, opened.
    message({ at: T + 2 * H, first: { delivered: T + 2 * H, opened: T + 60 * H, clicked: T + 61 * H } }),
    message({ at: T + 3 * H, stepId: 'w2', first: { bounced: T + 3 * H } }),
    // Its run converted before it was sent (another message of the run got the credit, not this one).
    message({ at: T + 4 * H, stepId: 's1', channel: 'sms', runConvertedAt: T + 3 * H }),
    // Sent before the range: not in it, whatever happened to it in the range.
    message({ at: T - 1 * H, first: { delivered: T + 1 * H, opened: T + 2 * H } }),
    // No outcome known: the delivery's own time places it.
    message({
      at: T + 6 * H,
      journeyId: null,
      stepId: null,
      sentAt: null,
      first: { delivered: T + 6 * H, opened: T + 7 * H },
    }),
    message({ at: T + 1 * H, journeyId: 'abandoned', stepId: 'a1', first: { delivered: T + 1 * H } }),
  ];
  const runs = [
    run('welcome', T + 1 * H, T + 5 * H),
    run('welcome', T + 2 * H),
    run('welcome', T + 3 * H, T + 30 * H),
    run('welcome', T - 2 * H, T + 1 * H), // entered before the range
    run('dormant', T + 10 * H),
  ];
  const outcomes = [
    { journeyId: 'welcome', stepId: 'w1', channel: 'email', skipped: 2, failed: 1 },
    { journeyId: 'welcome', stepId: 'w3', channel: 'email', skipped: 1, failed: 0 },
  ];

  it('sums each step’s messages, the journey’s runs, and puts the unknown journey last', () => {
    const rows = journeyTable(messages, runs, outcomes, RANGE);
    expect(rows.map((r) => [r.level, r.journeyId, r.stepId, r.channel])).toEqual([
      ['journey', 'abandoned', null, null],
      ['step', 'abandoned', 'a1', 'email'],
      ['journey', 'dormant', null, null],
      ['journey', 'welcome', null, null],
      ['step', 'welcome', 's1', 'sms'],
      ['step', 'welcome', 'w1', 'email'],
      ['step', 'welcome', 'w2', 'email'],
      ['step', 'welcome', 'w3', 'email'],
      ['journey', UNKNOWN, null, null],
      ['step', UNKNOWN, UNKNOWN, 'email'],
    ]);
    const welcome = rows.find((r) => r.level === 'journey' && r.journeyId === 'welcome');
    expect(counts(welcome)).toEqual({
      enrolled: 3,
      converted: 2,
      sent: 4,
      skipped: 3,
      failed: 1,
      delivered: 2,
      bounced: 1,
      opened: 2,
      clicked: 1,
      unsubscribed: 0,
    });
    expect(welcome).toMatchObject({ deliveryRate: 0.5, openRate: 1, clickRate: 0.5, conversionRate: 0.6667 });
    const w1 = rows.find((r) => r.stepId === 'w1');
    expect(counts(w1)).toMatchObject({
      enrolled: null,
      converted: 1,
      sent: 2,
      skipped: 2,
      failed: 1,
      opened: 2,
    });
    expect(w1).toMatchObject({ deliveryRate: 1, openRate: 1, clickRate: 0.5, conversionRate: 0.5 });
    expect(rows.find((r) => r.stepId === 's1')).toMatchObject({ sent: 1, converted: 0, conversionRate: 0 });
    expect(rows.find((r) => r.stepId === 'w3')).toMatchObject({ sent: 0, skipped: 1, deliveryRate: null });
    expect(rows.find((r) => r.journeyId === 'dormant')).toMatchObject({
      enrolled: 1,
      sent: 0,
      conversionRate: 0,
    });
    expect(rows.find((r) => r.level === 'step' && r.journeyId === UNKNOWN)).toMatchObject({
      sent: 0,
      delivered: 1,
      opened: 1,
      deliveryRate: null,
      openRate: 1,
      conversionRate: null,
    });
  });

  it('keeps one journey when asked, and with a channel only the steps on it (and their journeys)', () => {
    const only = journeyTable(messages, runs, outcomes, RANGE, { journeyId: 'dormant' });
    expect(only.map((r) => [r.journeyId, r.enrolled])).toEqual([['dormant', 1]]);
    const sms = journeyTable(messages, runs, outcomes, RANGE, { channel: 'sms' });
    expect(sms.map((r) => [r.level, r.journeyId, r.stepId, r.sent, r.enrolled])).toEqual([
      ['journey', 'welcome', null, 1, 3],
      ['step', 'welcome', 's1', 1, null],
    ]);
    expect(
      journeyTable(messages, runs, outcomes, RANGE, { journeyId: UNKNOWN }).map((r) => r.opened),
    ).toEqual([1, 1]);
  });

  it('is empty when nothing was sent or entered in the range (the tallies come already cut to it)', () => {
    expect(journeyTable(messages, runs, [], { from: T + 100 * H, to: T + 200 * H })).toEqual([]);
  });
});

describe('journeyTrend', () => {
  it('puts every event in the bucket of its own time, in the workspace’s zone', () => {
    // Paris is UTC+1 in November: 23:30 UTC on the 2nd is the 3rd there.
    const rows = journeyTrend(
      [
        message({ at: T + 10 * H, first: { delivered: T + 10 * H, opened: T + 23.5 * H } }),
        message({ at: T - 5 * H, first: { opened: T + 1 * H } }), // sent before the range, opened in it
      ],
      [run('welcome', T + 9 * H, T + 23.5 * H)],
      [{ bucket: '2026-11-02T00:00:00+01:00', skipped: 2, failed: 0 }],
      {
        from: Date.parse('2026-11-02T00:00:00+01:00'),
        to: Date.parse('2026-11-04T00:00:00+01:00'),
        grain: 'day',
      },
      'Europe/Paris',
    );
    expect(rows).toEqual([
      expect.objectContaining({
        bucket: '2026-11-02T00:00:00+01:00',
        enrolled: 1,
        converted: 0,
        sent: 1,
        skipped: 2,
        delivered: 1,
        opened: 1,
      }),
      expect.objectContaining({
        bucket: '2026-11-03T00:00:00+01:00',
        enrolled: 0,
        converted: 1,
        sent: 0,
        opened: 1,
      }),
    ]);
  });

  it('cuts the messages by journey and channel, the runs by journey', () => {
    const rows = journeyTrend(
      [message({ at: T + 1 * H }), message({ at: T + 1 * H, channel: 'sms' })],
      [run('welcome', T + 1 * H), run('other', T + 1 * H)],
      [],
      { ...RANGE, grain: 'week' },
      'UTC',
      { journeyId: 'welcome', channel: 'sms' },
    );
    expect(rows).toEqual([
      expect.objectContaining({ bucket: '2026-11-02T00:00:00+00:00', sent: 1, enrolled: 1 }),
    ]);
  });
});

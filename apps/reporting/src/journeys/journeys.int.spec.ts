/**
 * Journey performance on the real stack, against a hand-computed table: two journeys, re-entries, goals, skipped and
 * failed sends, unique opens and clicks, and deliveries nobody can place. One workspace gets its deliveries before
 * the outcomes, another the outcomes first: both get the same table. Republished records (same event ids, new
 * offsets) and records read again at their own offsets (the group reset, a second instance taking over) change
 * nothing; another workspace sees none of it.
 */
import type { Kafka } from 'kafkajs';
import { Topics, type MessageOutcome } from '@tributary/contracts';
import type { AvroSchemaRegistry, EventPublisher, OutgoingEvent } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import {
  connectTestPublisher,
  testServiceEnv,
  uniqueId,
  waitFor,
  waitForGroupCaughtUp,
} from '@tributary/testing';
import { ReportingModule } from '../app.module';
import { loadReportingConfig, type ReportingConfig } from '../config';
import { ReportTopics } from '../report-topics/report-topics';
import { latestReports } from '../report-topics/testing/latest-reports';
import { ReportSettingsStore } from '../settings/report-settings';
import type { AnyIntakeBatch } from '../intake/report-contributor';
import { JourneyPerformanceContributor } from './journey-performance.contributor';
import { JOURNEY_COLUMNS, UNKNOWN, type JourneyRow, type TrendRow } from './journey-report';
import type { JourneyReport, JourneyTrend } from './journeys.controller';
import { deliveryOf, outcomeOf, runOf, stepOf } from './testing/journey-events';

const run = uniqueId('jrn');
/** Gets its deliveries before the outcomes. */
const early = `ws_jrn_a_${run}`;
/** The same journeys, the outcomes first. */
const late = `ws_jrn_b_${run}`;
const other = `ws_jrn_other_${run}`;
const keys: Record<string, string> = {
  [early]: `jrn-a-${run}`,
  [late]: `jrn-b-${run}`,
  [other]: `jrn-o-${run}`,
};
const group = `reporting.${run}`;
const TOPICS = [Topics.JourneySteps, Topics.MessagesOutcomes, Topics.MessagesDeliveries];
let config: ReportingConfig;
let service: RunningService;
let kafka: Kafka;
let publisher: EventPublisher;
let registry: AvroSchemaRegistry;
/** Where each topic's partitions stood before the test published anything. */
let startOffsets: Map<string, { partition: number; offset: string }[]>;

beforeAll(async () => {
  config = loadReportingConfig(
    testServiceEnv('reporting', run, {
      WRITE_KEYS: Object.entries(keys)
        .map(([workspace, key]) => `${key}:${workspace}`)
        .join(','),
      // The fixture's November must stay within the days the report topics republish.
      REPORT_TOPICS_DAYS: '400',
    }),
  );
  service = await startService(ReportingModule.forRoot(config), config);
  for (const workspace of Object.keys(keys))
    await service.app.get(ReportSettingsStore).update(workspace, { timeZone: 'Europe/Paris' }, 'spec');
  ({ kafka, publisher, registry } = await connectTestPublisher(`jrn-${run}`, config, TOPICS));
  const admin = kafka.admin();
  await admin.connect();
  startOffsets = new Map();
  for (const topic of TOPICS)
    startOffsets.set(
      topic,
      (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: p.high })),
    );
  await admin.disconnect();
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

/** Hours after 2026-11-02T00:00Z; the workspaces' zone is Paris (UTC+1), their 2 November starts at h(-1). */
const D = Date.parse('2026-11-02T00:00:00Z');
const h = (hours: number) => D + hours * 3_600_000;
const RANGE = 'from=2026-11-02&to=2026-11-04';

interface Fixture {
  steps: OutgoingEvent[];
  outcomes: OutgoingEvent[];
  deliveries: OutgoingEvent[];
}

/** Two journeys of one workspace, the same in `early` and `late` (event ids of their own). */
function fixture(ws: string): Fixture {
  const r1 = runOf(ws, 'welcome', 'c1', `${ws}/entry-1`);
  const r1again = runOf(ws, 'welcome', 'c1', `${ws}/entry-1b`); // a re-entry: another run of the enrollment
  const r2 = runOf(ws, 'welcome', 'c2', `${ws}/entry-2`);
  const r3 = runOf(ws, 'welcome', 'c3', `${ws}/entry-3`);
  const r4 = runOf(ws, 'winback', 'c4', `${ws}/entry-4`);
  const r5 = runOf(ws, 'winback', 'c5', `${ws}/entry-5`); // after the range
  const steps = [
    stepOf(r1, 'start', 'advanced', h(1)),
    stepOf(r1, 'w1', 'advanced', h(1)),
    stepOf(r1, 's1', 'advanced', h(1)),
    stepOf(r1, 'pause', 'waiting', h(1)),
    stepOf(r1, 'w2', 'advanced', h(25)),
    stepOf(r1, 'goal', 'converted', h(26), 'goal-met'),
    stepOf(r2, 'w1', 'advanced', h(2)),
    stepOf(r2, '(end)', 'converted', h(3), 'goal'),
    stepOf(r3, 'w1', 'skipped', h(4), 'no-consent'),
    stepOf(r3, '(end)', 'completed', h(4)),
    stepOf(r1again, 'w1', 'advanced', h(30)),
    stepOf(r1again, '(end)', 'exited', h(31)),
    stepOf(r4, 'b1', 'advanced', h(40)),
    stepOf(r4, 'b2', 'skipped', h(40)),
    stepOf(r4, '(end)', 'completed', h(40)),
    stepOf(r5, 'b1', 'advanced', h(80)),
  ];
  const m1 = outcomeOf(r1, 'w1', 'email', 'sent', h(1));
  const m2 = outcomeOf(r2, 'w1', 'email', 'sent', h(2));
  const m4 = outcomeOf(r1, 'w2', 'email', 'sent', h(25));
  const m5 = outcomeOf(r1again, 'w1', 'email', 'sent', h(30));
  const m6 = outcomeOf(r1, 's1', 'sms', 'sent', h(1));
  const m7 = outcomeOf(r4, 'b1', 'email', 'sent', h(40));
  const m9 = outcomeOf(r5, 'b1', 'email', 'sent', h(80));
  const outcomes = [
    m1,
    m2,
    outcomeOf(r3, 'w1', 'email', 'skipped', h(4)),
    m4,
    m5,
    m6,
    m7,
    outcomeOf(r4, 'b2', 'email', 'failed', h(40)),
    m9,
  ];
  const of = (message: MessageOutcome, event: string, at: number) => deliveryOf(ws, message, event, at);
  const deliveries = [
    of(m1, 'processed', h(1)),
    of(m1, 'delivered', h(1.1)),
    of(m1, 'opened', h(2)),
    of(m1, 'clicked', h(2.1)),
    of(m1, 'opened', h(5)), // a second open: still one opened message
    of(m2, 'delivered', h(2.1)),
    of(m2, 'opened', h(2.5)),
    of(m2, 'unsubscribed', h(2.6)),
    of(m2, 'spam_report', h(2.7)),
    of(m4, 'bounced', h(75)), // after the range, of a message sent in it
    of(m5, 'delivered', h(30.1)),
    of(m6, 'sms_delivered', h(1.1)),
    of(m7, 'dropped', h(40.1)),
    of(m9, 'delivered', h(80.1)),
    // A message whose outcome never comes, and an inbound STOP that names no message.
    deliveryOf(ws, { messageKey: `${ws}/ghost`, channel: 'email' }, 'delivered', h(10)),
    deliveryOf(ws, { messageKey: `${ws}/ghost`, channel: 'email' }, 'opened', h(11)),
    deliveryOf(ws, { messageKey: null, channel: 'sms', providerMessageId: `SM-${ws}` }, 'sms_stop', h(12)),
  ];
  // Keyed as orchestration keys them (by enrollment); deliveries by workspace.
  return {
    steps: steps.map((event) => ({ topic: Topics.JourneySteps, key: event.enrollmentId, event })),
    outcomes: outcomes.map((event) => ({ topic: Topics.MessagesOutcomes, key: event.enrollmentId, event })),
    deliveries: deliveries.map((event) => ({ topic: Topics.MessagesDeliveries, key: ws, event })),
  };
}

const fixtures = { [early]: fixture(early), [late]: fixture(late) };

// level, journeyId, stepId, channel, enrolled, converted, sent, skipped, failed, delivered, bounced, dropped, opened,
// clicked, unsubscribed, complained, deliveryRate, openRate, clickRate, conversionRate
const EXPECTED = [
  ['journey', 'welcome', null, null, 4, 2, 5, 1, 0, 4, 1, 0, 2, 1, 1, 1, 0.8, 0.5, 0.25, 0.5],
  ['step', 'welcome', 's1', 'sms', null, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1],
  ['step', 'welcome', 'w1', 'email', null, 2, 3, 1, 0, 3, 0, 0, 2, 1, 1, 1, 1, 0.6667, 0.3333, 0.6667],
  ['step', 'welcome', 'w2', 'email', null, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, null, null, 1],
  ['journey', 'winback', null, null, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, null, null, 0],
  ['step', 'winback', 'b1', 'email', null, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, null, null, 0],
  ['step', 'winback', 'b2', 'email', null, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, null, null, null, null],
  ['journey', UNKNOWN, null, null, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, null, 1, 0, null],
  ['step', UNKNOWN, UNKNOWN, 'email', null, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, null, 1, 0, null],
  ['step', UNKNOWN, UNKNOWN, 'sms', null, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, null, null, null, null],
];

/** Each event on the day of its own time (Paris): 3 November holds the re-entry, winback and r1's goal. */
const EXPECTED_TREND: TrendRow[] = [
  {
    bucket: '2026-11-02T00:00:00+01:00',
    enrolled: 3,
    converted: 1,
    sent: 3,
    skipped: 1,
    failed: 0,
    delivered: 4,
    bounced: 0,
    dropped: 0,
    opened: 3,
    clicked: 1,
    unsubscribed: 2,
    complained: 1,
  },
  {
    bucket: '2026-11-03T00:00:00+01:00',
    enrolled: 2,
    converted: 1,
    sent: 3,
    skipped: 0,
    failed: 1,
    delivered: 1,
    bounced: 0,
    dropped: 1,
    opened: 0,
    clicked: 0,
    unsubscribed: 0,
    complained: 0,
  },
];

async function get<T>(path: string, workspace: string): Promise<T> {
  const res = await fetch(`${service.url}${path}`, {
    headers: { authorization: `Basic ${Buffer.from(`${keys[workspace]}:`).toString('base64')}` },
  });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const tableOf = (rows: readonly JourneyRow[]) =>
  rows.map((row) => JOURNEY_COLUMNS.map((column) => row[column]));

async function table(workspace: string, query = RANGE): Promise<unknown[][]> {
  return tableOf((await get<JourneyReport>(`/v1/reports/journeys?${query}&limit=1000`, workspace)).items);
}

async function tableReaches(workspace: string, expected: unknown[][]): Promise<unknown[][]> {
  return waitFor(`${workspace}'s journey table`, async () => {
    const rows = await table(workspace);
    return JSON.stringify(rows) === JSON.stringify(expected) ? rows : undefined;
  });
}

/**
 * Commits the group back to where the topics stood before the test, all topics in one join (`admin.setOffsets` joins
 * once per topic, seconds each): the next member of the group reads every record of the test again.
 */
async function rewindGroup(): Promise<void> {
  const consumer = kafka.consumer({ groupId: group, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.subscribe({ topics: [...TOPICS] });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
    consumer.pause(TOPICS.map((topic) => ({ topic })));
    await joined;
    await consumer.commitOffsets(
      [...startOffsets].flatMap(([topic, partitions]) =>
        partitions.map(({ partition, offset }) => ({ topic, partition, offset })),
      ),
    );
  } finally {
    await consumer.disconnect();
  }
}

describe('journey performance', () => {
  it('places deliveries read before their outcomes under (unknown), then under their journey and step', async () => {
    await publisher.publishAll(fixtures[early]?.deliveries ?? []);
    await waitForGroupCaughtUp(kafka, group, [Topics.MessagesDeliveries]);
    const before = (await get<JourneyReport>(`/v1/reports/journeys?${RANGE}`, early)).items;
    expect(new Set(before.map((row) => row.journeyId))).toEqual(new Set([UNKNOWN]));
    // m1, m2, m5, m6 and the ghost were delivered in the range; nobody knows yet what they were.
    expect(before.find((row) => row.level === 'journey')?.delivered).toBe(5);

    await publisher.publishAll([...(fixtures[early]?.outcomes ?? []), ...(fixtures[early]?.steps ?? [])]);
    expect(await tableReaches(early, EXPECTED)).toEqual(EXPECTED);
  });

  it('gives the same table when the outcomes come first', async () => {
    await publisher.publishAll([...(fixtures[late]?.outcomes ?? []), ...(fixtures[late]?.steps ?? [])]);
    await waitForGroupCaughtUp(kafka, group, [Topics.MessagesOutcomes, Topics.JourneySteps]);
    await publisher.publishAll(fixtures[late]?.deliveries ?? []);
    expect(await tableReaches(late, EXPECTED)).toEqual(EXPECTED);
  });

  it('cuts the table by journey and channel, pages it, and streams it as CSV', async () => {
    expect(await table(early, `${RANGE}&journeyId=winback`)).toEqual(EXPECTED.slice(4, 7));
    expect(await table(early, `${RANGE}&channel=sms`)).toEqual([
      ['journey', 'welcome', null, null, 4, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0.5],
      EXPECTED[1],
      ['journey', UNKNOWN, null, null, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, null, null, null, null],
      EXPECTED[9],
    ]);

    const first = await get<JourneyReport>(`/v1/reports/journeys?${RANGE}&limit=4`, early);
    expect(first).toMatchObject({
      range: { from: '2026-11-01T23:00:00.000Z', to: '2026-11-04T23:00:00.000Z', timeZone: 'Europe/Paris' },
      nextCursor: '4',
      total: 10,
    });
    const second = await get<JourneyReport>(`/v1/reports/journeys?${RANGE}&limit=4&cursor=4`, early);
    const third = await get<JourneyReport>(`/v1/reports/journeys?${RANGE}&limit=4&cursor=8`, early);
    expect(third.nextCursor).toBeNull();
    expect(tableOf([...first.items, ...second.items, ...third.items])).toEqual(EXPECTED);

    const csv = await fetch(`${service.url}/v1/reports/journeys?${RANGE}&format=csv`, {
      headers: { authorization: `Basic ${Buffer.from(`${keys[early]}:`).toString('base64')}` },
    });
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await csv.text()).trim().split('\n');
    expect(lines[0]).toBe(JOURNEY_COLUMNS.join(','));
    expect(lines.slice(1)).toEqual(EXPECTED.map((row) => row.map((value) => value ?? '').join(',')));
  });

  it('publishes each day’s journey and step rows on reports.journeys, equal to the API’s table of that day', async () => {
    const since = Date.now();
    const reportTopics = service.app.get(ReportTopics);
    reportTopics.markChanged([early], Topics.MessagesOutcomes);
    expect(await reportTopics.publishChanged()).toBeGreaterThan(0);
    const published = await latestReports(kafka, registry, Topics.ReportsJourneys, early, since);
    const days = [...new Set([...published.keys()].map((key) => key.split('|')[0] ?? ''))].sort();
    // In Paris: h(1)-h(4) on the 2nd, h(25)-h(40) on the 3rd, r5 at h(80) on the 5th; nothing on the 4th.
    expect(days).toEqual(['2026-11-02', '2026-11-03', '2026-11-05']);
    for (const day of days) {
      const api = (await get<JourneyReport>(`/v1/reports/journeys?from=${day}&to=${day}&limit=1000`, early))
        .items;
      const fromTopic = [...published]
        .filter(([key]) => key.startsWith(`${day}|`))
        .map(([, report]) => report);
      expect(fromTopic.map((report) => JOURNEY_COLUMNS.map((column) => report[column])).sort()).toEqual(
        tableOf(api).sort(),
      );
      expect(fromTopic.every((report) => report.timeZone === 'Europe/Paris' && report.day === day)).toBe(
        true,
      );
    }
    // Summed over the range's days (the 2nd to the 4th), the journey rows give the range's.
    const sentOver = (rows: { level: string; sent: number }[]) =>
      rows.filter((row) => row.level === 'journey').reduce((sum, row) => sum + row.sent, 0);
    expect(sentOver([...published.values()].filter((report) => report.day <= '2026-11-04'))).toBe(
      sentOver((await get<JourneyReport>(`/v1/reports/journeys?${RANGE}&limit=1000`, early)).items),
    );
  });

  it('trends each event on the day (or week) of its own time in the workspace’s zone', async () => {
    const daily = await get<JourneyTrend>(`/v1/reports/journeys/trend?${RANGE}&grain=day`, early);
    expect(daily.range).toEqual({
      from: '2026-11-01T23:00:00.000Z',
      to: '2026-11-04T23:00:00.000Z',
      timeZone: 'Europe/Paris',
      grain: 'day',
    });
    expect(daily.buckets).toEqual(EXPECTED_TREND);
    const weekly = await get<JourneyTrend>(
      `/v1/reports/journeys/trend?${RANGE}&grain=week&journeyId=welcome`,
      early,
    );
    // m4's bounce (5 November) is after the range; the ghost and the STOP are no journey's.
    expect(weekly.buckets).toEqual([
      {
        bucket: '2026-11-02T00:00:00+01:00',
        enrolled: 4,
        converted: 2,
        sent: 5,
        skipped: 1,
        failed: 0,
        delivered: 4,
        bounced: 0,
        dropped: 0,
        opened: 2,
        clicked: 1,
        unsubscribed: 1,
        complained: 1,
      },
    ]);
    expect((await get<JourneyTrend>(`/v1/reports/journeys/trend?${RANGE}`, late)).buckets).toEqual(
      EXPECTED_TREND,
    );
  });

  it('changes nothing when every record is published again (same event ids, new offsets)', async () => {
    const all = fixtures[early];
    await publisher.publishAll([...(all?.deliveries ?? []), ...(all?.outcomes ?? []), ...(all?.steps ?? [])]);
    await waitForGroupCaughtUp(kafka, group, TOPICS);
    expect(await table(early)).toEqual(EXPECTED);
    expect((await get<JourneyTrend>(`/v1/reports/journeys/trend?${RANGE}`, early)).buckets).toEqual(
      EXPECTED_TREND,
    );
  });

  it('changes nothing when another instance reads the same records again at their own offsets', async () => {
    await service.close();
    await rewindGroup();
    // Watched from before the new instance exists: it may take everything in before it is handed over.
    const collect = jest.spyOn(JourneyPerformanceContributor.prototype, 'collect');
    let batches: AnyIntakeBatch[] = [];
    try {
      service = await startService(ReportingModule.forRoot(config), config);
      await waitForGroupCaughtUp(kafka, group, TOPICS);
    } finally {
      batches = collect.mock.calls.map(([batch]) => batch);
      collect.mockRestore();
    }
    // Every record was taken in again (each finds its own first claim), for the marks and the documents to absorb.
    const takenAgain = new Set(
      batches.flatMap((batch) =>
        (batch.events as readonly { metadata?: { workspaceId: string; eventId: string } }[])
          .filter((event) => event.metadata?.workspaceId === early)
          .map((event) => event.metadata?.eventId),
      ),
    );
    const all = fixtures[early];
    const published = [...(all?.steps ?? []), ...(all?.outcomes ?? []), ...(all?.deliveries ?? [])].map(
      ({ event }) => (event as { metadata: { eventId: string } }).metadata.eventId,
    );
    expect(takenAgain).toEqual(new Set(published));
    expect(await table(early)).toEqual(EXPECTED);
    expect(await table(late)).toEqual(EXPECTED);
    expect((await get<JourneyTrend>(`/v1/reports/journeys/trend?${RANGE}`, early)).buckets).toEqual(
      EXPECTED_TREND,
    );
  });

  it('shows another workspace none of it, and its own only, whatever it asks for', async () => {
    const mine = runOf(other, 'welcome', 'z1', `${other}/entry`);
    const sent = outcomeOf(mine, 'w1', 'email', 'sent', h(1));
    await publisher.publishAll([
      { topic: Topics.JourneySteps, key: mine.enrollmentId, event: stepOf(mine, 'w1', 'advanced', h(1)) },
      { topic: Topics.MessagesOutcomes, key: mine.enrollmentId, event: sent },
      { topic: Topics.MessagesDeliveries, key: other, event: deliveryOf(other, sent, 'delivered', h(2)) },
    ]);
    const expected = [
      ['journey', 'welcome', null, null, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
      ['step', 'welcome', 'w1', 'email', null, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
    ];
    expect(await tableReaches(other, expected)).toEqual(expected);
    expect(await table(other, `${RANGE}&journeyId=winback&workspaceId=${early}`)).toEqual([]);
    expect(await table(other, `${RANGE}&journeyId=${encodeURIComponent(UNKNOWN)}`)).toEqual([]);
    expect((await get<JourneyTrend>(`/v1/reports/journeys/trend?${RANGE}`, other)).buckets).toEqual([
      expect.objectContaining({ bucket: '2026-11-02T00:00:00+01:00', enrolled: 1, sent: 1, delivered: 1 }),
    ]);
    // And the first workspace still sees only its own.
    expect(await table(early)).toEqual(EXPECTED);
  });

  it('refuses a bad query with the field and the reason', async () => {
    const refused = async (path: string) => {
      const res = await fetch(`${service.url}${path}`, {
        headers: { authorization: `Basic ${Buffer.from(`${keys[early]}:`).toString('base64')}` },
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { errors: { field: string; reason: string }[] };
      for (const error of body.errors) expect(error.reason.length).toBeGreaterThan(0);
      return body.errors.map((e) => e.field).sort();
    };
    expect(await refused('/v1/reports/journeys?from=yesterday&limit=0&format=xml')).toEqual([
      'format',
      'from',
      'limit',
    ]);
    expect(await refused('/v1/reports/journeys/trend?grain=month')).toEqual(['grain']);
    expect(await refused('/v1/reports/journeys?from=2026-11-05&to=2026-11-01')).toEqual(['from']);
  });
});

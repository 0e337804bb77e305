/**
 * Integration health and data quality on the real stack, the service in this process. Known events with known times
 * go in (tracking calls accepted 10 minutes, 2 hours and 3 days ago; dead letters, one readable and two of garbage;
 * rejected records; connector health reports) and the two reports are checked to the count, the latency bucket and the
 * millisecond: throughput, percentiles, freshness, errors and status per topic, unreadable letters under the platform,
 * the newest connector state winning over an older one delivered after it, each workspace seeing only its own, and
 * the lag of a consumer group with an uncommitted backlog.
 */
import type { Admin, Kafka } from 'kafkajs';
import {
  Catalog,
  Topics,
  type ConnectorHealth,
  type DeadLetter,
  type IngestionRejected,
  type SyncRecordRejected,
  type TrackingEvent,
} from '@tributary/contracts';
import {
  type AvroSchemaRegistry,
  type EventPublisher,
  ensureTopics,
  originMetadata,
} from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import {
  connectTestPublisher,
  testServiceEnv,
  trackingEventFixture,
  uniqueId,
  waitFor,
} from '@tributary/testing';
import { ReportingModule } from '../app.module';
import { bucketStart } from '../attribution/time-buckets';
import { loadReportingConfig } from '../config';
import { ReportTopics } from '../report-topics/report-topics';
import { latestReports } from '../report-topics/testing/latest-reports';
import type { DataQualityPage } from './data-quality.controller';
import type { IntegrationHealthReport, TopicHealth } from './health-reports';

const run = uniqueId('hl');
const workspace = `ws_hl_${run}`;
const other = `ws_hlb_${run}`;
const keyA = `hl-key-a-${run}`;
const keyB = `hl-key-b-${run}`;
/** The sibling lead group this copy of reporting reports on (`reporting.<run>` → `leads.<run>`). */
const leadsGroup = `leads.${run}`;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const now0 = Date.now();

let service: RunningService;
let kafka: Kafka;
let admin: Admin;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;

function tracked(receivedAt: number, timestamp = receivedAt, workspaceId = workspace): TrackingEvent {
  return trackingEventFixture({
    metadata: { workspaceId, occurredAt: receivedAt },
    anonymousId: `anon-${run}`,
    receivedAt,
    timestamp,
  });
}

// 17 calls accepted 10 minutes ago, 2 two hours ago, 1 three days ago that happened 13 days ago (late: 7 allowed).
const calls = [
  ...Array.from({ length: 17 }, () => tracked(now0 - 10 * MINUTE)),
  ...Array.from({ length: 2 }, () => tracked(now0 - 2 * HOUR)),
  tracked(now0 - 3 * DAY, now0 - 13 * DAY),
];

function letter(originalValue: Buffer, errorType: string, offset: number): DeadLetter {
  return {
    originalKey: null,
    originalValue,
    originalHeaders: {},
    sourceTopic: Topics.TrackingEvents,
    sourcePartition: 0,
    sourceOffset: `${now0}${offset}`,
    consumerGroup: leadsGroup,
    errorType,
    errorMessage: 'test',
    errorStack: null,
    attempts: 5,
    failedAt: now0 - 5 * MINUTE,
  };
}

function rejectedAtEdge(
  route: string,
  problems: { field: string; reason: string }[],
  reason = '',
): IngestionRejected {
  return {
    metadata: originMetadata({ workspaceId: workspace, source: 'ingestion', occurredAt: now0 - 30 * MINUTE }),
    route,
    itemIndex: null,
    contentType: 'application/json',
    body: Buffer.from('{}'),
    reason: reason || problems.map((p) => `${p.field}: ${p.reason}`).join('; '),
    problems,
    requestId: null,
    credentialId: null,
    receivedAt: now0 - 30 * MINUTE,
  };
}

const rejectedBySync: SyncRecordRejected = {
  metadata: originMetadata({ workspaceId: workspace, source: 'sync', occurredAt: now0 - 30 * MINUTE }),
  system: 'hubspot',
  objectType: 'contacts',
  externalId: `hs-${run}`,
  field: 'email',
  reason: 'not an email',
  problems: [],
  fieldsJson: '{}',
  changeEventId: `change-${run}`,
};

function connectorReport(
  connectionId: string,
  occurredAt: number,
  state: Pick<ConnectorHealth, 'status' | 'lastSuccessAt' | 'consecutiveFailures' | 'lastError'>,
): ConnectorHealth {
  return {
    metadata: originMetadata({ workspaceId: workspace, source: 'sync', occurredAt }),
    connectionId,
    connector: 'hubspot',
    object: 'contacts',
    lastPollAt: occurredAt,
    readUpTo: state.lastSuccessAt,
    lagMs: state.lastSuccessAt === null ? null : occurredAt - state.lastSuccessAt,
    published: 0,
    apiVersion: 'v3',
    apiSunsetAt: null,
    apiSunsetSoon: false,
    ...state,
  };
}

async function get<T>(path: string, key = keyA): Promise<T> {
  const res = await fetch(`${service.url}${path}`, {
    headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
  });
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const since = new Date(now0 - 4 * DAY).toISOString();
const health = (key = keyA) => get<IntegrationHealthReport>(`/v1/reports/health?from=${since}`, key);
const topicOf = (report: IntegrationHealthReport, topic: string): TopicHealth | undefined =>
  report.topics.find((row) => row.topic === topic);

beforeAll(async () => {
  const config = loadReportingConfig(
    testServiceEnv('reporting', run, { WRITE_KEYS: `${keyA}:${workspace},${keyB}:${other}` }),
  );
  service = await startService(ReportingModule.forRoot(config), config);
  ({ kafka, registry, publisher } = await connectTestPublisher(`hl-${run}`, config, [
    Topics.TrackingEvents,
    Topics.DlqLeads,
    Topics.IngestionRejected,
    Topics.SyncRecordsRejected,
    Topics.SyncConnectorHealth,
  ]));
  admin = kafka.admin();
  await admin.connect();
  // The lag test names a sync topic reporting does not read: on a fresh broker nothing else may have made it yet.
  await ensureTopics(admin, [Catalog[Topics.RecordsChanged]], 1);

  const readable = await registry.encode(Topics.TrackingEvents, tracked(now0 - 6 * MINUTE));
  // Not Confluent-framed at all; framed, but with a schema id no registry has.
  const garbage = Buffer.from('definitely not avro');
  const unknownSchema = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3]);
  await publisher.publishAll([
    ...calls.map((event) => ({ topic: Topics.TrackingEvents, key: `anon-${run}`, event })),
    // One batch of the one-partition dlq.leads: the unreadable letters around the readable one.
    { topic: Topics.DlqLeads, key: run, event: letter(garbage, 'decode', 1) },
    { topic: Topics.DlqLeads, key: run, event: letter(readable, 'handler', 2) },
    { topic: Topics.DlqLeads, key: run, event: letter(unknownSchema, 'poison', 3) },
    {
      topic: Topics.IngestionRejected,
      key: workspace,
      event: rejectedAtEdge('/v1/batch', [
        { field: 'batch[0].userId', reason: 'required' },
        { field: 'batch[0].event', reason: 'required' },
      ]),
    },
    {
      topic: Topics.IngestionRejected,
      key: workspace,
      event: rejectedAtEdge('/v1/batch', [{ field: 'batch[4].userId', reason: 'required' }]),
    },
    {
      topic: Topics.IngestionRejected,
      key: workspace,
      event: rejectedAtEdge('/v1/webhooks/sendgrid/:workspaceId/events', [], 'unknown event type "foo"'),
    },
    { topic: Topics.SyncRecordsRejected, key: `hubspot:contacts:hs-${run}`, event: rejectedBySync },
  ]);
});

afterAll(async () => {
  await admin?.deleteGroups([leadsGroup]).catch(() => undefined);
  await admin?.disconnect();
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

describe('integration health per topic', () => {
  it('counts throughput, latency percentiles, freshness, errors and status of tracking.events', async () => {
    const report = await waitFor('every fixture counted', async () => {
      const seen = await health();
      const tracking = topicOf(seen, Topics.TrackingEvents);
      const done =
        tracking?.events === 20 &&
        tracking.deadLetters === 1 &&
        tracking.rejected === 2 &&
        seen.platform.unreadableDeadLetters.filter((l) => l.consumerGroup === leadsGroup).length === 2;
      return done ? seen : undefined;
    });
    const asked = Date.parse(report.generatedAt);
    const newest = now0 - 10 * MINUTE;

    expect(topicOf(report, Topics.TrackingEvents)).toEqual({
      topic: Topics.TrackingEvents,
      events: 20,
      // The 17 calls of 10 minutes ago fall in the last 15 complete minutes.
      eventsPerMinute: Math.round((17 / 15) * 1000) / 1000,
      newestEventAt: new Date(newest).toISOString(),
      freshnessMs: asked - newest,
      // 17 latencies in (2^19, 2^19.5] ms, 2 in (2^22.5, 2^23], 1 in (2^27.5, 2^28]: ranks 10, 19 and 20 of 20.
      latencyMs: { p50: 741_456, p95: 8_388_608, p99: 268_435_456 },
      deadLetters: 1,
      rejected: 2,
      // (1 dead letter + 2 refused) / (20 taken in + 2 refused)
      errorRate: Math.round((3 / 22) * 10_000) / 10_000,
      status: 'failing',
    });
    expect(report.recentMinutes).toContainEqual({
      minute: new Date(Math.floor(newest / MINUTE) * MINUTE).toISOString(),
      topic: Topics.TrackingEvents,
      events: 17,
    });
  });

  it('counts dead letters per source topic, group and error type; unreadable ones under the platform', async () => {
    const report = await health();
    expect(report.deadLetters).toEqual([
      { sourceTopic: Topics.TrackingEvents, consumerGroup: leadsGroup, errorType: 'handler', count: 1 },
    ]);
    // The letter topic itself carried one of the workspace's records, 5 minutes ago.
    expect(topicOf(report, Topics.DlqLeads)).toMatchObject({
      events: 1,
      newestEventAt: new Date(now0 - 5 * MINUTE).toISOString(),
    });
    expect(report.platform.unreadableDeadLetters.filter((l) => l.consumerGroup === leadsGroup)).toEqual([
      { sourceTopic: Topics.TrackingEvents, consumerGroup: leadsGroup, errorType: 'decode', count: 1 },
      { sourceTopic: Topics.TrackingEvents, consumerGroup: leadsGroup, errorType: 'poison', count: 1 },
    ]);
  });

  it('counts refused records against the topic they were bound for', async () => {
    const report = await health();
    expect(report.rejected).toEqual(
      expect.arrayContaining([
        { source: 'ingestion', route: '/v1/batch', topic: Topics.TrackingEvents, count: 2 },
        {
          source: 'ingestion',
          route: '/v1/webhooks/sendgrid/:workspaceId/events',
          topic: Topics.MessagesDeliveries,
          count: 1,
        },
        { source: 'sync', route: 'hubspot/contacts', topic: Topics.RecordsChanged, count: 1 },
      ]),
    );
    expect(report.rejected).toHaveLength(3);
    expect(topicOf(report, Topics.MessagesDeliveries)).toMatchObject({
      events: 0,
      rejected: 1,
      errorRate: 1,
      status: 'failing',
    });
    // Reporting does not read records.changed: what sync refused is shown, a rate it cannot know is not.
    expect(topicOf(report, Topics.RecordsChanged)).toMatchObject({
      rejected: 1,
      errorRate: null,
      status: 'ok',
    });
    // A topic with nothing of the workspace: no numbers, not stale.
    expect(topicOf(report, Topics.JourneySteps)).toEqual({
      topic: Topics.JourneySteps,
      events: 0,
      eventsPerMinute: 0,
      newestEventAt: null,
      freshnessMs: null,
      latencyMs: { p50: null, p95: null, p99: null },
      deadLetters: 0,
      rejected: 0,
      errorRate: null,
      status: 'ok',
    });
  });
});

describe('sync connections', () => {
  const stale = `conn-old-${run}`;
  const fresh = `conn-new-${run}`;
  const key = `${stale}/contacts`;

  it('keeps the newest report of a connection when an older one is delivered after it', async () => {
    await publisher.publishAll([
      {
        topic: Topics.SyncConnectorHealth,
        key,
        event: connectorReport(stale, now0, {
          status: 'failing',
          lastSuccessAt: now0 - 2 * HOUR,
          consecutiveFailures: 4,
          lastError: 'HTTP 401 from HubSpot',
        }),
      },
    ]);
    await waitFor('the newer report stored', async () =>
      (await health()).connections.some((c) => c.connectionId === stale),
    );
    // Same key, so the same partition: once the second connection shows, the older report was taken in before it.
    await publisher.publishAll([
      {
        topic: Topics.SyncConnectorHealth,
        key,
        event: connectorReport(stale, now0 - MINUTE, {
          status: 'healthy',
          lastSuccessAt: now0 - MINUTE,
          consecutiveFailures: 0,
          lastError: null,
        }),
      },
      {
        topic: Topics.SyncConnectorHealth,
        key,
        event: connectorReport(fresh, now0, {
          status: 'healthy',
          lastSuccessAt: now0 - MINUTE,
          consecutiveFailures: 0,
          lastError: null,
        }),
      },
    ]);
    const report = await waitFor('the second connection stored', async () => {
      const seen = await health();
      return seen.connections.some((c) => c.connectionId === fresh) ? seen : undefined;
    });

    expect(report.connections.find((c) => c.connectionId === stale)).toEqual({
      connectionId: stale,
      connector: 'hubspot',
      object: 'contacts',
      status: 'failing',
      lastPollAt: new Date(now0).toISOString(),
      lastSuccessAt: new Date(now0 - 2 * HOUR).toISOString(),
      readUpTo: new Date(now0 - 2 * HOUR).toISOString(),
      lagMs: 2 * HOUR,
      consecutiveFailures: 4,
      lastError: 'HTTP 401 from HubSpot',
      apiVersion: 'v3',
      apiSunsetAt: null,
      apiSunsetSoon: false,
      reportedAt: new Date(now0).toISOString(),
      stalled: true,
    });
    expect(report.connections.find((c) => c.connectionId === fresh)).toMatchObject({
      status: 'healthy',
      stalled: false,
    });
  });
});

describe('report topic', () => {
  it('publishes each topic’s and each connection’s health on reports.integration-health, as the API shows them', async () => {
    const publishedSince = Date.now();
    const reportTopics = service.app.get(ReportTopics);
    reportTopics.markChanged([workspace], Topics.TrackingEvents);
    expect(await reportTopics.publishChanged()).toBeGreaterThan(0);
    const api = await get<IntegrationHealthReport>('/v1/reports/health');
    const published = await latestReports(
      kafka,
      registry,
      Topics.ReportsIntegrationHealth,
      workspace,
      publishedSince,
    );
    expect(published.size).toBe(api.topics.length + api.connections.length);
    for (const topic of api.topics)
      expect(published.get(`topic|${topic.topic}`)).toMatchObject({
        subject: 'topic',
        name: topic.topic,
        status: topic.status,
        stalled: topic.status !== 'ok',
        windowHours: 24,
        events: topic.events,
        newestEventAt: topic.newestEventAt === null ? null : Date.parse(topic.newestEventAt),
        latencyP50Ms: topic.latencyMs.p50,
        latencyP95Ms: topic.latencyMs.p95,
        latencyP99Ms: topic.latencyMs.p99,
        deadLetters: topic.deadLetters,
        rejected: topic.rejected,
        errorRate: topic.errorRate,
        connector: null,
      });
    // This run's tracking calls, dead letters and refusals are in it, not only empty rows.
    expect(published.get(`topic|${Topics.TrackingEvents}`)?.events).toBeGreaterThan(0);
    expect(published.get(`topic|${Topics.TrackingEvents}`)?.deadLetters).toBeGreaterThan(0);
    expect(published.get(`connection|conn-old-${run}`)).toMatchObject({
      subject: 'connection',
      status: 'failing',
      stalled: true,
      connector: 'hubspot',
      object: 'contacts',
      lastSuccessAt: now0 - 2 * HOUR,
      lagMs: 2 * HOUR,
      consecutiveFailures: 4,
      lastError: 'HTTP 401 from HubSpot',
      events: null,
    });
    expect(published.get(`connection|conn-new-${run}`)).toMatchObject({ status: 'healthy', stalled: false });
  });
});

describe('workspace isolation', () => {
  it("shows workspace B none of workspace A's numbers", async () => {
    const report = await health(keyB);
    expect(report.topics.filter((row) => row.events > 0 || row.rejected > 0 || row.deadLetters > 0)).toEqual(
      [],
    );
    expect(report.topics.every((row) => row.newestEventAt === null)).toBe(true);
    expect(report.recentMinutes).toEqual([]);
    expect(report.deadLetters).toEqual([]);
    expect(report.rejected).toEqual([]);
    expect(report.connections).toEqual([]);

    const quality = await get<DataQualityPage>('/v1/reports/data-quality', keyB);
    expect(quality.total).toBe(0);
    expect(quality.summary).toEqual({ rejected: [], late: 0 });
  });
});

describe('consumer lag', () => {
  it("reports a group's uncommitted backlog, and no lag for a group that does not exist yet", async () => {
    const before = await admin.fetchTopicOffsets(Topics.TrackingEvents);
    // The sibling lead group commits at today's end of the topic, then five calls arrive it has not read.
    await admin.setOffsets({
      groupId: leadsGroup,
      topic: Topics.TrackingEvents,
      partitions: before.map(({ partition, high }) => ({ partition, offset: high })),
    });
    const backlog = Array.from({ length: 5 }, () => tracked(Date.now(), Date.now(), `ws_hlc_${run}`));
    await publisher.publishAll(
      backlog.map((event) => ({ topic: Topics.TrackingEvents, key: `lag-${run}`, event })),
    );

    const lagOf = (report: IntegrationHealthReport, group: string, topic: string) =>
      report.consumerLag.find((entry) => entry.group === group && entry.topic === topic);
    const report = await waitFor('the backlog seen', async () => {
      const seen = await health();
      return (lagOf(seen, leadsGroup, Topics.TrackingEvents)?.lag ?? 0) >= 5 ? seen : undefined;
    });
    const after = await admin.fetchTopicOffsets(Topics.TrackingEvents);
    const written = after.reduce(
      (sum, { partition, high }) =>
        sum + Number(high) - Number(before.find((p) => p.partition === partition)?.high ?? high),
      0,
    );

    // Others may write to the shared topic meanwhile: the lag is our five plus at most what they wrote.
    const lag = lagOf(report, leadsGroup, Topics.TrackingEvents)?.lag;
    expect(lag).toBeGreaterThanOrEqual(5);
    expect(lag).toBeLessThanOrEqual(written);
    expect(lagOf(report, leadsGroup, Topics.LeadsCaptured)).toEqual({
      group: leadsGroup,
      topic: Topics.LeadsCaptured,
      lag: null,
    });
    expect(lagOf(report, `sync.${run}`, Topics.RecordsChanged)).toEqual({
      group: `sync.${run}`,
      topic: Topics.RecordsChanged,
      lag: null,
    });
    // Platform numbers, no workspace's data: every reports:read caller sees them.
    expect(lagOf(await health(keyB), leadsGroup, Topics.TrackingEvents)?.lag).toBeGreaterThanOrEqual(5);
  });
});

describe('data quality', () => {
  const rejectedDay = bucketStart(now0 - 30 * MINUTE, 'day', 'UTC');
  const lateDay = bucketStart(now0 - 3 * DAY, 'day', 'UTC');
  const rows = [
    { bucket: lateDay, kind: 'late', source: 'ingestion', route: '', field: 'timestamp' },
    {
      bucket: rejectedDay,
      kind: 'rejected',
      source: 'ingestion',
      route: '/v1/batch',
      field: 'batch[].event',
    },
    {
      bucket: rejectedDay,
      kind: 'rejected',
      source: 'ingestion',
      route: '/v1/batch',
      field: 'batch[].userId',
    },
    {
      bucket: rejectedDay,
      kind: 'rejected',
      source: 'ingestion',
      route: '/v1/webhooks/sendgrid/:workspaceId/events',
      field: '',
    },
    { bucket: rejectedDay, kind: 'rejected', source: 'sync', route: 'hubspot/contacts', field: 'email' },
  ];
  const reasons = [
    'arrived later than the workspace allows (lateDays)',
    'required',
    'required',
    'unknown event type "foo"',
    'not an email',
  ];
  const counts = [1, 1, 2, 1, 1];
  const expected = rows.map((row, i) => ({ ...row, reason: reasons[i], count: counts[i] }));

  it('counts refused records per bucket, route, field and reason, and late calls by day of arrival', async () => {
    const page = await waitFor('every rejection counted', async () => {
      const seen = await get<DataQualityPage>('/v1/reports/data-quality');
      return seen.total === 5 ? seen : undefined;
    });
    expect(page.items).toEqual(expected);
    expect(page.nextCursor).toBeNull();
    expect(page.summary).toEqual({
      rejected: [
        { source: 'ingestion', route: '/v1/batch', records: 2 },
        { source: 'ingestion', route: '/v1/webhooks/sendgrid/:workspaceId/events', records: 1 },
        { source: 'sync', route: 'hubspot/contacts', records: 1 },
      ],
      late: 1,
    });
  });

  it('pages, filters by route and streams CSV', async () => {
    const first = await get<DataQualityPage>('/v1/reports/data-quality?limit=2');
    expect(first.items).toEqual(expected.slice(0, 2));
    expect(first.nextCursor).toBe('2');
    const last = await get<DataQualityPage>('/v1/reports/data-quality?limit=2&cursor=4');
    expect(last.items).toEqual(expected.slice(4));
    expect(last.nextCursor).toBeNull();

    const batch = await get<DataQualityPage>('/v1/reports/data-quality?route=/v1/batch');
    expect(batch.items).toEqual(expected.slice(1, 3));
    expect(batch.summary).toEqual({
      rejected: [{ source: 'ingestion', route: '/v1/batch', records: 2 }],
      late: 0,
    });

    const res = await fetch(`${service.url}/v1/reports/data-quality?format=csv`, {
      headers: { authorization: `Basic ${Buffer.from(`${keyA}:`).toString('base64')}` },
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await res.text()).trim().split('\n');
    expect(lines).toEqual([
      'bucket,kind,source,route,field,reason,count',
      `${lateDay},late,ingestion,,timestamp,arrived later than the workspace allows (lateDays),1`,
      `${rejectedDay},rejected,ingestion,/v1/batch,batch[].event,required,1`,
      `${rejectedDay},rejected,ingestion,/v1/batch,batch[].userId,required,2`,
      `${rejectedDay},rejected,ingestion,/v1/webhooks/sendgrid/:workspaceId/events,,"unknown event type ""foo""",1`,
      `${rejectedDay},rejected,sync,hubspot/contacts,email,not an email,1`,
    ]);
  });
});

/**
 * The walking skeleton end to end on the real stack, all five services in this process:
 * HTTP track → tracking.events → leads → leads.scored → orchestration + sync → reporting API and report topic,
 * one trace from the HTTP call through every service, workspace isolation, one effect per redelivered event, and an
 * identified lead written once to the workspace's connected (fake) HubSpot portal.
 */
import { randomUUID } from 'node:crypto';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Kafka } from 'kafkajs';
import { Topics, type EventCountReport, type TrackingEvent } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka, EventPublisher, originMetadata } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { createLogger, stopTelemetry } from '@tributary/observability';
import { FakeHubSpot } from '@tributary/sandbox';
import { readTopicUntil, testServiceEnv, uniqueId, waitFor, trackingEventFixture } from '@tributary/testing';
import { IngestionModule, loadIngestionConfig } from '@tributary/ingestion';
import { LeadsModule, loadLeadsConfig } from '@tributary/leads';
import { OrchestrationModule, loadOrchestrationConfig } from '@tributary/orchestration';
import { SyncModule, loadSyncConfig } from '@tributary/sync';
import { ReportingModule, loadReportingConfig } from '@tributary/reporting';

const run = uniqueId('e2e');
const workspaceA = `ws_a_${run}`;
const workspaceB = `ws_b_${run}`;
const keyA = `key-a-${run}`;
const keyB = `key-b-${run}`;
const env = (svc: string) =>
  testServiceEnv(svc, run, { WRITE_KEYS: `${keyA}:${workspaceA},${keyB}:${workspaceB}` });
const spans = new InMemorySpanExporter();
const services: Record<string, RunningService> = {};
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
const HUBSPOT_TOKEN = `pat-na1-e2e-${run}`;
const hubspot = new FakeHubSpot({ accessTokens: { [HUBSPOT_TOKEN]: 'app-tributary' } });

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

beforeAll(async () => {
  const start = async <C extends { SERVICE_NAME: string }>(
    config: C,
    module: Parameters<typeof startService>[0],
  ) => {
    services[config.SERVICE_NAME] = await startService(module, config as never, { spanExporter: spans });
  };
  // Consumers first, so their groups are assigned before the edge produces anything.
  const leads = loadLeadsConfig(env('leads'));
  const orchestration = loadOrchestrationConfig(env('orchestration'));
  const sync = loadSyncConfig({
    ...env('sync'),
    HUBSPOT_API_URL: await hubspot.start(),
    SYNC_POLL_TICK_MS: '200',
  });
  const reporting = loadReportingConfig(env('reporting'));
  const ingestion = loadIngestionConfig(env('ingestion'));
  await start(leads, LeadsModule.forRoot(leads));
  await Promise.all([
    start(orchestration, OrchestrationModule.forRoot(orchestration)),
    start(sync, SyncModule.forRoot(sync)),
    start(reporting, ReportingModule.forRoot(reporting)),
  ]);
  await start(ingestion, IngestionModule.forRoot(ingestion));

  // Workspace A's marketers connected their HubSpot portal: sync writes the leads' golden records to it.
  const connected = await fetch(`${services['sync']?.url}/v1/connections`, {
    method: 'POST',
    headers: { authorization: basic(keyA), 'content-type': 'application/json' },
    body: JSON.stringify({
      connector: 'hubspot',
      name: 'HubSpot',
      objects: ['contacts'],
      credentials: { accessToken: HUBSPOT_TOKEN },
      pollIntervalSeconds: 1,
    }),
  });
  if (connected.status !== 201)
    throw new Error(`connecting HubSpot: ${connected.status} ${await connected.text()}`);

  kafka = createKafka(`e2e-${run}`, leads.KAFKA_BROKERS, createLogger('e2e', 'fatal'));
  registry = new AvroSchemaRegistry(leads.SCHEMA_REGISTRY_URL);
  await registry.registerTopics([Topics.TrackingEvents]);
  publisher = new EventPublisher(kafka, registry, 'e2e');
  await publisher.connect();
});

afterAll(async () => {
  await publisher?.disconnect();
  await Promise.all(Object.values(services).map((s) => s.close()));
  await hubspot.stop();
  await stopTelemetry();
});

async function eventCounts(key: string): Promise<{ workspaceId: string; counts: Record<string, number> }> {
  const res = await fetch(`${services['reporting']?.url}/v1/reports/event-counts`, {
    headers: { authorization: basic(key) },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { workspaceId: string; counts: Record<string, number> };
}

describe('walking skeleton', () => {
  it('every service is ready: broker, registry and its own store answer', async () => {
    for (const [name, service] of Object.entries(services)) {
      const res = await fetch(`${service.url}/health/ready`);
      const body = (await res.json()) as { status: string; checks: Record<string, string> };
      expect({ name, status: res.status, body }).toEqual({
        name,
        status: 200,
        body: { status: 'ready', checks: { broker: 'up', registry: 'up', store: 'up' } },
      });
    }
  });

  it('an HTTP track call reaches the reporting API and the report topic, in one trace', async () => {
    // A journey entered by the call, so orchestration has a step to announce (through its durable timer).
    const journeys = `${services['orchestration']?.url}/v1/journeys/pricing-interest`;
    const written = await fetch(journeys, {
      method: 'PUT',
      headers: { authorization: basic(keyA), 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'Pricing interest',
        entry: { on: 'event', event: 'Pricing Page Viewed' },
        steps: [{ id: 'done', type: 'exit' }],
      }),
    });
    expect(written.status).toBe(200);
    const published = await fetch(`${journeys}/publish`, {
      method: 'POST',
      headers: { authorization: basic(keyA) },
    });
    expect(published.status).toBe(200);

    const res = await fetch(`${services['ingestion']?.url}/v1/track`, {
      method: 'POST',
      headers: { authorization: basic(keyA), 'content-type': 'application/json' },
      body: JSON.stringify({
        userId: 'lead-1',
        event: 'Pricing Page Viewed',
        properties: { plan: 'growth' },
      }),
    });
    expect(res.status).toBe(200);
    const { eventId } = (await res.json()) as { eventId: string };

    const counts = await waitFor('all three event types counted for workspace A', async () => {
      const body = await eventCounts(keyA);
      const c = body.counts;
      return c['track'] === 1 && c['leads.scored'] === 1 && c['journey.steps'] === 1 ? body : undefined;
    });
    expect(counts.workspaceId).toBe(workspaceA);

    // Analysts' view: the compacted report topic carries workspace A's running track count.
    await readTopicUntil(kafka, Topics.ReportsEventCounts, async (records) => {
      for (const record of records) {
        if (record.key?.toString() !== `${workspaceA}/track`) continue;
        const report = (await registry.decode(record.value)) as EventCountReport;
        if (report.count === 1 && report.metadata.workspaceId === workspaceA) return true;
      }
      return false;
    });

    // SREs' view: one trace id from the HTTP request through leads to reporting.
    const finished = spans.getFinishedSpans();
    const server = finished.find(
      (s) => s.name === 'POST /v1/track' && s.attributes['tributary.service'] === 'ingestion',
    );
    expect(server).toBeDefined();
    const traceId = server?.spanContext().traceId;
    const inTrace = (name: string, service: string) =>
      finished.some(
        (s: ReadableSpan) =>
          s.spanContext().traceId === traceId &&
          s.name === name &&
          s.attributes['tributary.service'] === service,
      );
    await waitFor(
      'consumer spans in the same trace',
      async () =>
        inTrace('send tracking.events', 'ingestion') &&
        inTrace('process tracking.events', 'leads') &&
        inTrace('send leads.scored', 'leads') &&
        inTrace('process leads.scored', 'orchestration') &&
        inTrace('process leads.scored', 'sync') &&
        inTrace('process leads.scored', 'reporting') &&
        inTrace('send journey.steps', 'orchestration') &&
        inTrace('process journey.steps', 'reporting'),
    );
    expect(eventId).toEqual(expect.any(String));
  });

  it('a workspace never sees another workspace’s counts, and a bad key is refused', async () => {
    const b = await eventCounts(keyB);
    expect(b).toEqual({ workspaceId: workspaceB, counts: {}, total: 0 });
    const refused = await fetch(`${services['reporting']?.url}/v1/reports/event-counts`, {
      headers: { authorization: basic('not-a-key') },
    });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ field: 'authorization', reason: 'unknown key' });
  });

  it('rejects an invalid track call with a 400 naming the field', async () => {
    const res = await fetch(`${services['ingestion']?.url}/v1/track`, {
      method: 'POST',
      headers: { authorization: basic(keyA), 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'Signed Up' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      problems: [{ field: 'userId', reason: 'userId or anonymousId is required' }],
    });
  });

  it('a redelivered event has one effect: the contact is scored once', async () => {
    const event = trackingEventFixture({
      metadata: originMetadata({ workspaceId: workspaceA, source: 'e2e' }),
      userId: 'lead-redelivered',
      event: 'Demo Requested',
    });
    // The same record twice, as the broker redelivers after a consumer crash before its commit, then a distinct
    // event with the same key: same partition, so once it is applied the duplicate was consumed before it.
    await publisher.publish({ topic: Topics.TrackingEvents, key: 'lead-redelivered', event });
    await publisher.publish({ topic: Topics.TrackingEvents, key: 'lead-redelivered', event });
    const marker: TrackingEvent = {
      ...event,
      metadata: originMetadata({ workspaceId: workspaceA, source: 'e2e' }),
      messageId: randomUUID(),
      event: 'Button Clicked',
    };
    await publisher.publish({ topic: Topics.TrackingEvents, key: 'lead-redelivered', event: marker });
    const contact = await waitFor('the marker event to be applied', async () => {
      const res = await fetch(`${services['leads']?.url}/v1/contacts/lead-redelivered`, {
        headers: { authorization: basic(keyA) },
      });
      const body =
        res.status === 200 ? ((await res.json()) as { score: number; eventCount: number }) : undefined;
      return body && body.eventCount >= 2 && body.score % 25 === 1 ? body : undefined;
    });
    // Demo Requested (25) once + Button Clicked (1); a double-applied duplicate would make it 51 and 3 events.
    expect(contact).toMatchObject({ score: 26, eventCount: 2 });
  });

  it('an identified lead reaches the connected HubSpot portal once, and the write is counted', async () => {
    const res = await fetch(`${services['ingestion']?.url}/v1/identify`, {
      method: 'POST',
      headers: { authorization: basic(keyA), 'content-type': 'application/json' },
      body: JSON.stringify({
        userId: 'lead-identified',
        traits: { email: 'ada@analytical.example', firstName: 'Ada', lastName: 'Lovelace' },
      }),
    });
    expect(res.status).toBe(200);
    const byEmail = () =>
      hubspot
        .all('contacts')
        .filter((c) => c.properties['email'] === 'ada@analytical.example' && !c.archived);
    await waitFor('the contact in HubSpot', async () => (byEmail().length > 0 ? true : undefined));
    await waitFor('the write counted for workspace A', async () =>
      (await eventCounts(keyA)).counts['sync.outbound'] === 1 ? true : undefined,
    );
    // Change capture reads the write back from HubSpot: an echo, so nothing is written again. Quiet for a while
    // (several polls) before counting.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(byEmail().map((c) => c.properties)).toEqual([
      expect.objectContaining({ firstname: 'Ada', lastname: 'Lovelace' }),
    ]);
    expect((await eventCounts(keyA)).counts['sync.outbound']).toBe(1);
    expect((await eventCounts(keyB)).counts['sync.outbound']).toBeUndefined();
  });
});

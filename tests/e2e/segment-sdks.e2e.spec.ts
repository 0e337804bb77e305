/**
 * Unchanged Segment and RudderStack server SDKs against the tracking API (in-process ingestion, real stack): what
 * they send lands on `tracking.events` with the write key's workspace, the call type, ids and properties.
 */
import { randomUUID } from 'node:crypto';
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import type { Kafka } from 'kafkajs';
import { Topics, type TrackingEvent } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { createLogger, stopTelemetry } from '@tributary/observability';
import { readTopicUntil, testServiceEnv, uniqueId } from '@tributary/testing';
import { IngestionModule, loadIngestionConfig } from '@tributary/ingestion';

const run = uniqueId('sdk');
const workspace = `ws_sdk_${run}`;
const writeKey = `sdk-key-${run}`;
let ingestion: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;

beforeAll(async () => {
  const config = loadIngestionConfig(
    testServiceEnv('ingestion', run, { WRITE_KEYS: `${writeKey}:${workspace}` }),
  );
  ingestion = await startService(IngestionModule.forRoot(config), config);
  kafka = createKafka(`sdk-${run}`, config.KAFKA_BROKERS, createLogger('sdk', 'fatal'));
  registry = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
});

afterAll(async () => {
  await ingestion?.close();
  await stopTelemetry();
});

/** This workspace's events carrying `userId`, read until `count` arrived (each record decoded once). */
async function eventsOf(userId: string, count: number): Promise<TrackingEvent[]> {
  const found: TrackingEvent[] = [];
  let decoded = 0;
  await readTopicUntil(kafka, Topics.TrackingEvents, async (records) => {
    for (; decoded < records.length; decoded += 1) {
      const event = (await registry.decode(records[decoded]?.value ?? null)) as TrackingEvent;
      if (event.metadata.workspaceId === workspace && event.userId === userId) found.push(event);
    }
    return found.length >= count;
  });
  return found;
}

function expectCalls(events: TrackingEvent[], userId: string): void {
  const byType = Object.fromEntries(events.map((e) => [e.callType, e]));
  expect(Object.keys(byType).sort()).toEqual(['alias', 'group', 'identify', 'page', 'track']);
  expect(byType['track']).toMatchObject({ event: 'Demo Requested', userId });
  expect(JSON.parse(byType['track']?.propertiesJson ?? '{}')).toEqual({ plan: 'growth', seats: 12 });
  expect(JSON.parse(byType['identify']?.traitsJson ?? '{}')).toEqual({ email: `${userId}@example.com` });
  expect(byType['page']).toMatchObject({ name: 'Pricing' });
  expect(byType['group']).toMatchObject({ groupId: 'acme-corp' });
  expect(byType['alias']).toMatchObject({ previousId: `anon-${userId}` });
  for (const event of events) {
    expect(event.metadata.workspaceId).toBe(workspace);
    expect(event.messageId).toEqual(expect.any(String));
    expect(event.sentAt).toEqual(expect.any(Number));
  }
}

describe('Segment-compatible SDKs', () => {
  it('@segment/analytics-node: track, identify, page, group and alias arrive on tracking.events', async () => {
    const userId = `seg-${randomUUID()}`;
    const errors: unknown[] = [];
    const analytics = new SegmentAnalytics({
      writeKey,
      host: ingestion.url,
      path: '/v1/batch',
      flushAt: 10,
      maxRetries: 1,
    });
    analytics.on('error', (error) => errors.push(error));
    analytics.track({ userId, event: 'Demo Requested', properties: { plan: 'growth', seats: 12 } });
    analytics.identify({ userId, traits: { email: `${userId}@example.com` } });
    analytics.page({ userId, name: 'Pricing', properties: { path: '/pricing' } });
    analytics.group({ userId, groupId: 'acme-corp', traits: { plan: 'enterprise' } });
    analytics.alias({ userId, previousId: `anon-${userId}` });
    await analytics.closeAndFlush();
    expect(errors).toEqual([]);
    expectCalls(await eventsOf(userId, 5), userId);
  });

  it('@rudderstack/rudder-sdk-node (gzip bodies): the same calls arrive on tracking.events', async () => {
    const userId = `rud-${randomUUID()}`;
    const errors: unknown[] = [];
    const analytics = new RudderAnalytics(writeKey, {
      dataPlaneUrl: ingestion.url,
      flushAt: 10,
      flushInterval: 60_000,
      retryCount: 0,
      logLevel: 'error',
      errorHandler: (error) => errors.push(error),
    });
    analytics.track({ userId, event: 'Demo Requested', properties: { plan: 'growth', seats: 12 } });
    analytics.identify({ userId, traits: { email: `${userId}@example.com` } });
    analytics.page({ userId, name: 'Pricing', properties: { path: '/pricing' } });
    analytics.group({ userId, groupId: 'acme-corp', traits: { plan: 'enterprise' } });
    analytics.alias({ userId, previousId: `anon-${userId}` });
    await analytics.flush();
    expect(errors).toEqual([]);
    expectCalls(await eventsOf(userId, 5), userId);
  });
});

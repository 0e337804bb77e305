/** The messageId ledger on the real broker and registry: the window survives a restart and reaches other replicas. */
import type { Admin, Kafka } from 'kafkajs';
import { Topics } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka, EventPublisher } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import { testStackEndpoints, uniqueId } from '@tributary/testing';
import { MessageIdLedger } from './message-id-ledger';
import { trackingEventId } from './tracking-events';

const run = uniqueId('ledger');
const workspaceId = `ws_${run}`;
const logger = createLogger('ledger-test', 'error');
const day = 24 * 3_600_000;
let kafka: Kafka;
let admin: Admin;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
const ledgers: MessageIdLedger[] = [];

function ledger(options: { now?: () => number; windowMs?: number } = {}): MessageIdLedger {
  const created = new MessageIdLedger({
    kafka,
    admin,
    registry,
    publisher,
    logger,
    windowMs: options.windowMs ?? day,
    // The newest records are this run's: bounding the read-back keeps a dev stack full of bench runs fast.
    maxIds: 10_000,
    replicationFactor: 1,
    ...(options.now ? { now: options.now } : {}),
  });
  ledgers.push(created);
  return created;
}

const ids = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => trackingEventId(workspaceId, `${run}-${prefix}-${i}`));

beforeAll(async () => {
  const endpoints = testStackEndpoints();
  kafka = createKafka(`ledger-${run}`, endpoints.kafkaBrokers, logger);
  admin = kafka.admin();
  await admin.connect();
  registry = new AvroSchemaRegistry(endpoints.registryUrl);
  await registry.registerTopics([Topics.TrackingCallsStored]);
  publisher = new EventPublisher(kafka, registry, 'ingestion');
  await publisher.connect();
});

afterAll(async () => {
  for (const l of ledgers) await l.stop();
  await publisher?.disconnect();
  await admin?.disconnect();
});

describe('MessageIdLedger', () => {
  it('answers duplicate at once for ids it stored, and a restarted replica reads them back from the topic', async () => {
    const first = ledger();
    await first.start(60_000);
    const requests = Array.from({ length: 20 }, (_, r) => ids(`restart-${r}`, 10));
    // Concurrent requests, not awaited: the decision must not wait for the announcement.
    const announced = requests.map((request) => first.recordStored(workspaceId, request));
    expect(first.decide(requests.flat()).every((d) => d === 'duplicate')).toBe(true);
    await Promise.all(announced);
    await first.flush();
    await first.stop();

    const restarted = ledger();
    const readBack = await restarted.start(60_000);
    expect(readBack.ids).toBeGreaterThanOrEqual(200);
    expect(restarted.decide(requests.flat())).toEqual(Array(200).fill('duplicate'));
    expect(restarted.decide(ids('restart-never', 5))).toEqual(Array(5).fill('new'));
  });

  it('keeps workspaces apart: the same messageId announced for one workspace is new for another', async () => {
    const replica = ledger();
    await replica.start(60_000);
    await replica.recordStored(workspaceId, [trackingEventId(workspaceId, `${run}-shared`)]);
    expect(replica.decide([trackingEventId(`${workspaceId}_other`, `${run}-shared`)])).toEqual(['new']);
  });

  it('a replica learns what another replica stores after both started', async () => {
    const a = ledger();
    const b = ledger();
    await Promise.all([a.start(60_000), b.start(60_000)]);
    const stored = ids('peer', 50);
    expect(b.decide(stored)).toEqual(Array(50).fill('new'));
    await a.recordStored(workspaceId, stored);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && b.decide(stored).some((d) => d === 'new')) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(b.decide(stored)).toEqual(Array(50).fill('duplicate'));
  });

  it('reads back only the window: a replica whose window starts after the announcements reads none of them', async () => {
    const writer = ledger();
    await writer.start(60_000);
    const old = ids('before-window', 5);
    await writer.recordStored(workspaceId, old);
    // A clock two minutes ahead with a one-minute window: every announcement so far is before its window.
    const ahead = ledger({ now: () => Date.now() + 120_000, windowMs: 60_000 });
    const readBack = await ahead.start(60_000);
    expect(readBack.records).toBe(0);
    expect(ahead.decide(old)).toEqual(Array(5).fill('new'));
  });
});

/**
 * Messaging inside a running service (libs/messaging hosted by libs/runtime) against the real stack: registry round
 * trip and BACKWARD refusal, poison messages to the DLQ with their original bytes while the consumer keeps going,
 * retries, and the replay CLI.
 */
import { Controller, Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { Type } from 'avsc';
import type { Admin, Kafka } from 'kafkajs';
import { createLogger } from '@tributary/observability';
import { loadServiceConfig } from '@tributary/config';
import { readTopicUntil, testServiceEnv, uniqueId, waitFor } from '@tributary/testing';
import { Catalog, type DeadLetter, type TopicName } from '@tributary/contracts';
import {
  AvroSchemaRegistry,
  BatchEventPattern,
  createKafka,
  EventPublisher,
  PoisonMessageError,
  deadLetterTopic,
  ensureTopics,
  type KafkaEventContext,
} from '@tributary/messaging';
import { EventServiceModule } from './event-service.module';
import { startService } from './run-service';

const run = uniqueId('msg');
const config = loadServiceConfig(
  'msgtest',
  testServiceEnv('msgtest', run, { CONSUMER_MAX_ATTEMPTS: '3' }),
  {},
);
const logger = createLogger('msgtest', 'warn');
const topic = `test.${run}.offers`;
const batchTopic = `test.${run}.offer-batches`;
const joinTopic = `test.${run}.offer-joins`;
const offerSchema = {
  type: 'record',
  name: 'OfferViewed',
  namespace: 'io.tributary.test',
  fields: [
    { name: 'offerId', type: 'string' },
    {
      name: 'behaviour',
      type: { type: 'enum', name: 'Behaviour', symbols: ['ok', 'poison', 'flaky', 'fixedLater'] },
    },
  ],
};
interface OfferViewed {
  offerId: string;
  behaviour: 'ok' | 'poison' | 'flaky' | 'fixedLater';
}

/** What the test handler saw, and a switch to "fix the bug" before replay. */
const seen: { offers: OfferViewed[]; attempts: Map<string, number>; bugFixed: boolean } = {
  offers: [],
  attempts: new Map(),
  bugFixed: false,
};

@Controller()
class OfferHandler {
  @EventPattern(topic)
  async onOffer(@Payload() offer: OfferViewed): Promise<void> {
    const attempt = (seen.attempts.get(offer.offerId) ?? 0) + 1;
    seen.attempts.set(offer.offerId, attempt);
    if (offer.behaviour === 'poison') throw new PoisonMessageError(`offer ${offer.offerId} is malformed`);
    if (offer.behaviour === 'flaky' && attempt < 3) throw new Error('downstream answered 503');
    if (offer.behaviour === 'fixedLater' && !seen.bugFixed) throw new PoisonMessageError('handler bug');
    seen.offers.push(offer);
  }
}

/** A batch handler: all-or-nothing per call, so one poison record fails the call and the transport goes one by one. */
const batches: { sizes: number[]; offers: OfferViewed[] } = { sizes: [], offers: [] };

@Controller()
class OfferBatchHandler {
  @BatchEventPattern(batchTopic as TopicName)
  async onOffers(@Payload() offers: OfferViewed[]): Promise<void> {
    batches.sizes.push(offers.length);
    const poison = offers.find((offer) => offer.behaviour === 'poison');
    if (poison) throw new PoisonMessageError(`offer ${poison.offerId} is malformed`);
    batches.offers.push(...offers);
  }
}

/**
 * A batch handler taking several partitions' chunks per call; what each successful call got, in order, and the
 * partition of each record as its context describes it.
 */
const joins: { calls: OfferViewed[][]; partitions: number[][] } = { calls: [], partitions: [] };

@Controller()
class OfferJoinHandler {
  @BatchEventPattern(joinTopic as TopicName, { acrossPartitions: true })
  async onOffers(@Payload() offers: OfferViewed[], @Ctx() ctx: KafkaEventContext): Promise<void> {
    const poison = offers.find((offer) => offer.behaviour === 'poison');
    if (poison) throw new PoisonMessageError(`offer ${poison.offerId} is malformed`);
    joins.calls.push(offers);
    joins.partitions.push(ctx.messages.map((message) => message.partition));
  }
}

@Module({})
class OfferTestModule {
  static forRoot(): DynamicModule {
    return {
      module: OfferTestModule,
      imports: [EventServiceModule.forRoot(config)],
      controllers: [OfferHandler, OfferBatchHandler, OfferJoinHandler],
    };
  }
}

let kafka: Kafka;
let admin: Admin;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
let schemaId: number;
let app: INestApplication;

beforeAll(async () => {
  kafka = createKafka(`msgtest-${run}`, config.KAFKA_BROKERS, logger);
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [
      { topic, numPartitions: 2 },
      { topic: batchTopic, numPartitions: 1 },
      { topic: joinTopic, numPartitions: 3 },
    ],
    waitForLeaders: true,
  });
  registry = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
  schemaId = await registry.registerSchema(`${topic}-value`, offerSchema);
  await registry.registerSchema(`${batchTopic}-value`, offerSchema);
  await registry.registerSchema(`${joinTopic}-value`, offerSchema);
  publisher = new EventPublisher(kafka, registry, 'msgtest');
  await publisher.connect();
  app = (await startService(OfferTestModule.forRoot(), config)).app;
});

afterAll(async () => {
  await app?.close();
  await publisher?.disconnect();
  await admin?.disconnect();
});

async function sendOffer(offer: OfferViewed): Promise<void> {
  await publisher.publishRaw(topic, {
    key: offer.offerId,
    value: await registry.encodeWithId(schemaId, offer),
  });
}

async function deadLetters(count: number): Promise<DeadLetter[]> {
  const records = await readTopicUntil(
    kafka,
    deadLetterTopic(config.CONSUMER_GROUP),
    (r) => r.length >= count,
  );
  return Promise.all(records.map(async (r) => (await registry.decode(r.value)) as DeadLetter));
}

/** Sends offers in one produce request, so that the consumer's next fetch returns them together. */
async function sendTogether(
  target: string,
  offers: readonly OfferViewed[],
  partitionOf?: (index: number) => number,
): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({
      topic: target,
      messages: await Promise.all(
        offers.map(async (offer, i) => ({
          key: offer.offerId,
          ...(partitionOf ? { partition: partitionOf(i) } : {}),
          value: await registry.encodeWithId(schemaId, offer),
        })),
      ),
    });
  } finally {
    await producer.disconnect();
  }
}

/** The dead letters of records from `sourceTopic`, read until there is one. */
async function deadLettersFrom(sourceTopic: string): Promise<DeadLetter[]> {
  const decode = (records: readonly { value: Buffer | null }[]) =>
    Promise.all(records.map(async (r) => (await registry.decode(r.value)) as DeadLetter));
  const records = await readTopicUntil(kafka, deadLetterTopic(config.CONSUMER_GROUP), async (read) =>
    (await decode(read)).some((letter) => letter.sourceTopic === sourceTopic),
  );
  return (await decode(records)).filter((letter) => letter.sourceTopic === sourceTopic);
}

async function replayCli(...flags: string[]): Promise<string> {
  const root = join(__dirname, '..', '..', '..');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      join(root, 'tools', 'run-ts.js'),
      join(root, 'libs/messaging/src/cli/replay.ts'),
      '--group',
      config.CONSUMER_GROUP,
      ...flags,
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        KAFKA_BROKERS: config.KAFKA_BROKERS.join(','),
        SCHEMA_REGISTRY_URL: config.SCHEMA_REGISTRY_URL,
      },
    },
  );
  return stdout;
}

describe('schema registry (Apicurio, Confluent API)', () => {
  it('registers a schema, finds its latest id, and round-trips a record through it', async () => {
    const subject = `test.${run}.roundtrip-value`;
    const id = await registry.registerSchema(subject, offerSchema);
    const { SchemaRegistry } = await import('@kafkajs/confluent-schema-registry');
    const raw = new SchemaRegistry({ host: config.SCHEMA_REGISTRY_URL });
    expect(await raw.getLatestSchemaId(subject)).toBe(id);
    const bytes = await registry.encodeWithId(id, { offerId: 'o-1', behaviour: 'ok' });
    expect(bytes[0]).toBe(0); // Confluent magic byte
    expect(bytes.readInt32BE(1)).toBe(id);
    expect(await registry.decode(bytes)).toEqual({ offerId: 'o-1', behaviour: 'ok' });
  });

  it('processes registering a new subject at the same moment all start, with one schema id and BACKWARD', async () => {
    const subject = `test.${run}.concurrent-value`;
    // Replicas of one service starting together: each its own client, so nothing is shared but the registry.
    const replicas = Array.from({ length: 6 }, () => new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL));
    const ids = await Promise.all(replicas.map((replica) => replica.registerSchema(subject, offerSchema)));
    expect(new Set(ids).size).toBe(1);
    const compatibility = await fetch(`${config.SCHEMA_REGISTRY_URL}/config/${subject}`);
    expect(await compatibility.json()).toMatchObject({ compatibilityLevel: 'BACKWARD' });
  });

  it('a replica that finds a new subject before its config is set waits for BACKWARD instead of failing', async () => {
    const subject = `test.${run}.config-window-value`;
    // The state between another replica's register and its config call: the schema is there, the config is not.
    const registered = await fetch(`${config.SCHEMA_REGISTRY_URL}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(offerSchema) }),
    });
    const { id } = (await registered.json()) as { id: number };
    const replica = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
    const registering = replica.registerSchema(subject, offerSchema);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await fetch(`${config.SCHEMA_REGISTRY_URL}/config/${subject}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: 'BACKWARD' }),
    });
    await expect(registering).resolves.toBe(id);
  });

  it('a subject left at NONE is refused after the wait: a registration never weakens a compatibility promise', async () => {
    const subject = `test.${run}.config-none-value`;
    await fetch(`${config.SCHEMA_REGISTRY_URL}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(offerSchema) }),
    });
    const replica = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
    await expect(replica.registerSchema(subject, offerSchema)).rejects.toThrow('BACKWARD != NONE');
  });

  it('a burst of records of a writer schema this process never saw fetches it and builds its Avro type once', async () => {
    const subject = `test.${run}.burst-value`;
    const id = await registry.registerSchema(subject, offerSchema);
    const records = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        registry.encodeWithId(id, { offerId: `o-${i}`, behaviour: 'ok' }),
      ),
    );
    // A consumer that starts on a backlog: nothing of this schema cached, all of a fetch decoded at once.
    const consumer = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
    const builds = jest.spyOn(Type, 'forSchema');
    const decoded = await Promise.all(records.map((bytes) => consumer.decode(bytes)));
    // Each build also calls it for the record's field types: count the record's own.
    const built = builds.mock.calls.filter(
      ([schema]) => (schema as { type?: unknown }).type === 'record',
    ).length;
    builds.mockRestore();
    expect(decoded.map((record) => (record as { offerId: string }).offerId)).toEqual(
      records.map((_, i) => `o-${i}`),
    );
    expect(built).toBe(1);
  });

  it('refuses an incompatible change under BACKWARD compatibility', async () => {
    const subject = `test.${run}.evolution-value`;
    await registry.registerSchema(subject, offerSchema);
    const compatible = {
      ...offerSchema,
      fields: [...offerSchema.fields, { name: 'channel', type: 'string', default: 'web' }],
    };
    await expect(registry.registerSchema(subject, compatible)).resolves.toEqual(expect.any(Number));
    const incompatible = {
      ...offerSchema,
      fields: [...offerSchema.fields, { name: 'priceCents', type: 'int' }],
    };
    await expect(registry.registerSchema(subject, incompatible)).rejects.toThrow(/incompatib|409/i);
  });
});

describe('topic provisioning', () => {
  it('lets five services race to create the same catalog topics, and all of them succeed', async () => {
    const specs = [0, 1, 2].map((i) => ({
      ...Catalog['leads.scored'],
      name: `test.${run}.race-${i}` as TopicName,
    }));
    const admins = Array.from({ length: 5 }, () => kafka.admin());
    await Promise.all(admins.map((a) => a.connect()));
    try {
      await Promise.all(admins.map((a) => ensureTopics(a, specs, 1)));
      const metadata = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.name) });
      expect(metadata.topics.map((t) => t.partitions.length)).toEqual([6, 6, 6]);
    } finally {
      await Promise.all(admins.map((a) => a.disconnect()));
    }
  });
});

describe('consumer transport', () => {
  it('dead-letters a poison message with its original bytes and keeps consuming', async () => {
    const garbage = Buffer.from('this is not avro');
    await publisher.publishRaw(topic, {
      key: 'garbage-1',
      value: garbage,
      headers: { 'x-origin': 'int-test' },
    });
    await sendOffer({ offerId: 'poison-1', behaviour: 'poison' });
    await sendOffer({ offerId: 'ok-after-poison', behaviour: 'ok' });

    await waitFor('the good offer after the poison ones', async () =>
      seen.offers.some((o) => o.offerId === 'ok-after-poison'),
    );
    const letters = await deadLetters(2);
    const undecodable = letters.find((l) => l.errorType === 'decode');
    expect(undecodable?.originalValue?.equals(garbage)).toBe(true);
    expect(undecodable?.originalKey?.toString()).toBe('garbage-1');
    expect(undecodable?.originalHeaders['x-origin']?.toString()).toBe('int-test');
    expect(undecodable).toMatchObject({
      sourceTopic: topic,
      consumerGroup: config.CONSUMER_GROUP,
      attempts: 1,
    });
    const poison = letters.find((l) => l.errorType === 'poison');
    expect(poison?.errorMessage).toBe('offer poison-1 is malformed');
    expect(seen.attempts.get('poison-1')).toBe(1); // never retried
  });

  it('retries a transient failure with backoff and processes it once it succeeds', async () => {
    await sendOffer({ offerId: 'flaky-1', behaviour: 'flaky' });
    await waitFor('the flaky offer to succeed', async () => seen.offers.some((o) => o.offerId === 'flaky-1'));
    expect(seen.attempts.get('flaky-1')).toBe(3);
    expect(seen.offers.filter((o) => o.offerId === 'flaky-1')).toHaveLength(1);
  });

  it('replay CLI passes over poison letters, and its --poison pass brings them back once the bug is fixed', async () => {
    await sendOffer({ offerId: 'fixedLater-1', behaviour: 'fixedLater' });
    await waitFor('the failing offer to be dead-lettered', async () =>
      (await deadLetters(3)).some((l) => l.errorMessage === 'handler bug'),
    );
    expect(seen.offers.some((o) => o.offerId === 'fixedLater-1')).toBe(false);

    // All three letters failed for what they are (undecodable, poison): a plain replay would only fail them again.
    const plain = await replayCli();
    expect(plain).toMatch(/replayed 0 record\(s\)/);
    expect(plain).toMatch(/passed over 3 poison letter\(s\)/);
    expect(seen.attempts.get('fixedLater-1')).toBe(1);

    seen.bugFixed = true;
    expect(await replayCli('--poison')).toMatch(/replayed 3 record\(s\)/);
    await waitFor('the replayed offer to be processed', async () =>
      seen.offers.some((o) => o.offerId === 'fixedLater-1'),
    );

    // The two records that are still broken went back to the DLQ; a second replay takes only those,
    // because progress is committed under replay-poison.<group>: the fixed record is not replayed twice.
    await deadLetters(5);
    expect(await replayCli('--poison')).toMatch(/replayed 2 record\(s\)/);
    expect(seen.offers.filter((o) => o.offerId === 'fixedLater-1')).toHaveLength(1);
  });
});

describe('consumer transport, batch handlers', () => {
  it('hands a backlog over in batches, and a poison record in one goes to the DLQ alone', async () => {
    const offers: OfferViewed[] = Array.from({ length: 30 }, (_, i) => ({
      offerId: `batch-${i}`,
      behaviour: i === 17 ? 'poison' : 'ok',
    }));
    await sendTogether(batchTopic, offers);
    await waitFor('every good offer of the batch', async () => batches.offers.length >= 29);
    expect(Math.max(...batches.sizes)).toBeGreaterThan(1);
    // Each good offer handled once, in order; the poison one never.
    expect(batches.offers.map((offer) => offer.offerId)).toEqual(
      offers.filter((offer) => offer.behaviour === 'ok').map((offer) => offer.offerId),
    );
    const fromBatch = await deadLettersFrom(batchTopic);
    expect(fromBatch).toHaveLength(1);
    expect(fromBatch[0]).toMatchObject({ errorType: 'poison', errorMessage: 'offer batch-17 is malformed' });
    expect(fromBatch[0]?.originalKey?.toString()).toBe('batch-17');
  });
});

describe('consumer transport, batch handlers across partitions', () => {
  /** Sends offers in one produce request, offer i to partition i % 3. */
  const sendAcross = (offers: OfferViewed[]) => sendTogether(joinTopic, offers, (i) => i % 3);
  const partitionOf = (offerId: string) => Number(offerId.split('-').pop()) % 3;

  it('joins the partitions a fetch brings into one call, each in offset order, and commits all of them', async () => {
    const offers: OfferViewed[] = Array.from({ length: 30 }, (_, i) => ({
      offerId: `join-${i}`,
      behaviour: 'ok',
    }));

    await sendAcross(offers);

    await waitFor('every offer handled', async () => joins.calls.flat().length >= 30);
    const handled = joins.calls.flat().map((offer) => offer.offerId);
    expect([...handled].sort()).toEqual(offers.map((offer) => offer.offerId).sort());
    // Some call held more than one partition's records; within each partition the order is the log's.
    expect(joins.calls.some((call) => new Set(call.map((o) => partitionOf(o.offerId))).size > 1)).toBe(true);
    for (const partition of [0, 1, 2])
      expect(handled.filter((id) => partitionOf(id) === partition)).toEqual(
        offers.map((o) => o.offerId).filter((id) => partitionOf(id) === partition),
      );
    // The context describes each record of a call where it came from (built only when asked).
    expect(joins.partitions).toEqual(joins.calls.map((call) => call.map((o) => partitionOf(o.offerId))));
    // Offsets are committed for every partition once handled (one commit request for those ending together).
    await waitFor('offsets committed on all three partitions', async () => {
      const [committed] = await admin.fetchOffsets({ groupId: config.CONSUMER_GROUP, topics: [joinTopic] });
      return committed?.partitions.every((p) => p.offset === '10') ?? false;
    });
  });

  it('a joined call that fails goes record by record in each partition: the poison one to the DLQ alone', async () => {
    joins.calls = [];
    const offers: OfferViewed[] = Array.from({ length: 12 }, (_, i) => ({
      offerId: `rejoin-${i}`,
      behaviour: i === 4 ? 'poison' : 'ok',
    }));

    await sendAcross(offers);

    await waitFor('every good offer handled', async () => joins.calls.flat().length >= 11);
    const handled = joins.calls.flat().map((offer) => offer.offerId);
    expect([...handled].sort()).toEqual(
      offers
        .filter((offer) => offer.behaviour === 'ok')
        .map((offer) => offer.offerId)
        .sort(),
    );
    const fromJoins = await deadLettersFrom(joinTopic);
    expect(fromJoins.map((letter) => [letter.errorType, letter.originalKey?.toString()])).toEqual([
      ['poison', 'rejoin-4'],
    ]);
  });
});

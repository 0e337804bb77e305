/**
 * `npm run bench:consumer [-- --events 50000 --warmup 5000 --only tributary]`: events/s of one consumer on one
 * topic, same run, same records:
 *   1. bare kafkajs eachBatch (no decode)                 — the ceiling
 *   2. bare kafkajs eachBatch + Avro decode               — what any Avro consumer pays (the yardstick)
 *   3. Nest's built-in ServerKafka (eachMessage) + Avro   — the stock transport, decoding in the handler
 *   4. libs/messaging KafkaEventTransport, `@BatchEventPattern` — decode, one handler call and one span per fetched
 *      batch, retry/DLQ bookkeeping, commits: how the services' consumers (leads, reporting, orchestration, sync)
 *      take their high-volume topics
 *   5. the same transport with a per-record `@EventPattern`    — one Nest handler call and one span per record
 * Fair by construction: every contender gets the transport's consumer options (fetch size, wait, concurrency from
 * the service config) and the same warm-up (its first `--warmup` records are consumed but not timed, so JIT and
 * first-fetch costs are paid alike). `--traced` gives every record a sampled W3C trace context, as our producers
 * write it, so the transport's per-record spans are paid too. Prints a table and a RESULT line; no assertions.
 */
import { Controller, Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, Payload, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { randomBytes, randomUUID } from 'node:crypto';
import { Topics, type LeadScored, type TopicName } from '@tributary/contracts';
import {
  AvroSchemaRegistry,
  BatchEventPattern,
  FETCH_MAX_WAIT_MS,
  FETCH_MIN_BYTES,
  createKafka,
} from '@tributary/messaging';
import { EventServiceModule, startService } from '@tributary/runtime';
import { createLogger } from '@tributary/observability';
import { loadServiceConfig } from '@tributary/config';
import { testServiceEnv, uniqueId } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import { resultLine } from './stats';

const opts = new Command('bench:consumer')
  .option('--events <n>', 'records to consume per contender', (v) => Number(v), 50_000)
  .option('--warmup <n>', 'first records of each contender not timed', (v) => Number(v), 5_000)
  .option(
    '--only <keys>',
    'comma-separated contenders to run (bare,bare_avro,nest_server_kafka,tributary,tributary_record)',
  )
  .option('--traced', 'give every record a sampled traceparent header, as our producers write it')
  .parse()
  .opts<{ events: number; warmup: number; only?: string; traced?: boolean }>();
const warmup = Math.min(opts.warmup, Math.floor(opts.events / 2));
const selected = (key: string): boolean => !opts.only || opts.only.split(',').includes(key);

const run = uniqueId('bench');
const topic = `bench.${run}.leads`;
let onEvent: () => void = () => undefined;
let decodeAvro: (value: Buffer | null) => Promise<unknown> = () => Promise.resolve(undefined);

/** Our transport hands a batch handler the decoded events of a fetched batch. */
@Controller()
class CountingBatchHandler {
  @BatchEventPattern(topic as TopicName)
  handle(@Payload() events: unknown[]): void {
    for (let i = 0; i < events.length; i++) onEvent();
  }
}

/** Our transport hands a per-record handler one decoded event. */
@Controller()
class CountingHandler {
  @EventPattern(topic)
  handle(): void {
    onEvent();
  }
}

/** ServerKafka leaves Confluent-framed values as Buffers (leading zero byte): the handler decodes, as a user would. */
@Controller()
class StockAvroHandler {
  @EventPattern(topic)
  async handle(@Payload() value: Buffer): Promise<void> {
    await decodeAvro(value);
    onEvent();
  }
}

async function main(): Promise<void> {
  await stackUp();
  Object.assign(process.env, stackEndpoints().env);
  const logger = createLogger('bench', 'error');
  const config = loadServiceConfig(
    'bench',
    testServiceEnv('bench', run, { CONSUMER_FROM_BEGINNING: 'true', LOG_LEVEL: 'error' }),
    {},
  );
  const kafka = createKafka(`bench-${run}`, config.KAFKA_BROKERS, logger);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  const registry = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
  await registry.registerTopics([Topics.LeadsScored]);
  const schemaId = registry.schemaId(Topics.LeadsScored);
  // Every Avro contender decodes the way the transport does: synchronously once the writer schema is cached.
  decodeAvro = (value) => {
    const cached = registry.decodeCached(value);
    return cached ? Promise.resolve(cached.value) : registry.decode(value);
  };
  // The transport's own consumer settings (kafka-event-transport.ts), given to every contender.
  const consumerOptions = {
    allowAutoTopicCreation: false,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    minBytes: FETCH_MIN_BYTES,
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    maxBytesPerPartition: config.CONSUMER_MAX_BYTES_PER_PARTITION,
  };
  const concurrency = config.CONSUMER_PARTITIONS_CONCURRENCY;

  // Produce the workload once: realistic LeadScored records, 1,000 per request.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const bar = new SingleBar(
    { format: 'producing [{bar}] {value}/{total}', noTTYOutput: true, notTTYSchedule: 2_000 },
    Presets.shades_classic,
  );
  bar.start(opts.events, 0);
  for (let sent = 0; sent < opts.events; sent += 1_000) {
    const messages = await Promise.all(
      Array.from({ length: Math.min(1_000, opts.events - sent) }, async (_, i) => {
        const lead: LeadScored = {
          metadata: {
            eventId: randomUUID(),
            occurredAt: Date.now(),
            workspaceId: 'ws_bench',
            source: 'bench',
            correlationId: run,
            causationId: null,
          },
          contactId: `ws_bench:lead-${sent + i}`,
          score: 42,
          previousScore: 32,
          breakdown: [{ rule: 'pricing-page-viewed', points: 10, kind: 'engagement', reason: null }],
          fitScore: 0,
          engagementScore: 42,
          modelVersion: 0,
          trigger: 'event',
          enrichmentState: 'none',
          stage: 'lead',
          attributes: {
            email: `lead-${sent + i}@example.com`,
            firstName: 'Ada',
            company: 'Example',
            country: 'DE',
          },
          events: [
            {
              eventId: randomUUID(),
              callType: 'track',
              name: 'Pricing Page Viewed',
              propertiesJson: '{"plan":"pro"}',
              occurredAt: Date.now(),
            },
          ],
        };
        const value = await registry.encodeWithId(schemaId, lead);
        // A sampled context of its own per record, as a producer span writes it.
        const headers = opts.traced
          ? { traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01` }
          : undefined;
        return { key: lead.contactId, value, ...(headers ? { headers } : {}) };
      }),
    );
    await producer.send({ topic, acks: -1, messages });
    bar.update(sent + messages.length);
  }
  bar.stop();
  await producer.disconnect();

  const results: { contender: string; key: string; seconds: number; perSecond: number }[] = [];
  const measure = async (
    contender: string,
    key: string,
    runOne: (done: () => void, count: () => void) => Promise<() => Promise<void>>,
  ) => {
    if (!selected(key)) return;
    let consumed = 0;
    let t0 = 0;
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const stop = await runOne(finish, () => {
      consumed += 1;
      // The clock starts after the warm-up records, for every contender alike.
      if (consumed === warmup) t0 = performance.now();
      if (consumed === opts.events) finish();
    });
    await finished;
    const seconds = (performance.now() - t0) / 1000;
    await stop();
    const perSecond = Math.round((opts.events - warmup) / seconds);
    results.push({ contender, key, seconds, perSecond });
    console.log(`${contender}: ${perSecond} events/s`);
  };

  const bare = (decode: boolean) => async (_done: () => void, count: () => void) => {
    const consumer = kafka.consumer({ ...consumerOptions, groupId: `bench.bare.${decode}.${run}` });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: concurrency,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        for (const message of batch.messages) {
          if (decode && !registry.decodeCached(message.value)) await registry.decode(message.value);
          count();
          resolveOffset(message.offset);
        }
        await heartbeat();
      },
    });
    return () => consumer.disconnect();
  };
  await measure('bare kafkajs eachBatch', 'bare', bare(false));
  await measure('bare kafkajs eachBatch + Avro decode', 'bare_avro', bare(true));

  await measure('Nest ServerKafka (eachMessage) + Avro decode', 'nest_server_kafka', async (_done, count) => {
    onEvent = count;
    @Module({ controllers: [StockAvroHandler] })
    class StockModule {}
    const app = await NestFactory.createMicroservice<MicroserviceOptions>(StockModule, {
      transport: Transport.KAFKA,
      logger: false,
      options: {
        client: { clientId: `bench-stock-${run}`, brokers: config.KAFKA_BROKERS, logLevel: 0 },
        consumer: { ...consumerOptions, groupId: `bench.stock.${run}` },
        subscribe: { fromBeginning: true },
        run: { partitionsConsumedConcurrently: concurrency },
      },
    });
    await app.listen();
    return () => app.close();
  });

  const transport =
    (handler: typeof CountingBatchHandler | typeof CountingHandler, group: string) =>
    async (_done: () => void, count: () => void) => {
      onEvent = count;
      // A consumer group of its own per contender, like the other contenders.
      const own = { ...config, CONSUMER_GROUP: `${config.CONSUMER_GROUP}.${group}` };
      @Module({})
      class BenchModule {
        static forRoot(): DynamicModule {
          return { module: BenchModule, imports: [EventServiceModule.forRoot(own)], controllers: [handler] };
        }
      }
      const service = await startService(BenchModule.forRoot(), own);
      return () => service.close();
    };
  await measure(
    'libs/messaging KafkaEventTransport, @BatchEventPattern',
    'tributary',
    transport(CountingBatchHandler, 'batch'),
  );
  await measure(
    'libs/messaging KafkaEventTransport, per-record @EventPattern',
    'tributary_record',
    transport(CountingHandler, 'record'),
  );

  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  const rate = (key: string) => results.find((r) => r.key === key)?.perSecond;
  const ceiling = rate('bare') ?? results[0]?.perSecond ?? 1;
  const yardstick = rate('bare_avro');
  const pct = (value: number | undefined, of: number | undefined) =>
    value === undefined || !of ? undefined : Math.round((100 * value) / of);
  console.log(
    `\nconsumer throughput, ${opts.events} LeadScored records${opts.traced ? ' with sampled trace contexts' : ''} ` +
      `(first ${warmup} untimed), 3 partitions, ` +
      `concurrency ${concurrency}, maxBytesPerPartition ${consumerOptions.maxBytesPerPartition}:`,
  );
  console.table(
    results.map(({ key: _key, ...r }) => ({
      ...r,
      seconds: Number(r.seconds.toFixed(2)),
      'vs bare': `${pct(r.perSecond, ceiling)}%`,
      'vs bare+avro': yardstick ? `${pct(r.perSecond, yardstick)}%` : 'na',
    })),
  );
  console.log(
    resultLine('consumer', {
      bare_per_s: rate('bare'),
      bare_avro_per_s: yardstick,
      nest_avro_per_s: rate('nest_server_kafka'),
      tributary_per_s: rate('tributary'),
      tributary_record_per_s: rate('tributary_record'),
      nest_vs_bare_avro_pct: pct(rate('nest_server_kafka'), yardstick),
      tributary_vs_bare_avro_pct: pct(rate('tributary'), yardstick),
      tributary_record_vs_bare_avro_pct: pct(rate('tributary_record'), yardstick),
      traced: opts.traced === true,
    }),
  );
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

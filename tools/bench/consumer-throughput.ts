/**
 * `npm run bench:consumer [-- --events 50000]`: events/s of one consumer on one topic, same run, same records:
 *   1. bare kafkajs eachBatch (no decode)            — the ceiling
 *   2. bare kafkajs eachBatch + Avro decode          — what any Avro consumer pays
 *   3. Nest's built-in ServerKafka (eachMessage)      — the stock transport, JSON parse attempt per message
 *   4. libs/messaging KafkaEventTransport (eachBatch) — decode, handler, retry/DLQ bookkeeping, spans, commits
 * Prints a table; no assertions (speed is measured here, not in tests).
 */
import { Controller, Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { randomUUID } from 'node:crypto';
import { Topics, type LeadScored } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { EventServiceModule, startService } from '@tributary/runtime';
import { createLogger } from '@tributary/observability';
import { loadServiceConfig } from '@tributary/config';
import { testServiceEnv, uniqueId } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import { resultLine } from './stats';

const opts = new Command('bench:consumer')
  .option('--events <n>', 'records to consume per contender', (v) => Number(v), 50_000)
  .parse()
  .opts<{ events: number }>();

const run = uniqueId('bench');
const topic = `bench.${run}.leads`;
let onEvent: () => void = () => undefined;

@Controller()
class CountingHandler {
  @EventPattern(topic)
  handle(): void {
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
        };
        return { key: lead.contactId, value: await registry.encodeWithId(schemaId, lead) };
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
    let consumed = 0;
    let t0 = 0;
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const stop = await runOne(finish, () => {
      if (consumed === 0) t0 = performance.now();
      consumed += 1;
      if (consumed === opts.events) finish();
    });
    await finished;
    const seconds = (performance.now() - t0) / 1000;
    await stop();
    results.push({ contender, key, seconds, perSecond: Math.round(opts.events / seconds) });
    console.log(`${contender}: ${Math.round(opts.events / seconds)} events/s`);
  };

  const bare = (decode: boolean) => async (_done: () => void, count: () => void) => {
    const consumer = kafka.consumer({ groupId: `bench.bare.${decode}.${run}` });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: 3,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        for (const message of batch.messages) {
          if (decode) await registry.decode(message.value);
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

  await measure('Nest ServerKafka (eachMessage)', 'nest_server_kafka', async (_done, count) => {
    onEvent = count;
    @Module({ controllers: [CountingHandler] })
    class StockModule {}
    const app = await NestFactory.createMicroservice<MicroserviceOptions>(StockModule, {
      transport: Transport.KAFKA,
      logger: false,
      options: {
        client: { clientId: `bench-stock-${run}`, brokers: config.KAFKA_BROKERS, logLevel: 0 },
        consumer: { groupId: `bench.stock.${run}` },
        subscribe: { fromBeginning: true },
        run: { partitionsConsumedConcurrently: 3 },
      },
    });
    await app.listen();
    return () => app.close();
  });

  await measure('libs/messaging KafkaEventTransport (eachBatch)', 'tributary', async (_done, count) => {
    onEvent = count;
    @Module({})
    class BenchModule {
      static forRoot(): DynamicModule {
        return {
          module: BenchModule,
          imports: [EventServiceModule.forRoot(config)],
          controllers: [CountingHandler],
        };
      }
    }
    const service = await startService(BenchModule.forRoot(), config);
    return () => service.close();
  });

  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  const ceiling = results[0]?.perSecond ?? 1;
  console.log(`\nconsumer throughput, ${opts.events} LeadScored records, 3 partitions, one consumer each:`);
  console.table(
    results.map(({ key: _key, ...r }) => ({
      ...r,
      seconds: Number(r.seconds.toFixed(2)),
      'vs bare': `${((100 * r.perSecond) / ceiling).toFixed(0)}%`,
    })),
  );
  console.log(
    resultLine(
      'bench:consumer',
      Object.fromEntries(
        results.flatMap((r) => [
          [`${r.key}_per_s`, r.perSecond],
          [`${r.key}_vs_bare_pct`, Math.round((100 * r.perSecond) / ceiling)],
        ]),
      ),
    ),
  );
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

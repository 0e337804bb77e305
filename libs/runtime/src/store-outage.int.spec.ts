/**
 * When a service's own store goes away, its consumer pauses instead of dead-lettering good events, commits nothing
 * it did not apply, reports not-ready, and resumes in order once the store is back.
 * Runs a private FerretDB (same binary and backend as the stack) so stopping it harms no other test.
 */
import { Controller, Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { createLogger } from '@tributary/observability';
import { loadServiceConfig } from '@tributary/config';
import { freePort, testServiceEnv, uniqueId, waitFor } from '@tributary/testing';
import { AvroSchemaRegistry, createKafka, deadLetterTopic, EventPublisher } from '@tributary/messaging';
import { EventServiceModule } from './event-service.module';
import { ProcessedEvents } from '@tributary/store';
import { startService } from './run-service';

const ferretBin = process.env['TRIBUTARY_FERRETDB_BIN'];
// In containers mode there is no FerretDB binary to run privately (tools/jest/allowed-skips.ts lists the skip);
// on the native stack the test runs, and fails without the binary rather than skipping.
const describeNative = process.env['TRIBUTARY_STACK'] === 'containers' ? describe.skip : describe;
/** The stack's PostgreSQL (`host:port`) and its bin dir, when the stack keeps FerretDB on PostgreSQL. */
const postgres = process.env['TRIBUTARY_TEST_POSTGRES'];
const postgresBin = process.env['TRIBUTARY_TEST_POSTGRES_BIN'];
/** The private FerretDB's own database in the stack's cluster, made once and reused by later runs. */
const OUTAGE_DATABASE = 'tributary_store_outage';

const run = uniqueId('outage');
const topic = `test.${run}.visits`;
const schema = {
  type: 'record',
  name: 'Visit',
  namespace: 'io.tributary.test',
  fields: [{ name: 'visitId', type: 'string' }],
};
const applied: string[] = [];
let processed: ProcessedEvents | undefined;

@Controller()
class VisitHandler {
  @EventPattern(topic)
  async onVisit(@Payload() visit: { visitId: string }): Promise<void> {
    // The marker lookup and write hit the service's store: they fail while it is down.
    await processed?.once('visits', visit.visitId, async () => {
      applied.push(visit.visitId);
    });
  }
}

describeNative('store outage', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-outage-'));
  let port = 0;
  let ferret: ChildProcess | undefined;
  let kafka: Kafka;
  let admin: Admin;
  let registry: AvroSchemaRegistry;
  let publisher: EventPublisher;
  let schemaId = 0;
  let app: INestApplication;
  let url = '';

  /** The stack's backend: PostgreSQL by default (a database of its own), SQLite files on a stack without it. */
  const backendArgs = (): string[] =>
    postgres
      ? ['--handler=postgresql', `--postgresql-url=postgres://postgres@${postgres}/${OUTAGE_DATABASE}`]
      : ['--handler=sqlite', `--sqlite-url=file:${dataDir}/`];

  const createOutageDatabase = async (): Promise<void> => {
    if (!postgres || !postgresBin) return;
    const [host = '127.0.0.1', pgPort = '5432'] = postgres.split(':');
    const created = spawnSync(
      join(postgresBin, 'createdb'),
      ['-h', host, '-p', pgPort, '-U', 'postgres', OUTAGE_DATABASE],
      { encoding: 'utf8' },
    );
    if (created.status !== 0 && !/already exists/.test(created.stderr)) {
      throw new Error(`createdb ${OUTAGE_DATABASE}: ${created.stderr}`);
    }
  };

  const startFerret = async () => {
    if (!ferretBin) throw new Error('TRIBUTARY_FERRETDB_BIN is unset: the store-outage test needs the stack');
    ferret = spawn(
      ferretBin,
      [
        ...backendArgs(),
        `--state-dir=${dataDir}`,
        `--listen-addr=127.0.0.1:${port}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=error',
      ],
      { stdio: 'ignore' },
    );
    await waitFor('private FerretDB to accept connections', async () => {
      const { MongoClient } = await import('mongodb');
      const client = new MongoClient(`mongodb://127.0.0.1:${port}`, { serverSelectionTimeoutMS: 500 });
      try {
        await client.db('admin').command({ ping: 1 });
        return true;
      } finally {
        await client.close();
      }
    });
  };
  const stopFerret = async () => {
    const child = ferret;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };

  beforeAll(async () => {
    port = await freePort();
    await createOutageDatabase();
    await startFerret();
    const config = loadServiceConfig(
      'outage',
      testServiceEnv('outage', run, { MONGO_URL: `mongodb://127.0.0.1:${port}`, CONSUMER_MAX_ATTEMPTS: '2' }),
      {},
    );
    kafka = createKafka(`outage-${run}`, config.KAFKA_BROKERS, createLogger('outage', 'fatal'));
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    registry = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
    schemaId = await registry.registerSchema(`${topic}-value`, schema);
    publisher = new EventPublisher(kafka, registry, 'outage');
    await publisher.connect();

    @Module({})
    class OutageModule {
      static forRoot(): DynamicModule {
        return {
          module: OutageModule,
          imports: [EventServiceModule.forRoot(config)],
          controllers: [VisitHandler],
        };
      }
    }
    const service = await startService(OutageModule.forRoot(), config);
    app = service.app;
    url = service.url;
    processed = app.get(ProcessedEvents);
  });

  afterAll(async () => {
    await stopFerret();
    await startFerret().catch(() => undefined); // let the service close its connection cleanly
    await app?.close();
    // The private database is not the stack's: the run's teardown would not find it.
    const { MongoClient } = await import('mongodb');
    const client = new MongoClient(`mongodb://127.0.0.1:${port}`, { serverSelectionTimeoutMS: 2_000 });
    await client
      .db(`test_${run}_outage`)
      .dropDatabase()
      .catch(() => undefined)
      .finally(() => client.close());
    await stopFerret();
    await publisher?.disconnect();
    await admin?.disconnect();
  });

  /** Where the consumer group would resume on the topic's one partition. */
  const committedOffset = async (): Promise<number> => {
    const [offsets] = await admin.fetchOffsets({ groupId: `outage.${run}`, topics: [topic] });
    return Number(offsets?.partitions[0]?.offset ?? -1);
  };

  const send = async (visitId: string) =>
    publisher.publishRaw(topic, {
      key: 'visitor-1',
      value: await registry.encodeWithId(schemaId, { visitId }),
    });

  it('pauses while the store is down, dead-letters nothing, and resumes in order when it is back', async () => {
    await send('v1');
    await waitFor('v1 applied', async () => applied.includes('v1'));

    await stopFerret();
    await send('v2');
    await send('v3');
    const notReady = await waitFor('readiness to report the store down', async () => {
      const res = await fetch(`${url}/health/ready`);
      return res.status === 503 ? ((await res.json()) as { checks: Record<string, string> }) : undefined;
    });
    expect(notReady.checks['store']).toMatch(/^down/);
    // Well past the retry budget (2 attempts): a failing handler would have been dead-lettered by now.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    expect(applied).toEqual(['v1']);
    // Nothing after the failed record is committed: the group's position is still v2 (offset 1).
    expect(await committedOffset()).toBe(1);

    await startFerret();
    await waitFor('v2 and v3 applied after the store came back', async () => applied.length === 3, {
      timeoutMs: 60_000,
    });
    expect(applied).toEqual(['v1', 'v2', 'v3']);
    await waitFor('the group to commit past v3', async () => (await committedOffset()) === 3);
    const dlq = await admin.fetchTopicOffsets(deadLetterTopic(`outage.${run}`));
    expect(dlq.reduce((sum, p) => sum + Number(p.high), 0)).toBe(0);
  });
});

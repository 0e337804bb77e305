/**
 * The backfill CLI on the real stack with the HubSpot fake: a run interrupted after two pages leaves the cursor where
 * Kafka acknowledged, and the next run resumes there: every contact is published, none twice; the progress bar
 * counts to the vendor's total.
 */
import { NestFactory } from '@nestjs/core';
import { PassThrough } from 'node:stream';
import type { Kafka } from 'kafkajs';
import { Topics, type RecordChanged } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { createLogger, stopTelemetry } from '@tributary/observability';
import { FakeHubSpot } from '@tributary/sandbox';
import { readTopicToEnd, testServiceEnv, uniqueId } from '@tributary/testing';
import { SyncModule } from '../app.module';
import { Connections } from '../connections/connections.service';
import { backfillConfig, runBackfill } from './backfill-command';

const run = uniqueId('backfill');
const workspace = `ws_${run}`;
const TOKEN = `pat-na1-${run}`;
let hubspot: FakeHubSpot;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let env: Record<string, string>;

beforeAll(async () => {
  hubspot = new FakeHubSpot({ accessTokens: { [TOKEN]: 'app-backfill' }, limits: { searchPerSecond: 50 } });
  env = testServiceEnv('sync', run, { HUBSPOT_API_URL: await hubspot.start() });
  hubspot.seed(
    'contacts',
    Array.from({ length: 1_000 }, (_, i) => ({ firstname: `Backfilled ${i}` })),
    Date.now() - 3_600_000,
  );
  kafka = createKafka(`backfill-${run}`, (env['KAFKA_BROKERS'] ?? '').split(','), createLogger('t', 'fatal'));
  registry = new AvroSchemaRegistry(env['SCHEMA_REGISTRY_URL'] ?? '');
});

afterAll(async () => {
  await hubspot?.stop();
  await stopTelemetry();
});

describe('sync:backfill', () => {
  it('resumes where an interrupted run stopped, publishing every record once', async () => {
    const config = backfillConfig(env);
    const setup = await NestFactory.createApplicationContext(SyncModule.forBackfill(config), {
      logger: false,
    });
    const created = await setup
      .get(Connections)
      .create(
        workspace,
        { connector: 'hubspot', name: 'HubSpot', objects: ['contacts'], credentials: { accessToken: TOKEN } },
        'k-test',
      );
    await setup.close();
    if (!created.ok) throw new Error(JSON.stringify(created.errors));
    const args = { workspace, connection: created.view.id, object: 'contacts' };
    const lines: string[] = [];
    const output = { progress: new PassThrough(), log: (line: string) => lines.push(line) };

    // Interrupted after two pages of records, as Ctrl-C would between pages (checked after each page: the first only
    // finds the instant all 1,000 share, then 200 a page).
    let checks = 0;
    const interrupted = {
      get aborted() {
        checks += 1;
        return checks > 2;
      },
    } as AbortSignal;
    const first = await runBackfill(args, config, output, interrupted);
    expect(first.read).toBe(400);
    const second = await runBackfill(args, config, output);
    expect(second.published).toBe(600);
    // The rerun reads again from a look-back behind the cursor; what it already published is not published again.
    expect(lines.at(-1)).toBe(
      `backfilled 1000 record(s) of contacts from ${args.connection}: 600 new version(s) published`,
    );

    const changes = (
      await Promise.all(
        (await readTopicToEnd(kafka, Topics.RecordsChanged)).map(
          async (r) => (await registry.decode(r.value)) as RecordChanged,
        ),
      )
    ).filter((c) => c.metadata.workspaceId === workspace);
    expect(changes).toHaveLength(1_000);
    expect(new Set(changes.map((c) => c.externalId)).size).toBe(1_000);
  });
});

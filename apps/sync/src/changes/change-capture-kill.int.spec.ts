/**
 * Change capture survives SIGKILL: the sync service as a real OS process backfills 2,000 HubSpot contacts (400 of
 * them sharing one modification time) from the HubSpot fake in this process, and is killed twice mid-backfill, each
 * time restarted. The cursor is saved only after Kafka acknowledged a page, so nothing is lost, and a kill repeats
 * at most the page that was in flight.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import mongoose, { type Connection } from 'mongoose';
import { Topics, type RecordChanged } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import { FakeHubSpot } from '@tributary/sandbox';
import {
  freePort,
  readTopicToEnd,
  spawnService,
  stopService,
  testServiceEnv,
  uniqueId,
  waitFor,
  waitReady,
  type RunningProcess,
} from '@tributary/testing';
import type { ChangeCursorDoc } from '../connections/connection.models';

const run = uniqueId('cdckill');
const workspace = `ws_${run}`;
const writeKey = `cdc-key-${run}`;
const TOKEN = `pat-na1-${run}`;
const PAGE = 200;
const logRoot = join(tmpdir(), `tributary-${run}`);
let hubspot: FakeHubSpot;
let env: Record<string, string>;
let store: Connection;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let service: RunningProcess | undefined;

async function startSync(attempt: number): Promise<RunningProcess> {
  const started = spawnService('sync', await freePort(), env, join(logRoot, `sync-${attempt}`));
  await waitReady(started, 120_000);
  return started;
}

beforeAll(async () => {
  // HubSpot's own search limit (4 a second): the backfill takes a few seconds, long enough to be killed in.
  hubspot = new FakeHubSpot({ accessTokens: { [TOKEN]: 'app-kill' } });
  env = testServiceEnv('sync', run, {
    WRITE_KEYS: `${writeKey}:${workspace}`,
    HUBSPOT_API_URL: await hubspot.start(),
    SYNC_POLL_TICK_MS: '100',
    // A killed process's poll is taken over 2 s after its last page.
    SYNC_POLL_LEASE_MS: '2000',
    SYNC_CHANGE_PAGE: String(PAGE),
  });
  const base = Date.now() - 3_600_000;
  hubspot.seed(
    'contacts',
    Array.from({ length: 800 }, (_, i) => ({ firstname: `early-${i}` })),
    base,
  );
  for (let i = 0; i < 800; i += 1) hubspot.seed('contacts', [{ firstname: `spread-${i}` }], base + 1_000 + i);
  hubspot.seed(
    'contacts',
    Array.from({ length: 400 }, (_, i) => ({ firstname: `late-${i}` })),
    base + 10_000,
  );
  store = await mongoose.createConnection(env['MONGO_URL'] ?? '', { dbName: env['MONGO_DB'] }).asPromise();
  kafka = createKafka(
    `cdckill-${run}`,
    env['KAFKA_BROKERS']?.split(',') ?? [],
    createLogger('cdckill', 'fatal'),
  );
  registry = new AvroSchemaRegistry(env['SCHEMA_REGISTRY_URL'] ?? '');
}, 60_000);

afterAll(async () => {
  if (service) await stopService(service);
  await hubspot?.stop();
  await store?.dropDatabase();
  await store?.close();
}, 60_000);

const cursorOf = async (connectionId: string) =>
  store.collection<ChangeCursorDoc>('sync_change_cursors').findOne({ _id: `${connectionId}|contacts` });

describe('change capture killed mid-backfill', () => {
  it('loses nothing, and repeats at most one page a kill', async () => {
    service = await startSync(1);
    const created = await fetch(`${service.url}/v1/connections`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        connector: 'hubspot',
        name: 'HubSpot',
        objects: ['contacts'],
        credentials: { accessToken: TOKEN },
        pollIntervalSeconds: 1,
      }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    const kills = [400, 1_200];
    for (const [i, atLeast] of kills.entries()) {
      await waitFor(
        `${atLeast} published before kill ${i + 1}`,
        async () => {
          const cursor = await cursorOf(id);
          return (cursor?.published ?? 0) >= atLeast;
        },
        { timeoutMs: 60_000, intervalMs: 50 },
      );
      service.child.kill('SIGKILL');
      await new Promise((resolve) => service?.child.once('exit', resolve));
      service = await startSync(i + 2);
    }
    const finished = Date.now();
    const cursor = await waitFor(
      'the backfill to finish',
      async () => {
        const current = await cursorOf(id);
        return current?.lastSuccessAt &&
          current.lastSuccessAt.getTime() > finished &&
          current.lastPublished === 0
          ? current
          : undefined;
      },
      { timeoutMs: 120_000 },
    );
    expect(cursor.lastError).toBeNull();

    const records = await readTopicToEnd(kafka, Topics.RecordsChanged);
    const changes = (
      await Promise.all(records.map(async (r) => (await registry.decode(r.value)) as RecordChanged))
    ).filter((c) => c.metadata.workspaceId === workspace);
    const versions = changes.map((c) => `${c.externalId}@${c.changedAt}`);
    const distinct = new Set(versions);
    const expected = hubspot.all('contacts').map((r) => `${r.id}@${r.updatedAt}`);
    expect([...distinct].sort()).toEqual(expected.sort());
    expect(versions.length - distinct.size).toBeLessThanOrEqual(kills.length * PAGE);
  }, 300_000);
});

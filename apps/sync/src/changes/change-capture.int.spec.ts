/**
 * Change capture on the real stack (Kafka, the registry, FerretDB), the sync service in this process, HubSpot as the
 * local fake through the official SDK: a backfill reads every record once, instants shared by more records than a
 * page included; an edit made in HubSpot arrives as an update; a change HubSpot's search shows late is found by the
 * look-back; a poll that starts over from the beginning republishes nothing; a paused connection is not polled.
 * "Once" is read from the topic after the service has been quiet.
 */
import type { Kafka } from 'kafkajs';
import type { Model } from 'mongoose';
import { Topics, type ConnectorHealth, type RecordChanged } from '@tributary/contracts';
import type { AvroSchemaRegistry, EventPublisher } from '@tributary/messaging';
import { stopTelemetry } from '@tributary/observability';
import { startService, type RunningService } from '@tributary/runtime';
import { FakeHubSpot } from '@tributary/sandbox';
import { connectTestPublisher, readTopicToEnd, testServiceEnv, uniqueId, waitFor } from '@tributary/testing';
import { SyncModule } from '../app.module';
import { loadSyncConfig } from '../config';
import { CHANGE_CURSOR_MODEL, type ChangeCursorDoc } from '../connections/connection.models';
import { Connections } from '../connections/connections.service';

const run = uniqueId('cdc');
const TOKEN = `pat-na1-${run}`;
const HOUR = 3_600_000;
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
let hubspot: FakeHubSpot;
let connections: Connections;
let cursors: Model<ChangeCursorDoc>;

beforeAll(async () => {
  hubspot = new FakeHubSpot({ accessTokens: { [TOKEN]: 'app-cdc' }, limits: { searchPerSecond: 50 } });
  const config = loadSyncConfig(
    testServiceEnv('sync', run, { HUBSPOT_API_URL: await hubspot.start(), SYNC_POLL_TICK_MS: '200' }),
  );
  service = await startService(SyncModule.forRoot(config), config);
  connections = service.app.get(Connections);
  cursors = service.app.get<Model<ChangeCursorDoc>>(CHANGE_CURSOR_MODEL);
  ({ kafka, registry, publisher } = await connectTestPublisher(`sync-${run}`, config, []));
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await hubspot?.stop();
  await stopTelemetry();
});

/** A connection of its own workspace, polled every second, looking back `lookbackSeconds`. */
async function connect(workspace: string, lookbackSeconds = 5, objects = ['contacts']): Promise<string> {
  const created = await connections.create(
    workspace,
    {
      connector: 'hubspot',
      name: 'HubSpot',
      objects,
      credentials: { accessToken: TOKEN },
      pollIntervalSeconds: 1,
      lookbackSeconds,
    },
    'k-test',
  );
  if (!created.ok) throw new Error(JSON.stringify(created.errors));
  return created.view.id;
}

/** The workspace's changes on the topic, decoded, in topic order. */
async function changesOf(workspace: string): Promise<RecordChanged[]> {
  const records = await readTopicToEnd(kafka, Topics.RecordsChanged);
  const events = await Promise.all(
    records.map(async (r) => (await registry.decode(r.value)) as RecordChanged),
  );
  return events.filter((e) => e.metadata.workspaceId === workspace);
}

/** Waits until the connection's cursor has finished a poll that published nothing, i.e. it has caught up. */
async function caughtUp(connectionId: string, object = 'contacts'): Promise<ChangeCursorDoc> {
  const since = Date.now();
  return waitFor(
    `${connectionId} to finish a poll that publishes nothing`,
    async () => {
      const cursor = await cursors.findOne({ _id: `${connectionId}|${object}` }).lean();
      return cursor?.lastSuccessAt && cursor.lastSuccessAt.getTime() > since && cursor.lastPublished === 0
        ? (cursor as ChangeCursorDoc)
        : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

const versionsOf = (changes: RecordChanged[]) => changes.map((c) => `${c.externalId}@${c.changedAt}`);

describe('change capture from HubSpot', () => {
  it('backfills every record once, 250 of them sharing one modification time', async () => {
    const workspace = `ws_${run}_backfill`;
    const t0 = Date.now() - HOUR;
    const before = hubspot.seed(
      'contacts',
      [{ email: `a-${run}@example.com`, firstname: 'Ada' }],
      t0 - 1_000,
    );
    const crowd = hubspot.seed(
      'contacts',
      Array.from({ length: 250 }, (_, i) => ({ firstname: `crowd-${i}`, lifecyclestage: 'lead' })),
      t0,
    );
    const after = hubspot.seed('contacts', [{ firstname: 'Late' }], t0 + 1);
    const connectionId = await connect(workspace);
    const cursor = await caughtUp(connectionId);
    const changes = await changesOf(workspace);
    const ours = new Set([...before, ...crowd, ...after]);
    const read = changes.filter((c) => ours.has(c.externalId));
    // Each record once (the topic's partitions interleave them, so their order is not checked here).
    expect(read.map((c) => c.externalId).sort()).toEqual([...ours].sort());
    const first = read.find((c) => c.externalId === crowd[0]);
    expect(first).toMatchObject({
      system: 'hubspot',
      objectType: 'contact',
      operation: 'create',
      changedAt: t0,
    });
    expect(JSON.parse(first?.fieldsJson ?? '{}')).toMatchObject({
      firstname: 'crowd-0',
      lifecyclestage: 'lead',
    });
    expect(cursor.published).toBeGreaterThanOrEqual(252);
    // The API shows how far capture has read and what it published.
    const view = await connections.get(workspace, connectionId);
    expect(view.capture?.['contacts']).toMatchObject({
      readUpTo: new Date(cursor.modifiedAt).toISOString(),
      lastError: null,
      published: cursor.published,
    });
  });

  it('publishes an edit made in HubSpot as an update, once, and a poll from the start republishes nothing', async () => {
    const workspace = `ws_${run}_edits`;
    const seededAt = Date.now() - HOUR;
    const [id] = hubspot.seed('contacts', [{ firstname: 'Grace' }], seededAt);
    const connectionId = await connect(workspace);
    await caughtUp(connectionId);
    const editedAt = Date.now() - 60_000;
    hubspot.edit('contacts', id as string, { jobtitle: 'Rear Admiral' }, editedAt);
    await waitFor(
      'the edit on the topic',
      async () => (await changesOf(workspace)).some((c) => c.changedAt === editedAt),
      {
        intervalMs: 1_000,
      },
    );
    // From the very start again: every version read is known, so nothing goes out a second time.
    await cursors.updateOne({ _id: `${connectionId}|contacts` }, { $set: { modifiedAt: 0, lastId: '' } });
    const cursor = await caughtUp(connectionId);
    expect(cursor.modifiedAt).toBe(editedAt);
    const changes = (await changesOf(workspace)).filter((c) => c.externalId === id);
    expect(changes.map((c) => [c.operation, c.changedAt])).toEqual([
      ['create', seededAt],
      ['update', editedAt],
    ]);
    expect(JSON.parse(changes[1]?.fieldsJson ?? '{}')).toMatchObject({
      firstname: 'Grace',
      jobtitle: 'Rear Admiral',
    });
  });

  it('finds a change that HubSpot’s search shows after a later one, within the look-back', async () => {
    const workspace = `ws_${run}_late`;
    const [early, later] = hubspot.seed(
      'contacts',
      [{ firstname: 'Early' }, { firstname: 'Later' }],
      Date.now() - HOUR,
    );
    const connectionId = await connect(workspace, 10);
    await caughtUp(connectionId);
    const at = Date.now();
    // `early` changes first but reaches search 3 s late; `later` changes after it and shows at once.
    hubspot.edit('contacts', early as string, { jobtitle: 'slow index' }, at, 3_000);
    hubspot.edit('contacts', later as string, { jobtitle: 'fast index' }, at + 100, 0);
    const updated = (id: string | undefined) => async () =>
      (await changesOf(workspace)).some((c) => c.externalId === id && c.operation === 'update');
    await waitFor('the later change, shown at once', updated(later), { intervalMs: 1_000 });
    await waitFor('the earlier change, shown late', updated(early), { intervalMs: 1_000 });
    await caughtUp(connectionId);
    const updates = (await changesOf(workspace)).filter(
      (c) => c.operation === 'update' && (c.externalId === early || c.externalId === later),
    );
    expect(versionsOf(updates).sort()).toEqual([`${early}@${at}`, `${later}@${at + 100}`].sort());
  });

  it('does not poll a paused connection, and catches up once it is resumed', async () => {
    const workspace = `ws_${run}_paused`;
    const [id] = hubspot.seed('contacts', [{ firstname: 'Paused' }], Date.now() - HOUR);
    const connectionId = await connect(workspace);
    await caughtUp(connectionId);
    await connections.setStatus(workspace, connectionId, 'paused');
    const pausedAt = (await cursors.findOne({ _id: `${connectionId}|contacts` }).lean())?.lastPollAt;
    hubspot.edit('contacts', id as string, { jobtitle: 'while paused' }, Date.now() - 1_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const cursor = await cursors.findOne({ _id: `${connectionId}|contacts` }).lean();
    expect(cursor?.lastPollAt?.getTime()).toBeLessThanOrEqual((pausedAt?.getTime() ?? 0) + 1_500);
    const updatesOf = async () =>
      (await changesOf(workspace)).filter((c) => c.externalId === id && c.operation === 'update');
    expect(await updatesOf()).toEqual([]);
    await connections.setStatus(workspace, connectionId, 'active');
    await waitFor(
      'the paused edit, after resuming',
      async () => (await changesOf(workspace)).some((c) => c.operation === 'update'),
      { intervalMs: 1_000 },
    );
  });

  it('reports its health after each poll: healthy with its lag, failing with the vendor’s answer during an outage', async () => {
    const workspace = `ws_${run}_health`;
    const connectionId = await connect(workspace);
    await caughtUp(connectionId);
    const healthOf = async () => {
      const records = await readTopicToEnd(kafka, Topics.SyncConnectorHealth);
      const events = await Promise.all(
        records.map(async (r) => (await registry.decode(r.value)) as ConnectorHealth),
      );
      return events.filter((e) => e.connectionId === connectionId);
    };
    const healthy = (await healthOf()).at(-1);
    expect(healthy).toMatchObject({
      connector: 'hubspot',
      object: 'contacts',
      status: 'healthy',
      consecutiveFailures: 0,
    });
    expect(healthy?.lagMs).toBeLessThan(5_000);
    expect(healthy?.apiVersion).toBe('crm/v3');

    hubspot.outage(true);
    try {
      const failing = await waitFor('a failing report', async () => {
        const last = (await healthOf()).at(-1);
        return last && last.consecutiveFailures >= 2 ? last : undefined;
      });
      expect(failing.status).toBe('failing');
      expect(failing.lastError).toMatch(/5\d\d|ECONNRESET|socket/);
    } finally {
      hubspot.outage(false);
    }
    const recovered = await waitFor('a healthy report again', async () => {
      const last = (await healthOf()).at(-1);
      return last?.status === 'healthy' ? last : undefined;
    });
    expect(recovered.consecutiveFailures).toBe(0);
  });
});

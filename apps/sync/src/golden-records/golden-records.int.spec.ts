/**
 * Golden records on the real stack, the sync service in this process: vendor record changes and the lead pipeline's
 * profiles become one golden record per person, decided per field by survivorship with provenance, history and a
 * conflict log through the API; restatements and echoes of our own writes change nothing; a bad record is rejected
 * whole while its batch goes on; a redelivered change is announced once; a manual lock holds; merges fold records;
 * new rules decide again; one workspace never sees another's records.
 */
import type { Kafka } from 'kafkajs';
import {
  Topics,
  type ContactsMerged,
  type GoldenRecordChanged,
  type GoldenRecordConflict,
  type RecordChanged,
  type SyncRecordRejected,
} from '@tributary/contracts';
import { originMetadata, type AvroSchemaRegistry, type EventPublisher } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import {
  connectTestPublisher,
  leadScoredFixture,
  publishLeadsScored,
  readTopicToEnd,
  testServiceEnv,
  uniqueId,
  waitFor,
} from '@tributary/testing';
import { SyncModule } from '../app.module';
import { loadSyncConfig } from '../config';
import type { GoldenRecordView } from './golden-record.queries';
import { GoldenRecordStore } from './golden-record.store';

const run = uniqueId('golden');
const wsA = `ws_golden_a_${run}`;
const wsB = `ws_golden_b_${run}`;
const KEY_A = `key-a-${run}`;
const KEY_B = `key-b-${run}`;
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
let baseUrl: string;
const startedAt = Date.now();

beforeAll(async () => {
  const config = loadSyncConfig(
    testServiceEnv('sync', run, {
      WRITE_KEYS: `${KEY_A}:${wsA},${KEY_B}:${wsB}`,
      SYNC_POLL_TICK_MS: '60000',
    }),
  );
  service = await startService(SyncModule.forRoot(config), config);
  baseUrl = (await service.app.getUrl()).replace('[::1]', '127.0.0.1');
  ({ kafka, registry, publisher } = await connectTestPublisher(`golden-${run}`, config, [
    Topics.RecordsChanged,
    Topics.LeadsScored,
    Topics.ContactsMerged,
  ]));
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

let sequence = 0;
/** A HubSpot contact's change as change capture publishes it. */
function hubspotChange(
  ws: string,
  id: string,
  fields: Record<string, unknown>,
  changedAt: number,
  operation: RecordChanged['operation'] = 'update',
): RecordChanged {
  sequence += 1;
  return {
    metadata: originMetadata({
      workspaceId: ws,
      source: 'sync:hubspot',
      occurredAt: changedAt,
      eventId: `${run}-change-${sequence}`,
    }),
    system: 'hubspot',
    objectType: 'contact',
    externalId: id,
    operation,
    fieldsJson: JSON.stringify(fields),
    changedAt,
  };
}

const publishChanges = (changes: RecordChanged[]) =>
  publisher.publishAll(
    changes.map((event) => ({
      topic: Topics.RecordsChanged,
      key: `${event.system}:${event.objectType}:${event.externalId}`,
      event,
    })),
  );

const api = async <T>(path: string, init: RequestInit & { key?: string; json?: unknown } = {}) => {
  const res = await fetch(`${baseUrl}${path}`, {
    ...init,
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    headers: { authorization: `Bearer ${init.key ?? KEY_A}`, 'content-type': 'application/json' },
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as T };
};

/** The golden record that `system:externalId` belongs to, once `ready` holds for it. */
function recordOf(
  system: string,
  externalId: string,
  ready: (record: GoldenRecordView) => boolean,
  key = KEY_A,
): Promise<GoldenRecordView> {
  return waitFor(`golden record of ${system}:${externalId}`, async () => {
    const { body } = await api<{ records: GoldenRecordView[] }>(
      `/v1/golden-records?system=${system}&externalId=${encodeURIComponent(externalId)}`,
      { key },
    );
    const [record] = body.records ?? [];
    return record && ready(record) ? record : undefined;
  });
}

/** Every event of `topic` for the workspace since the test started, read to the topic's end (call once quiet). */
async function eventsOf<E extends { metadata: { workspaceId: string } }>(
  topic: string,
  ws: string,
): Promise<E[]> {
  const records = await readTopicToEnd(kafka, topic, startedAt - 1_000);
  const events = await Promise.all(records.map(async (r) => (await registry.decode(r.value)) as E));
  return events.filter((e) => e.metadata.workspaceId === ws);
}

const goldenChangesOf = async (ws: string, goldenId: string) =>
  (await eventsOf<GoldenRecordChanged>(Topics.GoldenRecordsChanged, ws)).filter(
    (e) => e.goldenId === goldenId,
  );

const T0 = Date.parse('2026-11-02T09:00:00Z');

describe('golden records', () => {
  it('joins a CRM contact and a lead pipeline contact by email, each field with its provenance and history', async () => {
    const contactId = `${run}-lead-1`;
    await publishChanges([
      hubspotChange(
        wsA,
        'hs-1',
        { email: 'Ada@Example.com', firstname: 'Ada', phone: '+49 30 1234567' },
        T0,
        'create',
      ),
    ]);
    await recordOf('hubspot', 'hs-1', (r) => r.values['firstName'] === 'Ada');
    const lead = leadScoredFixture(wsA, contactId, 40, 'sync');
    lead.metadata.occurredAt = T0 + 60_000;
    lead.attributes = { email: 'ada@example.com', lastName: 'Lovelace', title: 'CTO' };
    await publishLeadsScored(publisher, [lead]);

    const record = await recordOf('leads', contactId, (r) => r.values['lastName'] === 'Lovelace');
    expect(record.values).toEqual({
      email: 'ada@example.com',
      firstName: 'Ada',
      lastName: 'Lovelace',
      phone: '+49 30 1234567',
      title: 'CTO',
    });
    expect(record.links).toEqual([
      { system: 'hubspot', externalId: 'hs-1' },
      { system: 'leads', externalId: contactId },
    ]);
    expect(record.provenance['firstName']).toEqual({
      source: 'hubspot',
      sourceAt: new Date(T0).toISOString(),
      rule: 'most-recent',
    });
    expect(record.provenance['lastName']).toMatchObject({ source: 'leads', rule: 'most-recent' });
    // Emails compare lowercased: the lead pipeline's spelling is the CRM's value, no change and no conflict.
    expect(record.sources['email']).toEqual({
      hubspot: { value: 'ada@example.com', at: new Date(T0).toISOString() },
      leads: { value: 'ada@example.com', at: new Date(T0 + 60_000).toISOString() },
    });

    const history = await api<{
      entries: { cause: string; causeSystem: string; changes: { field: string }[] }[];
    }>(`/v1/golden-records/${record.id}/history`);
    expect(history.status).toBe(200);
    expect(history.body.entries.map((e) => [e.causeSystem, e.changes.map((c) => c.field)])).toEqual([
      ['leads', ['lastName', 'title']],
      ['hubspot', ['email', 'firstName', 'phone']],
    ]);
    const announced = await goldenChangesOf(wsA, record.id);
    expect(announced.map((e) => e.version)).toEqual([1, 2]);
    expect(announced[1]?.changes.map((c) => [c.field, c.previous, c.value])).toEqual([
      ['lastName', null, 'Lovelace'],
      ['title', null, 'CTO'],
    ]);
  });

  it('logs a conflict with both values and the rule, and a restated older value does not undo a newer edit', async () => {
    const contactId = `${run}-lead-2`;
    await publishChanges([
      hubspotChange(wsA, 'hs-2', { email: 'grace@example.com', firstname: 'Grace' }, T0),
    ]);
    await recordOf('hubspot', 'hs-2', (r) => r.values['firstName'] === 'Grace');
    const lead = leadScoredFixture(wsA, contactId, 40, 'sync');
    lead.metadata.occurredAt = T0 + 120_000;
    lead.attributes = { email: 'grace@example.com', firstName: 'Gracie' };
    await publishLeadsScored(publisher, [lead]);
    const record = await recordOf('hubspot', 'hs-2', (r) => r.values['firstName'] === 'Gracie');

    // Change capture reads the whole HubSpot record again after another property changed: its firstname is a
    // restatement, not an edit, even though the record's modification time is newer than the lead's.
    await publishChanges([
      hubspotChange(
        wsA,
        'hs-2',
        { email: 'grace@example.com', firstname: 'Grace', city: 'Arlington' },
        T0 + 300_000,
      ),
    ]);
    const after = await recordOf('hubspot', 'hs-2', (r) => r.values['city'] === 'Arlington');
    expect(after.values['firstName']).toBe('Gracie');

    const { body } = await api<{
      conflicts: { field: string; rule: string; winner: object; loser: object }[];
    }>(`/v1/golden-records/${record.id}/conflicts`);
    expect(body.conflicts).toEqual([
      {
        goldenId: record.id,
        field: 'firstName',
        rule: 'most-recent',
        at: expect.any(String),
        winner: { value: 'Gracie', source: 'leads', sourceAt: new Date(T0 + 120_000).toISOString() },
        loser: { value: 'Grace', source: 'hubspot', sourceAt: new Date(T0).toISOString() },
      },
    ]);
    const onTopic = (await eventsOf<GoldenRecordConflict>(Topics.GoldenRecordsConflicts, wsA)).filter(
      (c) => c.goldenId === record.id,
    );
    expect(onTopic.map((c) => [c.field, c.winner.value, c.loser.value])).toEqual([
      ['firstName', 'Gracie', 'Grace'],
    ]);
  });

  it('rejects a bad record whole with the field and reason, and takes the rest of its batch', async () => {
    const bad = hubspotChange(
      wsA,
      'hs-bad',
      { email: 'not-an-email', firstname: 'Bad', lifecyclestage: 'lead' },
      T0,
    );
    const worse = hubspotChange(wsA, 'hs-worse', { email: 'w@example.com', lifecyclestage: 'champion' }, T0);
    const good = hubspotChange(wsA, 'hs-good', { email: 'good@example.com', firstname: 'Good' }, T0);
    await publishChanges([bad, worse, good]);
    await recordOf('hubspot', 'hs-good', (r) => r.values['firstName'] === 'Good');
    const rejected = await waitFor('both rejections', async () => {
      const events = (await eventsOf<SyncRecordRejected>(Topics.SyncRecordsRejected, wsA)).filter((e) =>
        ['hs-bad', 'hs-worse'].includes(e.externalId),
      );
      return events.length >= 2 ? events : undefined;
    });
    // Keyed by record, the two may sit on different partitions: their order is not a promise.
    rejected.sort((a, b) => a.externalId.localeCompare(b.externalId));
    expect(rejected.map((e) => [e.externalId, e.field, e.reason, e.changeEventId])).toEqual([
      ['hs-bad', 'email', 'not an email address', bad.metadata.eventId],
      [
        'hs-worse',
        'lifecyclestage',
        expect.stringContaining('not one of subscriber, lead'),
        worse.metadata.eventId,
      ],
    ]);
    expect(rejected[0]?.fieldsJson).toBe(bad.fieldsJson);
    const { body } = await api<{ records: unknown[] }>('/v1/golden-records?system=hubspot&externalId=hs-bad');
    expect(body.records).toEqual([]);
  });

  it('announces a redelivered change once, and an echo of our own write not at all', async () => {
    const change = hubspotChange(wsA, 'hs-3', { email: 'alan@example.com', firstname: 'Alan' }, T0);
    await publishChanges([change]);
    const record = await recordOf('hubspot', 'hs-3', (r) => r.values['firstName'] === 'Alan');
    // Outbound sync wrote a new last name to HubSpot; HubSpot then reports that write back as a change.
    await service.app.get(GoldenRecordStore).rememberWritten([
      {
        workspaceId: wsA,
        entity: 'contact',
        system: 'hubspot',
        externalId: 'hs-3',
        goldenId: record.id,
        fields: { lastname: 'Turing' },
        at: T0 + 10_000,
        created: false,
      },
    ]);
    await publishChanges([
      change,
      hubspotChange(
        wsA,
        'hs-3',
        { email: 'alan@example.com', firstname: 'Alan', lastname: 'Turing' },
        T0 + 10_000,
      ),
      hubspotChange(wsA, 'hs-3', { city: 'Wilmslow' }, T0 + 20_000),
    ]);
    await recordOf('hubspot', 'hs-3', (r) => r.values['city'] === 'Wilmslow');
    const announced = await goldenChangesOf(wsA, record.id);
    expect(announced.map((e) => e.changes.map((c) => c.field))).toEqual([['email', 'firstName'], ['city']]);
    expect(new Set(announced.map((e) => e.metadata.eventId)).size).toBe(2);
  });

  it('keeps a value locked by hand against later changes, and lets them in once unlocked', async () => {
    await publishChanges([
      hubspotChange(wsA, 'hs-4', { email: 'kat@example.com', phone: '+1 202 555 0101' }, T0),
    ]);
    const record = await recordOf('hubspot', 'hs-4', (r) => r.values['phone'] !== undefined);
    const locked = await api<GoldenRecordView>(`/v1/golden-records/${record.id}`, {
      method: 'PATCH',
      json: { fields: { phone: { value: '+1 202 555 0199', locked: true } } },
    });
    expect(locked.status).toBe(200);
    expect(locked.body.values['phone']).toBe('+1 202 555 0199');
    expect(locked.body.provenance['phone']).toMatchObject({ source: 'manual', rule: 'manual-lock' });
    await publishChanges([
      hubspotChange(wsA, 'hs-4', { phone: '+1 202 555 0111', city: 'Reston' }, Date.now() + 1_000),
    ]);
    const still = await recordOf('hubspot', 'hs-4', (r) => r.values['city'] === 'Reston');
    expect(still.values['phone']).toBe('+1 202 555 0199');
    const unlocked = await api<GoldenRecordView>(`/v1/golden-records/${record.id}`, {
      method: 'PATCH',
      json: { fields: { phone: { locked: false } } },
    });
    expect(unlocked.body.values['phone']).toBe('+1 202 555 0111');
    const refused = await api<{ errors: { field: string }[] }>(`/v1/golden-records/${record.id}`, {
      method: 'PATCH',
      json: { fields: { phone: {} } },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0]?.field).toBe('fields.phone');
  });

  it('folds the merged contact’s golden record into the survivor’s, links and history included', async () => {
    const [survivor, merged] = [`${run}-lead-s`, `${run}-lead-m`];
    const profile = (contactId: string, attributes: Record<string, string>) => {
      const lead = leadScoredFixture(wsA, contactId, 10, 'sync');
      lead.metadata.occurredAt = T0;
      lead.attributes = attributes;
      return lead;
    };
    await publishLeadsScored(publisher, [
      profile(survivor, { email: 'joan@example.com', firstName: 'Joan' }),
      profile(merged, { email: 'joan.clarke@example.com', title: 'Cryptanalyst' }),
    ]);
    await publishChanges([
      hubspotChange(wsA, 'hs-5', { email: 'joan.clarke@example.com', city: 'London' }, T0),
    ]);
    const before = await recordOf('hubspot', 'hs-5', (r) => r.values['title'] === 'Cryptanalyst');
    const into = await recordOf('leads', survivor, (r) => r.values['firstName'] === 'Joan');
    const merge: ContactsMerged = {
      metadata: originMetadata({ workspaceId: wsA, source: 'leads' }),
      survivingContactId: survivor,
      mergedContactId: merged,
      reason: 'email',
    };
    await publisher.publish({ topic: Topics.ContactsMerged, key: survivor, event: merge });
    const folded = await recordOf('hubspot', 'hs-5', (r) => r.id === into.id);
    expect(folded.values).toMatchObject({ firstName: 'Joan', title: 'Cryptanalyst', city: 'London' });
    expect(folded.links.map((l) => `${l.system}:${l.externalId}`).sort()).toEqual(
      [`hubspot:hs-5`, `leads:${merged}`, `leads:${survivor}`].sort(),
    );
    expect(folded.mergedIds.sort()).toEqual([into.id, before.id].sort());
    const viaOldId = await api<GoldenRecordView>(`/v1/golden-records/${before.id}`);
    expect(viaOldId.body.id).toBe(into.id);
    const mergeAnnouncements = (await goldenChangesOf(wsA, into.id)).filter((e) => e.cause === 'merge');
    expect(mergeAnnouncements.map((e) => e.mergedGoldenId)).toEqual([before.id]);
  });

  it('decides every record again when the rules change', async () => {
    const contactId = `${run}-lead-6`;
    await publishChanges([hubspotChange(wsB, 'hs-6', { email: 'hedy@example.com', company: 'MGM' }, T0)]);
    await recordOf('hubspot', 'hs-6', (r) => r.values['company'] === 'MGM', KEY_B);
    const lead = leadScoredFixture(wsB, contactId, 10, 'sync');
    lead.metadata.occurredAt = T0 + 1_000;
    lead.attributes = { email: 'hedy@example.com', company: 'Frequency Hopping Inc' };
    await publishLeadsScored(publisher, [lead]);
    const record = await recordOf(
      'hubspot',
      'hs-6',
      (r) => r.values['company'] === 'Frequency Hopping Inc',
      KEY_B,
    );

    const put = await api<{ recordsChanged: number }>('/v1/survivorship-rules/contact', {
      method: 'PUT',
      key: KEY_B,
      json: { sources: ['hubspot', 'leads'], default: 'source-priority' },
    });
    expect(put.status).toBe(200);
    expect(put.body.recordsChanged).toBe(1);
    const now = await api<GoldenRecordView>(`/v1/golden-records/${record.id}`, { key: KEY_B });
    expect(now.body.values['company']).toBe('MGM');
    expect(now.body.provenance['company']).toMatchObject({ source: 'hubspot', rule: 'source-priority' });
    const causes = (await goldenChangesOf(wsB, record.id)).map((e) => e.cause);
    expect(causes.at(-1)).toBe('rules');
  });

  it('never shows one workspace another’s records', async () => {
    const mine = await recordOf('hubspot', 'hs-6', () => true, KEY_B);
    const other = await api<{ error: string }>(`/v1/golden-records/${mine.id}`, { key: KEY_A });
    expect(other.status).toBe(404);
    const listed = await api<{ records: GoldenRecordView[] }>('/v1/golden-records?limit=500', { key: KEY_A });
    expect(listed.body.records.length).toBeGreaterThan(0);
    expect(listed.body.records.map((r) => r.id)).not.toContain(mine.id);
    const conflicts = await api<{ conflicts: { goldenId: string }[] }>('/v1/golden-records/conflicts', {
      key: KEY_A,
    });
    expect(conflicts.body.conflicts.map((c) => c.goldenId)).not.toContain(mine.id);
  });
});

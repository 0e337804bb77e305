/**
 * Outbound sync on the real stack, the sync service in this process, HubSpot as the local fake through its SDK:
 * the lead pipeline's contacts are created in HubSpot and later changes written as only the changed fields; the write
 * coming back through change capture is an echo (no golden change, no second write); an edit made in HubSpot is
 * not written back to HubSpot; a record HubSpot refuses goes to the dead-letter topic with HubSpot's answer while the
 * rest of its batch is written.
 */
import type { Kafka } from 'kafkajs';
import {
  Topics,
  type AuditEntry,
  type ContactsMerged,
  type DeadLetter,
  type GoldenRecordChanged,
  type LeadScored,
  type OutboundSyncQueued,
} from '@tributary/contracts';
import {
  deadLetterTopic,
  originMetadata,
  type AvroSchemaRegistry,
  type EventPublisher,
} from '@tributary/messaging';
import { stopTelemetry } from '@tributary/observability';
import { startService, type RunningService } from '@tributary/runtime';
import { FakeHubSpot } from '@tributary/sandbox';
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
import { Connections } from '../connections/connections.service';
import { GoldenRecordStore } from '../golden-records/golden-record.store';

const run = uniqueId('out');
const TOKEN = `pat-na1-${run}`;
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
let hubspot: FakeHubSpot;
const startedAt = Date.now();
const ERASE_WS = `ws_out_e_${run}`;
const ERASE_KEY = `key-e-${run}`;

beforeAll(async () => {
  hubspot = new FakeHubSpot({ accessTokens: { [TOKEN]: 'app-tributary' }, limits: { searchPerSecond: 50 } });
  const config = loadSyncConfig(
    testServiceEnv('sync', run, {
      HUBSPOT_API_URL: await hubspot.start(),
      SYNC_POLL_TICK_MS: '200',
      WRITE_KEYS: `${ERASE_KEY}:${ERASE_WS}`,
    }),
  );
  service = await startService(SyncModule.forRoot(config), config);
  ({ kafka, registry, publisher } = await connectTestPublisher(`out-${run}`, config, [
    Topics.LeadsScored,
    Topics.ContactsMerged,
  ]));
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await hubspot?.stop();
  await stopTelemetry();
});

async function connect(workspace: string): Promise<string> {
  const created = await service.app.get(Connections).create(
    workspace,
    {
      connector: 'hubspot',
      name: 'HubSpot',
      objects: ['contacts'],
      credentials: { accessToken: TOKEN },
      pollIntervalSeconds: 1,
      lookbackSeconds: 2,
    },
    'k-test',
  );
  if (!created.ok) throw new Error(JSON.stringify(created.errors));
  return created.view.id;
}

function profile(workspace: string, contactId: string, attributes: Record<string, string>, at = Date.now()) {
  const lead: LeadScored = leadScoredFixture(workspace, contactId, 30, 'sync');
  lead.metadata.occurredAt = at;
  lead.attributes = attributes;
  return lead;
}

const contactByEmail = (email: string) =>
  hubspot.all('contacts').find((c) => c.properties['email'] === email && !c.archived);

async function eventsOf<E extends { metadata: { workspaceId: string } }>(
  topic: string,
  ws: string,
): Promise<E[]> {
  const records = await readTopicToEnd(kafka, topic, startedAt - 1_000);
  const events = await Promise.all(records.map(async (r) => (await registry.decode(r.value)) as E));
  return events.filter((e) => e.metadata.workspaceId === ws);
}

/** Waits for change capture to finish a poll that found nothing new: the fake's changes have all been read. */
async function quiet(ms = 3_000): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe('outbound sync to HubSpot', () => {
  it('creates the lead pipeline’s contact, writes later changes only, and takes its own write back as an echo', async () => {
    const ws = `ws_out_a_${run}`;
    await connect(ws);
    await publishLeadsScored(publisher, [
      profile(ws, `${run}-c1`, { email: 'marie@example.com', firstName: 'Marie', title: 'Physicist' }),
    ]);
    const created = await waitFor('the contact in HubSpot', async () => contactByEmail('marie@example.com'));
    expect(created.properties).toMatchObject({
      email: 'marie@example.com',
      firstname: 'Marie',
      jobtitle: 'Physicist',
    });

    await publishLeadsScored(publisher, [
      profile(
        ws,
        `${run}-c1`,
        { email: 'marie@example.com', firstName: 'Marie', title: 'Chemist' },
        Date.now() + 1,
      ),
    ]);
    await waitFor('the new title in HubSpot', async () =>
      contactByEmail('marie@example.com')?.properties['jobtitle'] === 'Chemist' ? true : undefined,
    );
    await quiet();

    const writes = (await eventsOf<OutboundSyncQueued>(Topics.SyncOutbound, ws)).map(
      (e) => JSON.parse(e.fieldsJson) as Record<string, string>,
    );
    expect(writes).toEqual([
      { email: 'marie@example.com', firstname: 'Marie', jobtitle: 'Physicist' },
      { jobtitle: 'Chemist' },
    ]);
    // Change capture read both writes back from HubSpot: neither changed the golden record again.
    const golden = await eventsOf<GoldenRecordChanged>(Topics.GoldenRecordsChanged, ws);
    expect(golden.map((g) => [g.causeSystem, g.changes.map((c) => c.field)])).toEqual([
      ['leads', ['email', 'firstName', 'title']],
      ['leads', ['title']],
    ]);
  });

  it('does not write a HubSpot edit back to HubSpot', async () => {
    const ws = `ws_out_b_${run}`;
    await connect(ws);
    await publishLeadsScored(publisher, [
      profile(ws, `${run}-c2`, { email: 'rosalind@example.com', firstName: 'Rosalind' }),
    ]);
    const contact = await waitFor('the contact in HubSpot', async () =>
      contactByEmail('rosalind@example.com'),
    );
    const requestsBefore = hubspot.count('/crm/v3/objects/contacts/batch/update');
    hubspot.edit('contacts', contact.id, { city: 'London', lastname: 'Franklin' });
    await waitFor('the edit in the golden record', async () => {
      const golden = await eventsOf<GoldenRecordChanged>(Topics.GoldenRecordsChanged, ws);
      return golden.some((g) => g.causeSystem === 'hubspot' && g.changes.some((c) => c.field === 'lastName'))
        ? true
        : undefined;
    });
    await quiet();
    expect(hubspot.count('/crm/v3/objects/contacts/batch/update')).toBe(requestsBefore);
    expect((await eventsOf<OutboundSyncQueued>(Topics.SyncOutbound, ws)).length).toBe(1);
  });

  it('dead-letters the record HubSpot refuses with HubSpot’s answer and writes the rest of the batch', async () => {
    const ws = `ws_out_c_${run}`;
    await connect(ws);
    const good = Array.from({ length: 5 }, (_, i) =>
      profile(ws, `${run}-ok-${i}`, { email: `ok${i}-${run}@example.com`, firstName: `Ok ${i}` }),
    );
    const bad = profile(ws, `${run}-bad`, { email: `bad-${run}-at-example.com`, firstName: 'Bad' });
    await publishLeadsScored(publisher, [...good.slice(0, 2), bad, ...good.slice(2)]);
    for (let i = 0; i < 5; i += 1)
      await waitFor(`contact ${i} in HubSpot`, async () => contactByEmail(`ok${i}-${run}@example.com`));
    // The test's consumer group dead-letters to a topic of its own.
    const lettersOfThisRun = async () => {
      const records = await readTopicToEnd(kafka, deadLetterTopic(`sync.${run}`), startedAt - 1_000);
      return Promise.all(records.map(async (r) => (await registry.decode(r.value)) as DeadLetter));
    };
    await waitFor('the dead letter', async () => ((await lettersOfThisRun()).length > 0 ? true : undefined));
    await quiet();
    const dead = await lettersOfThisRun();
    expect(dead).toHaveLength(1);
    expect(dead[0]?.sourceTopic).toBe(Topics.GoldenRecordsChanged);
    expect(dead[0]?.errorMessage).toMatch(/refused by the vendor: HubSpot 400 .*bad-.*-at-example\.com/);
    const original = (await registry.decode(dead[0]?.originalValue ?? null)) as GoldenRecordChanged;
    expect(original.values['email']).toBe(`bad-${run}-at-example.com`);
    expect(contactByEmail(`bad-${run}-at-example.com`)).toBeUndefined();
  });

  it('merges in HubSpot the two contacts the lead pipeline found to be one person', async () => {
    const ws = `ws_out_d_${run}`;
    await connect(ws);
    const [survivor, merged] = [`${run}-s`, `${run}-m`];
    await publishLeadsScored(publisher, [
      profile(
        ws,
        survivor,
        { email: `dorothy-${run}@example.com`, firstName: 'Dorothy' },
        Date.now() - 60_000,
      ),
      profile(
        ws,
        merged,
        { email: `dot-${run}@example.com`, title: 'Crystallographer' },
        Date.now() - 60_000,
      ),
    ]);
    const first = await waitFor('the first contact', async () =>
      contactByEmail(`dorothy-${run}@example.com`),
    );
    const second = await waitFor('the second contact', async () => contactByEmail(`dot-${run}@example.com`));
    const merge: ContactsMerged = {
      metadata: originMetadata({ workspaceId: ws, source: 'leads' }),
      survivingContactId: survivor,
      mergedContactId: merged,
      reason: 'identify',
    };
    await publisher.publish({ topic: Topics.ContactsMerged, key: survivor, event: merge });
    const remaining = await waitFor('one contact left in HubSpot', async () => {
      const left = [first.id, second.id].filter((id) => {
        const record = hubspot.record('contacts', id);
        return record !== undefined && !record.archived;
      });
      return left.length === 1 ? left : undefined;
    });
    const record = hubspot.record('contacts', remaining[0] ?? '');
    expect(record?.properties).toMatchObject({ firstname: 'Dorothy', jobtitle: 'Crystallographer' });
    await quiet();
    const golden = await eventsOf<GoldenRecordChanged>(Topics.GoldenRecordsChanged, ws);
    const survivorId = golden.find((g) => g.cause === 'merge')?.goldenId ?? '';
    expect(await service.app.get(GoldenRecordStore).linksOf(survivorId)).toEqual(
      expect.arrayContaining([{ system: 'hubspot', externalId: remaining[0] }]),
    );
    const hubspotLinks = (await service.app.get(GoldenRecordStore).linksOf(survivorId)).filter(
      (l) => l.system === 'hubspot',
    );
    expect(hubspotLinks).toHaveLength(1);
  });

  it('erases a person in HubSpot and in the golden record, and records that it did', async () => {
    await connect(ERASE_WS);
    await publishLeadsScored(publisher, [
      profile(ERASE_WS, `${run}-e`, { email: `erase-${run}@example.com`, firstName: 'Eve' }),
    ]);
    const contact = await waitFor('the contact in HubSpot', async () =>
      contactByEmail(`erase-${run}@example.com`),
    );
    const goldenId = await waitFor('the HubSpot link', async () => {
      const [created] = await eventsOf<GoldenRecordChanged>(Topics.GoldenRecordsChanged, ERASE_WS);
      const links = created ? await service.app.get(GoldenRecordStore).linksOf(created.goldenId) : [];
      return links.some((l) => l.system === 'hubspot') ? created?.goldenId : undefined;
    });
    const url = (await service.app.getUrl()).replace('[::1]', '127.0.0.1');
    const erase = await fetch(`${url}/v1/golden-records/${goldenId}/erasure`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ERASE_KEY}` },
    });
    expect(erase.status).toBe(200);
    const done = (await erase.json()) as { status: string; links: { system: string; outcome: string }[] };
    expect(done.status).toBe('complete');
    expect(done.links.map((l) => [l.system, l.outcome]).sort()).toEqual([
      ['hubspot', 'deleted'],
      ['leads', 'not-connected'],
    ]);
    expect(hubspot.record('contacts', contact.id)).toBeUndefined();
    const record = (await (
      await fetch(`${url}/v1/golden-records/${goldenId}`, {
        headers: { authorization: `Bearer ${ERASE_KEY}` },
      })
    ).json()) as { values: object; erasedAt: string | null; links: unknown[] };
    expect(record).toMatchObject({ values: {}, links: [] });
    expect(record.erasedAt).not.toBeNull();
    const byEmail = (await (
      await fetch(`${url}/v1/golden-records?email=erase-${run}@example.com`, {
        headers: { authorization: `Bearer ${ERASE_KEY}` },
      })
    ).json()) as { records: unknown[] };
    expect(byEmail.records).toEqual([]);
    const audit = await waitFor('the audit entry', async () => {
      const entries = (await eventsOf<AuditEntry>(Topics.AuditLog, ERASE_WS)).filter(
        (e) => e.targetId === goldenId,
      );
      return entries.length > 0 ? entries : undefined;
    });
    expect(audit.map((a) => a.action)).toEqual(['golden_record.erased']);
    expect(audit[0]?.detailsJson).not.toContain(`erase-${run}`);
  });

  it('rides out a storm of 5xx answers and writes the contact once', async () => {
    const ws = `ws_out_f_${run}`;
    await connect(ws);
    const created = hubspot.count('/crm/v3/objects/contacts/batch/create');
    hubspot.failNext(12, { status: 502 });
    await publishLeadsScored(publisher, [
      profile(ws, `${run}-storm`, { email: `storm-${run}@example.com`, firstName: 'Stormy' }),
    ]);
    await waitFor('the contact in HubSpot', async () => contactByEmail(`storm-${run}@example.com`), {
      timeoutMs: 60_000,
    });
    await quiet();
    expect(
      hubspot.all('contacts').filter((c) => c.properties['email'] === `storm-${run}@example.com`),
    ).toHaveLength(1);
    // The failed attempts reached the fake too: the storm was met, not dodged.
    expect(hubspot.count('/crm/v3/objects/contacts/batch/create') - created).toBeGreaterThan(1);
    expect(await eventsOf<OutboundSyncQueued>(Topics.SyncOutbound, ws)).toHaveLength(1);
  });
});

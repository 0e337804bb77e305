// HubSpotRecordWriter through the official SDK against FakeHubSpot in this process: batches, per-record refusals,
// email collisions, rate limits and outages, GDPR erasure and merge.
import { FakeHubSpot, hubSpotClientFor } from '@tributary/sandbox';
import type { ConnectorObject, RecordWrite, WriteOutcome } from '../connector';
import { connectorRegistry } from '../connector-registry';
import { HubSpotRecordWriter } from './hubspot-record-writer';
import { HUBSPOT } from './hubspot.connector';

const TOKEN = 'pat-na1-record-writer';
const APP = 'app-outbound';
const T0 = Date.UTC(2026, 6, 1, 9, 0, 0);
const contacts = HUBSPOT.objects.find((o) => o.vendorObject === 'contacts') as ConnectorObject;
const companies = HUBSPOT.objects.find((o) => o.vendorObject === 'companies') as ConnectorObject;
/** Generous limits, so tests that are not about limits are not slowed by the limiter. */
const FAST = { search: { requests: 10_000, perMs: 1_000 }, requests: { requests: 10_000, perMs: 1_000 } };

const created = (n: number, from = 0): RecordWrite[] =>
  Array.from({ length: n }, (_, i) => ({
    ref: `golden-${from + i}`,
    externalId: null,
    fields: { email: `person${from + i}@example.com`, firstname: `P${from + i}` },
  }));

const oks = (outcomes: WriteOutcome[]) => outcomes.filter((o) => o.ok);
const emailsOf = (fake: FakeHubSpot) =>
  fake
    .all('contacts')
    .filter((r) => !r.archived)
    .map((r) => r.properties['email']);

describe('HubSpotRecordWriter', () => {
  let now: number;
  let fake: FakeHubSpot;

  const start = async (options: ConstructorParameters<typeof FakeHubSpot>[0] = {}) => {
    await fake?.stop();
    fake = new FakeHubSpot({ accessTokens: { [TOKEN]: APP }, ...options });
    return fake.start();
  };
  beforeEach(async () => {
    now = T0;
    await start({ limits: { tenSecondly: 10_000 } });
  });
  afterEach(() => fake.stop());

  it('writes 250 new contacts in 3 batches; each outcome has the HubSpot id and lastmodifieddate, written as the app', async () => {
    const writer = connectorRegistry({ hubspot: fake.baseUrl }).writer('hubspot', { accessToken: TOKEN });
    const records = created(250).map((r) => ({
      ...r,
      // Read-only and undeclared fields are not HubSpot's to take (it would refuse them); a null is simply not set.
      fields: { ...r.fields, createdate: '2020-01-01T00:00:00Z', shoe_size: '42', lastname: null },
    }));
    const outcomes = await writer.write(contacts, records);

    expect(fake.count('/crm/v3/objects/contacts/batch/create')).toBe(3);
    expect(outcomes.map((o) => o.ref)).toEqual(records.map((r) => r.ref));
    expect(oks(outcomes)).toHaveLength(250);
    for (const [i, outcome] of outcomes.entries()) {
      const record = fake.record('contacts', outcome.ok ? outcome.externalId : '');
      expect(record?.properties['email']).toBe(`person${i}@example.com`);
      expect(outcome).toMatchObject({ ok: true, modifiedAt: record?.updatedAt });
      expect(record?.history['firstname']?.[0]).toMatchObject({ sourceType: 'INTEGRATION', sourceId: APP });
    }
    expect(new Set(emailsOf(fake)).size).toBe(250);
  });

  it('updates by id and clears a property written as null', async () => {
    const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { limits: FAST });
    const [id] = fake.seed('contacts', [
      { email: 'ada@example.com', firstname: 'Ada', jobtitle: 'Countess' },
    ]);
    const [outcome] = await writer.write(contacts, [
      { ref: 'g-ada', externalId: id as string, fields: { firstname: 'Augusta', jobtitle: null } },
    ]);
    const record = fake.record('contacts', id as string);
    expect(outcome).toEqual({ ref: 'g-ada', ok: true, externalId: id, modifiedAt: record?.updatedAt });
    expect(record?.properties).toMatchObject({
      firstname: 'Augusta',
      jobtitle: null,
      email: 'ada@example.com',
    });
    expect(record?.history['jobtitle']?.[0]).toMatchObject({
      value: '',
      sourceType: 'INTEGRATION',
      sourceId: APP,
    });
  });

  describe.each([
    ['an invalid email', { email: 'not-an-address' }, 'email', 'INVALID_EMAIL'],
    ['an unknown picklist option', { lifecyclestage: 'prospect' }, 'lifecyclestage', 'INVALID_OPTION'],
    [
      'a property the portal lacks',
      { favourite_colour: 'teal' },
      'favourite_colour',
      'PROPERTY_DOESNT_EXIST',
    ],
  ])('one record of 100 with %s', (_, bad, property, code) => {
    // The portal's own field list may differ from the connector's: here the connector knows favourite_colour.
    const object: ConnectorObject = {
      ...contacts,
      fields: { ...contacts.fields, favourite_colour: { type: 'string' } },
    };
    const expectRefused = (outcome: WriteOutcome | undefined) => {
      expect(outcome).toMatchObject({ ref: 'golden-37', ok: false, status: 400, retryable: false });
      const reason = outcome && !outcome.ok ? outcome.reason : '';
      expect(reason).toContain(property);
      expect(reason).toContain(code);
    };

    it('is refused alone in a create batch (HubSpot names it); the other 99 are created, once', async () => {
      const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { limits: FAST });
      const records = created(100);
      records[37] = { ...(records[37] as RecordWrite), fields: { ...records[37]?.fields, ...bad } };
      const outcomes = await writer.write(object, records);
      expectRefused(outcomes[37]);
      expect(oks(outcomes)).toHaveLength(99);
      expect(fake.count('/crm/v3/objects/contacts/batch/create')).toBe(1);
      expect(fake.all('contacts')).toHaveLength(99);
    });

    it('is refused alone in an update batch (HubSpot refuses the batch whole, so it is halved); the other 99 are updated once', async () => {
      const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { limits: FAST });
      const ids = fake.seed(
        'contacts',
        Array.from({ length: 100 }, (_, i) => ({ email: `person${i}@example.com` })),
      );
      const records: RecordWrite[] = ids.map((id, i) => ({
        ref: `golden-${i}`,
        externalId: id,
        fields: i === 37 ? { firstname: 'Bad', ...bad } : { firstname: `Updated${i}` },
      }));
      const outcomes = await writer.write(object, records);
      expectRefused(outcomes[37]);
      expect(oks(outcomes)).toHaveLength(99);
      // Halving finds one bad record of 100 in at most 2 requests a level, 7 levels deep.
      expect(fake.count('/crm/v3/objects/contacts/batch/update')).toBeLessThanOrEqual(15);
      expect(fake.record('contacts', ids[37] as string)?.properties['firstname']).toBeUndefined();
      for (const id of ids.filter((_, i) => i !== 37))
        expect(fake.record('contacts', id)?.history['firstname']).toHaveLength(1);
    });
  });

  it('reports an update of a record HubSpot does not have as 404, and writes the rest', async () => {
    const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { limits: FAST });
    const [id] = fake.seed('contacts', [{ email: 'ada@example.com' }]);
    const outcomes = await writer.write(contacts, [
      { ref: 'gone', externalId: '987654', fields: { firstname: 'Nobody' } },
      { ref: 'ada', externalId: id as string, fields: { firstname: 'Ada' } },
    ]);
    expect(outcomes[0]).toMatchObject({ ref: 'gone', ok: false, status: 404, retryable: false });
    expect(outcomes[1]).toMatchObject({ ref: 'ada', ok: true, externalId: id });
    expect(fake.all('contacts')).toHaveLength(1);
  });

  it('turns a create whose email a contact already has into an update of that contact', async () => {
    const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { limits: FAST });
    const [existing] = fake.seed('contacts', [{ email: 'ada@example.com', firstname: 'Ada' }]);
    const outcomes = await writer.write(contacts, [
      { ref: 'g-ada', externalId: null, fields: { email: 'ADA@example.com', lastname: 'Lovelace' } },
      { ref: 'g-grace', externalId: null, fields: { email: 'grace@example.com', lastname: 'Hopper' } },
    ]);
    const record = fake.record('contacts', existing as string);
    expect(outcomes[0]).toEqual({
      ref: 'g-ada',
      ok: true,
      externalId: existing,
      modifiedAt: record?.updatedAt,
    });
    expect(outcomes[1]).toMatchObject({ ref: 'g-grace', ok: true });
    expect(record?.properties).toMatchObject({ firstname: 'Ada', lastname: 'Lovelace' });
    expect(fake.all('contacts')).toHaveLength(2);
  });

  it('ends a 429 storm (HubSpot ten-second limit spent) in retryable outcomes after the SDK retries; written again later, no record twice', async () => {
    // A frozen clock: the fake's rolling 10 s window stays spent until the test moves time on.
    await start({ clock: () => now, limits: { tenSecondly: 2 } });
    const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { retries: 2 });
    const records = created(250);
    const first = await writer.write(contacts, records);

    expect(oks(first)).toHaveLength(200);
    const refused = first.filter((o) => !o.ok);
    expect(refused).toHaveLength(50);
    for (const outcome of refused) {
      expect(outcome).toMatchObject({ ok: false, status: 429, retryable: true });
      expect(outcome.ok ? '' : outcome.reason).toContain('TEN_SECONDLY_ROLLING');
    }
    // The SDK tried the third batch twice (waiting 10 s between), then gave up: three answered, two refused.
    expect(fake.requests.map((r) => r.status)).toEqual([201, 201, 429, 429]);
    expect(fake.all('contacts')).toHaveLength(200);

    now += 10_000;
    const again = await writer.write(
      contacts,
      records.filter((r) => refused.some((o) => o.ref === r.ref)),
    );
    expect(oks(again)).toHaveLength(50);
    expect(new Set(emailsOf(fake)).size).toBe(250);
    expect(emailsOf(fake)).toHaveLength(250);
  }, 60_000);

  it('ends an outage (503 on every try) in retryable outcomes, writing nothing; written again later, no record twice', async () => {
    const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { limits: FAST, retries: 3 });
    const [id] = fake.seed('contacts', [{ email: 'ada@example.com' }]);
    const records: RecordWrite[] = [
      ...created(3),
      { ref: 'g-ada', externalId: id as string, fields: { firstname: 'Ada' } },
    ];
    fake.outage(true);
    const first = await writer.write(contacts, records);
    expect(first).toEqual(
      records.map((r) => expect.objectContaining({ ref: r.ref, ok: false, status: 503, retryable: true })),
    );
    // Three tries of the create batch and three of the update batch.
    expect(fake.requests).toHaveLength(6);
    expect(fake.all('contacts')).toHaveLength(1);
    expect(fake.record('contacts', id as string)?.properties['firstname']).toBeUndefined();

    fake.outage(false);
    expect(oks(await writer.write(contacts, records))).toHaveLength(4);
    expect(emailsOf(fake).sort()).toEqual([
      'ada@example.com',
      'person0@example.com',
      'person1@example.com',
      'person2@example.com',
    ]);
  });

  it('rides out passing 5xx answers within the SDK retries, writing each record once', async () => {
    const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { limits: FAST, retries: 3 });
    fake.failNext(1, { status: 502 });
    fake.failNext(1, { status: 500 });
    const outcomes = await writer.write(contacts, created(120));
    expect(oks(outcomes)).toHaveLength(120);
    expect(fake.requests.map((r) => r.status)).toEqual([502, 500, 201, 201]);
    expect(new Set(emailsOf(fake)).size).toBe(120);
    expect(emailsOf(fake)).toHaveLength(120);
  });

  it("erases a contact with HubSpot's GDPR delete: gone from reads and search; erasing it again is fine", async () => {
    const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { limits: FAST });
    const [id, other] = fake.seed('contacts', [{ email: 'ada@example.com' }, { email: 'grace@example.com' }]);
    await writer.erase(contacts, id as string);
    await writer.erase(contacts, id as string);

    expect(fake.count('/crm/v3/objects/contacts/gdpr-delete')).toBe(2);
    expect(fake.record('contacts', id as string)).toBeUndefined();
    const sdk = hubSpotClientFor(fake.baseUrl, TOKEN);
    const found = await sdk.crm.contacts.searchApi.doSearch({ properties: ['email'], limit: 10 });
    expect(found.results.map((r) => r.id)).toEqual([other]);
    await expect(
      sdk.crm.contacts.basicApi.getById(id as string, undefined, undefined, undefined, true),
    ).rejects.toMatchObject({
      code: 404,
    });
  });

  it('erases a company by archiving it (HubSpot has no GDPR delete for companies); again is fine', async () => {
    const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { limits: FAST });
    const [id] = fake.seed('companies', [{ name: 'Analytical Engines Ltd' }]);
    await writer.erase(companies, id as string);
    await writer.erase(companies, id as string);
    expect(fake.record('companies', id as string)?.archived).toBe(true);
  });

  it('merges a contact into another: the survivor keeps its values, takes the missing ones, and answers for both ids', async () => {
    const writer = new HubSpotRecordWriter(fake.baseUrl, TOKEN, { limits: FAST });
    const [primary, merged] = fake.seed('contacts', [
      { email: 'ada@example.com', firstname: 'Ada' },
      { email: 'augusta@example.com', firstname: 'Augusta', jobtitle: 'Countess' },
    ]);
    await expect(writer.merge(contacts, primary as string, merged as string)).resolves.toBe(primary);

    expect(fake.record('contacts', merged as string)).toBeUndefined();
    expect(fake.record('contacts', primary as string)?.properties).toMatchObject({
      email: 'ada@example.com',
      firstname: 'Ada',
      jobtitle: 'Countess',
    });
    const sdk = hubSpotClientFor(fake.baseUrl, TOKEN);
    expect((await sdk.crm.contacts.basicApi.getById(merged as string)).id).toBe(primary);
    // The merged-away id still reaches the survivor for a write.
    const [outcome] = await writer.write(contacts, [
      { ref: 'g-ada', externalId: merged as string, fields: { lastname: 'Lovelace' } },
    ]);
    expect(outcome).toMatchObject({ ok: true, externalId: primary });
  });
});

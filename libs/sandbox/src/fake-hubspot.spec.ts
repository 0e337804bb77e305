// Drives FakeHubSpot through the official SDK (@hubspot/api-client), as sync's HubSpot connector does.
import type { Client } from '@hubspot/api-client';
import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/contacts/models/Filter';
import { FakeHubSpot } from './fake-hubspot';
import { hubSpotClientFor } from './sdk-clients';

const TOKEN = 'pat-na1-11111111-2222-3333-4444-555555555555';
const APP = 'app-4242';
const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);

/** The SDK rejects with an ApiException whose `code` is the status and whose `body` is the parsed answer. */
interface ApiFailure {
  code: number;
  body: { category?: string; message?: string; policyName?: string; errorType?: string };
  headers: Record<string, string>;
}
const failureOf = async (call: Promise<unknown>): Promise<ApiFailure> => {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error === undefined) throw new Error('the call succeeded');
  return error as ApiFailure;
};

describe('FakeHubSpot', () => {
  let now: number;
  let fake: FakeHubSpot;
  let hubspot: Client;

  const start = async (options: ConstructorParameters<typeof FakeHubSpot>[0] = {}) => {
    await fake?.stop();
    fake = new FakeHubSpot({ accessTokens: { [TOKEN]: APP }, clock: () => now, ...options });
    hubspot = hubSpotClientFor(await fake.start(), TOKEN);
  };
  beforeEach(async () => {
    now = T0;
    await start();
  });
  afterEach(() => fake.stop());

  it('refuses an unknown token with 401 INVALID_AUTHENTICATION', async () => {
    const stranger = hubSpotClientFor(fake.baseUrl, 'pat-na1-wrong');
    const failure = await failureOf(stranger.crm.contacts.basicApi.getPage(10));
    expect(failure.code).toBe(401);
    expect(failure.body.category).toBe('INVALID_AUTHENTICATION');
  });

  it('creates, reads and updates a contact; the history names who wrote each value', async () => {
    const created = await hubspot.crm.contacts.basicApi.create({
      properties: { email: 'ada@example.com', firstname: 'Ada' },
      associations: [],
    });
    now += 60_000;
    fake.edit('contacts', created.id, { firstname: 'Augusta' });
    now += 60_000;
    await hubspot.crm.contacts.basicApi.update(created.id, { properties: { lastname: 'Lovelace' } });
    const read = await hubspot.crm.contacts.basicApi.getById(
      created.id,
      ['email', 'firstname', 'lastname', 'lastmodifieddate'],
      ['firstname'],
    );
    expect(read.properties).toMatchObject({
      email: 'ada@example.com',
      firstname: 'Augusta',
      lastname: 'Lovelace',
      lastmodifieddate: new Date(T0 + 120_000).toISOString(),
    });
    expect(
      read.propertiesWithHistory?.['firstname']?.map((v) => [v.value, v.sourceType, v.sourceId]),
    ).toEqual([
      ['Augusta', 'CRM_UI', 'user:ada@agency.example'],
      ['Ada', 'INTEGRATION', APP],
    ]);
  });

  it('refuses invalid values with HubSpot validation errors naming the property, and a second contact with one email', async () => {
    const unknown = await failureOf(
      hubspot.crm.contacts.basicApi.create({ properties: { favourite_colour: 'teal' }, associations: [] }),
    );
    expect(unknown.code).toBe(400);
    expect(unknown.body.category).toBe('VALIDATION_ERROR');
    expect(unknown.body.message).toContain('Property \\"favourite_colour\\" does not exist');
    const option = await failureOf(
      hubspot.crm.contacts.basicApi.create({ properties: { lifecyclestage: 'prospect' }, associations: [] }),
    );
    expect(option.body.message).toContain('INVALID_OPTION');
    const email = await failureOf(
      hubspot.crm.contacts.basicApi.create({ properties: { email: 'not-an-address' }, associations: [] }),
    );
    expect(email.body.message).toContain('INVALID_EMAIL');
    await hubspot.crm.contacts.basicApi.create({
      properties: { email: 'grace@example.com' },
      associations: [],
    });
    const twice = await failureOf(
      hubspot.crm.contacts.basicApi.create({ properties: { email: 'Grace@example.com' }, associations: [] }),
    );
    expect(twice.body.message).toMatch(/Contact already exists. Existing ID: \d+/);
    expect(twice.code).toBe(409);
    expect(twice.body.category).toBe('CONFLICT');
  });

  it('a batch create without trace ids is all or nothing: 400 for an invalid input, 409 naming an existing contact', async () => {
    const [ada] = fake.seed('contacts', [{ email: 'ada@example.com' }]);
    const invalid = await failureOf(
      hubspot.crm.contacts.batchApi.create({
        inputs: [
          { properties: { email: 'grace@example.com' }, associations: [] },
          { properties: { email: 'nope' }, associations: [] },
        ],
      }),
    );
    expect(invalid.code).toBe(400);
    expect(invalid.body.message).toContain('INVALID_EMAIL');
    const conflict = await failureOf(
      hubspot.crm.contacts.batchApi.create({
        inputs: [
          { properties: { email: 'grace@example.com' }, associations: [] },
          { properties: { email: 'ADA@example.com' }, associations: [] },
        ],
      }),
    );
    expect(conflict.code).toBe(409);
    expect(conflict.body).toMatchObject({
      category: 'CONFLICT',
      message: `Contact already exists. Existing ID: ${ada}`,
    });
    expect(fake.all('contacts')).toHaveLength(1);
  });

  it('a batch create with a trace id on every input answers 207: the valid ones created, each refused one named', async () => {
    const [ada] = fake.seed('contacts', [{ email: 'ada@example.com' }]);
    const answer = await hubspot.crm.contacts.batchApi.createWithHttpInfo({
      inputs: [
        { objectWriteTraceId: 't0', properties: { email: 'grace@example.com' }, associations: [] },
        { objectWriteTraceId: 't1', properties: { email: 'nope' }, associations: [] },
        { objectWriteTraceId: 't2', properties: { email: 'ada@example.com' }, associations: [] },
        { objectWriteTraceId: 't3', properties: { lifecyclestage: 'prospect' }, associations: [] },
        { objectWriteTraceId: 't4', properties: { email: 'alan@example.com' }, associations: [] },
      ],
    });
    expect(answer.httpStatusCode).toBe(207);
    const body = answer.data as {
      results: { id: string; objectWriteTraceId?: string }[];
      errors?: unknown[];
    };
    expect(body.results.map((r) => r.objectWriteTraceId).sort()).toEqual(['t0', 't4']);
    expect(body.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ category: 'VALIDATION_ERROR', context: { objectWriteTraceId: ['t1'] } }),
        expect.objectContaining({
          category: 'CONFLICT',
          message: `Contact already exists. Existing ID: ${ada}`,
          context: { objectWriteTraceId: ['t2'] },
        }),
        expect.objectContaining({ category: 'VALIDATION_ERROR', context: { objectWriteTraceId: ['t3'] } }),
      ]),
    );
    expect(body.errors).toHaveLength(3);
    expect(fake.all('contacts').map((r) => r.properties['email'])).toEqual([
      'ada@example.com',
      'grace@example.com',
      'alan@example.com',
    ]);
  });

  it('batch writes are recorded as the app (INTEGRATION); a batch update naming one id twice is refused', async () => {
    const created = await hubspot.crm.contacts.batchApi.create({
      inputs: [{ properties: { email: 'ada@example.com', firstname: 'Ada' }, associations: [] }],
    });
    const id = created.results[0]?.id as string;
    await hubspot.crm.contacts.batchApi.update({ inputs: [{ id, properties: { firstname: 'Augusta' } }] });
    expect(
      fake.record('contacts', id)?.history['firstname']?.map((v) => [v.value, v.sourceType, v.sourceId]),
    ).toEqual([
      ['Augusta', 'INTEGRATION', APP],
      ['Ada', 'INTEGRATION', APP],
    ]);
    const twice = await failureOf(
      hubspot.crm.contacts.batchApi.update({
        inputs: [
          { id, properties: { firstname: 'A' } },
          { id, properties: { firstname: 'B' } },
        ],
      }),
    );
    expect(twice.code).toBe(400);
    expect(twice.body.message).toContain('Duplicate IDs found in batch input');
  });

  it('GDPR-deletes a contact for good: gone from reads (archived too), lists and search; an unknown id is 404', async () => {
    const [ada, grace] = fake.seed('contacts', [
      { email: 'ada@example.com' },
      { email: 'grace@example.com' },
    ]);
    await hubspot.crm.contacts.basicApi.purge({ objectId: ada as string });
    await hubspot.crm.contacts.basicApi.purge({ objectId: 'GRACE@example.com', idProperty: 'email' });
    expect(fake.all('contacts')).toEqual([]);
    for (const archived of [false, true]) {
      const read = await failureOf(
        hubspot.crm.contacts.basicApi.getById(ada as string, undefined, undefined, undefined, archived),
      );
      expect(read.code).toBe(404);
    }
    expect(
      (await hubspot.crm.contacts.basicApi.getPage(10, undefined, undefined, undefined, undefined, true))
        .results,
    ).toEqual([]);
    expect((await hubspot.crm.contacts.searchApi.doSearch({ limit: 10 })).total).toBe(0);
    const again = await failureOf(hubspot.crm.contacts.basicApi.purge({ objectId: grace as string }));
    expect(again.code).toBe(404);
    // An email HubSpot does not know is taken (HubSpot blocklists it).
    await expect(
      hubspot.crm.contacts.basicApi.purge({ objectId: 'nobody@example.com', idProperty: 'email' }),
    ).resolves.toBeUndefined();
  });

  it('merges two contacts: the primary keeps its values and takes the missing ones; the merged id reads as the primary', async () => {
    now += 60_000;
    const [primary, merged] = fake.seed('contacts', [
      { email: 'ada@example.com', firstname: 'Ada' },
      { email: 'augusta@example.com', firstname: 'Augusta', jobtitle: 'Countess' },
    ]);
    now += 60_000;
    const survivor = await hubspot.crm.contacts.basicApi.merge({
      primaryObjectId: primary as string,
      objectIdToMerge: merged as string,
    });
    expect(survivor.id).toBe(primary);
    expect(fake.record('contacts', primary as string)).toMatchObject({
      properties: { email: 'ada@example.com', firstname: 'Ada', jobtitle: 'Countess' },
      updatedAt: now,
    });
    expect(fake.record('contacts', primary as string)?.history['jobtitle']?.[0]).toMatchObject({
      sourceType: 'INTEGRATION',
      sourceId: APP,
    });
    expect(fake.record('contacts', merged as string)).toBeUndefined();
    expect((await hubspot.crm.contacts.basicApi.getById(merged as string)).id).toBe(primary);
    const search = await hubspot.crm.contacts.searchApi.doSearch({ limit: 10 });
    expect(search.results.map((r) => r.id)).toEqual([primary]);
    const self = await failureOf(
      hubspot.crm.contacts.basicApi.merge({
        primaryObjectId: primary as string,
        objectIdToMerge: merged as string,
      }),
    );
    expect(self.code).toBe(400);
    const unknown = await failureOf(
      hubspot.crm.contacts.basicApi.merge({ primaryObjectId: primary as string, objectIdToMerge: '999999' }),
    );
    expect(unknown.code).toBe(404);
  });

  it('a batch update with one invalid input changes nothing; more than 100 inputs are refused; missing ids are 207', async () => {
    const ids = fake.seed('contacts', [{ firstname: 'A' }, { firstname: 'B' }]);
    const invalid = await failureOf(
      hubspot.crm.contacts.batchApi.update({
        inputs: [
          { id: ids[0] as string, properties: { firstname: 'A2' } },
          { id: ids[1] as string, properties: { email: 'nope' } },
        ],
      }),
    );
    expect(invalid.code).toBe(400);
    expect(fake.record('contacts', ids[0] as string)?.properties['firstname']).toBe('A');
    const tooMany = await failureOf(
      hubspot.crm.contacts.batchApi.update({
        inputs: Array.from({ length: 101 }, () => ({ id: ids[0] as string, properties: { firstname: 'X' } })),
      }),
    );
    expect(tooMany.body.message).toContain('Maximum batch size is 100');
    const partial = await hubspot.crm.contacts.batchApi.update({
      inputs: [
        { id: ids[0] as string, properties: { firstname: 'A3' } },
        { id: '999999', properties: { firstname: 'Z' } },
      ],
    });
    expect(partial.results.map((r) => r.id)).toEqual([ids[0]]);
    expect(partial).toMatchObject({
      numErrors: 1,
      errors: [{ category: 'OBJECT_NOT_FOUND', context: { ids: ['999999'] } }],
    });
  });

  it('searches by lastmodifieddate with a sort, pages with after, and reports the total', async () => {
    fake.seed('contacts', [{ firstname: 'old' }], T0 - 3_600_000);
    const recent = fake.seed(
      'contacts',
      Array.from({ length: 25 }, (_, i) => ({ firstname: `r${i}` })),
      T0,
    );
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await hubspot.crm.contacts.searchApi.doSearch({
        filterGroups: [
          {
            filters: [
              { propertyName: 'lastmodifieddate', operator: FilterOperatorEnum.Gte, value: String(T0) },
            ],
          },
        ],
        sorts: ['lastmodifieddate'],
        properties: ['firstname'],
        limit: 10,
        ...(after ? { after } : {}),
      });
      expect(page.total).toBe(25);
      seen.push(...page.results.map((r) => r.id));
      after = page.paging?.next?.after;
      now += 1_000; // 4 searches a second
    } while (after);
    expect(seen.sort()).toEqual([...recent].sort());
  });

  it('orders records of one timestamp not by id, so only an id sort gives id order', async () => {
    const ids = fake.seed(
      'contacts',
      Array.from({ length: 30 }, (_, i) => ({ firstname: `t${i}` })),
      T0,
    );
    const byTime = await hubspot.crm.contacts.searchApi.doSearch({ sorts: ['lastmodifieddate'], limit: 30 });
    expect(byTime.results.map((r) => r.id)).not.toEqual(ids);
    const byId = await hubspot.crm.contacts.searchApi.doSearch({ sorts: ['hs_object_id'], limit: 30 });
    expect(byId.results.map((r) => r.id)).toEqual(ids);
  });

  it('refuses a page over 200, a second sort, and paging past 10,000 results of one search', async () => {
    fake.seed(
      'contacts',
      Array.from({ length: 10_050 }, (_, i) => ({ firstname: `s${i}` })),
      T0,
    );
    const big = await failureOf(hubspot.crm.contacts.searchApi.doSearch({ limit: 201 }));
    expect(big.code).toBe(400);
    now += 1_000;
    const sorts = await failureOf(
      hubspot.crm.contacts.searchApi.doSearch({ sorts: ['lastmodifieddate', 'hs_object_id'], limit: 10 }),
    );
    expect(sorts.body.message).toBe('Only one sort is allowed');
    now += 1_000;
    const last = await hubspot.crm.contacts.searchApi.doSearch({ limit: 200, after: '9800' });
    expect(last.results).toHaveLength(200);
    expect(last.total).toBe(10_050);
    now += 1_000;
    const past = await failureOf(hubspot.crm.contacts.searchApi.doSearch({ limit: 200, after: '10000' }));
    expect(past.code).toBe(400);
    expect(past.body.message).toContain('more than 10000 results');
  });

  it('answers the fifth search in a second with 429 SECONDLY, and the 101st request in 10 s with TEN_SECONDLY_ROLLING', async () => {
    for (let i = 0; i < 4; i += 1) await hubspot.crm.contacts.searchApi.doSearch({ limit: 1 });
    const fifth = await failureOf(hubspot.crm.contacts.searchApi.doSearch({ limit: 1 }));
    expect(fifth.code).toBe(429);
    expect(fifth.body).toMatchObject({
      errorType: 'RATE_LIMIT',
      policyName: 'SECONDLY',
      message: 'You have reached your secondly limit.',
    });
    now += 1_000;
    await expect(hubspot.crm.contacts.searchApi.doSearch({ limit: 1 })).resolves.toMatchObject({ total: 0 });

    for (let i = 0; i < 100; i += 1) {
      now += 50;
      await hubspot.crm.contacts.basicApi.getPage(1);
    }
    const over = await failureOf(hubspot.crm.contacts.basicApi.getPage(1));
    expect(over.code).toBe(429);
    expect(over.body.policyName).toBe('TEN_SECONDLY_ROLLING');
    expect(over.headers['x-hubspot-ratelimit-remaining']).toBe('0');
    // Rolling: the first requests of the window age out one by one.
    now += 5_100;
    await expect(hubspot.crm.contacts.basicApi.getPage(1)).resolves.toBeDefined();
    const listed = await hubspot.crm.contacts.basicApi.getPageWithHttpInfo(1);
    expect(Number(listed.headers['x-hubspot-ratelimit-remaining'])).toBeLessThan(100);
  });

  it('search sees a change only once its index catches up (searchLagMs)', async () => {
    await start({ searchLagMs: 3_000 });
    const [id] = fake.seed('contacts', [{ firstname: 'Before' }], T0 - 60_000);
    fake.edit('contacts', id as string, { firstname: 'After' }, T0);
    const query = () =>
      hubspot.crm.contacts.searchApi.doSearch({
        filterGroups: [
          {
            filters: [
              { propertyName: 'lastmodifieddate', operator: FilterOperatorEnum.Gte, value: String(T0) },
            ],
          },
        ],
        properties: ['firstname'],
        limit: 10,
      });
    expect((await query()).total).toBe(0);
    // A read by id is never stale.
    const byId = await hubspot.crm.contacts.basicApi.getById(id as string, ['firstname']);
    expect(byId.properties['firstname']).toBe('After');
    now += 3_000;
    expect((await query()).results.map((r) => r.properties['firstname'])).toEqual(['After']);
  });
});

/**
 * The Mailchimp fake through the official SDK (`@mailchimp/mailchimp_marketing`), as sync drives it: API-key auth,
 * members paged by `last_changed` at second precision, batch subscribe where one bad member fails alone, merge-field
 * validation as problem+json, consent kept, permanent deletion, and both 429s.
 */
import { FakeMailchimp, subscriberHash, type FakeMailchimpOptions } from './fake-mailchimp';
import { mailchimpClientFor, type MailchimpClient } from './sdk-clients';

const KEY = '0123456789abcdef0123456789abcdef-us21';
const T0 = Date.parse('2026-11-02T09:00:00Z');
let fake: FakeMailchimp;
let client: MailchimpClient;

const startFake = async (options: FakeMailchimpOptions = {}) => {
  await fake?.stop();
  fake = new FakeMailchimp({ apiKeys: [KEY], ...options });
  client = mailchimpClientFor(await fake.start(), KEY);
};
beforeEach(() => startFake());
afterEach(() => fake.stop());

type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  errors?: { field: string; message: string }[];
};
type Failure = { status: number; response: { headers: Record<string, string>; body: Problem } };
const failureOf = async (call: Promise<unknown>): Promise<Failure> => {
  try {
    await call;
  } catch (error) {
    return error as Failure;
  }
  throw new Error('the call did not fail');
};

type MemberAnswer = { id: string; email_address: string; status: string; last_changed: string };
type MembersAnswer = { members: Partial<MemberAnswer>[]; total_items: number; list_id?: string };
const listMembers = (query: Record<string, unknown>) =>
  client.lists.getListMembersInfo('demo', query as never) as Promise<MembersAnswer>;
const isoOf = (ms: number) => new Date(ms).toISOString();
const emails = (answer: MembersAnswer) => answer.members.map((m) => m.email_address);

describe('FakeMailchimp: access', () => {
  it('answers 401 problem+json to a wrong key, and pings with the right one', async () => {
    const failure = await failureOf(
      mailchimpClientFor(fake.baseUrl, 'ffffffffffffffffffffffffffffffff-us21').ping.get(),
    );
    expect(failure.status).toBe(401);
    expect(failure.response.headers['content-type']).toContain('application/problem+json');
    expect(failure.response.body).toEqual({
      type: 'https://mailchimp.com/developer/marketing/docs/errors/',
      title: 'API Key Invalid',
      status: 401,
      detail: expect.stringContaining('API key may be invalid'),
      instance: expect.any(String),
    });
    expect(await client.ping.get()).toEqual({ health_status: "Everything's Chimpy!" });
  });

  it('lists the merge fields an audience declares, and 404s an unknown audience', async () => {
    const answer = (await client.lists.getListMergeFields('demo')) as {
      merge_fields: { tag: string; type: string }[];
    };
    expect(answer.merge_fields.map((f) => [f.tag, f.type])).toEqual([
      ['FNAME', 'text'],
      ['LNAME', 'text'],
      ['PHONE', 'phone'],
      ['COMPANY', 'text'],
    ]);
    const missing = await failureOf(client.lists.getListMergeFields('nope'));
    expect([missing.status, missing.response.body.title]).toEqual([404, 'Resource Not Found']);
  });

  it('answers 429 with Retry-After past its requests a second, and counts every request', async () => {
    await startFake({ requestsPerSecond: 5 });
    for (let i = 0; i < 5; i += 1) await client.ping.get();
    const limited = await failureOf(client.ping.get());
    expect(limited.status).toBe(429);
    expect(limited.response.body.title).toBe('Too Many Requests');
    expect(Number(limited.response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(fake.count('/3.0/ping')).toBe(6);
  });

  it('answers 429 past 10 simultaneous connections of one user, and serves them again once answered', async () => {
    await startFake({ latencyMs: 150 });
    const answers = await Promise.allSettled(Array.from({ length: 12 }, () => client.ping.get()));
    const refused = answers.filter((a) => a.status === 'rejected').map((a) => a.reason as Failure);
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(10);
    expect(refused.map((f) => [f.status, f.response.body.detail])).toEqual([
      [429, 'You have exceeded the limit of 10 simultaneous connections.'],
      [429, 'You have exceeded the limit of 10 simultaneous connections.'],
    ]);
    expect(await client.ping.get()).toEqual({ health_status: "Everything's Chimpy!" });
  });

  it('fails the next requests as told, with its problem+json, then answers again', async () => {
    fake.failNext(1, { status: 503 });
    const failure = await failureOf(client.ping.get());
    expect([failure.status, failure.response.body.status]).toEqual([503, 503]);
    expect(await client.ping.get()).toEqual({ health_status: "Everything's Chimpy!" });
  });
});

describe('FakeMailchimp: listing members', () => {
  it('pages 10 by default and 1,000 at most, with total_items, ties of one second in id order', async () => {
    const ids = fake.seed(
      'demo',
      Array.from({ length: 1_200 }, (_, i) => ({ email: `m${i}@example.com` })),
      T0,
    );
    expect((await listMembers({})).members).toHaveLength(10);
    const window = { sinceLastChanged: isoOf(T0 - 1_000), beforeLastChanged: isoOf(T0 + 1_000) };
    const page = (offset: number) =>
      listMembers({ ...window, count: 5_000, offset, sortField: 'last_changed', sortDir: 'ASC' });
    const [first, second] = [await page(0), await page(1_000)];
    expect([first.members.length, first.total_items, second.members.length]).toEqual([1_000, 1_200, 200]);
    expect([...first.members, ...second.members].map((m) => m.id)).toEqual([...ids].sort());
  });

  it('filters by last_changed with since and before both exclusive, sorts either way and by status', async () => {
    fake.seed('demo', [{ email: 'early@example.com' }], T0);
    fake.seed('demo', [{ email: 'middle@example.com', status: 'unsubscribed' }], T0 + 1_000);
    fake.seed('demo', [{ email: 'late@example.com' }], T0 + 2_000);
    const between = (since: number, before: number, extra: Record<string, unknown> = {}) =>
      listMembers({
        sinceLastChanged: isoOf(since),
        beforeLastChanged: isoOf(before),
        sortField: 'last_changed',
        ...extra,
      }).then(emails);
    expect(await between(T0, T0 + 2_000)).toEqual(['middle@example.com']);
    expect(await between(T0 - 1, T0 + 2_001)).toEqual([
      'early@example.com',
      'middle@example.com',
      'late@example.com',
    ]);
    expect(await between(T0 - 1, T0 + 2_001, { sortDir: 'DESC' })).toEqual([
      'late@example.com',
      'middle@example.com',
      'early@example.com',
    ]);
    expect(await between(T0 - 1, T0 + 2_001, { status: 'subscribed' })).toEqual([
      'early@example.com',
      'late@example.com',
    ]);
    const offset = await listMembers({ sinceLastChanged: '2026-11-02T09:00:00+00:00' });
    expect(emails(offset)).toEqual(expect.arrayContaining(['middle@example.com', 'late@example.com']));
    expect(offset.total_items).toBe(2);
  });

  it('answers only the fields asked for, or all but the excluded', async () => {
    fake.seed('demo', [{ email: 'ada@example.com', mergeFields: { FNAME: 'Ada' } }], T0);
    const narrow = await listMembers({ fields: ['members.email_address', 'members.merge_fields.FNAME'] });
    expect(narrow).toEqual({
      members: [{ email_address: 'ada@example.com', merge_fields: { FNAME: 'Ada' } }],
    });
    const wide = await listMembers({ excludeFields: ['members.merge_fields', 'list_id'] });
    expect(wide.list_id).toBeUndefined();
    expect(wide.members[0]).not.toHaveProperty('merge_fields');
    expect(wide.members[0]).toMatchObject({ email_address: 'ada@example.com', status: 'subscribed' });
  });

  it('refuses a status it does not know and a time that is not ISO 8601, by field', async () => {
    const status = await failureOf(listMembers({ status: 'archived-ish' }));
    expect([status.status, status.response.body.title]).toEqual([400, 'Invalid Resource']);
    expect(status.response.body.errors?.map((e) => e.field)).toEqual(['status']);
    const time = await failureOf(listMembers({ sinceLastChanged: 'yesterday' }));
    expect(time.response.body.errors?.map((e) => e.field)).toEqual(['since_last_changed']);
  });
});

describe('FakeMailchimp: writing members', () => {
  it('subscribes a batch where each bad member fails alone, and keeps existing members unless told', async () => {
    fake.seed('demo', [{ email: 'kept@example.com', status: 'unsubscribed' }], T0);
    const answer = (await client.lists.batchListMembers('demo', {
      members: [
        {
          email_address: 'ada@example.com',
          email_type: 'html',
          status: 'subscribed',
          merge_fields: { FNAME: 'Ada' },
        },
        { email_address: 'not-an-email', email_type: 'html', status: 'subscribed' },
        {
          email_address: 'bob@example.com',
          email_type: 'html',
          status: 'transactional',
          merge_fields: { SHOE: '42' },
        },
        { email_address: 'kept@example.com', email_type: 'html', status: 'transactional' },
      ],
      update_existing: false,
    })) as {
      new_members: { email_address: string }[];
      updated_members: unknown[];
      errors: { email_address: string; error_code: string; field: string }[];
    };
    expect(answer.new_members.map((m) => m.email_address)).toEqual(['ada@example.com']);
    expect(answer.updated_members).toEqual([]);
    expect(answer.errors.map((e) => [e.email_address, e.error_code, e.field])).toEqual([
      ['not-an-email', 'ERROR_GENERIC', 'email_address'],
      ['bob@example.com', 'ERROR_GENERIC', 'merge_fields.SHOE'],
      ['kept@example.com', 'ERROR_CONTACT_EXISTS', 'email_address'],
    ]);
    expect(fake.member('demo', 'kept@example.com')?.status).toBe('unsubscribed');

    const updating = (await client.lists.batchListMembers('demo', {
      members: [{ email_address: 'kept@example.com', email_type: 'html', status: 'transactional' }],
      update_existing: true,
    })) as { updated_members: { email_address: string; status: string }[] };
    expect(updating.updated_members.map((m) => [m.email_address, m.status])).toEqual([
      ['kept@example.com', 'transactional'],
    ]);
  });

  it('refuses a batch of more than 500 members whole', async () => {
    const members = Array.from({ length: 501 }, (_, i) => ({
      email_address: `b${i}@example.com`,
      email_type: 'html' as const,
      status: 'transactional' as const,
    }));
    const refused = await failureOf(client.lists.batchListMembers('demo', { members }));
    expect(refused.status).toBe(400);
    expect(fake.all('demo')).toHaveLength(0);
  });

  it('checks merge fields by their declared type and requiredness', async () => {
    await startFake({
      lists: {
        events: {
          name: 'Event invitees',
          mergeFields: [
            { tag: 'FNAME', name: 'First Name', type: 'text', required: true },
            { tag: 'SEATS', name: 'Seats', type: 'number', required: false },
            { tag: 'EVENTDATE', name: 'Event date', type: 'date', required: false },
            { tag: 'TRACK', name: 'Track', type: 'dropdown', required: false, options: ['ads', 'email'] },
          ],
        },
      },
    });
    const add = (merge_fields: Record<string, string>) =>
      failureOf(
        client.lists.setListMember('events', subscriberHash('ivy@example.com'), {
          email_address: 'ivy@example.com',
          status_if_new: 'transactional',
          merge_fields,
        }),
      );
    const refused = await add({ SEATS: 'two', EVENTDATE: 'soon', TRACK: 'print' });
    expect(refused.response.body.errors?.map((e) => e.field)).toEqual([
      'merge_fields.SEATS',
      'merge_fields.EVENTDATE',
      'merge_fields.TRACK',
      'merge_fields.FNAME',
    ]);
    await client.lists.setListMember('events', subscriberHash('ivy@example.com'), {
      email_address: 'ivy@example.com',
      status_if_new: 'transactional',
      merge_fields: { FNAME: 'Ivy', SEATS: '2', EVENTDATE: '2026-12-01', TRACK: 'email' },
    });
    expect(fake.member('events', 'ivy@example.com')?.merge_fields).toMatchObject({
      FNAME: 'Ivy',
      SEATS: '2',
    });
  });

  it('adds or updates with PUT: status_if_new for a new member only, last_changed set on every change', async () => {
    const hash = subscriberHash('Dee@Example.com');
    const put = (status_if_new: 'subscribed' | 'transactional', FNAME: string) =>
      client.lists.setListMember('demo', hash, {
        email_address: 'dee@example.com',
        status_if_new,
        merge_fields: { FNAME },
      }) as Promise<MemberAnswer>;
    const created = await put('transactional', 'Dee');
    expect([created.id, created.status]).toEqual([hash, 'transactional']);
    const lastYear = Date.now() - 365 * 86_400_000;
    fake.edit('demo', 'dee@example.com', { mergeFields: { LNAME: 'Dunn' } }, lastYear);
    expect(fake.member('demo', 'dee@example.com')?.lastChanged).toBe(lastYear - (lastYear % 1_000));
    const updated = await put('subscribed', 'Deirdre');
    expect(updated.status).toBe('transactional');
    expect(Date.parse(updated.last_changed)).toBeGreaterThan(lastYear);
    const mismatch = await failureOf(
      client.lists.setListMember('demo', hash, {
        email_address: 'other@example.com',
        status_if_new: 'pending',
      }),
    );
    expect(mismatch.status).toBe(400);
  });

  it('updates by hash with field errors as problem+json, and deletes for good: 404 after, no re-import', async () => {
    fake.seed('demo', [{ email: 'cy@example.com', mergeFields: { FNAME: 'Cy' } }], T0);
    const hash = subscriberHash('Cy@Example.com');
    const updated = (await client.lists.updateListMember('demo', hash, {
      merge_fields: { LNAME: 'Young' },
    })) as { merge_fields: Record<string, string> };
    expect(updated.merge_fields).toEqual({ FNAME: 'Cy', LNAME: 'Young' });
    const refused = await failureOf(
      client.lists.updateListMember('demo', hash, { merge_fields: { PHONE: 'call me' } }),
    );
    expect([refused.status, refused.response.body.title]).toEqual([400, 'Invalid Resource']);
    expect(refused.response.body.errors?.map((e) => e.field)).toEqual(['merge_fields.PHONE']);

    await client.lists.deleteListMemberPermanent('demo', hash);
    expect(fake.member('demo', 'cy@example.com')).toBeUndefined();
    expect((await failureOf(client.lists.getListMember('demo', hash))).status).toBe(404);
    expect((await failureOf(client.lists.deleteListMemberPermanent('demo', hash))).status).toBe(404);
    const again = (await client.lists.batchListMembers('demo', {
      members: [{ email_address: 'cy@example.com', email_type: 'html', status: 'transactional' }],
    })) as { errors: { error: string }[] };
    expect(again.errors.map((e) => e.error)).toEqual([expect.stringContaining('permanently deleted')]);
  });

  it('does not subscribe again a member who unsubscribed, except by double opt-in', async () => {
    fake.seed('demo', [{ email: 'out@example.com', status: 'unsubscribed' }], T0);
    const hash = subscriberHash('out@example.com');
    const refused = await failureOf(client.lists.updateListMember('demo', hash, { status: 'subscribed' }));
    expect([refused.status, refused.response.body.title]).toEqual([400, 'Member In Compliance State']);
    await client.lists.updateListMember('demo', hash, { status: 'pending' });
    expect(fake.member('demo', 'out@example.com')?.status).toBe('pending');
  });

  it('shows the audience on the sandbox read-back', async () => {
    fake.seed('demo', [{ email: 'ada@example.com' }, { email: 'bob@example.com' }], T0);
    const answer = await fetch(`${fake.baseUrl}/sandbox/messages?to=ADA@example.com`);
    expect(((await answer.json()) as { email_address: string }[]).map((m) => m.email_address)).toEqual([
      'ada@example.com',
    ]);
  });
});

/**
 * The Mailchimp fake through the official SDK (`@mailchimp/mailchimp_marketing`), as sync drives it: API-key auth,
 * members paged by `last_changed` at second precision, batch subscribe where one bad member fails alone, merge-field
 * validation as problem+json, permanent deletion, and the rate limit's 429 with Retry-After.
 */
import { FakeMailchimp, subscriberHash } from './fake-mailchimp';
import { mailchimpClientFor, type MailchimpClient } from './sdk-clients';

const KEY = '0123456789abcdef0123456789abcdef-us21';
let fake: FakeMailchimp;
let client: MailchimpClient;
const T0 = Date.parse('2026-11-02T09:00:00Z');

beforeEach(async () => {
  fake = new FakeMailchimp({ apiKeys: [KEY], rateLimit: { requests: 50, windowMs: 1_000 } });
  client = mailchimpClientFor(await fake.start(), KEY);
});
afterEach(() => fake.stop());

type Failure = {
  status: number;
  response: {
    headers: Record<string, string>;
    body: { title: string; detail: string; errors?: { field: string }[] };
  };
};
const failureOf = async (call: Promise<unknown>): Promise<Failure> => {
  try {
    await call;
  } catch (error) {
    return error as Failure;
  }
  throw new Error('the call did not fail');
};

describe('FakeMailchimp', () => {
  it('answers 401 with problem+json to a wrong key', async () => {
    const failure = await failureOf(
      mailchimpClientFor(fake.baseUrl, 'ffffffffffffffffffffffffffffffff-us21').ping.get(),
    );
    expect(failure.status).toBe(401);
    expect(failure.response.body.title).toBe('API Key Invalid');
    expect(await client.ping.get()).toEqual({ health_status: "Everything's Chimpy!" });
  });

  it('lists members by last_changed within [since, before), in pages of at most 1,000', async () => {
    fake.seed(
      'demo',
      Array.from({ length: 1_200 }, (_, i) => ({ email: `m${i}@example.com` })),
      T0,
    );
    fake.seed('demo', [{ email: 'later@example.com' }], T0 + 1_000);
    const page = (offset: number, count: number, since = T0, before = T0 + 1_000) =>
      client.lists.getListMembersInfo('demo', {
        count,
        offset,
        sinceLastChanged: new Date(since).toISOString(),
        beforeLastChanged: new Date(before).toISOString(),
        sortField: 'last_changed',
        sortDir: 'ASC',
      } as never) as Promise<{ members: { id: string; last_changed: string }[]; total_items: number }>;
    const first = await page(0, 5_000);
    expect(first.members).toHaveLength(1_000);
    expect(first.total_items).toBe(1_200);
    expect((await page(1_000, 1_000)).members).toHaveLength(200);
    const later = await page(0, 10, T0 + 1_000, T0 + 2_000);
    expect(later.members.map((m) => m.last_changed)).toEqual(['2026-11-02T09:00:01+00:00']);
  });

  it('subscribes a batch where one bad member fails alone, and refuses an unknown merge field', async () => {
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
      ],
      update_existing: false,
    })) as { new_members: { email_address: string }[]; errors: { email_address: string; field: string }[] };
    expect(answer.new_members.map((m) => m.email_address)).toEqual(['ada@example.com']);
    expect(answer.errors.map((e) => [e.email_address, e.field])).toEqual([
      ['not-an-email', 'email_address'],
      ['bob@example.com', 'merge_fields.SHOE'],
    ]);
    const again = (await client.lists.batchListMembers('demo', {
      members: [{ email_address: 'ada@example.com', email_type: 'html', status: 'unsubscribed' }],
      update_existing: false,
    })) as { errors: { error_code: string }[] };
    expect(again.errors[0]?.error_code).toBe('ERROR_CONTACT_EXISTS');
    expect(fake.member('demo', 'ada@example.com')?.status).toBe('subscribed');
  });

  it('updates a member by its hash with field errors as problem+json, and deletes it for good', async () => {
    fake.seed('demo', [{ email: 'cy@example.com', mergeFields: { FNAME: 'Cy' } }], T0);
    const hash = subscriberHash('Cy@Example.com');
    const updated = (await client.lists.updateListMember('demo', hash, {
      merge_fields: { LNAME: 'Young' },
    })) as {
      merge_fields: Record<string, string>;
    };
    expect(updated.merge_fields).toEqual({ FNAME: 'Cy', LNAME: 'Young' });
    const refused = await failureOf(
      client.lists.updateListMember('demo', hash, { merge_fields: { PHONE: 'call me' } }),
    );
    expect(refused.status).toBe(400);
    expect(refused.response.body.errors?.map((e) => e.field)).toEqual(['merge_fields.PHONE']);
    await client.lists.deleteListMemberPermanent('demo', hash);
    expect(fake.member('demo', 'cy@example.com')).toBeUndefined();
    expect((await failureOf(client.lists.deleteListMemberPermanent('demo', hash))).status).toBe(404);
  });

  it('answers 429 with Retry-After once the rate limit is spent', async () => {
    for (let i = 0; i < 50; i += 1) await client.ping.get();
    const limited = await failureOf(client.ping.get());
    expect(limited.status).toBe(429);
    expect(Number(limited.response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });
});

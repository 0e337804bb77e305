/**
 * The Mailchimp connector against the fake through the official SDK: change capture reads 1,200 members sharing one
 * second, and the rest, each once, and terminates, also when a member is edited away from that second mid-read; the
 * writer creates what the audience lacks as transactional in batches of 500, never touches a member's status,
 * isolates a member Mailchimp refuses, answers 429 and 5xx as retryable, updates by hash, and erases for good.
 */
import { FakeMailchimp, subscriberHash } from '@tributary/sandbox';
import { nextChangePage, type ChangePosition } from '../../changes/change-page';
import type { VendorRecord } from '../connector';
import { MAILCHIMP, MailchimpChangeSource, MailchimpRecordWriter } from './mailchimp.connector';

const KEY = '0123456789abcdef0123456789abcdef-us21';
const credentials = { apiKey: KEY, listId: 'demo' };
const members = MAILCHIMP.objects[0] as (typeof MAILCHIMP.objects)[number];
const MEMBERS_PATH = '/3.0/lists/demo/members';
const T0 = Date.parse('2026-11-02T09:00:00Z');
const UNTIL = T0 + 10_000;
const LIMIT = 200;
let fake: FakeMailchimp;
let url: string;

beforeEach(async () => {
  fake = new FakeMailchimp({ apiKeys: [KEY], latencyMs: 2 });
  url = await fake.start();
});
afterEach(() => fake.stop());

/** An import: one member a second before, 1,200 sharing T0, one three seconds after. */
function seedImport(): void {
  fake.seed('demo', [{ email: 'before@example.com' }], T0 - 5_000);
  fake.seed(
    'demo',
    Array.from({ length: 1_200 }, (_, i) => ({ email: `same${i}@example.com` })),
    T0,
  );
  fake.seed('demo', [{ email: 'after@example.com', mergeFields: { FNAME: 'Al' } }], T0 + 3_000);
}

/** Walks the change order from the start to UNTIL as change capture does; answers the pages' records. */
async function walk(source: MailchimpChangeSource): Promise<{ records: VendorRecord[]; pages: number[] }> {
  const records: VendorRecord[] = [];
  const pages: number[] = [];
  let position: ChangePosition = { modifiedAt: 0, id: '' };
  for (let calls = 0; calls < 100; calls += 1) {
    const page = await nextChangePage(source, members, position, UNTIL, LIMIT);
    records.push(...page.records);
    pages.push(page.records.length);
    position = page.next;
    if (page.done) return { records, pages };
  }
  throw new Error('the walk did not end in 100 pages');
}

const emailsOf = (records: readonly VendorRecord[]) => records.map((r) => r.fields['email_address']);

describe('Mailchimp change capture', () => {
  it('reads every member once, 1,200 of them sharing one second, in pages of the limit, and terminates', async () => {
    seedImport();
    const { records, pages } = await walk(new MailchimpChangeSource(url, credentials));
    expect(records).toHaveLength(1_202);
    expect(new Set(emailsOf(records)).size).toBe(1_202);
    expect(emailsOf(records).at(0)).toBe('before@example.com');
    expect(emailsOf(records).at(-1)).toBe('after@example.com');
    expect(Math.max(...pages)).toBeLessThanOrEqual(LIMIT);
    const sameSecond = records.filter((r) => r.modifiedAt === T0).map((r) => r.id);
    expect(sameSecond).toEqual([...sameSecond].sort());
    // The shared second is read whole once (2 calls of 1,000), not once for each of its 6 pages.
    expect(fake.count(MEMBERS_PATH)).toBeLessThanOrEqual(10);
  });

  it('loses no member when one is edited away from the shared second while it is read by offset', async () => {
    seedImport();
    const [first] = fake.all('demo').filter((m) => m.lastChanged === T0);
    const moved = first?.email_address ?? '';
    // Once the shared second's first page is answered, a colleague edits its first member: everyone after it in
    // that second moves up one place, so the next offset would step over one of them.
    const secondRead = `since_last_changed=${new Date(T0 - 1_000).toISOString()}`;
    const colleague = (async () => {
      while (!fake.requests.some((r) => decodeURIComponent(r.path).includes(secondRead)))
        await new Promise((resolve) => setTimeout(resolve, 0));
      fake.edit('demo', moved, { mergeFields: { LNAME: 'Moved' } }, T0 + 5_000);
    })();
    const { records } = await walk(new MailchimpChangeSource(url, credentials));
    await colleague;
    expect(new Set(emailsOf(records)).size).toBe(1_202);
    expect(records).toHaveLength(1_202);
    expect(records.find((r) => r.fields['email_address'] === moved)).toMatchObject({
      modifiedAt: T0 + 5_000,
      fields: { LNAME: 'Moved' },
    });
  });

  it('counts a window by total_items, and reads members by id leaving out those gone', async () => {
    seedImport();
    const source = new MailchimpChangeSource(url, credentials);
    expect(await source.count(members, T0 - 1, UNTIL)).toBe(1_201);
    const read = await source.read(members, [
      subscriberHash('after@example.com'),
      subscriberHash('gone@example.com'),
    ]);
    expect(read).toEqual([
      {
        id: subscriberHash('after@example.com'),
        modifiedAt: T0 + 3_000,
        createdAt: T0 + 3_000,
        fields: {
          email_address: 'after@example.com',
          status: 'subscribed',
          FNAME: 'Al',
          LNAME: null,
          PHONE: null,
          COMPANY: null,
        },
      },
    ]);
  });
});

describe('Mailchimp writes', () => {
  it('creates members as transactional, keeps an existing member’s status, and fails a bad one alone', async () => {
    fake.seed('demo', [{ email: 'kept@example.com', status: 'unsubscribed' }], T0);
    const writer = new MailchimpRecordWriter(url, credentials);
    const outcomes = await writer.write(members, [
      {
        ref: 'g1',
        externalId: null,
        fields: { email_address: 'new@example.com', status: 'subscribed', FNAME: 'Nia' },
      },
      { ref: 'g2', externalId: null, fields: { email_address: 'kept@example.com', FNAME: 'Kim' } },
      { ref: 'g3', externalId: null, fields: { email_address: 'bad@example.com', PHONE: 'call me' } },
    ]);
    expect(outcomes.map((o) => [o.ref, o.ok])).toEqual([
      ['g1', true],
      ['g2', true],
      ['g3', false],
    ]);
    expect(outcomes[2]).toMatchObject({
      status: 400,
      retryable: false,
      reason: expect.stringContaining('PHONE'),
    });
    expect(fake.member('demo', 'new@example.com')).toMatchObject({
      status: 'transactional',
      merge_fields: { FNAME: 'Nia' },
    });
    expect(fake.member('demo', 'kept@example.com')).toMatchObject({
      status: 'unsubscribed',
      merge_fields: { FNAME: 'Kim' },
    });
    expect(fake.member('demo', 'bad@example.com')).toBeUndefined();
  });

  it('creates more than 500 members in batches of 500', async () => {
    const outcomes = await new MailchimpRecordWriter(url, credentials).write(
      members,
      Array.from({ length: 501 }, (_, i) => ({
        ref: `g${i}`,
        externalId: null,
        fields: { email_address: `batch${i}@example.com` },
      })),
    );
    expect(outcomes.filter((o) => o.ok)).toHaveLength(501);
    expect(fake.count('/3.0/lists/demo')).toBe(2);
    expect(fake.all('demo')).toHaveLength(501);
  });

  it('updates by the member’s id without its status, clears a merge field with null, and erases for good', async () => {
    const [id = ''] = fake.seed(
      'demo',
      [{ email: 'up@example.com', status: 'unsubscribed', mergeFields: { FNAME: 'Una', COMPANY: 'Acme' } }],
      T0,
    );
    const writer = new MailchimpRecordWriter(url, credentials);
    const [outcome] = await writer.write(members, [
      { ref: 'g', externalId: id, fields: { status: 'subscribed', LNAME: 'Upton', COMPANY: null } },
    ]);
    expect(outcome).toMatchObject({ ok: true, externalId: id });
    expect(fake.member('demo', 'up@example.com')).toMatchObject({
      status: 'unsubscribed',
      merge_fields: { FNAME: 'Una', LNAME: 'Upton', COMPANY: '' },
    });
    await writer.erase(members, id);
    expect(fake.member('demo', 'up@example.com')).toBeUndefined();
    await expect(writer.erase(members, id)).resolves.toBeUndefined();
  });

  it('answers a member erased before as refused for good, not to be retried', async () => {
    const [id = ''] = fake.seed('demo', [{ email: 'erased@example.com' }], T0);
    const writer = new MailchimpRecordWriter(url, credentials);
    await writer.erase(members, id);
    const [outcome] = await writer.write(members, [
      { ref: 'g', externalId: null, fields: { email_address: 'erased@example.com' } },
    ]);
    expect(outcome).toMatchObject({
      ok: false,
      status: 400,
      retryable: false,
      reason: expect.stringContaining('permanently deleted'),
    });
  });

  it('answers retryable outcomes to a 429 and while Mailchimp is down', async () => {
    const writer = new MailchimpRecordWriter(url, credentials);
    const [id = ''] = fake.seed('demo', [{ email: 'busy@example.com' }], T0);
    fake.failNext(1, { status: 429, retryAfterSeconds: 2 });
    expect(await writer.write(members, [{ ref: 'g', externalId: id, fields: { FNAME: 'Bea' } }])).toEqual([
      { ref: 'g', ok: false, status: 429, reason: expect.any(String), retryable: true },
    ]);
    fake.outage(true);
    const outcomes = await writer.write(members, [
      { ref: 'g', externalId: null, fields: { email_address: 'down@example.com' } },
    ]);
    expect(outcomes).toEqual([
      { ref: 'g', ok: false, status: 503, reason: expect.any(String), retryable: true },
    ]);
  });
});

/**
 * The Mailchimp connector against the fake through the official SDK: change capture reads 1,200 members sharing one
 * second, and the rest, each once, and terminates; the writer creates what the audience lacks with status
 * transactional (never subscribing anyone), leaves an existing member's status alone, isolates a member Mailchimp
 * refuses, updates by hash, and erases for good.
 */
import { FakeMailchimp } from '@tributary/sandbox';
import { nextChangePage, type ChangePosition } from '../../changes/change-page';
import { MAILCHIMP, MailchimpChangeSource, MailchimpRecordWriter } from './mailchimp.connector';

const KEY = '0123456789abcdef0123456789abcdef-us21';
const credentials = { apiKey: KEY, listId: 'demo' };
const members = MAILCHIMP.objects[0] as (typeof MAILCHIMP.objects)[number];
let fake: FakeMailchimp;
let url: string;
const T0 = Date.parse('2026-11-02T09:00:00Z');

beforeEach(async () => {
  fake = new FakeMailchimp({ apiKeys: [KEY] });
  url = await fake.start();
});
afterEach(() => fake.stop());

describe('Mailchimp change capture', () => {
  it('reads every member once, 1,200 of them sharing one second, and terminates', async () => {
    fake.seed('demo', [{ email: 'before@example.com' }], T0 - 5_000);
    fake.seed(
      'demo',
      Array.from({ length: 1_200 }, (_, i) => ({ email: `same${i}@example.com` })),
      T0,
    );
    fake.seed('demo', [{ email: 'after@example.com', mergeFields: { FNAME: 'Al' } }], T0 + 3_000);
    const source = new MailchimpChangeSource(url, credentials);
    const seen: string[] = [];
    let position: ChangePosition = { modifiedAt: 0, id: '' };
    for (let calls = 0; ; calls += 1) {
      expect(calls).toBeLessThan(50);
      const page = await nextChangePage(source, members, position, T0 + 10_000, 200);
      seen.push(...page.records.map((r) => r.fields['email_address'] ?? ''));
      position = page.next;
      if (page.done) break;
    }
    expect(seen).toHaveLength(1_202);
    expect(new Set(seen).size).toBe(1_202);
    expect(seen[0]).toBe('before@example.com');
    expect(seen.at(-1)).toBe('after@example.com');
  });
});

describe('Mailchimp writes', () => {
  it('creates members as transactional, keeps an existing member’s status, and fails a bad one alone', async () => {
    fake.seed('demo', [{ email: 'kept@example.com', status: 'unsubscribed' }], T0);
    const writer = new MailchimpRecordWriter(url, credentials);
    const outcomes = await writer.write(members, [
      { ref: 'g1', externalId: null, fields: { email_address: 'new@example.com', FNAME: 'Nia' } },
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

  it('updates by the member’s id, clears a merge field with null, and erases for good', async () => {
    const [id] = fake.seed(
      'demo',
      [{ email: 'up@example.com', mergeFields: { FNAME: 'Una', COMPANY: 'Acme' } }],
      T0,
    );
    const writer = new MailchimpRecordWriter(url, credentials);
    const [outcome] = await writer.write(members, [
      { ref: 'g', externalId: id ?? '', fields: { LNAME: 'Upton', COMPANY: null } },
    ]);
    expect(outcome).toMatchObject({ ok: true, externalId: id });
    expect(fake.member('demo', 'up@example.com')?.merge_fields).toEqual({
      FNAME: 'Una',
      LNAME: 'Upton',
      COMPANY: '',
    });
    await writer.erase(members, id ?? '');
    expect(fake.member('demo', 'up@example.com')).toBeUndefined();
    await expect(writer.erase(members, id ?? '')).resolves.toBeUndefined();
  });

  it('answers retryable outcomes while Mailchimp is down', async () => {
    fake.outage(true);
    const outcomes = await new MailchimpRecordWriter(url, credentials).write(members, [
      { ref: 'g', externalId: null, fields: { email_address: 'down@example.com' } },
    ]);
    expect(outcomes).toEqual([
      { ref: 'g', ok: false, status: 503, reason: expect.any(String), retryable: true },
    ]);
  });
});

// The audience client against the sandbox's Customer-Match-style fake over local HTTP.
import { FakeAdAudiences } from '@tributary/sandbox';
import { CustomerMatchAudiences, type AudienceChange } from './ad-audiences';
import { sha256Hex } from './audience-identifiers';

const CLIENT = { clientId: 'tributary', clientSecret: 'a-client-secret' };
let fake: FakeAdAudiences;

beforeEach(async () => {
  fake = new FakeAdAudiences(CLIENT);
  await fake.start();
  fake.createAudience('acct-1', 'trial-users');
  fake.createAudience('acct-1', 'customers');
});

afterEach(async () => {
  await fake.stop();
});

function client(options: Partial<ConstructorParameters<typeof CustomerMatchAudiences>[0]> = {}) {
  return new CustomerMatchAudiences({
    baseUrl: fake.baseUrl,
    ...CLIENT,
    timeoutMs: 2_000,
    batchWindowMs: 200,
    maxBatchMembers: 10_000,
    maxRetryMs: 5_000,
    ...options,
  });
}

const change = (
  email: string,
  audience = 'trial-users',
  action: 'add' | 'remove' = 'add',
): AudienceChange => ({
  account: 'acct-1',
  audience,
  action,
  member: { hashedEmail: sha256Hex(email) },
});

const uploadsTo = (pathname: string) => fake.requests.filter((r) => r.pathname === pathname);
const ADD = '/v1/accounts/acct-1/audiences/trial-users/members:add';

describe('CustomerMatchAudiences', () => {
  it('batches the members of one audience and action into one upload, with one token', async () => {
    const audiences = client();
    const results = await Promise.all([
      audiences.submit(change('a@example.com')),
      audiences.submit(change('b@example.com')),
      // The same member twice in a batch goes once.
      audiences.submit(change('a@example.com')),
      audiences.submit(change('c@example.com', 'customers')),
      audiences.submit(change('d@example.com', 'trial-users', 'remove')),
    ]);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(uploadsTo('/oauth2/token')).toHaveLength(1);
    expect(fake.uploads('acct-1', 'trial-users').map((u) => [u.action, u.members.length])).toEqual(
      expect.arrayContaining([
        ['add', 2],
        ['remove', 1],
      ]),
    );
    expect(fake.uploads('acct-1', 'customers')).toHaveLength(1);
    expect(fake.uploads('acct-1', 'trial-users').find((u) => u.action === 'add')?.consent).toEqual({
      adUserData: 'GRANTED',
      adPersonalization: 'GRANTED',
    });
  });

  it('sends a full batch at once, without waiting for the window', async () => {
    const audiences = client({ batchWindowMs: 60_000, maxBatchMembers: 3 });
    const started = Date.now();
    const results = await Promise.all(
      ['a', 'b', 'c'].map((n) => audiences.submit(change(`${n}@example.com`))),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(fake.uploads()).toHaveLength(1);
  });

  it('waits out a 429’s Retry-After and a 503, then uploads the batch once', async () => {
    fake.failNextUploads(1, { status: 429, retryAfterSeconds: 1 });
    fake.failNextUploads(1, { status: 503 });
    const result = await client().submit(change('a@example.com'));
    expect(result.ok).toBe(true);
    const tries = uploadsTo(ADD);
    expect(tries.map((t) => t.status)).toEqual([429, 503, 200]);
    expect((tries[1]?.at ?? 0) - (tries[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);
    expect(fake.membersOf('acct-1', 'trial-users')).toEqual([{ hashedEmail: sha256Hex('a@example.com') }]);
  });

  it('hands a change back as retryable, with the Retry-After, when the platform stays busy past the budget', async () => {
    fake.failNextUploads(1, { status: 429, retryAfterSeconds: 30 });
    const result = await client({ maxRetryMs: 1_000 }).submit(change('a@example.com'));
    expect(result).toEqual({
      ok: false,
      retryable: true,
      retryAfterMs: 30_000,
      reason: 'ad-audiences 429: Resource has been exhausted.',
    });
    expect(fake.uploads()).toEqual([]);
  });

  it('takes a new token once when the platform no longer honours its own', async () => {
    const audiences = client();
    expect((await audiences.submit(change('a@example.com'))).ok).toBe(true);
    fake.expireTokens();
    expect((await audiences.submit(change('b@example.com'))).ok).toBe(true);
    expect(uploadsTo('/oauth2/token')).toHaveLength(2);
    expect(uploadsTo(ADD).map((r) => r.status)).toEqual([200, 401, 200]);
  });

  it('refuses for good the member the platform names, and hands the others back to go again', async () => {
    const audiences = client();
    const [bad, good] = await Promise.all([
      audiences.submit({ ...change('x'), member: { hashedEmail: 'ada@example.com' } }),
      audiences.submit(change('b@example.com')),
    ]);
    expect(bad).toEqual({
      ok: false,
      retryable: false,
      reason:
        'ad-audiences 400: members[0].hashedEmail: looks unhashed: normalise, then send the SHA-256 hex digest',
    });
    expect(good).toMatchObject({ ok: false, retryable: true });
  });

  it('refuses for good an audience the account does not have, and a client the platform does not know', async () => {
    expect(await client().submit(change('a@example.com', 'nobody'))).toMatchObject({
      ok: false,
      retryable: false,
      reason: expect.stringMatching(/^ad-audiences 404: /) as unknown as string,
    });
    const stranger = await client({ clientSecret: 'wrong' }).submit(change('a@example.com'));
    expect(stranger).toMatchObject({ ok: false, retryable: false });
    // The secret never appears in what the engine records.
    expect(JSON.stringify(stranger)).not.toContain('wrong');
  });
});

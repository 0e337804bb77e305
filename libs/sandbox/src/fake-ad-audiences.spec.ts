// Drives FakeAdAudiences over local HTTP as a Customer-Match-style client would: a token first, then uploads.
import { createHash } from 'node:crypto';
import { FakeAdAudiences } from './fake-ad-audiences';

const CLIENT = { clientId: 'client-1', clientSecret: 'client-secret-1' };
const hash = (text: string): string => createHash('sha256').update(text).digest('hex');
const CONSENT = { adUserData: 'GRANTED', adPersonalization: 'GRANTED' };

let fake: FakeAdAudiences;
let now: number;

beforeEach(async () => {
  now = Date.UTC(2026, 0, 15, 9, 0, 0);
  fake = new FakeAdAudiences({ ...CLIENT, tokenTtlSeconds: 60, clock: () => now });
  await fake.start();
  fake.createAudience('acct-1', 'trial-users');
});

afterEach(async () => {
  await fake.stop();
});

async function token(
  auth = `Basic ${Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString('base64')}`,
): Promise<Response> {
  return fetch(`${fake.baseUrl}/oauth2/token`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
}

async function accessToken(): Promise<string> {
  const body = (await (await token()).json()) as { access_token: string };
  return body.access_token;
}

function upload(bearer: string, body: unknown, action = 'add', audience = 'trial-users'): Promise<Response> {
  return fetch(`${fake.baseUrl}/v1/accounts/acct-1/audiences/${audience}/members:${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('FakeAdAudiences', () => {
  it('issues client-credentials tokens to its client only', async () => {
    const ok = await token();
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ token_type: 'Bearer', expires_in: 60 });
    const wrong = await token(`Basic ${Buffer.from(`${CLIENT.clientId}:nope`).toString('base64')}`);
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('refuses uploads without a valid, unexpired Bearer token', async () => {
    const members = [{ hashedEmail: hash('ada@example.com') }];
    const none = await upload('made-up', { members, consent: CONSENT });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('invalid_token');
    const bearer = await accessToken();
    expect((await upload(bearer, { members, consent: CONSENT })).status).toBe(200);
    now += 61_000;
    expect((await upload(bearer, { members, consent: CONSENT })).status).toBe(401);
  });

  it('keeps each member once however often it is added, and drops it on remove', async () => {
    const bearer = await accessToken();
    const ada = { hashedEmail: hash('ada@example.com') };
    const bo = { hashedEmail: hash('bo@example.com'), hashedPhoneNumber: hash('+4915112345678') };
    expect(await (await upload(bearer, { members: [ada, bo], consent: CONSENT })).json()).toMatchObject({
      receivedMembers: 2,
    });
    await upload(bearer, { members: [ada], consent: CONSENT });
    expect(fake.membersOf('acct-1', 'trial-users')).toEqual([ada, bo]);
    await upload(bearer, { members: [ada] }, 'remove');
    expect(fake.membersOf('acct-1', 'trial-users')).toEqual([bo]);
    expect(fake.uploads('acct-1', 'trial-users').map((u) => [u.action, u.members.length])).toEqual([
      ['add', 2],
      ['add', 1],
      ['remove', 1],
    ]);
  });

  it('answers 400 naming each unhashed or invalid member, and stores nothing of that upload', async () => {
    const bearer = await accessToken();
    const refused = await upload(bearer, {
      members: [
        { hashedEmail: hash('ok@example.com') },
        { hashedEmail: 'ada@example.com' },
        { hashedPhoneNumber: hash('+4915112345678').toUpperCase() },
        {},
        { email: 'x' },
      ],
    });
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as {
      error: { status: string; details: { fieldViolations: { field: string; description: string }[] }[] };
    };
    expect(body.error.status).toBe('INVALID_ARGUMENT');
    expect(body.error.details[0]?.fieldViolations).toEqual([
      {
        field: 'members[1].hashedEmail',
        description: 'looks unhashed: normalise, then send the SHA-256 hex digest',
      },
      { field: 'members[2].hashedPhoneNumber', description: 'must be lower-case hex' },
      { field: 'members[3]', description: 'needs at least one of hashedEmail or hashedPhoneNumber' },
      { field: 'members[4].email', description: 'unknown identifier' },
      { field: 'members[4]', description: 'needs at least one of hashedEmail or hashedPhoneNumber' },
      { field: 'consent', description: 'is required when adding members' },
    ]);
    expect(fake.uploads()).toEqual([]);
  });

  it('takes at most 10,000 members a request', async () => {
    const bearer = await accessToken();
    const members = Array.from({ length: 10_001 }, (_, i) => ({ hashedEmail: hash(`m${i}@example.com`) }));
    const tooMany = await upload(bearer, { members, consent: CONSENT });
    expect(tooMany.status).toBe(400);
    const full = await upload(bearer, { members: members.slice(0, 10_000), consent: CONSENT });
    expect(full.status).toBe(200);
    expect(fake.membersOf('acct-1', 'trial-users')).toHaveLength(10_000);
  });

  it('answers 404 for an audience the account does not have, 429 with Retry-After and 5xx when told', async () => {
    const bearer = await accessToken();
    const members = [{ hashedEmail: hash('ada@example.com') }];
    expect((await upload(bearer, { members, consent: CONSENT }, 'add', 'nobody')).status).toBe(404);
    fake.failNextUploads(1, { status: 429, retryAfterSeconds: 3 });
    fake.failNextUploads(1, { status: 503 });
    const limited = await upload(bearer, { members, consent: CONSENT });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    expect((await upload(bearer, { members, consent: CONSENT })).status).toBe(503);
    expect((await upload(bearer, { members, consent: CONSENT })).status).toBe(200);
    expect(fake.uploads()).toHaveLength(1);
  });

  it('lists uploads at the sandbox read-back without credentials', async () => {
    const bearer = await accessToken();
    await upload(bearer, { members: [{ hashedEmail: hash('ada@example.com') }], consent: CONSENT });
    const listed = (await (await fetch(`${fake.baseUrl}/sandbox/messages?to=trial-users`)).json()) as {
      audience: string;
    }[];
    expect(listed.map((u) => u.audience)).toEqual(['trial-users']);
  });
});

// Drives FakeLinkedIn through LinkedIn's official client (linkedin-api-client) over local HTTP, as orchestration does.
import type { AxiosError } from 'axios';
import type { RestliClient } from 'linkedin-api-client';
import { FakeLinkedIn } from './fake-linkedin';
import { linkedInClientFor } from './sdk-clients';

const TOKEN = 'AQX-sandbox-token';
const VERSION = '202505';
const AUTHOR = 'urn:li:organization:2414183';

const post = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  author: AUTHOR,
  commentary: 'Our spring launch is live',
  visibility: 'PUBLIC',
  distribution: { feedDistribution: 'MAIN_FEED', targetEntities: [], thirdPartyDistributionChannels: [] },
  lifecycleState: 'PUBLISHED',
  isReshareDisabledByAuthor: false,
  ...overrides,
});

/** The client's rejection; fails the test if the call went through. */
async function rejection(promise: Promise<unknown>): Promise<AxiosError> {
  return promise.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (error: unknown) => error as AxiosError,
  );
}

describe('FakeLinkedIn through linkedin-api-client', () => {
  let fake: FakeLinkedIn;
  let client: RestliClient;

  beforeEach(async () => {
    fake = new FakeLinkedIn({ accessToken: TOKEN, rateLimit: { requests: 3, windowMs: 60_000 } });
    client = linkedInClientFor(await fake.start());
  });
  afterEach(() => fake.stop());

  const create = (entity = post(), accessToken = TOKEN, versionString: string | null = VERSION) =>
    client.create({ resourcePath: '/posts', entity, accessToken, versionString });

  it('creates a post with 201 and its URN in x-restli-id, which the client returns', async () => {
    const response = await create(
      post({ content: { article: { source: 'https://blog.example/spring/', title: 'Spring' } } }),
    );
    expect(response.status).toBe(201);
    expect(response.createdEntityId).toMatch(/^urn:li:share:\d{19}$/);
    expect(fake.live()).toEqual([
      expect.objectContaining({
        urn: response.createdEntityId,
        author: AUTHOR,
        commentary: 'Our spring launch is live',
        article: { source: 'https://blog.example/spring/', title: 'Spring' },
        version: VERSION,
      }),
    ]);
    expect(fake.requests.map((r) => [r.method, r.pathname])).toEqual([['POST', '/rest/posts']]);
  });

  it('deletes a post by its URN (204), then knows it no more (404)', async () => {
    const { createdEntityId } = await create();
    const deleted = await client.delete({
      resourcePath: '/posts/{id}',
      pathKeys: { id: createdEntityId as string },
      versionString: VERSION,
      accessToken: TOKEN,
    });
    expect(deleted.status).toBe(204);
    expect(fake.live()).toEqual([]);
    const again = await rejection(
      client.delete({
        resourcePath: '/posts/{id}',
        pathKeys: { id: createdEntityId as string },
        versionString: VERSION,
        accessToken: TOKEN,
      }),
    );
    expect(again.response?.status).toBe(404);
  });

  it('refuses a wrong token and a missing version as LinkedIn does', async () => {
    const token = await rejection(create(post(), 'stolen'));
    expect(token.response?.status).toBe(401);
    expect(token.response?.data).toEqual({
      status: 401,
      serviceErrorCode: 65600,
      code: 'INVALID_ACCESS_TOKEN',
      message: 'Invalid access token',
    });
    // Without a version string the client calls the unversioned /v2 API, which has no posts resource here.
    const unversioned = await rejection(create(post(), TOKEN, null));
    expect(unversioned.response?.status).toBe(400);
    expect(unversioned.response?.data).toMatchObject({ code: 'VERSION_MISSING' });
    expect(fake.posts).toEqual([]);
  });

  it('answers 422 with the path of every invalid field', async () => {
    const invalid = await rejection(
      create(
        post({
          author: 'ada',
          visibility: 'EVERYONE',
          commentary: 'x'.repeat(3_001),
          distribution: undefined,
        }),
      ),
    );
    expect(invalid.response?.status).toBe(422);
    const body = invalid.response?.data as {
      message: string;
      errorDetails: { inputErrors: { input: { inputPath: { fieldPath: string } } }[] };
    };
    expect(body.message).toBe('ERROR :: /author :: "ada" is not a person or organization URN');
    expect(body.errorDetails.inputErrors.map((e) => e.input.inputPath.fieldPath)).toEqual([
      '/author',
      '/commentary',
      '/visibility',
      '/distribution',
    ]);
    expect(fake.posts).toEqual([]);
  });

  it('throttles past its budget with 429 and Retry-After, and fails on demand', async () => {
    fake.failNext(1, { status: 500 });
    const failed = await rejection(create());
    expect(failed.response?.status).toBe(500);
    expect(failed.response?.data).toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
    await create();
    await create();
    await create();
    const limited = await rejection(create());
    expect(limited.response?.status).toBe(429);
    expect(Number(limited.response?.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.response?.data).toMatchObject({ status: 429, serviceErrorCode: 101 });
    expect(fake.live()).toHaveLength(3);
  });
});

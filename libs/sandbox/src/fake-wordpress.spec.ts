// Drives FakeWordPress over local HTTP with axios, as orchestration's WordPress client does (WordPress has no
// official Node SDK for its REST API; @wordpress/api-fetch is the block editor's browser singleton).
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { FakeWordPress } from './fake-wordpress';

const USER = 'editor';
const APP_PASSWORD = 'abcd EFGH 1234 ijkl MNOP 5678';
const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);

describe('FakeWordPress', () => {
  let now: number;
  let fake: FakeWordPress;
  let wp: AxiosInstance;
  let anonymous: AxiosInstance;

  beforeEach(async () => {
    now = T0;
    fake = new FakeWordPress({
      users: { [USER]: APP_PASSWORD },
      clock: () => now,
      rateLimit: { requests: 50, windowMs: 60_000 },
    });
    const baseURL = `${await fake.start()}/wp-json/wp/v2`;
    // Application passwords are shown with spaces; WordPress ignores them, so a client may send either form.
    wp = axios.create({
      baseURL,
      auth: { username: USER, password: APP_PASSWORD.replace(/ /g, '') },
      validateStatus: () => true,
    });
    anonymous = axios.create({ baseURL, validateStatus: () => true });
  });
  afterEach(() => fake.stop());

  const create = (body: Record<string, unknown>, type = 'posts'): Promise<AxiosResponse> =>
    wp.post(`/${type}`, body);

  it('creates a published post with 201, its id, link and Location, and keeps it', async () => {
    const res = await create({
      title: 'Spring launch',
      content: 'We launched.',
      status: 'publish',
      slug: 'spring-launch',
    });
    expect(res.status).toBe(201);
    expect(res.headers['location']).toBe(`${fake.baseUrl}/wp-json/wp/v2/posts/1`);
    expect(res.data).toMatchObject({
      id: 1,
      type: 'post',
      status: 'publish',
      slug: 'spring-launch',
      link: `${fake.baseUrl}/spring-launch/`,
      title: { raw: 'Spring launch', rendered: 'Spring launch' },
      content: { raw: 'We launched.', rendered: '<p>We launched.</p>\n', protected: false },
    });
    expect(fake.live()).toEqual([
      expect.objectContaining({ id: 1, title: 'Spring launch', author: USER, status: 'publish' }),
    ]);
  });

  it('refuses writes without credentials and wrong application passwords, as WordPress words them', async () => {
    const unsigned = await anonymous.post('/posts', { title: 'x' });
    expect(unsigned.status).toBe(401);
    expect(unsigned.data).toEqual({
      code: 'rest_cannot_create',
      message: 'Sorry, you are not allowed to create posts as this user.',
      data: { status: 401 },
    });
    const wrong = await anonymous.post(
      '/posts',
      { title: 'x' },
      { auth: { username: USER, password: 'nope' } },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.data).toMatchObject({ code: 'incorrect_password' });
    const stranger = await anonymous.get('/posts', { auth: { username: 'mallory', password: APP_PASSWORD } });
    expect(stranger.data).toMatchObject({ code: 'invalid_username', data: { status: 401 } });
    expect(fake.posts).toEqual([]);
  });

  it('names every invalid parameter in data.params, and refuses an empty post', async () => {
    const res = await create({ title: 'x', status: 'live', slug: 7, date: 'soon' });
    expect(res.status).toBe(400);
    expect(res.data).toMatchObject({
      code: 'rest_invalid_param',
      message: 'Invalid parameter(s): status, slug, date',
      data: {
        status: 400,
        params: {
          status: 'status is not one of publish, future, draft, pending, private.',
          slug: 'slug is not of type string.',
          date: 'Invalid date.',
        },
      },
    });
    const empty = await create({ title: '', content: '  ' });
    expect(empty.status).toBe(400);
    expect(empty.data).toEqual({
      code: 'empty_content',
      message: 'Content, title, and excerpt are empty.',
      data: { status: 400 },
    });
    expect(fake.posts).toEqual([]);
  });

  it('updates in place, and keeps slugs unique with -2', async () => {
    await create({ title: 'Hello', status: 'publish' });
    const second = await create({ title: 'Hello', status: 'publish' });
    expect(second.data.slug).toBe('hello-2');
    now += 60_000;
    const updated = await wp.post('/posts/1', { title: 'Hello again', content: 'v2' });
    expect(updated.status).toBe(200);
    expect(updated.data).toMatchObject({
      id: 1,
      slug: 'hello',
      title: { raw: 'Hello again' },
      modified: '2026-03-02T09:01:00',
    });
    expect((await wp.put('/posts/99', { title: 'x' })).data).toEqual({
      code: 'rest_post_invalid_id',
      message: 'Invalid post ID.',
      data: { status: 404 },
    });
  });

  it('moves a deleted post to the trash, answers 410 the second time, and deletes it for good with force', async () => {
    await create({ title: 'Old news', status: 'publish' });
    const trashed = await wp.delete('/posts/1');
    expect(trashed.status).toBe(200);
    expect(trashed.data).toMatchObject({ id: 1, status: 'trash' });
    expect(fake.live()).toEqual([]);
    expect((await anonymous.get('/posts/1')).status).toBe(404);
    const again = await wp.delete('/posts/1');
    expect(again.status).toBe(410);
    expect(again.data).toMatchObject({ code: 'rest_already_trashed' });
    const forced = await wp.delete('/posts/1', { params: { force: true } });
    expect(forced.data).toMatchObject({ deleted: true, previous: { id: 1 } });
    expect(fake.posts).toEqual([]);
  });

  it('pages lists with X-WP-Total, X-WP-TotalPages and Link, newest first', async () => {
    for (let i = 1; i <= 5; i += 1) {
      now += 1_000;
      await create({ title: `Post ${i}`, status: 'publish' });
    }
    const first = await anonymous.get('/posts', { params: { per_page: 2 } });
    expect(first.headers['x-wp-total']).toBe('5');
    expect(first.headers['x-wp-totalpages']).toBe('3');
    expect(first.headers['link']).toContain('rel="next"');
    expect(first.data.map((p: { id: number }) => p.id)).toEqual([5, 4]);
    const last = await anonymous.get('/posts', { params: { per_page: 2, page: 3 } });
    expect(last.data.map((p: { id: number }) => p.id)).toEqual([1]);
    expect(last.headers['link']).toContain('rel="prev"');
    const beyond = await anonymous.get('/posts', { params: { per_page: 2, page: 4 } });
    expect(beyond.status).toBe(400);
    expect(beyond.data).toMatchObject({ code: 'rest_post_invalid_page_number' });
    const tooMany = await anonymous.get('/posts', { params: { per_page: 101 } });
    expect(tooMany.data).toMatchObject({
      code: 'rest_invalid_param',
      data: { params: { per_page: expect.any(String) } },
    });
  });

  it('finds posts by slug; drafts only for a signed-in user', async () => {
    await create({ title: 'Draft', slug: 'draft-one' });
    await create({ title: 'Live', slug: 'live-one', status: 'publish' });
    const mine = await wp.get('/posts', { params: { slug: 'draft-one', status: 'any' } });
    expect(mine.data.map((p: { slug: string }) => p.slug)).toEqual(['draft-one']);
    const forbidden = await anonymous.get('/posts', { params: { status: 'draft' } });
    expect(forbidden.status).toBe(400);
    expect(forbidden.data).toMatchObject({ data: { params: { status: 'Status is forbidden.' } } });
    expect((await anonymous.get('/posts')).data.map((p: { slug: string }) => p.slug)).toEqual(['live-one']);
  });

  it('serves pages apart from posts', async () => {
    const page = await create({ title: 'Pricing', content: '<p>Plans</p>', status: 'publish' }, 'pages');
    expect(page.data).toMatchObject({ type: 'page', parent: 0 });
    expect((await anonymous.get('/posts')).data).toEqual([]);
    expect((await wp.get(`/posts/${page.data.id as number}`)).status).toBe(404);
  });

  it('answers 429 with Retry-After past its budget, and injected 5xx, without storing anything', async () => {
    fake.failNext(1, { status: 429, retryAfterSeconds: 7 });
    const limited = await create({ title: 'x', status: 'publish' });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    expect(limited.data).toMatchObject({ code: 'rest_too_many_requests', data: { status: 429 } });
    fake.failNext(1, { status: 503 });
    const down = await create({ title: 'x', status: 'publish' });
    expect(down.status).toBe(503);
    expect(down.data).toMatchObject({ code: 'internal_server_error' });
    expect(fake.posts).toEqual([]);
    expect((await create({ title: 'x', status: 'publish' })).status).toBe(201);
  });
});

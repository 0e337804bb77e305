/**
 * The content publishing workflow on the real stack (Kafka, registry, FerretDB), two orchestration replicas in this
 * process sharing one store, against local fakes of WordPress (REST API, application passwords), LinkedIn's Posts
 * API (through its official client) and SendGrid (through its official SDK): review with four eyes, scopes,
 * workspace isolation, publishing with retries that never republish a done destination, scheduled publishing by the
 * poller, unpublishing, and every step on content.events.
 */
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Kafka } from 'kafkajs';
import type { Model } from 'mongoose';
import { setTimeout as sleep } from 'node:timers/promises';
import { Topics, type ContentEvent } from '@tributary/contracts';
import { WORKSPACE_KEYS, type Principal, type WorkspaceKeyResolver } from '@tributary/access';
import { AvroSchemaRegistry, KAFKA_CLIENT } from '@tributary/messaging';
import { EventServiceModule } from '@tributary/runtime';
import { FakeLinkedIn, FakeSendGrid, FakeWordPress } from '@tributary/sandbox';
import { readTopicToEnd, testServiceEnv, uniqueId, waitFor } from '@tributary/testing';
import { SendGridEmail } from '../channels/email-provider';
import { loadOrchestrationConfig } from '../config';
import { AudienceGuards, audienceGuardModelProviders } from '../engine/audience-guards';
import { CONTACT_PROFILE_MODEL, engineModelProviders, type ContactProfileDoc } from '../engine/engine.models';
import { EMAIL_PROVIDER } from '../engine/message-sender';
import { contentControllers, contentProviders } from './content.providers';
import { DESTINATION_SETTINGS_MODEL, type DestinationSettingsDoc } from './content.models';

const run = uniqueId('content');
const ws = `ws_${run}`;
const APP_PASSWORD = 'abcd EFGH 1234 ijkl MNOP 5678';
const SOCIAL_TOKEN = `AQX-${run}`;
const SENDGRID_KEY = `SG.${run}`;
const AUTHOR_URN = 'urn:li:organization:2414183';
const startedAt = Date.now();

const wordpress = new FakeWordPress({ users: { editor: APP_PASSWORD } });
const linkedin = new FakeLinkedIn({ accessToken: SOCIAL_TOKEN });
const sendgrid = new FakeSendGrid({ apiKey: SENDGRID_KEY });

const principals: Record<string, Principal> = {
  writer: { workspaceId: ws, scopes: ['content:write'], credentialId: 'key:writer' },
  reviewer: { workspaceId: ws, scopes: ['content:approve', 'content:read'], credentialId: 'key:reviewer' },
  lead: { workspaceId: ws, scopes: ['content:write', 'content:approve'], credentialId: 'key:lead' },
  admin: { workspaceId: ws, scopes: ['content:admin'], credentialId: 'key:admin' },
  reader: { workspaceId: ws, scopes: ['content:read'], credentialId: 'key:reader' },
  tracker: { workspaceId: ws, scopes: ['track:write'], credentialId: 'key:tracker' },
  elsewhere: { workspaceId: `${ws}_b`, scopes: ['*'], credentialId: 'key:elsewhere' },
};
const keys: WorkspaceKeyResolver = { resolve: (key) => principals[key] };

let apps: INestApplication[] = [];
let url: string;
let kafka: Kafka;
let registry: AvroSchemaRegistry;

beforeAll(async () => {
  await Promise.all([wordpress.start(), linkedin.start(), sendgrid.start()]);
  const config = loadOrchestrationConfig(
    testServiceEnv('orchestration', run, {
      CONTENT_POLL_MS: '100',
      CONTENT_LEASE_MS: '5000',
      CONTENT_RETRY_BASE_MS: '300',
      CONTENT_CALL_RETRIES: '2',
      PUBLIC_BASE_URL: 'https://orchestration.example',
    }),
  );

  @Module({
    imports: [EventServiceModule.forRoot(config)],
    controllers: [...contentControllers],
    providers: [
      ...contentProviders,
      ...engineModelProviders,
      ...audienceGuardModelProviders,
      AudienceGuards,
      {
        provide: EMAIL_PROVIDER,
        useFactory: () =>
          new SendGridEmail({ apiKey: SENDGRID_KEY, baseUrl: sendgrid.baseUrl, timeoutMs: 5_000 }),
      },
      { provide: WORKSPACE_KEYS, useValue: keys },
    ],
  })
  class ContentReplica {}

  // Two replicas on one store: every due item must be published by one of them only.
  for (let i = 0; i < 2; i += 1) {
    const app = await NestFactory.create(ContentReplica, { logger: false });
    await app.listen(0, '127.0.0.1');
    apps.push(app);
  }
  const [first] = apps as [INestApplication];
  url = (await first.getUrl()).replace('[::1]', '127.0.0.1');
  kafka = first.get<Kafka>(KAFKA_CLIENT);
  registry = first.get(AvroSchemaRegistry);

  expect(
    (
      await put('admin', 'cms', {
        baseUrl: wordpress.baseUrl,
        username: 'editor',
        applicationPassword: APP_PASSWORD,
      })
    ).status,
  ).toBe(200);
  expect(
    (
      await put('admin', 'social', {
        baseUrl: linkedin.baseUrl,
        author: AUTHOR_URN,
        accessToken: SOCIAL_TOKEN,
      })
    ).status,
  ).toBe(200);
  expect(
    (
      await put('admin', 'newsletter', {
        from: 'news@brightlane.example',
        fromName: 'Brightlane',
        audience: 'recipients',
        recipients: ['ada@readers.example', 'grace@readers.example'],
      })
    ).status,
  ).toBe(200);
}, 120_000);

afterAll(async () => {
  const [first] = apps;
  await first?.get<Model<ContactProfileDoc>>(CONTACT_PROFILE_MODEL).db.dropDatabase();
  await Promise.all(apps.map((app) => app.close()));
  apps = [];
  await Promise.all([wordpress.stop(), linkedin.stop(), sendgrid.stop()]);
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(
  key: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Json };
}
const put = (key: string, destination: string, body: unknown) =>
  call(key, 'PUT', `/v1/content-destinations/${destination}`, body);
const act = (key: string, id: string, action: string, body: unknown = {}) =>
  call(key, 'POST', `/v1/content/${id}/${action}`, body);

/** A new item written by `key`, with `id` and its status. */
async function draft(key: string, body: Json): Promise<string> {
  const created = await call(key, 'POST', '/v1/content', body);
  expect(created.status).toBe(201);
  return created.json['contentId'] as string;
}

/** An item written by the writer and approved by the reviewer. */
async function approved(body: Json): Promise<string> {
  const id = await draft('writer', body);
  expect((await act('writer', id, 'submit')).status).toBe(200);
  expect((await act('reviewer', id, 'approve')).json).toMatchObject({
    status: 'approved',
    approvedBy: 'key:reviewer',
  });
  return id;
}

const statusOf = async (id: string): Promise<Json> => (await call('reader', 'GET', `/v1/content/${id}`)).json;
const settledAs = (id: string, status: string, timeoutMs = 20_000) =>
  waitFor(
    `${id} to be ${status}`,
    async () => {
      const item = await statusOf(id);
      return item['status'] === status ? item : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
const destination = (item: Json, name: string): Json =>
  (item['destinations'] as Json[]).find((d) => d['name'] === name) ?? {};
const requestsTo = (fake: FakeWordPress | FakeLinkedIn, method: string, pathname: string | RegExp) =>
  fake.requests.filter(
    (r) =>
      r.method === method &&
      (typeof pathname === 'string' ? r.pathname === pathname : pathname.test(r.pathname)),
  ).length;

/** The workspace's records on content.events, read until quiet: after a pause, up to where every partition ended. */
async function contentEvents(): Promise<ContentEvent[]> {
  await sleep(2_000);
  const records = await readTopicToEnd(kafka, Topics.ContentEvents, startedAt - 5_000);
  const events = await Promise.all(
    records.map(async (r) => (await registry.decode(r.value)) as ContentEvent),
  );
  return events.filter((e) => e.metadata.workspaceId === ws);
}

let flowId = '';

describe('content publishing', () => {
  it('stores destination credentials sealed, never shows them, and keeps them on a rewrite that omits them', async () => {
    const listed = await call('reader', 'GET', '/v1/content-destinations');
    expect(listed.status).toBe(200);
    const cms = (listed.json['destinations'] as Json[]).find((d) => d['destination'] === 'cms');
    expect(cms?.['settings']).toEqual({
      baseUrl: wordpress.baseUrl,
      username: 'editor',
      applicationPassword: '********',
    });
    expect(JSON.stringify(listed.json)).not.toContain(SOCIAL_TOKEN);
    const stored = await apps[0]
      ?.get<Model<DestinationSettingsDoc>>(DESTINATION_SETTINGS_MODEL)
      .find({ workspaceId: ws })
      .lean();
    expect(JSON.stringify(stored)).not.toMatch(/abcd EFGH|AQX-/);

    const rewrite = await put('admin', 'cms', { baseUrl: `${wordpress.baseUrl}/`, username: 'editor' });
    expect(rewrite.json['settings']).toMatchObject({
      baseUrl: wordpress.baseUrl,
      applicationPassword: '********',
    });
    const bad = await put('admin', 'social', { baseUrl: 'ftp://x', author: 'ada' });
    expect(bad.status).toBe(400);
    expect((bad.json['errors'] as Json[]).map((e) => e['field']).sort()).toEqual(['author', 'baseUrl']);
    expect((await put('writer', 'cms', { baseUrl: wordpress.baseUrl, username: 'x' })).status).toBe(403);
  });

  it('takes a blog post through review, changes and approval to WordPress, LinkedIn and the newsletter', async () => {
    const id = await draft('writer', {
      kind: 'blog_post',
      title: 'Spring launch',
      body: '<p>Draft one</p>',
      destinations: ['cms', 'social', 'newsletter'],
    });
    flowId = id;
    expect(
      (await call('writer', 'PUT', `/v1/content/${id}`, { title: 'Spring launch', body: '<p>Draft two</p>' }))
        .json,
    ).toMatchObject({
      status: 'draft',
      latestVersion: 2,
    });
    expect((await act('writer', id, 'submit')).json).toMatchObject({ status: 'in_review' });
    expect(
      (await act('reviewer', id, 'request-changes', { reason: 'Add the pricing link' })).json,
    ).toMatchObject({ status: 'changes_requested' });
    await call('writer', 'PUT', `/v1/content/${id}`, {
      title: 'Our spring launch',
      body: '<p>It is here. See the <a href="https://brightlane.example/pricing">pricing</a>.</p>',
      excerpt: 'Everything new this spring',
    });
    await act('writer', id, 'submit');
    expect((await act('reviewer', id, 'comments', { body: 'Looks good' })).status).toBe(201);
    expect((await act('reviewer', id, 'approve')).json).toMatchObject({
      status: 'approved',
      approvedVersion: 3,
    });

    const published = await act('writer', id, 'publish');
    expect(published.status).toBe(200);
    expect(published.json).toMatchObject({ status: 'published', publishedVersion: 3 });
    const post = wordpress.live('post').find((p) => p.title === 'Our spring launch');
    expect(post).toMatchObject({
      status: 'publish',
      author: 'editor',
      excerpt: 'Everything new this spring',
    });
    expect(destination(published.json, 'cms')).toMatchObject({
      status: 'published',
      remoteId: String(post?.id),
      remoteUrl: `${wordpress.baseUrl}/${post?.slug}/`,
      publishedVersion: 3,
    });
    const share = linkedin.live().find((p) => p.commentary.startsWith('Our spring launch'));
    expect(share).toMatchObject({
      author: AUTHOR_URN,
      article: { source: `${wordpress.baseUrl}/${post?.slug}/` },
    });
    expect(destination(published.json, 'social')).toMatchObject({
      status: 'published',
      remoteId: share?.urn,
    });
    expect(destination(published.json, 'newsletter')).toMatchObject({
      status: 'published',
      note: '2 sent, 0 refused, 0 suppressed',
    });
    const emails = sendgrid.messages.filter((m) => m.subject === 'Our spring launch');
    expect(emails.map((m) => m.to[0]?.email).sort()).toEqual([
      'ada@readers.example',
      'grace@readers.example',
    ]);
    expect(emails[0]?.headers['List-Unsubscribe']).toMatch(
      /^<https:\/\/orchestration\.example\/v1\/unsubscribe\//,
    );
    expect(emails[0]?.html).toContain(`${wordpress.baseUrl}/${post?.slug}/`);

    const comments = (await call('reader', 'GET', `/v1/content/${id}/comments`)).json['comments'] as Json[];
    expect(comments.map((c) => [c['kind'], c['body'], c['author']])).toEqual([
      ['changes_requested', 'Add the pricing link', 'key:reviewer'],
      ['comment', 'Looks good', 'key:reviewer'],
    ]);
    expect((await call('reader', 'GET', `/v1/content/${id}/versions/1`)).json).toMatchObject({
      body: '<p>Draft one</p>',
    });
    const history = (await call('reader', 'GET', `/v1/content/${id}/history`)).json['entries'] as Json[];
    expect(history.map((h) => h['action'])).toEqual(
      expect.arrayContaining(['content.created', 'content.approved', 'content.published']),
    );
    expect(history.find((h) => h['action'] === 'content.approved')).toMatchObject({
      actorCredentialId: 'key:reviewer',
      targetType: 'content_item',
      targetId: id,
      outcome: 'success',
    });
  });

  it('refuses an approval by anyone who wrote the content, with a reason, and records the attempt', async () => {
    const id = await draft('lead', { kind: 'landing_page', title: 'Pricing', body: '<p>Plans</p>' });
    await act('lead', id, 'submit');
    const self = await act('lead', id, 'approve');
    expect(self.status).toBe(403);
    expect(self.json).toMatchObject({
      error: 'self_approval',
      field: 'approver',
      currentStatus: 'in_review',
      reason: 'you wrote a version of this content: someone who did not write it must approve it',
    });
    expect((await statusOf(id))['status']).toBe('in_review');
    const history = (await call('reader', 'GET', `/v1/content/${id}/history`)).json['entries'] as Json[];
    expect(history.filter((h) => h['outcome'] === 'denied')).toEqual([
      expect.objectContaining({ action: 'content.approved', actorCredentialId: 'key:lead' }),
    ]);
  });

  it('answers a transition the status does not allow with 409 and the current status, and bad fields with 400', async () => {
    const id = await draft('writer', { kind: 'social_post', title: 'Teaser', body: 'Something is coming' });
    const early = await act('reviewer', id, 'approve');
    expect(early.status).toBe(409);
    expect(early.json).toMatchObject({ error: 'conflict', field: 'status', currentStatus: 'draft' });
    expect((await act('writer', id, 'publish')).json).toMatchObject({ currentStatus: 'draft' });
    expect((await act('writer', id, 'unpublish')).status).toBe(409);
    await act('writer', id, 'submit');
    const editInReview = await call('writer', 'PUT', `/v1/content/${id}`, { title: 'x', body: 'y' });
    expect(editInReview.status).toBe(409);
    expect(editInReview.json).toMatchObject({ currentStatus: 'in_review' });
    expect((await statusOf(id))['latestVersion']).toBe(1);

    const wrongKind = await call('writer', 'POST', '/v1/content', { kind: 'podcast', title: 'x', body: 'y' });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.json['errors']).toEqual([expect.objectContaining({ field: 'kind' })]);
    const wrongPlace = await call('writer', 'POST', '/v1/content', {
      kind: 'social_post',
      title: 'x',
      body: 'y',
      destinations: ['cms'],
    });
    expect(wrongPlace.json['errors']).toEqual([
      { field: 'destinations[0]', reason: 'a social_post goes to social, not cms' },
    ]);
    const missing = await call('writer', 'POST', '/v1/content', { kind: 'blog_post', body: 'y' });
    expect(missing.json['errors']).toEqual([{ field: 'title', reason: 'required' }]);
    await act('reviewer', id, 'approve');
    const past = await act('writer', id, 'schedule', { publishAt: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    expect(past.json['errors']).toEqual([
      { field: 'publishAt', reason: 'must be in the future, at most a year ahead' },
    ]);
  });

  it('checks scopes: writing, approving and configuring each need their own', async () => {
    const id = await draft('writer', { kind: 'blog_post', title: 'Scoped', body: 'x' });
    expect(
      (await call('reader', 'POST', '/v1/content', { kind: 'blog_post', title: 'x', body: 'y' })).status,
    ).toBe(403);
    await act('writer', id, 'submit');
    const writerApproves = await act('writer', id, 'approve');
    expect(writerApproves.status).toBe(403);
    expect(writerApproves.json).toMatchObject({ reason: 'missing scope: content:approve' });
    expect((await call('reviewer', 'PUT', `/v1/content/${id}`, { title: 'x', body: 'y' })).status).toBe(403);
    expect((await call('tracker', 'GET', '/v1/content')).status).toBe(403);
    expect((await call('nobody', 'GET', '/v1/content')).status).toBe(401);
    expect((await call('reader', 'GET', `/v1/content/${id}`)).status).toBe(200);
  });

  it('never shows one workspace another’s content, nor lets it act on it', async () => {
    const mine = (await call('reader', 'GET', '/v1/content')).json['items'] as Json[];
    expect(mine.map((i) => i['contentId'])).toContain(flowId);
    expect((await call('elsewhere', 'GET', '/v1/content')).json).toEqual({ items: [] });
    expect((await call('elsewhere', 'GET', `/v1/content/${flowId}`)).status).toBe(404);
    expect((await act('elsewhere', flowId, 'unpublish')).status).toBe(404);
    expect((await act('elsewhere', flowId, 'comments', { body: 'hi' })).status).toBe(404);
    expect((await call('elsewhere', 'GET', '/v1/content-destinations')).json).toEqual({ destinations: [] });
  });

  it('waits out WordPress’s 429 and publishes once: one remote post', async () => {
    const id = await approved({ kind: 'landing_page', title: 'Webinar signup', body: '<p>Join us</p>' });
    const before = requestsTo(wordpress, 'POST', '/wp-json/wp/v2/pages');
    wordpress.failNext(1, { status: 429, retryAfterSeconds: 1 });
    const t0 = Date.now();
    const published = await act('writer', id, 'publish');
    expect(published.status).toBe(200);
    expect(published.json).toMatchObject({ status: 'published' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
    expect(requestsTo(wordpress, 'POST', '/wp-json/wp/v2/pages') - before).toBe(2);
    expect(wordpress.posts.filter((p) => p.title === 'Webinar signup')).toEqual([
      expect.objectContaining({ type: 'page', status: 'publish' }),
    ]);
    expect(destination(published.json, 'cms')).toMatchObject({
      status: 'published',
      attempts: 1,
      lastError: null,
    });
  });

  it('retries LinkedIn’s 5xx in later rounds without publishing to WordPress again', async () => {
    const id = await approved({
      kind: 'blog_post',
      title: 'Customer story',
      body: '<p>How Copperleaf grew</p>',
      destinations: ['cms', 'social'],
    });
    const posts = requestsTo(wordpress, 'POST', /^\/wp-json\/wp\/v2\/posts/);
    const shares = requestsTo(linkedin, 'POST', '/rest/posts');
    // The first round's call and its two in-call retries all fail: the round fails, the next one succeeds.
    linkedin.failNext(3, { status: 503 });
    const first = await act('writer', id, 'publish');
    expect(first.status).toBe(202);
    expect(first.json).toMatchObject({ status: 'publishing' });
    expect(destination(first.json, 'cms')).toMatchObject({ status: 'published' });
    expect(destination(first.json, 'social')).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastError: expect.stringMatching(/^linkedin 503/),
    });

    const done = await settledAs(id, 'published');
    expect(destination(done, 'social')).toMatchObject({ status: 'published', attempts: 2 });
    expect(requestsTo(linkedin, 'POST', '/rest/posts') - shares).toBe(4);
    expect(linkedin.live().filter((p) => p.commentary.startsWith('Customer story'))).toHaveLength(1);
    // WordPress got the one create, and nothing after it: no update, no second post.
    expect(requestsTo(wordpress, 'POST', /^\/wp-json\/wp\/v2\/posts/) - posts).toBe(1);
    expect(wordpress.posts.filter((p) => p.title === 'Customer story')).toHaveLength(1);
  });

  it('publishes scheduled content when it is due, each item once across both replicas', async () => {
    const ids = await Promise.all(
      [1, 2, 3].map((n) =>
        approved({ kind: 'social_post', title: `Countdown ${n}`, body: `Launch day ${run} #${n}` }),
      ),
    );
    const publishAt = new Date(Date.now() + 2_000);
    for (const id of ids) {
      const scheduled = await act('writer', id, 'schedule', { publishAt: publishAt.toISOString() });
      expect(scheduled.json).toMatchObject({ status: 'scheduled', publishAt: publishAt.toISOString() });
    }
    expect(linkedin.posts.filter((p) => p.commentary.includes(run))).toEqual([]);
    for (const id of ids) await settledAs(id, 'published');
    const shares = linkedin.posts.filter((p) => p.commentary.includes(run));
    expect(shares.map((p) => p.commentary).sort()).toEqual([1, 2, 3].map((n) => `Launch day ${run} \\#${n}`));
    for (const share of shares)
      expect(Date.parse(share.createdAt)).toBeGreaterThanOrEqual(publishAt.getTime());
  });

  it('sends an email template to the consented contacts, leaving out the others and suppressed addresses', async () => {
    const profiles = apps[0]?.get<Model<ContactProfileDoc>>(CONTACT_PROFILE_MODEL);
    const contact = (id: string, email: string, consent: boolean) => ({
      _id: `${ws}:${id}`,
      workspaceId: ws,
      attributes: { email, ...(consent ? { emailMarketingConsent: 'true' } : {}) },
      updatedAt: new Date(),
    });
    await profiles?.insertMany([
      contact('c1', 'lin@customers.example', true),
      contact('c2', 'max@customers.example', false),
      contact('c3', 'sam@customers.example', true),
    ]);
    await apps[0]?.get(AudienceGuards).suppress(ws, 'email', 'sam@customers.example', 'unsubscribe');
    await put('admin', 'newsletter', { from: 'news@brightlane.example', audience: 'consented_contacts' });
    const id = await approved({
      kind: 'email_template',
      title: `Monthly digest ${run}`,
      body: '<p>News</p>',
    });
    const published = await act('writer', id, 'publish');
    expect(destination(published.json, 'newsletter')).toMatchObject({
      status: 'published',
      note: '1 sent, 0 refused, 1 suppressed',
    });
    const sent = sendgrid.messages.filter((m) => m.subject === `Monthly digest ${run}`);
    expect(sent.map((m) => m.to[0]?.email)).toEqual(['lin@customers.example']);
  });

  it('unpublishes: the WordPress post goes to the trash, the LinkedIn post is deleted, the newsletter stays sent', async () => {
    const unpublished = await act('writer', flowId, 'unpublish');
    expect(unpublished.status).toBe(200);
    expect(unpublished.json).toMatchObject({ status: 'unpublished' });
    expect(destination(unpublished.json, 'cms')).toMatchObject({
      status: 'removed',
      note: 'moved to the WordPress trash',
    });
    expect(destination(unpublished.json, 'social')).toMatchObject({ status: 'removed' });
    expect(destination(unpublished.json, 'newsletter')).toMatchObject({ status: 'kept' });
    expect(wordpress.posts.find((p) => p.title === 'Our spring launch')?.status).toBe('trash');
    expect(linkedin.posts.find((p) => p.commentary.startsWith('Our spring launch'))?.deleted).toBe(true);
    expect((await act('writer', flowId, 'unpublish')).json).toMatchObject({ currentStatus: 'unpublished' });
  });

  it('republishes an unpublished page as a new version by updating the same WordPress page', async () => {
    const id = await approved({ kind: 'landing_page', title: `Event page ${run}`, body: '<p>Day one</p>' });
    const first = await act('writer', id, 'publish');
    const pageId = destination(first.json, 'cms')['remoteId'] as string;
    expect((await act('writer', id, 'unpublish')).json).toMatchObject({ status: 'unpublished' });
    expect(wordpress.posts.find((p) => String(p.id) === pageId)?.status).toBe('trash');
    await call('writer', 'PUT', `/v1/content/${id}`, { title: `Event page ${run}`, body: '<p>Day two</p>' });
    await act('writer', id, 'submit');
    await act('reviewer', id, 'approve');
    const again = await act('writer', id, 'publish');
    expect(again.json).toMatchObject({ status: 'published', publishedVersion: 2 });
    expect(destination(again.json, 'cms')).toMatchObject({ remoteId: pageId, publishedVersion: 2 });
    expect(wordpress.posts.filter((p) => p.title === `Event page ${run}`)).toEqual([
      expect.objectContaining({ id: Number(pageId), status: 'publish', content: '<p>Day two</p>' }),
    ]);
  });

  it('puts every step on content.events once, in order, with the actor', async () => {
    const events = await contentEvents();
    const ids = events.map((e) => e.metadata.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    const steps = events
      .filter((e) => e.contentId === flowId)
      .map((e) => [e.action, e.status, e.destination ?? '', e.actorCredentialId ?? '(publisher)']);
    expect(steps).toEqual([
      ['created', 'draft', '', 'key:writer'],
      ['edited', 'draft', '', 'key:writer'],
      ['submitted', 'in_review', '', 'key:writer'],
      ['changes_requested', 'changes_requested', '', 'key:reviewer'],
      ['edited', 'draft', '', 'key:writer'],
      ['submitted', 'in_review', '', 'key:writer'],
      ['commented', 'in_review', '', 'key:reviewer'],
      ['approved', 'approved', '', 'key:reviewer'],
      ['publishing', 'publishing', '', 'key:writer'],
      ['destination_published', 'publishing', 'cms', '(publisher)'],
      ['destination_published', 'publishing', 'social', '(publisher)'],
      ['destination_published', 'publishing', 'newsletter', '(publisher)'],
      ['published', 'published', '', '(publisher)'],
      ['unpublishing', 'unpublishing', '', 'key:writer'],
      ['destination_removed', 'unpublishing', 'cms', '(publisher)'],
      ['destination_removed', 'unpublishing', 'social', '(publisher)'],
      ['unpublished', 'unpublished', '', '(publisher)'],
    ]);
    const changes = events.find((e) => e.contentId === flowId && e.action === 'changes_requested');
    expect(changes).toMatchObject({ reason: 'Add the pricing link', fromStatus: 'in_review', version: 2 });
    // The scheduled ones started by the publisher at their time, once each.
    const started = events.filter((e) => e.action === 'publishing' && e.actorCredentialId === null);
    expect(started).toHaveLength(3);
    expect(started.every((e) => e.fromStatus === 'scheduled')).toBe(true);
  });
});

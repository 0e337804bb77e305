/**
 * The journeys API on the real FerretDB (a database of its own): versions written as YAML or JSON, published,
 * paused, resumed and archived under the right scopes, invalid journeys refused with field errors, a dry run that
 * shows the path a contact would take, and one workspace never seeing another's journeys.
 */
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION, connectServiceStore } from '@tributary/store';
import { WORKSPACE_KEYS, type Principal, type WorkspaceKeyResolver } from '@tributary/access';
import { testStackEndpoints, uniqueId } from '@tributary/testing';
import { captureJourneyBodies } from './journey-documents';
import { JourneyCatalog, journeyCatalogProviders } from './journey-catalog';
import { JourneysController } from './journeys.controller';

const run = uniqueId('japi');
const ws = `ws_${run}`;
let connection: Connection;
let app: INestApplication;
let url: string;

const principals: Record<string, Principal> = {
  admin: { workspaceId: ws, scopes: ['journeys:admin'], credentialId: 'k-admin' },
  reader: { workspaceId: ws, scopes: ['journeys:read'], credentialId: 'k-reader' },
  tracker: { workspaceId: ws, scopes: ['track:write'], credentialId: 'k-tracker' },
  elsewhere: { workspaceId: `${ws}_b`, scopes: ['*'], credentialId: 'k-elsewhere' },
};
const keys: WorkspaceKeyResolver = { resolve: (key) => principals[key] };

@Module({
  controllers: [JourneysController],
  providers: [
    ...journeyCatalogProviders({ JOURNEY_CACHE_TTL_MS: 0 }),
    JourneyCatalog,
    { provide: STORE_CONNECTION, useFactory: () => connection },
    { provide: WORKSPACE_KEYS, useValue: keys },
  ],
})
class JourneysApiModule {}

beforeAll(async () => {
  connection = await connectServiceStore(testStackEndpoints().mongoUrl, `test_${run}_journeys`);
  app = await NestFactory.create(JourneysApiModule, { logger: false });
  captureJourneyBodies(app);
  await app.listen(0, '127.0.0.1');
  url = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/v1/journeys`;
});

afterAll(async () => {
  await app?.close();
  await connection?.dropDatabase();
  await connection?.close();
});

const as = (key: string, path = '', init: RequestInit = {}) =>
  fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string> | undefined) },
  });
const put = (key: string, journeyId: string, body: string, contentType = 'application/yaml') =>
  as(key, `/${journeyId}`, { method: 'PUT', body, headers: { 'content-type': contentType } });
const post = (key: string, path: string, body?: unknown) =>
  as(key, path, {
    method: 'POST',
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });

const WELCOME = `
name: Welcome
entry: { on: lifecycle, stage: lead }
steps:
  - { id: hello, type: email, subject: "Welcome {{ contact.firstName }}", html: "<p>Hi</p>" }
  - { id: later, type: wait, duration: 2d }
  - id: by-size
    type: branch
    branches: [{ when: [{ attribute: companySize, op: gte, value: 500 }], next: sales }]
    otherwise: tips
  - { id: sales, type: email, subject: "Meet sales", html: "<p>s</p>", next: done }
  - { id: tips, type: email, subject: "Tips", html: "<p>t</p>", category: transactional }
  - { id: done, type: exit }
`;

describe('journeys API', () => {
  it('writes versions as drafts and publishes one, under journeys:admin', async () => {
    const first = await put('admin', 'welcome', WELCOME);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({
      journeyId: 'welcome',
      name: 'Welcome',
      status: 'draft',
      latestVersion: 1,
      publishedVersion: null,
    });
    const asJson = await put(
      'admin',
      'welcome',
      JSON.stringify({
        name: 'Welcome v2',
        entry: { on: 'score', atLeast: 40 },
        steps: [{ id: 'x', type: 'exit' }],
      }),
      'application/json',
    );
    expect(await asJson.json()).toMatchObject({ latestVersion: 2, publishedVersion: null, status: 'draft' });

    const published = await post('admin', '/welcome/publish', { version: 1 });
    expect(published.status).toBe(200);
    expect(await published.json()).toMatchObject({ status: 'active', publishedVersion: 1, latestVersion: 2 });
    const read = (await (await as('reader', '/welcome')).json()) as { definition: { name: string } };
    expect(read.definition.name).toBe('Welcome');
    expect(await (await as('reader', '/welcome/versions/2')).json()).toMatchObject({
      version: 2,
      definition: { name: 'Welcome v2' },
    });
  });

  it('pauses, resumes and archives, refusing what the status does not allow', async () => {
    await put('admin', 'lifecycle', WELCOME);
    expect((await post('admin', '/lifecycle/pause')).status).toBe(409);
    await post('admin', '/lifecycle/publish');
    expect(await (await post('admin', '/lifecycle/pause')).json()).toMatchObject({ status: 'paused' });
    expect(await (await post('admin', '/lifecycle/resume')).json()).toMatchObject({ status: 'active' });
    expect(await (await post('admin', '/lifecycle/archive')).json()).toMatchObject({ status: 'archived' });
    const again = await post('admin', '/lifecycle/publish');
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: 'conflict', field: 'status' });
  });

  it('refuses an invalid journey with every problem at its field, and stores nothing', async () => {
    const res = await put(
      'admin',
      'broken',
      'name: Broken\nentry: { on: event }\nsteps:\n  - { id: a, type: wait, duration: soon, next: nowhere }\n',
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; errors: { field: string }[] };
    expect(body.error).toBe('invalid_journey');
    expect(body.errors.map((e) => e.field).sort()).toEqual(['entry.event', 'steps[0].duration']);
    expect((await as('admin', '/broken')).status).toBe(404);
  });

  it('refuses a schedule with a bad cron and time zone at their fields, and dry-runs a valid one', async () => {
    const schedule = (entry: string) =>
      `name: Weekly pro digest\nentry: { on: schedule, ${entry}, where: [{ attribute: plan, value: pro }] }\n` +
      'steps:\n  - { id: digest, type: email, subject: "Your week", html: "<p>w</p>" }\n';
    const res = await put(
      'admin',
      'weekly',
      schedule('cron: "0 9 * * mon-fri-sun", timezone: Europe/Berlinn'),
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { field: string }[] };
    expect(body.errors.map((e) => e.field).sort()).toEqual(['entry.cron', 'entry.timezone']);

    expect(
      (await put('admin', 'weekly', schedule('cron: "0 9 * * 1", timezone: Europe/Berlin'))).status,
    ).toBe(200);
    const dry = (await (
      await post('reader', '/weekly/dry-run', {
        contact: { attributes: { plan: 'pro', email: 'a@example.com' } },
      })
    ).json()) as { enters: boolean; schedule: string };
    expect(dry.enters).toBe(true);
    expect(dry.schedule).toMatch(
      /^runs on "0 9 \* \* 1" in Europe\/Berlin; next: \d{4}-\d\d-\d\dT09:00:00\+0[12]:00/,
    );
  });

  it('checks scopes: reading needs journeys:read or admin, writing journeys:admin', async () => {
    expect((await put('reader', 'welcome', WELCOME)).status).toBe(403);
    expect((await post('reader', '/welcome/pause')).status).toBe(403);
    expect((await as('tracker', '')).status).toBe(403);
    expect((await as('reader', '')).status).toBe(200);
    expect((await as('nobody', '')).status).toBe(401);
  });

  it('never shows one workspace another’s journeys', async () => {
    const mine = (await (await as('admin', '')).json()) as { journeys: { journeyId: string }[] };
    expect(mine.journeys.map((j) => j.journeyId)).toEqual(expect.arrayContaining(['welcome']));
    expect(await (await as('elsewhere', '')).json()).toEqual({ journeys: [] });
    expect((await as('elsewhere', '/welcome')).status).toBe(404);
    expect((await post('elsewhere', '/welcome/archive')).status).toBe(404);
  });

  it('dry-runs the path a contact would take now, without sending', async () => {
    const big = await post('reader', '/welcome/dry-run', {
      contact: {
        attributes: { email: 'a@x.example', emailMarketingConsent: true, companySize: 900 },
        stage: 'lead',
      },
    });
    expect(big.status).toBe(200);
    expect(await big.json()).toEqual({
      version: 1,
      enters: true,
      reason: null,
      key: null,
      path: [
        { stepId: 'hello', type: 'email', action: 'sends "Welcome {{ contact.firstName }}" (marketing)' },
        { stepId: 'later', type: 'wait', action: 'waits 2d (172800 s)' },
        { stepId: 'by-size', type: 'branch', action: 'decides' },
        { stepId: 'sales', type: 'email', action: 'sends "Meet sales" (marketing)' },
        { stepId: 'done', type: 'exit', action: 'leaves the journey' },
      ],
    });
    const unconsented = (await (
      await post('reader', '/welcome/dry-run', {
        contact: { attributes: { email: 'b@x.example' }, stage: 'lead' },
      })
    ).json()) as { path: { stepId: string; action: string }[] };
    expect(unconsented.path.map((s) => [s.stepId, s.action])).toEqual([
      ['hello', 'skips the email: no marketing consent'],
      ['later', 'waits 2d (172800 s)'],
      ['by-size', 'decides'],
      ['tips', 'sends "Tips" (transactional)'],
      // The list order goes on from tips to the exit after it.
      ['done', 'leaves the journey'],
    ]);
    expect(
      await (await post('reader', '/welcome/dry-run', { contact: { stage: 'mql' } })).json(),
    ).toMatchObject({
      enters: false,
      reason: 'enters when a contact becomes lead',
      path: [],
    });
    const bad = await post('reader', '/welcome/dry-run', { contact: { score: 'high' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ errors: [{ field: 'contact.score' }] });
  });
});

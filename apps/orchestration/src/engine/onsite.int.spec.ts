/**
 * On-site content on the real stack (Kafka, registry, Mongo-wire store): a contact reaching a journey's onsite step
 * has its slot readable by the workspace's website with the public write key, for that contact only, with CORS,
 * ETag revalidation and expiry; and the template preview API renders steps as the engine would.
 */
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Connection, Model } from 'mongoose';
import { Topics, type JourneyStepRecorded } from '@tributary/contracts';
import { WORKSPACE_KEYS, type Principal, type WorkspaceKeyResolver } from '@tributary/access';
import type { AvroSchemaRegistry, EventPublisher } from '@tributary/messaging';
import type { Kafka } from 'kafkajs';
import { stopTelemetry } from '@tributary/observability';
import { startService, type RunningService } from '@tributary/runtime';
import { STORE_CONNECTION } from '@tributary/store';
import {
  connectTestPublisher,
  leadScoredFixture,
  publishLeadsScored,
  readTopicUntil,
  testServiceEnv,
  uniqueId,
  waitFor,
} from '@tributary/testing';
import { OrchestrationModule } from '../app.module';
import { loadOrchestrationConfig } from '../config';
import { validateJourney } from '../journeys/journey-definition';
import { JourneyCatalog, journeyCatalogProviders } from '../journeys/journey-catalog';
import { JourneyPreviewController } from '../journeys/journey-preview.controller';
import { OnsiteController, allowOnsiteOrigins } from '../onsite/onsite.controller';
import {
  ONSITE_SLOT_MODEL,
  OnsiteSlots,
  onsiteSlotModelProviders,
  type OnsiteSlotDoc,
} from '../onsite/onsite-slots';
import { ENROLLMENT_MODEL, engineModelProviders, type EnrollmentDoc } from './engine.models';

const run = uniqueId('onsite');
const ws = `ws_onsite_${run}`;
const other = `${ws}_b`;
const principals: Record<string, Principal> = {
  site: { workspaceId: ws, scopes: ['track:write'], credentialId: 'k-site' },
  reader: { workspaceId: ws, scopes: ['journeys:read'], credentialId: 'k-reader' },
  elsewhere: { workspaceId: other, scopes: ['track:write', 'journeys:read'], credentialId: 'k-elsewhere' },
};
const keys: WorkspaceKeyResolver = { resolve: (key) => principals[key] };

let engine: RunningService;
let api: INestApplication;
let url: string;
let publisher: EventPublisher;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let enrollments: Model<EnrollmentDoc>;

const JOURNEY = {
  name: 'Pricing follow-up',
  entry: { on: 'event', event: 'Pricing Viewed' },
  steps: [
    {
      id: 'hero',
      type: 'onsite',
      slot: 'home-hero',
      content: '<p>Hi {{ contact.firstName }}, {{ event.plan }}</p>',
    },
    { id: 'flash', type: 'onsite', slot: 'flash-sale', content: 'Ends soon', ttl: '5s' },
    { id: 'later', type: 'wait', duration: '7d' },
    { id: 'mail', type: 'email', subject: 'About {{ event.plan }}', html: '<p>{{ contact.firstName }}</p>' },
  ],
};

beforeAll(async () => {
  const config = loadOrchestrationConfig(
    testServiceEnv('orchestration', run, { JOURNEY_TIMER_POLL_MS: '100', JOURNEY_CACHE_TTL_MS: '0' }),
  );
  engine = await startService(OrchestrationModule.forRoot(config), config);
  const connection = engine.app.get<Connection>(STORE_CONNECTION);

  // The read and preview APIs beside it on the same store, with keys of known scopes.
  @Module({
    controllers: [OnsiteController, JourneyPreviewController],
    providers: [
      ...journeyCatalogProviders({ JOURNEY_CACHE_TTL_MS: 0 }),
      JourneyCatalog,
      ...engineModelProviders,
      ...onsiteSlotModelProviders,
      OnsiteSlots,
      { provide: STORE_CONNECTION, useValue: connection },
      { provide: WORKSPACE_KEYS, useValue: keys },
    ],
  })
  class OnsiteApi {}
  api = await NestFactory.create(OnsiteApi, { logger: false });
  allowOnsiteOrigins(api);
  await api.listen(0, '127.0.0.1');
  url = (await api.getUrl()).replace('[::1]', '127.0.0.1');

  enrollments = engine.app.get<Model<EnrollmentDoc>>(ENROLLMENT_MODEL);
  const parsed = validateJourney(JOURNEY);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const catalog = engine.app.get(JourneyCatalog);
  await catalog.append(ws, 'pricing', parsed.value, 'test');
  await catalog.publish(ws, 'pricing');
  ({ publisher, kafka, registry } = await connectTestPublisher(`onsite-${run}`, config, [
    Topics.LeadsScored,
    Topics.JourneySteps,
  ]));
}, 120_000);

afterAll(async () => {
  await publisher?.disconnect();
  await api?.close();
  await engine?.app.get<Connection>(STORE_CONNECTION).dropDatabase();
  await engine?.close();
  await stopTelemetry();
});

function viewedPricing(contactId: string, firstName: string) {
  const scored = leadScoredFixture(ws, contactId, 5, 'onsite', { attributes: { firstName }, stage: 'lead' });
  return {
    ...scored,
    events: [
      {
        eventId: `${scored.metadata.eventId}-e`,
        callType: 'track',
        name: 'Pricing Viewed',
        propertiesJson: JSON.stringify({ plan: '<Pro>' }),
        occurredAt: Date.now(),
      },
    ],
  };
}

const read = (key: string, slot: string, query: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/onsite/${slot}?${query}`, {
    headers: { authorization: `Bearer ${key}`, origin: 'https://www.brightlane.example', ...headers },
  });

const preview = (key: string, body: unknown) =>
  fetch(`${url}/v1/journeys/pricing/preview`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('on-site slots', () => {
  const ada = `${ws}:user-ada`;
  const anon = `${ws}:anon-7`;

  beforeAll(async () => {
    await publishLeadsScored(publisher, [viewedPricing(ada, 'Ada'), viewedPricing(anon, 'Visitor')]);
    // Both past the onsite steps: waiting at the wait step.
    for (const contact of [ada, anon])
      await waitFor(`${contact} at the wait`, async () => {
        const doc = await enrollments.findOne({ workspaceId: ws, contactId: contact }).lean();
        return doc?.waitingAt === 'later' ? doc : undefined;
      });
  }, 60_000);

  it('expires content after its ttl', async () => {
    const shown = await read('site', 'flash-sale', 'userId=user-ada');
    expect(shown.status).toBe(200);
    const body = (await shown.json()) as { expiresAt: string };
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());
    expect(Date.parse(body.expiresAt)).toBeLessThanOrEqual(Date.now() + 5_000);
    const maxAge = Number(/max-age=(\d+)/.exec(shown.headers.get('cache-control') ?? '')?.[1]);
    // The browser keeps it no longer than the content lives.
    expect(maxAge).toBeLessThanOrEqual(5);
    await waitFor(
      'flash-sale expired',
      async () => ((await read('site', 'flash-sale', 'userId=user-ada')).status === 204 ? true : undefined),
      { timeoutMs: 10_000 },
    );
  });

  it('shows the contact its rendered content, escaped, with CORS and private caching', async () => {
    const res = await read('site', 'home-hero', 'userId=user-ada');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      slot: 'home-hero',
      content: '<p>Hi Ada, &lt;Pro&gt;</p>',
      expiresAt: null,
    });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://www.brightlane.example');
    expect(res.headers.get('cache-control')).toBe('private, max-age=30');
    expect(res.headers.get('etag')).toMatch(/^"[\w-]+"$/);
  });

  it('announces the onsite steps on journey.steps as advanced', async () => {
    const decoded: JourneyStepRecorded[] = [];
    let seen = 0;
    const mine = () => decoded.filter((e) => e.contactId === ada && e.stepType === 'onsite');
    await readTopicUntil(kafka, Topics.JourneySteps, async (records) => {
      for (const record of records.slice(seen)) {
        seen += 1;
        decoded.push((await registry.decode(record.value)) as JourneyStepRecorded);
      }
      return mine().length >= 2;
    });
    expect(
      [...new Map(mine().map((e) => [e.metadata.eventId, e])).values()].map((e) => [e.step, e.status]),
    ).toEqual([
      ['hero', 'advanced'],
      ['flash', 'advanced'],
    ]);
  });

  it('resolves an anonymous visitor that was never merged', async () => {
    const res = await read('site', 'home-hero', 'anonymousId=anon-7');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { content: string }).content).toBe('<p>Hi Visitor, &lt;Pro&gt;</p>');
    // Identified on the site before the lead service linked the ids: still the anonymous contact's content.
    const both = await read('site', 'home-hero', 'userId=user-new&anonymousId=anon-7');
    expect(((await both.json()) as { content: string }).content).toBe('<p>Hi Visitor, &lt;Pro&gt;</p>');
  });

  it('answers 304 to the same ETag and 200 to another', async () => {
    const first = await read('site', 'home-hero', 'userId=user-ada');
    const etag = first.headers.get('etag') ?? '';
    const again = await read('site', 'home-hero', 'userId=user-ada', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const stale = await read('site', 'home-hero', 'userId=user-ada', { 'if-none-match': '"other"' });
    expect(stale.status).toBe(200);
  });

  it('shows nothing (204) to another contact, another workspace or another slot', async () => {
    expect((await read('site', 'home-hero', 'userId=user-bo')).status).toBe(204);
    expect((await read('elsewhere', 'home-hero', 'userId=user-ada')).status).toBe(204);
    expect((await read('site', 'sidebar', 'userId=user-ada')).status).toBe(204);
  });

  it('refuses a key without the write-key scope, no key, and a request naming no visitor', async () => {
    expect((await read('reader', 'home-hero', 'userId=user-ada')).status).toBe(403);
    expect((await fetch(`${url}/v1/onsite/home-hero?userId=user-ada`)).status).toBe(401);
    const unnamed = await read('site', 'home-hero', '');
    expect(unnamed.status).toBe(400);
    expect(await unnamed.json()).toMatchObject({ field: 'userId' });
    expect((await read('site', 'Bad Slot', 'userId=user-ada')).status).toBe(400);
  });

  it('answers the CORS preflight without a key', async () => {
    const res = await fetch(`${url}/v1/onsite/home-hero?userId=user-ada`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://www.brightlane.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization, if-none-match',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://www.brightlane.example');
    expect(res.headers.get('access-control-allow-methods')).toContain('GET');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
  });

  it('a rerun of the same visit writes nothing new; a later visit replaces it', async () => {
    const slots = api.get(OnsiteSlots);
    const docs = api.get<Model<OnsiteSlotDoc>>(ONSITE_SLOT_MODEL);
    const base = {
      workspaceId: ws,
      slot: 'rerun',
      contactId: ada,
      journeyId: 'pricing',
      stepId: 'hero',
      expiresAt: null,
    };
    await slots.store({ ...base, content: 'first', visitKey: 'visit-1' });
    await slots.store({ ...base, content: 'second', visitKey: 'visit-1' });
    expect((await docs.findById(`${ws}:rerun:${ada}`).lean())?.content).toBe('first');
    await slots.store({ ...base, content: 'third', visitKey: 'visit-2' });
    expect((await docs.findById(`${ws}:rerun:${ada}`).lean())?.content).toBe('third');
  });
});

describe('template preview', () => {
  it('renders an email step for a stored contact with the request’s event, HTML escaped', async () => {
    const res = await preview('reader', {
      stepId: 'mail',
      contactId: `${ws}:user-ada`,
      event: { plan: '<Team>' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      stepId: 'mail',
      type: 'email',
      subject: 'About <Team>',
      html: '<p>Ada</p>',
      text: null,
      version: 1,
    });
  });

  it('renders an onsite step with given attributes', async () => {
    const res = await preview('reader', { stepId: 'hero', attributes: { firstName: '<script>' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ content: '<p>Hi &lt;script&gt;, </p>' });
  });

  it('refuses an unknown step (404 on stepId), a bad request (400), another workspace and a missing scope', async () => {
    const unknown = await preview('reader', { stepId: 'nope' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ errors: [{ field: 'stepId' }] });
    const waiting = await preview('reader', { stepId: 'later' });
    expect(waiting.status).toBe(400);
    expect((await preview('reader', { stepId: 'mail', colour: 'red' })).status).toBe(400);
    expect((await preview('reader', { stepId: 'mail', contactId: 'someone-else' })).status).toBe(404);
    expect((await preview('elsewhere', { stepId: 'mail' })).status).toBe(404);
    expect((await preview('site', { stepId: 'mail' })).status).toBe(403);
  });
});

/**
 * The lead pipeline on the real stack, the lead service in this process and a local Clearbit-style fake as the enrichment
 * provider: a form lead is enriched, scored under the workspace's model, assigned by its routing rules and becomes an
 * MQL; a redelivered capture assigns once; the provider's 429 is waited out; a provider outage leaves the lead scored
 * and pending until it is re-enriched; an owner accepts (SQL); a CRM moves the late stages; a model change rescores;
 * an event stamped 9999-12-31 neither decays a contact's other events nor moves its clock.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import type { Model } from 'mongoose';
import {
  Topics,
  type LeadAssigned,
  type LeadCaptured,
  type LeadScored,
  type LifecycleChanged,
  type RecordChanged,
  type TopicName,
  type TrackingEvent,
} from '@tributary/contracts';
import { type AvroSchemaRegistry, type EventPublisher, originMetadata } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import {
  connectTestPublisher,
  FakeEnrichmentApi,
  readTopicUntil,
  testServiceEnv,
  trackingEventFixture,
  uniqueId,
  waitFor,
} from '@tributary/testing';
import { LeadsModule } from '../app.module';
import { loadLeadsConfig } from '../config';
import { CONTACT_MODEL, factsOf, type ContactDoc } from '../contacts/contact.model';
import { ContactRepository } from '../contacts/contact.repository';
import { ScoringModelStore } from '../models/scoring-model.store';
import { LeadScoring } from './lead-scoring.service';
import { rescoreWorkspace } from './rescore';

const run = uniqueId('lp');
const workspace = `ws_lp_${run}`;
const writeKey = `lp-key-${run}`;
const providerKey = `sk_test_${run}`;
const fake = new FakeEnrichmentApi({
  apiKey: providerKey,
  companies: [
    {
      domain: 'acme.example',
      name: 'Acme Analytics',
      employees: 800,
      industry: 'Software',
      countryCode: 'DE',
    },
    { domain: 'globex.example', name: 'Globex', employees: 1200, industry: 'Software', countryCode: 'US' },
    { domain: 'initech.example', name: 'Initech', employees: 300, industry: 'Software', countryCode: 'FR' },
    {
      domain: 'umbrella.example',
      name: 'Umbrella',
      employees: 2500,
      industry: 'Software',
      countryCode: 'GB',
    },
  ],
  people: [],
});
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;

const auth = { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}` };

const MODEL_YAML = `
mqlThreshold: 40
engagementHalfLifeDays: 14
fit:
  - { id: senior-title, attribute: title, matches: "\\\\b(vp|head|director|chief)\\\\b", points: 20 }
  - { id: mid-market, attribute: companySize, min: 200, max: 5000, points: 15 }
  - { id: software, attribute: industry, equals: [software, saas], points: 10 }
engagement:
  - { id: form-submitted, when: { callType: form }, points: 5 }
  - { id: pricing-page, when: { event: Pricing Page Viewed }, points: 10, cap: 30 }
`;

const ROUTING_RULES = {
  acceptWithinMinutes: 60,
  teams: [
    {
      id: 'emea',
      members: [
        { ownerId: 'rep-anna', capacity: 100, timezone: 'Europe/Berlin' },
        { ownerId: 'rep-bert', capacity: 100, timezone: 'Europe/Paris' },
      ],
    },
    // Two members: a lead assigned twice would go round-robin to the other one, so "same owner" can fail.
    {
      id: 'na',
      members: [
        { ownerId: 'rep-carl', capacity: 100, timezone: 'America/New_York' },
        { ownerId: 'rep-dora', capacity: 100, timezone: 'America/Chicago' },
      ],
    },
  ],
  rules: [{ id: 'emea-territory', teamId: 'emea', when: { countries: ['DE', 'FR', 'GB'] } }],
  fallbackTeamId: 'na',
};

beforeAll(async () => {
  const { url } = await fake.start();
  const config = loadLeadsConfig(
    testServiceEnv('leads', run, {
      WRITE_KEYS: `${writeKey}:${workspace}`,
      ENRICHMENT_API_URL: url,
      ENRICHMENT_API_KEY: providerKey,
      ENRICHMENT_MAX_RETRY_MS: '3000',
      ENRICHMENT_RETRY_INTERVAL_MS: '200',
      ENRICHMENT_RETRY_BASE_MS: '200',
      ROUTING_SWEEP_INTERVAL_MS: '500',
    }),
  );
  service = await startService(LeadsModule.forRoot(config), config);
  ({ kafka, registry, publisher } = await connectTestPublisher(`lp-${run}`, config, [
    Topics.LeadsCaptured,
    Topics.RecordsChanged,
    Topics.TrackingEvents,
  ]));
  // Bounded, so a hang names its step instead of the hook's timeout.
  const model = await fetch(`${service.url}/v1/scoring-model`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/yaml' },
    body: MODEL_YAML,
    signal: AbortSignal.timeout(20_000),
  });
  expect(model.status).toBe(200);
  const rules = await fetch(`${service.url}/v1/routing-rules`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(ROUTING_RULES),
    signal: AbortSignal.timeout(20_000),
  });
  expect(rules.status).toBe(200);
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await fake.stop();
  await stopTelemetry();
});

function lead(
  email: string,
  fields: Record<string, unknown>,
  extra: Partial<LeadCaptured> = {},
): LeadCaptured {
  return {
    metadata: originMetadata({ workspaceId: workspace, source: 'lp' }),
    leadId: uniqueId('lead'),
    email,
    firstName: 'Ada',
    lastName: 'Lovelace',
    company: null,
    consents: { email_marketing: true },
    source: 'form',
    externalId: null,
    formId: 'demo-request',
    rawFieldsJson: JSON.stringify(fields),
    capturedAt: Date.now(),
    ...extra,
  };
}

async function capture(captured: LeadCaptured): Promise<void> {
  await publisher.publish({
    topic: Topics.LeadsCaptured,
    key: captured.email ?? captured.leadId,
    event: captured,
  });
}

/** This workspace's events on `topic` caused by `causeId`, read until `done` holds. */
async function caused<T extends { metadata: { workspaceId: string; causationId: string | null } }>(
  topic: TopicName,
  causeId: string,
  done: (events: T[]) => boolean,
): Promise<T[]> {
  let events: T[] = [];
  await readTopicUntil(kafka, topic, async (records) => {
    const decoded = await Promise.all(records.map(async (r) => (await registry.decode(r.value)) as T));
    events = decoded.filter(
      (e) => e.metadata.workspaceId === workspace && e.metadata.causationId === causeId,
    );
    return done(events);
  });
  return events;
}

interface ContactView {
  contactId: string;
  identities: string[];
  attributes: Record<string, unknown>;
  score: number;
  fitScore: number;
  engagementScore: number;
  breakdown: { rule: string; kind: string; points: number }[];
  modelVersion: number;
  enrichment: { state: string; sources: string[] };
  stage: string | null;
  stageHistory: { from: string | null; to: string; reason: string }[];
  owner: { ownerId: string; teamId: string; state: string } | null;
}

async function contact(key: string): Promise<ContactView | undefined> {
  const res = await fetch(`${service.url}/v1/contacts/${encodeURIComponent(key)}`, { headers: auth });
  return res.status === 200 ? ((await res.json()) as ContactView) : undefined;
}

async function contactWhere(
  key: string,
  what: string,
  ok: (c: ContactView) => boolean,
): Promise<ContactView> {
  return waitFor(`contact ${key}: ${what}`, async () => {
    const view = await contact(key);
    return view && ok(view) ? view : undefined;
  });
}

describe('lead pipeline', () => {
  it('a form lead is enriched, scored, assigned by territory and becomes an MQL in one flow', async () => {
    const captured = lead('ada@acme.example', { title: 'VP Marketing', country: 'DE' });
    await capture(captured);

    const [assigned] = await caused<LeadAssigned>(
      Topics.LeadsAssigned,
      captured.metadata.eventId,
      (e) => e.length > 0,
    );
    expect(assigned).toMatchObject({ teamId: 'emea', ruleId: 'emea-territory', reason: 'routed' });
    expect(['rep-anna', 'rep-bert']).toContain(assigned?.ownerId);
    const moves = await caused<LifecycleChanged>(Topics.LifecycleChanged, captured.metadata.eventId, (e) =>
      e.some((m) => m.to === 'mql'),
    );
    expect(moves.map((m) => [m.from, m.to, m.reason])).toEqual([
      [null, 'lead', 'lead-captured'],
      ['lead', 'mql', 'score-threshold'],
    ]);
    const [scored] = await caused<LeadScored>(
      Topics.LeadsScored,
      captured.metadata.eventId,
      (e) => e.length > 0,
    );
    // Title 20 + size 15 (enriched: 800 employees) + industry 10 (enriched) + the form 5.
    expect(scored).toMatchObject({ score: 50, fitScore: 45, engagementScore: 5, modelVersion: 1 });
    expect(scored?.breakdown.map((b) => [b.rule, b.kind, b.points]).sort()).toEqual(
      [
        ['form-submitted', 'engagement', 5],
        ['mid-market', 'fit', 15],
        ['senior-title', 'fit', 20],
        ['software', 'fit', 10],
      ].sort(),
    );
    // What journeys downstream send on: who the contact is (consent included), as strings; no calls applied.
    expect(scored?.attributes).toMatchObject({
      email: 'ada@acme.example',
      firstName: 'Ada',
      title: 'VP Marketing',
      companySize: '800',
      emailMarketingConsent: 'true',
    });
    expect(scored?.events).toEqual([]);

    const view = await contactWhere(
      'email:ada@acme.example',
      'an MQL with an owner',
      (c) => c.stage === 'mql',
    );
    expect(view.contactId).toBe(assigned?.contactId);
    expect(view).toMatchObject({
      attributes: { email: 'ada@acme.example', title: 'VP Marketing', country: 'DE', companySize: 800 },
      enrichment: { state: 'enriched' },
      owner: { ownerId: assigned?.ownerId, teamId: 'emea' },
    });
    expect(view.identities).toContain(`${workspace}:email:ada@acme.example`);
  });

  it('a redelivered capture is assigned once, to the same owner, under the same event id', async () => {
    const captured = lead('bo@globex.example', { title: 'Head of Growth', country: 'US' });
    await capture(captured);
    await capture(captured);
    // Both deliveries score (same derived id); the assignment is announced under one id and one owner.
    await caused<LeadScored>(Topics.LeadsScored, captured.metadata.eventId, (e) => e.length >= 2);
    const first = await caused<LeadAssigned>(
      Topics.LeadsAssigned,
      captured.metadata.eventId,
      (e) => e.length > 0,
    );
    // Read again once the topic had time to settle: a second assignment would come after the first.
    await sleep(2_000);
    const assignments = await caused<LeadAssigned>(
      Topics.LeadsAssigned,
      captured.metadata.eventId,
      (e) => e.length >= first.length,
    );
    expect(new Set(assignments.map((a) => a.metadata.eventId)).size).toBe(1);
    const owners = new Set(assignments.map((a) => a.ownerId));
    expect(owners.size).toBe(1);
    const view = await contactWhere('email:bo@globex.example', 'assigned', (c) => c.owner !== null);
    expect(view.owner).toMatchObject({ ownerId: [...owners][0], teamId: 'na' });
    expect(view.stageHistory.filter((s) => s.to === 'lead')).toHaveLength(1);
  });

  it('waits out the provider quota (429 + Retry-After) and then enriches', async () => {
    fake.rejectNext(1, { status: 429, retryAfterSeconds: 1 });
    const captured = lead('cy@initech.example', { title: 'Student', country: 'FR' });
    await capture(captured);
    const view = await contactWhere(
      'email:cy@initech.example',
      'enriched',
      (c) => c.enrichment.state === 'enriched',
    );
    expect(view.attributes).toMatchObject({ companySize: 300, industry: 'Software' });
    const calls = fake.requests.filter(
      (r) => r.pathname === '/v2/companies/find' && r.path.includes('initech.example'),
    );
    expect(calls.map((r) => r.status)).toEqual([429, 200]);
    // The retry came after the Retry-After the fake asked for (times taken by the fake itself).
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  });

  it('scores a lead while the provider is down, marks it pending and re-enriches it when the provider is back', async () => {
    fake.setDown(true);
    const captured = lead('di@umbrella.example', { title: 'VP Sales', country: 'GB' });
    await capture(captured);
    const [scored] = await caused<LeadScored>(
      Topics.LeadsScored,
      captured.metadata.eventId,
      (e) => e.length > 0,
    );
    // Scored on what the form said: title 20 + form 5; size and industry unknown yet.
    expect(scored).toMatchObject({ score: 25, enrichmentState: 'pending' });
    const pending = await contactWhere(
      'email:di@umbrella.example',
      'pending',
      (c) => c.enrichment.state === 'pending',
    );
    expect(pending.attributes['companySize']).toBeUndefined();

    fake.setDown(false);
    const enriched = await contactWhere(
      'email:di@umbrella.example',
      're-enriched and qualified',
      // The enrichment is written before the rescore and the MQL move: wait for the move, not the enrichment.
      (c) => c.enrichment.state === 'enriched' && c.stage === 'mql',
    );
    expect(enriched).toMatchObject({
      attributes: { companySize: 2500, industry: 'Software' },
      score: 50,
      stage: 'mql',
    });
  });

  it('an owner accepts their lead (SQL); someone else cannot', async () => {
    const captured = lead('ed@acme.example', { title: 'Chief Marketing Officer', country: 'DE' });
    await capture(captured);
    const [assigned] = await caused<LeadAssigned>(
      Topics.LeadsAssigned,
      captured.metadata.eventId,
      (e) => e.length > 0,
    );
    const contactId = assigned?.contactId ?? '';
    const post = (ownerId: string) =>
      fetch(`${service.url}/v1/leads/${encodeURIComponent(contactId)}/accept`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': `accept-${ownerId}` },
        body: JSON.stringify({ ownerId }),
      });
    const intruder = assigned?.ownerId === 'rep-anna' ? 'rep-bert' : 'rep-anna';
    expect((await post(intruder)).status).toBe(409);
    const accepted = await post(assigned?.ownerId ?? '');
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toMatchObject({ status: 'accepted' });
    const view = await contactWhere(contactId, 'an SQL', (c) => c.stage === 'sql');
    expect(view.stageHistory.at(-1)).toMatchObject({ from: 'mql', to: 'sql', reason: 'owner-accepted' });
  });

  it('a CRM moves a captured lead to opportunity and then customer', async () => {
    const captured = lead('fay@globex.example', {}, { source: 'hubspot', externalId: '90210', formId: null });
    await capture(captured);
    await contactWhere('email:fay@globex.example', 'a lead', (c) => c.stage === 'lead');
    const change = (stage: string): RecordChanged => ({
      metadata: originMetadata({ workspaceId: workspace, source: 'lp' }),
      system: 'hubspot',
      objectType: 'contact',
      externalId: '90210',
      operation: 'update',
      fieldsJson: JSON.stringify({ lifecyclestage: stage }),
      changedAt: Date.now(),
    });
    await publisher.publish({
      topic: Topics.RecordsChanged,
      key: 'hubspot:contact:90210',
      event: change('opportunity'),
    });
    await contactWhere('email:fay@globex.example', 'an opportunity', (c) => c.stage === 'opportunity');
    await publisher.publish({
      topic: Topics.RecordsChanged,
      key: 'hubspot:contact:90210',
      event: change('customer'),
    });
    const view = await contactWhere('email:fay@globex.example', 'a customer', (c) => c.stage === 'customer');
    expect(view.stageHistory.map((s) => s.to)).toEqual(['lead', 'opportunity', 'customer']);
  });

  it('rescoring after a model change gives every contact its score under the new version', async () => {
    const before = await contactWhere('email:ada@acme.example', 'scored', (c) => c.modelVersion === 1);
    const put = await fetch(`${service.url}/v1/scoring-model`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/yaml' },
      body: MODEL_YAML.replace('points: 20', 'points: 30'),
    });
    expect(await put.json()).toMatchObject({ version: 2 });
    const app = service.app;
    const summary = await rescoreWorkspace({
      contacts: app.get(ContactRepository),
      scoring: app.get(LeadScoring),
      workspaceId: workspace,
      modelVersion: (await app.get(ScoringModelStore).current(workspace)).version,
      asOf: Date.now(),
    });
    expect(summary).toMatchObject({ modelVersion: 2 });
    expect(summary.changed).toBeGreaterThanOrEqual(1);
    const after = await contact('email:ada@acme.example');
    expect(after).toMatchObject({ modelVersion: 2, score: before.score + 10 });
    expect(after?.breakdown.find((b) => b.rule === 'senior-title')?.points).toBe(30);
  });

  it('sales disqualifies a lead by its email (a retry is not a second move) and recycles it to nurture', async () => {
    const captured = lead('gus@initech.example', { title: 'Intern', country: 'FR' });
    await capture(captured);
    await contactWhere('email:gus@initech.example', 'owned', (c) => c.owner !== null);
    const move = (action: string, key: string) =>
      fetch(`${service.url}/v1/leads/${encodeURIComponent('email:gus@initech.example')}/${action}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ reason: 'no-budget' }),
      });
    expect((await move('disqualify', 'dq-1')).status).toBe(200);
    // The same request again is the same move; a new one is a conflict (already disqualified).
    expect((await move('disqualify', 'dq-1')).status).toBe(200);
    expect((await move('disqualify', 'dq-2')).status).toBe(409);
    const disqualified = await contactWhere(
      'email:gus@initech.example',
      'disqualified',
      (c) => c.stage === 'disqualified',
    );
    expect(disqualified.owner).toMatchObject({ state: 'closed' });
    expect(disqualified.stageHistory.filter((s) => s.to === 'disqualified')).toHaveLength(1);
    expect((await move('recycle', 'rc-1')).status).toBe(200);
    const recycled = await contactWhere('email:gus@initech.example', 'recycled', (c) => c.stage === 'lead');
    expect(recycled.stageHistory.at(-1)).toMatchObject({
      from: 'disqualified',
      to: 'lead',
      reason: 'recycled:no-budget',
    });
    const unknown = await fetch(
      `${service.url}/v1/leads/${encodeURIComponent('email:nobody@nowhere.example')}/accept`,
      {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: '{}',
      },
    );
    expect(unknown.status).toBe(404);
  });

  it("an event stamped 9999-12-31 neither decays the contact's other events nor moves its clock", async () => {
    const anon = uniqueId('anon');
    const far = Date.parse('9999-12-31T00:00:00.000Z');
    const call = (fields: Parameters<typeof trackingEventFixture>[0] = {}): TrackingEvent =>
      trackingEventFixture({ anonymousId: anon, event: 'Pricing Page Viewed', ...fields });
    // Straight to Kafka, as any producer may: the edge's clamp is not in the way, and receivedAt is no guide either.
    const send = (event: TrackingEvent) =>
      publisher.publish({ topic: Topics.TrackingEvents, key: anon, event });
    const fromTheFuture = (fields: Parameters<typeof trackingEventFixture>[0]): TrackingEvent =>
      call({
        ...fields,
        metadata: { workspaceId: workspace, occurredAt: far },
        timestamp: far,
        receivedAt: far,
      });
    for (let i = 0; i < 3; i += 1) await send(call({ metadata: { workspaceId: workspace } }));
    // Three pricing-page views: 30, the rule's cap.
    const { contactId } = await contactWhere(anon, 'scored 30', (c) => c.score === 30);

    // The batch path (plain engagement). As of 9999 the three views would be worth nothing: 10, this view alone.
    const view = fromTheFuture({});
    await send(view);
    const [afterView] = await caused<LeadScored>(
      Topics.LeadsScored,
      view.metadata.eventId,
      (e) => e.length > 0,
    );
    expect(afterView).toMatchObject({ contactId, score: 30 });
    // The call it applied travels with the score, for journeys entered on events.
    expect(afterView?.events).toEqual([
      {
        eventId: view.metadata.eventId,
        callType: 'track',
        name: 'Pricing Page Viewed',
        propertiesJson: view.propertiesJson,
        occurredAt: far,
      },
    ]);

    // The one-event path (traits): an identify earns nothing under this model; as of 9999 the score would be 10.
    const identify = fromTheFuture({
      callType: 'identify',
      event: null,
      traitsJson: JSON.stringify({ title: 'Analyst' }),
    });
    await send(identify);
    const [afterIdentify] = await caused<LeadScored>(
      Topics.LeadsScored,
      identify.metadata.eventId,
      (e) => e.length > 0,
    );
    expect(afterIdentify).toMatchObject({ contactId, score: 30 });
    expect(afterIdentify?.events.map((e) => [e.eventId, e.callType])).toEqual([
      [identify.metadata.eventId, 'identify'],
    ]);

    // Stored no later than the scorer's clock plus the skew (5 minutes), so these facts age like the others.
    const stored = await service.app
      .get<Model<ContactDoc>>(CONTACT_MODEL)
      .findById(contactId)
      .lean<ContactDoc>();
    const times = factsOf(stored).map((fact) => fact.at);
    expect(times).toHaveLength(5);
    expect(Math.max(...times)).toBeLessThanOrEqual(Date.now() + 5 * 60_000);
  });
});

/**
 * The journey steps beyond messages, on the real stack (Kafka, registry, Mongo-wire store), two orchestration
 * instances in this process sharing one consumer group and one store: ad audiences through the Customer-Match-style
 * fake, signed webhooks to a local receiver, waits until a local time, attribute updates, and goals.
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kafka } from 'kafkajs';
import type { Model } from 'mongoose';
import {
  Topics,
  type ContactAttributeUpdated,
  type JourneyStepRecorded,
  type LeadScored,
  type LifecycleChanged,
} from '@tributary/contracts';
import type { AvroSchemaRegistry, EventPublisher } from '@tributary/messaging';
import { FakeAdAudiences } from '@tributary/sandbox';
import {
  leadScoredFixture,
  publishLeadsScored,
  readTopicToEnd,
  readTopicUntil,
  uniqueId,
  waitFor,
  leadScoredAfterEvent,
} from '@tributary/testing';
import { type AudienceStep, type JourneyDefinition } from '../journeys/journey-definition';
import { type ContactProfileDoc, type EnrollmentDoc, type MessageDoc } from './engine.models';
import { StepEffects } from './step-effects';
import { OrchestrationHarness } from './testing/orchestration-harness';
import { journeyOf } from '../journeys/testing/journey-documents';

const run = uniqueId('steps');
const workspace = `ws_steps_${run}`;
const account = `acct-${run}`;
const webhookSecret = `whsec_${run}_0123456789`;
const audiences = new FakeAdAudiences({ clientId: `client-${run}`, clientSecret: `secret-${run}` });
let harness: OrchestrationHarness;
let publisher: EventPublisher;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let enrollments: Model<EnrollmentDoc>;
let messages: Model<MessageDoc>;
let profiles: Model<ContactProfileDoc>;
let effects: StepEffects;

interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** The marketer's endpoint: keeps every POST, answers from a script per path (then 200). */
const hooks = {
  received: [] as Delivery[],
  script: new Map<string, number[]>(),
  server: undefined as Server | undefined,
  origin: '',
  to(path: string): Delivery[] {
    return this.received.filter((d) => d.path === path);
  },
};

beforeAll(async () => {
  await audiences.start();
  audiences.createAudience(account, 'trial-users');
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      hooks.received.push({
        path,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      });
      const status = hooks.script.get(path)?.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  hooks.server = server;
  hooks.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  harness = await OrchestrationHarness.start({
    run,
    name: 'steps',
    replicas: 2,
    env: {
      JOURNEY_TIMER_LEASE_MS: '10000',
      AD_AUDIENCES_BASE_URL: audiences.baseUrl,
      AD_AUDIENCES_CLIENT_ID: `client-${run}`,
      AD_AUDIENCES_CLIENT_SECRET: `secret-${run}`,
      AD_AUDIENCE_ACCOUNTS: `${workspace}:${account}`,
      // Long enough that the five enrollments, spread over a loaded CI machine's fetches, meet in one window a replica.
      AUDIENCE_BATCH_WINDOW_MS: '2500',
      JOURNEY_WEBHOOK_SECRETS: `${workspace}:crm:${webhookSecret}`,
      JOURNEY_WEBHOOK_MAX_ATTEMPTS: '3',
      // The receiver listens on loopback.
      JOURNEY_WEBHOOK_ALLOW_PRIVATE: 'true',
    },
    topics: [Topics.LeadsScored, Topics.JourneySteps, Topics.ContactsAttributes, Topics.LifecycleChanged],
  });
  ({ publisher, kafka, registry, enrollments, messages, profiles } = harness);
  effects = harness.get(StepEffects);
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await audiences.stop();
  const server = hooks.server;
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function publishJourney(journeyId: string, document: unknown): Promise<JourneyDefinition> {
  return harness.publishJourney(workspace, journeyId, document);
}

const didEvent = (
  contact: string,
  event: string,
  attributes: Record<string, string>,
  properties: Record<string, unknown> = {},
): LeadScored => leadScoredAfterEvent(workspace, contact, event, attributes, properties);

const enrollmentOf = (journeyId: string, contact: string): string => `${workspace}:${journeyId}:${contact}`;

function finished(id: string, timeoutMs = 30_000): Promise<EnrollmentDoc> {
  return harness.finished(id, timeoutMs);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Publishes `records` (a redelivery: the same events, the same ids), then a sentinel call of `contact` behind them in
 * its partition, and waits until the sentinel's enrollment finished: what came before it has been handled. Once per
 * contact (the sentinel journey is entered once).
 */
async function behindSentinel(records: LeadScored[], contact: string): Promise<void> {
  await publishJourney('sentinel', {
    name: 'Sentinel',
    entry: { on: 'event', event: `Sentinel ${run}` },
    steps: [{ id: 'done', type: 'exit' }],
  });
  await publishLeadsScored(publisher, [...records, didEvent(contact, `Sentinel ${run}`, {})]);
  await finished(enrollmentOf('sentinel', contact));
}

/** Each event once, as a consumer deduplicating by eventId sees them. */
function distinct<T extends { metadata: { eventId: string } }>(events: readonly T[]): T[] {
  return [...new Map(events.map((e) => [e.metadata.eventId, e])).values()];
}

/** Decoded records of `topic` written since this file loaded, read until `done` holds for the decoded list. */
async function readDecoded<T>(topic: string, done: (events: T[]) => boolean): Promise<T[]> {
  const decoded: T[] = [];
  let seen = 0;
  await readTopicUntil(kafka, topic, async (records) => {
    for (const record of records.slice(seen)) {
      seen += 1;
      decoded.push((await registry.decode(record.value)) as T);
    }
    return done(decoded);
  });
  return decoded;
}

describe('journey steps beyond messages', () => {
  it('adds consenting contacts to an ad audience, hashed and batched, once under a 429 and a redelivery', async () => {
    await publishJourney('retarget', {
      name: 'Retarget trials',
      entry: { on: 'event', event: 'Trial Started' },
      steps: [{ id: 'retarget', type: 'audience', audience: 'trial-users', action: 'add' }],
    });
    const contacts = {
      ada: { email: '  Ada.Lovelace@Gmail.com ', adsMarketingConsent: 'true' },
      bo: { email: 'bo@example.com', phone: '+44 844 412 4653', adsMarketingConsent: 'true' },
      cy: { phone: '0049 151 1234 5678', adsMarketingConsent: 'true' },
      di: { email: 'di@example.com', adsMarketingConsent: 'true' },
      // No consent: never uploaded.
      ed: { email: 'ed@example.com' },
    };
    const records = Object.entries(contacts).map(([name, attributes]) =>
      didEvent(`${run}-${name}`, 'Trial Started', attributes),
    );
    audiences.failNextUploads(1, { status: 429, retryAfterSeconds: 1 });
    await publishLeadsScored(publisher, records);
    for (const name of Object.keys(contacts)) await finished(enrollmentOf('retarget', `${run}-${name}`));

    // Redelivered: the same records again; nothing more reaches the platform.
    await behindSentinel(records, `${run}-ada`);
    // A rerun of the step itself (a replica that lost its lease after the upload) finds the record and uploads nothing.
    const adaEnrollment = await enrollments.findById(enrollmentOf('retarget', `${run}-ada`)).lean();
    const step = journeyOf({
      name: 'x',
      entry: { on: 'event', event: 'x' },
      steps: [{ id: 'retarget', type: 'audience', audience: 'trial-users', action: 'add' }],
    }).steps[0] as AudienceStep;
    const rerun = await effects.run(
      { ...(adaEnrollment as EnrollmentDoc), seq: 0 },
      step,
      { contactId: `${run}-ada`, attributes: contacts.ada, stage: 'lead', score: 10, properties: {} },
      false,
    );
    expect(rerun).toMatchObject({ stepStatus: 'advanced', reason: null });

    const uploads = audiences.uploads(account, 'trial-users');
    const uploaded = uploads.flatMap((u) => u.members);
    // Normalised (trimmed, lower-cased, gmail dots kept; phones in E.164), then SHA-256: each member once.
    expect(uploaded).toEqual(
      expect.arrayContaining([
        { hashedEmail: sha256('ada.lovelace@gmail.com') },
        { hashedEmail: sha256('bo@example.com'), hashedPhoneNumber: sha256('+448444124653') },
        { hashedPhoneNumber: sha256('+4915112345678') },
        { hashedEmail: sha256('di@example.com') },
      ]),
    );
    expect(uploaded).toHaveLength(4);
    // Batched: the four went in at most one upload per replica, not one per contact.
    expect(uploads.length).toBeLessThanOrEqual(2);
    expect(uploads.every((u) => u.consent?.adUserData === 'GRANTED')).toBe(true);
    // The first upload got a 429; its batch went again after the Retry-After (1 s), so the last upload came later.
    const tries = audiences.requests.filter((r) => r.pathname.endsWith('/members:add'));
    expect(tries.map((t) => t.status)).toEqual([429, ...uploads.map(() => 200)]);
    const lastUpload = Math.max(...uploads.map((u) => Date.parse(u.receivedAt)));
    expect(lastUpload - (tries[0]?.at ?? Infinity)).toBeGreaterThanOrEqual(1_000);

    const recorded = await messages.find({ workspaceId: workspace, channel: 'audience' }).lean();
    expect(recorded.map((m) => [m.contactId.slice(run.length + 1), m.status, m.reason]).sort()).toEqual([
      ['ada', 'sent', null],
      ['bo', 'sent', null],
      ['cy', 'sent', null],
      ['di', 'sent', null],
      ['ed', 'skipped', 'no-consent'],
    ]);
    // Masked, never the address itself.
    expect(recorded.find((m) => m.contactId === `${run}-ada`)?.recipient).toBe('a***@gmail.com');
  }, 90_000);

  it('posts a signed webhook, retries it after a 503 with the same idempotency key, and delivers it once', async () => {
    const path = `/crm/${run}`;
    hooks.script.set(`${path}?token=t0k3n`, [503]);
    await publishJourney('crm-handoff', {
      name: 'CRM handoff',
      entry: { on: 'event', event: 'Demo Requested' },
      steps: [{ id: 'notify', type: 'webhook', url: `${hooks.origin}${path}?token=t0k3n`, secret: 'crm' }],
    });
    const contact = `${run}-demo`;
    const record = didEvent(contact, 'Demo Requested', { email: 'demo@example.com' }, { seats: 12 });
    await publishLeadsScored(publisher, [record]);
    await finished(enrollmentOf('crm-handoff', contact));
    await behindSentinel([record], contact);

    const deliveries = hooks.to(`${path}?token=t0k3n`);
    expect(deliveries).toHaveLength(2);
    const key = `${enrollmentOf('crm-handoff', contact)}:0:notify:0`;
    for (const delivery of deliveries) {
      // The receiver's check: HMAC-SHA256 of "<t>.<raw body>" with the shared secret, and a fresh timestamp.
      const signature = String(delivery.headers['tributary-signature']);
      const t = /(?:^|,)t=(\d+)/.exec(signature)?.[1] ?? '';
      const v1 = /(?:^|,)v1=([0-9a-f]{64})/.exec(signature)?.[1] ?? '';
      expect(v1).toBe(createHmac('sha256', webhookSecret).update(`${t}.${delivery.body}`).digest('hex'));
      expect(Math.abs(Number(t) * 1000 - delivery.at)).toBeLessThan(5_000);
      expect(delivery.headers['idempotency-key']).toBe(key);
    }
    expect(JSON.parse(deliveries[1]?.body ?? '{}')).toMatchObject({
      id: key,
      journey: { id: 'crm-handoff', version: 1 },
      step: { id: 'notify' },
      contact: { id: contact, attributes: { email: 'demo@example.com' } },
      properties: { seats: 12 },
    });
    const [recorded] = await messages.find({ _id: key }).lean();
    expect(recorded).toMatchObject({
      channel: 'webhook',
      status: 'sent',
      attempts: 2,
      recipient: hooks.origin.replace('http://', ''),
    });
  }, 90_000);

  it('waits until the next minute on the contact’s clock in Kathmandu (UTC+05:45), never early', async () => {
    // The next whole minute is the same instant everywhere; named as Kathmandu's local time and weekday, it is only
    // reached soon if the engine reads the clock in the contact's zone (in UTC that time is 5 h 45 min off).
    const target = Math.ceil((Date.now() + 5_000) / 60_000) * 60_000;
    const local = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Asia/Kathmandu',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
      hourCycle: 'h23',
    }).formatToParts(new Date(target));
    const part = (type: string) => local.find((p) => p.type === type)?.value ?? '';
    const path = `/morning/${run}`;
    await publishJourney('local-morning', {
      name: 'Local morning',
      entry: { on: 'event', event: 'Webinar Registered' },
      steps: [
        {
          id: 'at-local-time',
          type: 'wait_until',
          time: `${part('hour')}:${part('minute')}`,
          weekdays: [part('weekday').toLowerCase()],
        },
        { id: 'reminder', type: 'webhook', url: `${hooks.origin}${path}`, secret: 'crm' },
      ],
    });
    // One with its own zone, one known only by its country (Nepal has the one zone).
    const own = `${run}-kathmandu`;
    const byCountry = `${run}-nepal`;
    await publishLeadsScored(publisher, [
      didEvent(own, 'Webinar Registered', { timezone: 'Asia/Kathmandu' }),
      didEvent(byCountry, 'Webinar Registered', { country: 'NP' }),
    ]);
    const waiting = await harness.waitingAt(enrollmentOf('local-morning', own), 'at-local-time');
    expect(waiting.wakeAt?.getTime()).toBe(target);
    await finished(enrollmentOf('local-morning', own), 90_000);
    await finished(enrollmentOf('local-morning', byCountry), 30_000);
    const deliveries = hooks.to(path);
    expect(deliveries).toHaveLength(2);
    for (const delivery of deliveries) {
      expect(delivery.at).toBeGreaterThanOrEqual(target);
      expect(delivery.at - target).toBeLessThan(5_000);
    }
  }, 120_000);

  it('sets an attribute, announces it, branches on it, and keeps it when the next score comes', async () => {
    await publishJourney('plan-tag', {
      name: 'Plan tag',
      entry: { on: 'event', event: 'Plan Chosen' },
      steps: [
        { id: 'tag', type: 'update_attribute', attribute: 'plan', value: '{{ event.plan | upcase }}' },
        {
          id: 'by-plan',
          type: 'branch',
          branches: [{ when: [{ attribute: 'plan', value: 'PRO' }], next: 'pro' }],
          otherwise: 'done',
        },
        { id: 'pro', type: 'update_attribute', attribute: 'track', value: 'pro-onboarding' },
        { id: 'done', type: 'exit' },
      ],
    });
    const contact = `${run}-tagged`;
    await publishLeadsScored(publisher, [
      didEvent(contact, 'Plan Chosen', { email: 'tag@example.com' }, { plan: 'pro' }),
    ]);
    await finished(enrollmentOf('plan-tag', contact));
    const profile = await profiles.findById(contact).lean();
    expect(profile?.attributes).toMatchObject({
      plan: 'PRO',
      track: 'pro-onboarding',
      email: 'tag@example.com',
    });

    const announced = await readDecoded<ContactAttributeUpdated>(
      Topics.ContactsAttributes,
      (events) => events.filter((e) => e.contactId === contact).length >= 2,
    );
    expect(
      distinct(announced.filter((e) => e.contactId === contact)).map((e) => [
        e.attribute,
        e.value,
        e.stepId,
        e.journeyId,
      ]),
    ).toEqual([
      ['plan', 'PRO', 'tag', 'plan-tag'],
      ['track', 'pro-onboarding', 'pro', 'plan-tag'],
    ]);

    // The lead service's next score knows nothing of plan: the journey's value stays, its own attributes are taken.
    await publishLeadsScored(publisher, [
      leadScoredFixture(workspace, contact, 20, 'steps', {
        attributes: { email: 'tag@example.com', city: 'Oslo' },
      }),
    ]);
    await waitFor('the next score applied', async () => {
      const doc = await profiles.findById(contact).lean();
      return doc?.score === 20 ? doc : undefined;
    });
    expect((await profiles.findById(contact).lean())?.attributes).toMatchObject({
      plan: 'PRO',
      city: 'Oslo',
      email: 'tag@example.com',
    });
  }, 90_000);

  it('ends a waiting contact’s journey as a conversion when it reaches the goal; another event does not', async () => {
    const path = `/goal/${run}`;
    await publishJourney('trial-to-paid', {
      name: 'Trial to paid',
      entry: { on: 'event', event: 'Trial Activated' },
      goal: { event: 'Subscription Created', where: [{ property: 'plan', op: 'neq', value: 'free' }] },
      steps: [
        { id: 'pause', type: 'wait', duration: '1h' },
        { id: 'nudge', type: 'webhook', url: `${hooks.origin}${path}`, secret: 'crm' },
      ],
    });
    const buyer = `${run}-buyer`;
    const freeloader = `${run}-free`;
    await publishLeadsScored(publisher, [
      didEvent(buyer, 'Trial Activated', {}),
      didEvent(freeloader, 'Trial Activated', {}),
    ]);
    for (const contact of [buyer, freeloader])
      await harness.waitingAt(enrollmentOf('trial-to-paid', contact), 'pause');
    const free = didEvent(freeloader, 'Subscription Created', {}, { plan: 'free' });
    await publishLeadsScored(publisher, [didEvent(buyer, 'Subscription Created', {}, { plan: 'pro' }), free]);
    const converted = await finished(enrollmentOf('trial-to-paid', buyer));
    // The free plan's batch is under way once its profile is written; a sentinel published after that comes in a
    // later batch, so when it is through, the goal check of the free plan's call is done too.
    await waitFor('the free plan’s call handled', async () => {
      const doc = await profiles.findById(freeloader).lean();
      return doc?.scoredAt === free.metadata.occurredAt ? doc : undefined;
    });
    await behindSentinel([], freeloader);
    expect(converted).toMatchObject({ state: 'converted', reason: 'goal' });
    const steps = await readDecoded<JourneyStepRecorded>(Topics.JourneySteps, (events) =>
      events.some((e) => e.enrollmentId === converted._id && e.status === 'converted'),
    );
    expect(
      distinct(steps.filter((e) => e.enrollmentId === converted._id && e.status === 'converted')).map((e) => [
        e.status,
        e.reason,
        e.step,
      ]),
    ).toEqual([['converted', 'goal', '(end)']]);
    // A free plan is not the goal: that contact still waits, and nobody was nudged.
    const waiting = await enrollments.findById(enrollmentOf('trial-to-paid', freeloader)).lean();
    expect(waiting).toMatchObject({ state: 'active', waitingAt: 'pause' });
    expect(waiting?.goalReachedAt ?? null).toBeNull();
    expect(hooks.to(path)).toEqual([]);
  }, 90_000);

  it('converts at a goal step: from a wait when the contact comes to meet it (once under redelivery), on arrival, or not at all', async () => {
    const path = `/goal-step/${run}`;
    await publishJourney('goal-jump', {
      name: 'Goal jump',
      entry: { on: 'event', event: 'Trial Opened Goal' },
      steps: [
        { id: 'pause', type: 'wait', duration: '1h' },
        { id: 'nudge', type: 'webhook', url: `${hooks.origin}${path}/nudge`, secret: 'crm' },
        { id: 'upgraded', type: 'goal', where: [{ attribute: 'plan', op: 'eq', value: 'pro' }] },
        { id: 'after', type: 'webhook', url: `${hooks.origin}${path}/after`, secret: 'crm' },
      ],
    });
    await publishJourney('goal-pass', {
      name: 'Goal pass',
      entry: { on: 'event', event: 'Trial Closed Goal' },
      steps: [
        { id: 'upgraded', type: 'goal', where: [{ attribute: 'plan', op: 'eq', value: 'pro' }] },
        { id: 'last', type: 'webhook', url: `${hooks.origin}${path}/last`, secret: 'crm' },
      ],
    });
    const upgrader = `${run}-goal-upgrader`;
    const free = `${run}-goal-free`;
    const pro = `${run}-goal-pro`;
    await publishLeadsScored(publisher, [
      didEvent(upgrader, 'Trial Opened Goal', { plan: 'free' }),
      didEvent(free, 'Trial Closed Goal', { plan: 'free' }),
      didEvent(pro, 'Trial Closed Goal', { plan: 'pro' }),
    ]);
    await harness.waitingAt(enrollmentOf('goal-jump', upgrader), 'pause');
    // The contact becomes pro while it waits an hour; the same record comes twice.
    const upgrade = leadScoredFixture(workspace, upgrader, 10, 'steps', {
      attributes: { plan: 'pro' },
      stage: 'lead',
    });
    await publishLeadsScored(publisher, [upgrade]);
    const jumped = await finished(enrollmentOf('goal-jump', upgrader));
    await behindSentinel([upgrade], upgrader);
    expect(jumped).toMatchObject({ state: 'converted', reason: 'goal-met', goalStepId: 'upgraded' });
    expect(await finished(enrollmentOf('goal-pass', pro))).toMatchObject({ state: 'converted' });
    expect(await finished(enrollmentOf('goal-pass', free))).toMatchObject({ state: 'completed' });

    // Nothing before or after the goal reached anyone who met it; the one who did not went on past it.
    expect(hooks.to(`${path}/nudge`)).toEqual([]);
    expect(hooks.to(`${path}/after`)).toEqual([]);
    expect(
      hooks.to(`${path}/last`).map((d) => (JSON.parse(d.body) as { contact: { id: string } }).contact.id),
    ).toEqual([free]);
    const steps = (
      await Promise.all(
        (await readTopicToEnd(kafka, Topics.JourneySteps)).map(
          async (record) => (await registry.decode(record.value)) as JourneyStepRecorded,
        ),
      )
    ).filter((e) => e.step === 'upgraded');
    const at = (journeyId: string, contact: string) =>
      distinct(steps.filter((e) => e.enrollmentId === enrollmentOf(journeyId, contact))).map((e) => [
        e.stepType,
        e.status,
        e.reason,
      ]);
    // One conversion each, at the goal step, under a redelivered change.
    expect(at('goal-jump', upgrader)).toEqual([['goal', 'converted', 'goal-met']]);
    expect(at('goal-pass', pro)).toEqual([['goal', 'converted', 'goal-met']]);
    expect(at('goal-pass', free)).toEqual([['goal', 'advanced', 'goal-not-met']]);
  }, 120_000);

  it('waits for a condition: met at once, met when the contact changes (once under redelivery), or timed out', async () => {
    const path = `/condition/${run}`;
    await publishJourney('upgrade-wait', {
      name: 'Upgrade wait',
      entry: { on: 'event', event: 'Trial Began' },
      steps: [
        {
          id: 'await-pro',
          type: 'wait_condition',
          where: [{ attribute: 'plan', op: 'eq', value: 'pro' }],
          timeout: '15s',
          onMet: 'welcome-pro',
          onTimeout: 'nudge',
        },
        { id: 'nudge', type: 'webhook', url: `${hooks.origin}${path}/nudge`, secret: 'crm', next: 'done' },
        { id: 'welcome-pro', type: 'webhook', url: `${hooks.origin}${path}/welcome-pro`, secret: 'crm' },
        { id: 'done', type: 'exit' },
      ],
    });
    const upgrader = `${run}-upgrader`;
    const idle = `${run}-idle`;
    const alreadyPro = `${run}-already-pro`;
    await publishLeadsScored(publisher, [
      didEvent(upgrader, 'Trial Began', { plan: 'free' }),
      didEvent(idle, 'Trial Began', { plan: 'free' }),
      didEvent(alreadyPro, 'Trial Began', { plan: 'pro' }),
    ]);
    const waits = new Map<string, EnrollmentDoc>();
    for (const contact of [upgrader, idle])
      waits.set(contact, await harness.waitingAt(enrollmentOf('upgrade-wait', contact), 'await-pro'));

    // The lead service announces the upgrader's new plan (an identify's traits), and the same record comes twice.
    const upgrade = leadScoredFixture(workspace, upgrader, 10, 'steps', {
      attributes: { plan: 'pro' },
      stage: 'lead',
    });
    await publishLeadsScored(publisher, [upgrade]);
    await finished(enrollmentOf('upgrade-wait', upgrader));
    await behindSentinel([upgrade], upgrader);
    await finished(enrollmentOf('upgrade-wait', alreadyPro));
    await finished(enrollmentOf('upgrade-wait', idle), 45_000);

    // Met promptly on the change, well before its timeout; the idle contact went on at its timeout, not before.
    const [welcomed] = hooks.to(`${path}/welcome-pro`).filter((d) => d.body.includes(upgrader));
    expect(welcomed?.at).toBeLessThan(waits.get(upgrader)?.wakeAt?.getTime() ?? 0);
    const [nudged] = hooks.to(`${path}/nudge`);
    expect(nudged?.at).toBeGreaterThanOrEqual(waits.get(idle)?.wakeAt?.getTime() ?? Infinity);
    // Each contact down one exit, once.
    const reached = (exit: string) =>
      hooks
        .to(`${path}/${exit}`)
        .map((d) => (JSON.parse(d.body) as { contact: { id: string } }).contact.id)
        .sort();
    expect(reached('welcome-pro')).toEqual([alreadyPro, upgrader].sort());
    expect(reached('nudge')).toEqual([idle]);

    const ids = [upgrader, idle, alreadyPro].map((c) => enrollmentOf('upgrade-wait', c));
    // All three ended (announced before the write that ends them): the topic up to its end holds all they did.
    const steps = await Promise.all(
      (await readTopicToEnd(kafka, Topics.JourneySteps)).map(
        async (record) => (await registry.decode(record.value)) as JourneyStepRecorded,
      ),
    );
    const waitRecords = (contact: string) =>
      distinct(
        steps.filter(
          (e) => e.enrollmentId === enrollmentOf('upgrade-wait', contact) && e.step === 'await-pro',
        ),
      ).map((e) => [e.stepType, e.status, e.reason]);
    expect(waitRecords(upgrader)).toEqual([
      ['wait_condition', 'waiting', null],
      ['wait_condition', 'advanced', 'condition-met'],
    ]);
    expect(waitRecords(idle)).toEqual([
      ['wait_condition', 'waiting', null],
      ['wait_condition', 'advanced', 'timed-out'],
    ]);
    expect(waitRecords(alreadyPro)).toEqual([['wait_condition', 'advanced', 'condition-met']]);
    const ended = await enrollments.find({ _id: { $in: ids } }).lean();
    expect(ended.map((e) => [e.state, e.awaitingCondition, e.waitingAt])).toEqual(
      ids.map(() => ['exited', false, null]),
    );
  }, 120_000);

  it('ends a wait for a condition on a stage move and on another journey’s attribute update', async () => {
    const path = `/changed/${run}`;
    await publishJourney('customer-wait', {
      name: 'Customer wait',
      entry: { on: 'event', event: 'Demo Booked' },
      steps: [
        {
          id: 'await-customer',
          type: 'wait_condition',
          where: [{ attribute: 'stage', op: 'eq', value: 'customer' }],
          timeout: '20s',
          onMet: 'onboard',
          onTimeout: 'done',
        },
        // The timeout's way exits; the met way ends past the last step (completed).
        { id: 'done', type: 'exit' },
        { id: 'onboard', type: 'webhook', url: `${hooks.origin}${path}/onboard`, secret: 'crm' },
      ],
    });
    await publishJourney('plan-upgrade', {
      name: 'Plan upgrade',
      entry: { on: 'event', event: 'Upgraded In App' },
      steps: [
        // Later than the intake's look at this call: the journey's own update is what changes the contact.
        { id: 'settle', type: 'wait', duration: '2s' },
        { id: 'set-plan', type: 'update_attribute', attribute: 'plan', value: 'pro' },
      ],
    });
    await publishJourney('pro-wait', {
      name: 'Pro wait',
      entry: { on: 'event', event: 'Trial Opened' },
      steps: [
        {
          id: 'await-pro',
          type: 'wait_condition',
          where: [{ attribute: 'plan', op: 'eq', value: 'pro' }],
          timeout: '20s',
          onMet: 'welcome-pro',
          onTimeout: 'done',
        },
        { id: 'done', type: 'exit' },
        { id: 'welcome-pro', type: 'webhook', url: `${hooks.origin}${path}/welcome-pro`, secret: 'crm' },
      ],
    });
    const closer = `${run}-closer`;
    const selfServe = `${run}-self-serve`;
    await publishLeadsScored(publisher, [
      didEvent(closer, 'Demo Booked', {}),
      didEvent(selfServe, 'Trial Opened', { plan: 'free' }),
    ]);
    const waiting = (journeyId: string, contact: string, stepId: string) =>
      harness.waitingAt(enrollmentOf(journeyId, contact), stepId);
    const closerWait = await waiting('customer-wait', closer, 'await-customer');
    const selfServeWait = await waiting('pro-wait', selfServe, 'await-pro');

    const won: LifecycleChanged = {
      metadata: { ...leadScoredFixture(workspace, closer, 0).metadata, source: 'leads' },
      contactId: closer,
      from: 'sql',
      to: 'customer',
      reason: 'crm-closed-won',
      score: 40,
    };
    await publisher.publishAll([{ topic: Topics.LifecycleChanged, key: closer, event: won }]);
    await publishLeadsScored(publisher, [didEvent(selfServe, 'Upgraded In App', { plan: 'free' })]);
    await finished(enrollmentOf('plan-upgrade', selfServe));
    for (const [journeyId, contact] of [
      ['customer-wait', closer],
      ['pro-wait', selfServe],
    ] as const)
      expect(await finished(enrollmentOf(journeyId, contact))).toMatchObject({ state: 'completed' });

    // Both went on when the contact changed, not at their timeouts.
    const [onboarded] = hooks.to(`${path}/onboard`);
    expect(onboarded?.at).toBeLessThan(closerWait.wakeAt?.getTime() ?? 0);
    const [welcomed] = hooks.to(`${path}/welcome-pro`);
    expect(welcomed?.at).toBeLessThan(selfServeWait.wakeAt?.getTime() ?? 0);
    expect(JSON.parse(welcomed?.body ?? '{}')).toMatchObject({
      contact: { id: selfServe, attributes: { plan: 'pro' } },
    });
  }, 120_000);
});

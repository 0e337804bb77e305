/**
 * Tracking events and captured leads handled a partition batch at a time, on the real stack.
 * Tracking: a backlog published in one go reaches the pipeline as batches; each contact gets every fact once and the
 * score a one-by-one run gives; an identify call in the middle still links and moves its contact; a redelivered
 * backlog changes nothing; a lead whose score crosses the threshold inside a batch becomes an MQL once and keeps its
 * one owner. Captures: a burst becomes new contacts with one owner each, a repeated email in the burst joins the
 * first one, a redelivered burst changes nothing, and a burst whose scores the broker refuses once is retried lead by
 * lead without a second owner or event id.
 */
import type { Kafka } from 'kafkajs';
import type { Model } from 'mongoose';
import { Topics, type LeadCaptured, type LeadScored, type TrackingEvent } from '@tributary/contracts';
import { type AvroSchemaRegistry, EventPublisher, originMetadata } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import {
  connectTestPublisher,
  leadCapturedFixture,
  readTopicUntil,
  testServiceEnv,
  trackingEventFixture,
  uniqueId,
  waitFor,
} from '@tributary/testing';
import { LeadsModule } from '../app.module';
import { loadLeadsConfig } from '../config';
import { CONTACT_MODEL, MAX_FACTS, factsOf, packFact, type ContactDoc } from '../contacts/contact.model';
import { IdentityResolver } from '../identity/identity-resolver.service';
import { LEAD_ROUTING, type LeadRouting } from '../routing/lead-routing.port';
import { CaptureBatch } from './capture-batch.service';
import { EngagementBatch } from './engagement-batch.service';

const run = uniqueId('tb');
const workspace = `ws_tb_${run}`;
const writeKey = `tb-key-${run}`;
const auth = { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}` };

const MODEL_YAML = `
mqlThreshold: 30
engagementHalfLifeDays: 14
engagement:
  - { id: pricing-page, when: { event: Pricing Page Viewed }, points: 10, cap: 40 }
  - { id: feature-used, when: { event: Feature Used }, points: 1, cap: 5 }
`;

let service: RunningService;
let publisher: EventPublisher;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let contacts: Model<ContactDoc>;
let router: LeadRouting;
let identities: IdentityResolver;
const batchSizes: number[] = [];
const captureBatchSizes: number[] = [];

beforeAll(async () => {
  const config = loadLeadsConfig(testServiceEnv('leads', run, { WRITE_KEYS: `${writeKey}:${workspace}` }));
  service = await startService(LeadsModule.forRoot(config), config);
  const engagement = service.app.get(EngagementBatch);
  const onTrackingEvents = engagement.onTrackingEvents.bind(engagement);
  jest.spyOn(engagement, 'onTrackingEvents').mockImplementation(async (events) => {
    batchSizes.push(events.length);
    await onTrackingEvents(events);
  });
  const captures = service.app.get(CaptureBatch);
  const onLeadsCaptured = captures.onLeadsCaptured.bind(captures);
  jest.spyOn(captures, 'onLeadsCaptured').mockImplementation(async (leads) => {
    captureBatchSizes.push(leads.length);
    await onLeadsCaptured(leads);
  });
  contacts = service.app.get(CONTACT_MODEL);
  router = service.app.get<LeadRouting>(LEAD_ROUTING);
  identities = service.app.get(IdentityResolver);
  ({ kafka, registry, publisher } = await connectTestPublisher(`tb-${run}`, config, [
    Topics.TrackingEvents,
    Topics.LeadsCaptured,
  ]));
  const routing = await fetch(`${service.url}/v1/routing-rules`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      acceptWithinMinutes: 60,
      teams: [{ id: 'inbound', members: [{ ownerId: 'rep-1', capacity: 1000, timezone: 'UTC' }] }],
      rules: [],
      fallbackTeamId: 'inbound',
    }),
    signal: AbortSignal.timeout(20_000),
  });
  expect(routing.status).toBe(200);
  const model = await fetch(`${service.url}/v1/scoring-model`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/yaml' },
    body: MODEL_YAML,
    signal: AbortSignal.timeout(20_000),
  });
  expect(model.status).toBe(200);
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

function track(userId: string, event: string): TrackingEvent {
  const eventId = uniqueId('ev');
  return trackingEventFixture({
    metadata: { eventId, workspaceId: workspace, occurredAt: Date.now() },
    messageId: eventId,
    userId,
    anonymousId: null,
    event,
    timestamp: Date.now(),
  });
}

async function publishAll(events: TrackingEvent[]): Promise<void> {
  // One produce call: each partition's share arrives in one fetch, i.e. one batch.
  await publisher.publishAll(
    events.map((event) => ({ topic: Topics.TrackingEvents, key: event.userId ?? event.messageId, event })),
  );
}

const contactOf = (userId: string) => contacts.findById(`${workspace}:${userId}`).lean<ContactDoc>();

describe('tracking events and captures in batches', () => {
  const users = Array.from({ length: 12 }, (_, i) => `tb-user-${i}`);
  // user i views pricing i % 4 times (0–30 points) and uses a feature 6 times (capped at 5).
  const backlog = users.flatMap((userId, i) => [
    ...Array.from({ length: i % 4 }, () => track(userId, 'Pricing Page Viewed')),
    ...Array.from({ length: 6 }, () => track(userId, 'Feature Used')),
  ]);
  const identify = trackingEventFixture({
    metadata: { eventId: uniqueId('ev'), workspaceId: workspace },
    callType: 'identify',
    userId: 'tb-user-1',
    anonymousId: null,
    event: null,
    traitsJson: JSON.stringify({ email: 'tb-user-1@batch.example' }),
  });

  it('scores a backlog in batches: every fact once, the same score as one by one, identify in between', async () => {
    const middle = backlog.length / 2;
    await publishAll([...backlog.slice(0, middle), identify, ...backlog.slice(middle)]);

    for (const [i, userId] of users.entries()) {
      const expected = backlog.filter((e) => e.userId === userId).length + (userId === 'tb-user-1' ? 1 : 0);
      const contact = await waitFor(`${userId} has its ${expected} facts`, async () => {
        const doc = await contactOf(userId);
        // Scored on its newest revision: the identify call's one-event path records first and scores after.
        return doc && doc.eventCount === expected && doc.scoredRevision === doc.revision ? doc : undefined;
      });
      expect(new Set(contact.factIds).size).toBe(expected);
      expect(contact.score).toBe((i % 4) * 10 + 5);
      expect({ userId, facts: contact.facts.length }).toEqual({ userId, facts: expected });
    }
    // The pipeline got more than one event per call: the batch path ran, not only the one-event path.
    expect(Math.max(...batchSizes)).toBeGreaterThan(1);
    const identified = await contactOf('tb-user-1');
    expect(identified?.attributes.email).toBe('tb-user-1@batch.example');
    expect(identified?.stage).toBe('subscriber');
  });

  it('a redelivered backlog adds no fact and changes no score', async () => {
    const before = new Map(await Promise.all(users.map(async (u) => [u, await contactOf(u)] as const)));
    const sentinel = track('tb-user-0', 'Feature Used');
    await publishAll([...backlog, identify, sentinel]);
    await waitFor('the sentinel after the redelivered backlog', async () => {
      const doc = await contactOf('tb-user-0');
      return doc?.factIds.includes(sentinel.metadata.eventId) ? doc : undefined;
    });
    for (const userId of users.slice(1)) {
      const after = await contactOf(userId);
      expect(after?.eventCount).toBe(before.get(userId)?.eventCount);
      expect(after?.score).toBe(before.get(userId)?.score);
    }
  });

  it('keeps only the newest MAX_FACTS facts of a contact, on every store', async () => {
    const first = Array.from({ length: 150 }, () => track('tb-many', 'Feature Used'));
    const second = Array.from({ length: MAX_FACTS - 150 + 10 }, () => track('tb-many', 'Feature Used'));
    await publishAll(first);
    await waitFor('the first 150', async () => (await contactOf('tb-many'))?.eventCount === 150);
    await publishAll(second);
    const doc = await waitFor('all of them', async () => {
      const contact = await contactOf('tb-many');
      return contact?.eventCount === MAX_FACTS + 10 ? contact : undefined;
    });
    expect(doc.facts).toHaveLength(MAX_FACTS);
    expect(doc.factIds).toEqual(factsOf(doc).map((fact) => fact.eventId));
    // The oldest ten went, the newest stayed.
    expect(doc.factIds).not.toContain(first[9]?.metadata.eventId);
    expect(doc.factIds).toContain(first[10]?.metadata.eventId);
    expect(doc.factIds.at(-1)).toBe(second.at(-1)?.metadata.eventId);
  });

  it('a contact another replica changed since this one cached it: the stale write misses, every fact counts once', async () => {
    const engagement = service.app.get(EngagementBatch);
    const [stale, fresh] = ['tb-stale', 'tb-fresh'];
    await engagement.onTrackingEvents([track(stale, 'Feature Used'), track(fresh, 'Feature Used')]);
    // Another replica records a fact on the contact this one holds in its cache (a revision it has not seen).
    const elsewhere = track(stale, 'Pricing Page Viewed');
    await contacts.collection.updateOne(
      { _id: `${workspace}:${stale}` } as never,
      {
        $inc: { revision: 1, eventCount: 1 },
        $push: {
          facts: packFact({
            eventId: elsewhere.metadata.eventId,
            callType: 'track',
            name: 'Pricing Page Viewed',
            path: null,
            at: Date.now(),
          }),
          factIds: elsewhere.metadata.eventId,
        },
      } as never,
    );
    const later = [track(stale, 'Feature Used'), track(fresh, 'Feature Used'), track(stale, 'Feature Used')];
    await engagement.onTrackingEvents(later);

    const staleDoc = await contactOf(stale);
    expect(staleDoc?.eventCount).toBe(4);
    expect(new Set(staleDoc?.factIds).size).toBe(4);
    expect(staleDoc?.factIds).toContain(elsewhere.metadata.eventId);
    // The other replica's pricing view (10) survives beside the three feature uses (1 each).
    expect(staleDoc?.score).toBe(13);
    expect(staleDoc?.scoredRevision).toBe(staleDoc?.revision);
    const freshDoc = await contactOf(fresh);
    expect(freshDoc?.eventCount).toBe(2);
    expect(freshDoc?.score).toBe(2);
  });

  it('a lead whose score crosses the threshold inside a batch becomes an MQL once, keeping its one owner', async () => {
    // Only leads become MQLs: identify the visitor, capture them as a lead (routed at once), then a batch of views.
    const userId = 'tb-lead';
    const email = 'tb-lead@batch.example';
    await publishAll([
      trackingEventFixture({
        metadata: { eventId: uniqueId('ev'), workspaceId: workspace },
        callType: 'identify',
        userId,
        anonymousId: null,
        event: null,
        traitsJson: JSON.stringify({ email }),
      }),
    ]);
    // Identified and scored: on FerretDB a write still in flight could overwrite the capture's stage move.
    await waitFor('tb-lead identified and scored', async () => {
      const doc = await contactOf(userId);
      return doc?.stage === 'subscriber' && doc.scoredRevision === doc.revision;
    });
    await publisher.publish({
      topic: Topics.LeadsCaptured,
      key: email,
      event: leadCapturedFixture({
        metadata: originMetadata({ workspaceId: workspace, source: 'tb' }),
        leadId: uniqueId('lead'),
        email,
        firstName: 'Tia',
        lastName: 'Batch',
        consents: { email_marketing: true },
      }),
    });
    const contactId = `${workspace}:${userId}`;
    const owner = await waitFor('tb-lead routed as a lead', async () => {
      const assignment = await router.assignmentOf(workspace, contactId);
      return assignment?.ownerId ? assignment : undefined;
    });
    expect((await contactOf(userId))?.stage).toBe('lead');

    await publishAll([
      ...Array.from({ length: 4 }, () => track(userId, 'Pricing Page Viewed')),
      ...Array.from({ length: 3 }, () => track(userId, 'Feature Used')),
    ]);
    const mql = await waitFor('tb-lead an MQL', async () => {
      const doc = await contactOf(userId);
      return doc?.stage === 'mql' ? doc : undefined;
    });
    expect(mql.stageHistory.filter((change) => change.to === 'mql')).toHaveLength(1);
    expect(await router.assignmentOf(workspace, contactId)).toMatchObject({
      ownerId: owner.ownerId,
      assignmentNumber: owner.assignmentNumber,
    });
    // Below the threshold, or never captured: no stage from the lead service, no owner.
    expect((await contactOf('tb-user-3'))?.stage).toBeNull();
    expect(await router.assignmentOf(workspace, `${workspace}:tb-user-3`)).toBeNull();
  });

  const capture = (email: string): LeadCaptured =>
    leadCapturedFixture({
      metadata: originMetadata({ workspaceId: workspace, source: 'tb' }),
      leadId: uniqueId('lead'),
      email,
      consents: { email_marketing: true },
      formId: 'webinar',
    });

  /** The contact ids of captured leads, once each has an owner. */
  const routedContacts = (leads: readonly LeadCaptured[]) =>
    Promise.all(
      leads.map((lead) =>
        waitFor(`${lead.email} captured and routed`, async () => {
          const id = await identities.findByEmail(workspace, lead.email ?? '');
          const assignment = id ? await router.assignmentOf(workspace, id) : null;
          return id && assignment?.ownerId ? id : undefined;
        }),
      ),
    );

  it('a burst of captures becomes new contacts in batches: one owner each, a repeated email joins the first', async () => {
    const burst = Array.from({ length: 20 }, (_, i) => capture(`burst-${i}@batch.example`));
    const again = capture('burst-3@batch.example');
    const send = (leads: LeadCaptured[]) =>
      publisher.publishAll(
        leads.map((lead) => ({ topic: Topics.LeadsCaptured, key: lead.leadId, event: lead })),
      );
    await send([...burst, again]);

    const contactIds = await routedContacts(burst);
    expect(new Set(contactIds).size).toBe(20);
    expect(Math.max(...captureBatchSizes)).toBeGreaterThan(1);
    const repeated = await waitFor('the repeated email on the first contact', async () => {
      const doc = await contacts.findById(contactIds[3]).lean<ContactDoc>();
      return doc?.eventCount === 2 ? doc : undefined;
    });
    expect(repeated.factIds).toEqual(
      expect.arrayContaining([burst[3]?.metadata.eventId, again.metadata.eventId]),
    );
    expect(repeated.stageHistory.filter((change) => change.to === 'lead')).toHaveLength(1);

    // Redelivered: no new contact, fact or owner.
    const owners = await Promise.all(contactIds.map((id) => router.assignmentOf(workspace, id)));
    const sentinel = capture('burst-sentinel@batch.example');
    await send([...burst, again, sentinel]);
    await waitFor('the sentinel routed', async () => {
      const id = await identities.findByEmail(workspace, 'burst-sentinel@batch.example');
      return id ? (await router.assignmentOf(workspace, id))?.ownerId : undefined;
    });
    for (const [i, id] of contactIds.entries()) {
      expect((await contacts.findById(id).lean<ContactDoc>())?.eventCount).toBe(i === 3 ? 2 : 1);
      expect(await router.assignmentOf(workspace, id)).toMatchObject({
        ownerId: owners[i]?.ownerId,
        assignmentNumber: owners[i]?.assignmentNumber,
      });
    }
  });

  it('a burst whose scores the broker refuses is retried lead by lead: routed once, each event under one id', async () => {
    const appPublisher = service.app.get(EventPublisher);
    const publishAllOf = appPublisher.publishAll.bind(appPublisher);
    const burst = Array.from({ length: 6 }, (_, i) => capture(`refused-${i}@batch.example`));
    const causes = new Set(burst.map((lead) => lead.metadata.eventId));
    // The batch's produce of scores fails once, while the batch is being routed beside it.
    const refused: number[] = [];
    const produce = jest.spyOn(appPublisher, 'publishAll').mockImplementation(async (events) => {
      const scores = events.filter(
        (e) =>
          e.topic === Topics.LeadsScored && causes.has((e.event as LeadScored).metadata.causationId ?? ''),
      );
      if (refused.length === 0 && scores.length > 1) {
        refused.push(scores.length);
        throw new Error('broker refused the produce');
      }
      return publishAllOf(events);
    });
    // One key: one partition, so the six arrive as one batch.
    await publisher.publishAll(
      burst.map((lead) => ({ topic: Topics.LeadsCaptured, key: 'refused-burst', event: lead })),
    );

    const contactIds = await routedContacts(burst);
    // Every event id each lead was announced under, read until every lead has its score and its owner.
    const idsOn = async (topic: typeof Topics.LeadsScored | typeof Topics.LeadsAssigned) => {
      const ids = new Map<string, Set<string>>();
      await readTopicUntil(kafka, topic, async (records) => {
        ids.clear();
        for (const record of records) {
          const event = (await registry.decode(record.value)) as {
            contactId: string;
            metadata: { eventId: string; causationId: string | null };
          };
          if (!causes.has(event.metadata.causationId ?? '')) continue;
          ids.set(event.contactId, (ids.get(event.contactId) ?? new Set()).add(event.metadata.eventId));
        }
        return contactIds.every((id) => ids.has(id));
      });
      return contactIds.map((id) => ids.get(id)?.size);
    };
    const scored = await idsOn(Topics.LeadsScored);
    const assigned = await idsOn(Topics.LeadsAssigned);
    produce.mockRestore();

    expect(refused[0]).toBeGreaterThan(1);
    expect(scored).toEqual(contactIds.map(() => 1));
    expect(assigned).toEqual(contactIds.map(() => 1));
    for (const id of contactIds) {
      expect((await contacts.findById(id).lean<ContactDoc>())?.eventCount).toBe(1);
      expect(await router.assignmentOf(workspace, id)).toMatchObject({
        assignmentNumber: 1,
        ownerId: 'rep-1',
      });
    }
  });
});

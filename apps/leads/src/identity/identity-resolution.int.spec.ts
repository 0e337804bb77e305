/**
 * Identity resolution on the real stack, the lead service in this process: an anonymous visitor who identifies becomes one
 * contact with the user, two userIds sharing an email become one contact, and a redelivered identify moves points
 * once. Events go in on `tracking.events`; contacts are read through the contacts API, merges from `contacts.merged`.
 */
import type { Kafka } from 'kafkajs';
import type { Connection } from 'mongoose';
import { Topics, type ContactsMerged, type TrackingEvent } from '@tributary/contracts';
import {
  type AvroSchemaRegistry,
  type EventPublisher,
  causedMetadata,
  originMetadata,
} from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import { connectServiceStore } from '@tributary/store';
import {
  connectTestPublisher,
  readTopicUntil,
  testServiceEnv,
  uniqueId,
  waitFor,
  trackingEventFixture,
} from '@tributary/testing';
import { LeadsModule } from '../app.module';
import { loadLeadsConfig } from '../config';
import { contactModel } from '../contacts/contact.model';
import { LeadRouter } from '../routing/lead-router.service';
import { RoutingRulesStore } from '../routing/routing-rules.store';
import { parseRoutingRules } from '../routing/routing-rules';
import { ownerLoadModel, routingHoldModel } from '../routing/routing.model';
import { contactMergeModel } from './identity.model';
import { LEADS_EVENT_SOURCE } from '../event-source';

const run = uniqueId('idr');
const workspace = `ws_idr_${run}`;
const writeKey = `idr-key-${run}`;
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
let store: Connection;

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

beforeAll(async () => {
  const config = loadLeadsConfig(
    testServiceEnv('leads', run, {
      WRITE_KEYS: `${writeKey}:${workspace}`,
      IDENTITY_STRIP_PLUS_ADDRESSING: 'true',
    }),
  );
  service = await startService(LeadsModule.forRoot(config), config);
  ({ kafka, registry, publisher } = await connectTestPublisher(`idr-${run}`, config, [
    Topics.TrackingEvents,
  ]));
  store = await connectServiceStore(config.MONGO_URL, config.MONGO_DB);
});

afterAll(async () => {
  await store?.close();
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

function trackingEvent(partial: Partial<TrackingEvent>): TrackingEvent {
  return trackingEventFixture({
    metadata: originMetadata({ workspaceId: workspace, source: 'idr' }),
    ...partial,
  });
}

/** Publishes keyed like the edge does (userId, else anonymousId). */
async function send(event: TrackingEvent): Promise<void> {
  const key = event.userId ?? event.anonymousId ?? event.messageId;
  await publisher.publish({ topic: Topics.TrackingEvents, key, event });
}

interface ContactView {
  contactId: string;
  score: number;
  eventCount: number;
  lastRule: string;
}

async function contact(id: string): Promise<ContactView | undefined> {
  const res = await fetch(`${service.url}/v1/contacts/${encodeURIComponent(id)}`, {
    headers: { authorization: basic(writeKey) },
  });
  return res.status === 200 ? ((await res.json()) as ContactView) : undefined;
}

async function contactWith(id: string, eventCount: number): Promise<ContactView> {
  return waitFor(`contact ${id} with ${eventCount} event(s)`, async () => {
    const view = await contact(id);
    return view && view.eventCount >= eventCount ? view : undefined;
  });
}

/** This run's `contacts.merged` events, read until `done` holds. */
async function mergesUntil(done: (merges: ContactsMerged[]) => boolean): Promise<ContactsMerged[]> {
  const merges: ContactsMerged[] = [];
  let decoded = 0;
  await readTopicUntil(kafka, Topics.ContactsMerged, async (records) => {
    for (; decoded < records.length; decoded += 1) {
      const merged = (await registry.decode(records[decoded]?.value ?? null)) as ContactsMerged;
      if (merged.metadata.workspaceId === workspace) merges.push(merged);
    }
    return done(merges);
  });
  return merges;
}

describe('identity resolution', () => {
  it('an anonymous visitor who identifies is one contact with the user, and the merge is announced', async () => {
    await send(trackingEvent({ callType: 'page', anonymousId: 'anon-a', name: 'Home' }));
    await contactWith('anon-a', 1);
    await send(
      trackingEvent({ callType: 'identify', anonymousId: 'anon-a', userId: 'user-u', traitsJson: '{}' }),
    );
    await send(trackingEvent({ userId: 'user-u', event: 'Pricing Page Viewed' }));

    // page (1) + identify (5) + pricing page (10), all on the user's contact.
    expect(await contactWith('user-u', 3)).toMatchObject({
      contactId: `${workspace}:user-u`,
      score: 16,
      eventCount: 3,
    });
    // The anonymous id now answers with the surviving contact.
    expect(await contact('anon-a')).toMatchObject({ contactId: `${workspace}:user-u`, score: 16 });
    const merges = await mergesUntil((m) => m.some((x) => x.mergedContactId === `${workspace}:anon-a`));
    expect(merges.find((x) => x.mergedContactId === `${workspace}:anon-a`)).toMatchObject({
      survivingContactId: `${workspace}:user-u`,
      reason: 'identify',
      metadata: { source: LEADS_EVENT_SOURCE, workspaceId: workspace },
    });
  });

  it('two userIds with the same normalised email become one contact', async () => {
    await send(
      trackingEvent({ callType: 'identify', userId: 'user-1', traitsJson: '{"email":" Ada@Example.com "}' }),
    );
    await contactWith('user-1', 1);
    await send(trackingEvent({ userId: 'user-2', event: 'Demo Requested' }));
    await contactWith('user-2', 1);
    // Plus-addressing is stripped in this run's configuration, so this is the same person.
    await send(
      trackingEvent({
        callType: 'identify',
        userId: 'user-2',
        traitsJson: '{"email":"ada+promo@example.com"}',
      }),
    );

    // identify (5) + demo (25) moved over + identify (5): the first owner of the email survives.
    expect(await contactWith('user-1', 3)).toMatchObject({
      contactId: `${workspace}:user-1`,
      score: 35,
      eventCount: 3,
    });
    expect(await contact('user-2')).toMatchObject({ contactId: `${workspace}:user-1` });
    const merges = await mergesUntil((m) => m.some((x) => x.reason === 'email'));
    expect(merges.filter((x) => x.reason === 'email')).toEqual([
      expect.objectContaining({
        survivingContactId: `${workspace}:user-1`,
        mergedContactId: `${workspace}:user-2`,
      }),
    ]);
  });

  it('a redelivered identify moves the anonymous points once', async () => {
    await send(trackingEvent({ callType: 'page', anonymousId: 'anon-b', name: 'Pricing' }));
    await contactWith('anon-b', 1);
    const identify = trackingEvent({ callType: 'identify', anonymousId: 'anon-b', userId: 'user-3' });
    // The same record twice, as the broker redelivers after a crash before the commit; then a marker with the
    // same key (same partition), so once the marker is applied both copies were consumed.
    await send(identify);
    await send(identify);
    await send(trackingEvent({ userId: 'user-3', event: 'Button Clicked' }));

    const survivor = await waitFor('the marker on user-3', async () => {
      const view = await contact('user-3');
      return view?.lastRule === 'Button Clicked' ? view : undefined;
    });
    // page (1) + identify (5) + click (1); a double move would show 8, a double identify 12.
    expect(survivor).toMatchObject({ contactId: `${workspace}:user-3`, score: 7, eventCount: 3 });
    const merges = await mergesUntil((m) => m.some((x) => x.mergedContactId === `${workspace}:anon-b`));
    // Announced once per delivery at most, always under the same eventId (consumers dedupe on it).
    const ids = new Set(
      merges.filter((x) => x.mergedContactId === `${workspace}:anon-b`).map((x) => x.metadata.eventId),
    );
    expect(ids.size).toBe(1);
  });

  it('a contact merged into another frees its owner: its assignment is closed for good', async () => {
    const rules = parseRoutingRules({
      acceptWithinMinutes: 60,
      teams: [{ id: 'inbound', members: [{ ownerId: 'rep-merge', capacity: 5, timezone: 'UTC' }] }],
      rules: [],
      fallbackTeamId: 'inbound',
    });
    if (!rules.ok) throw new Error(JSON.stringify(rules.errors));
    await service.app.get(RoutingRulesStore).put(workspace, rules.rules);
    await send(trackingEvent({ callType: 'page', anonymousId: 'anon-d', name: 'Pricing' }));
    await contactWith('anon-d', 1);
    const mergedId = `${workspace}:anon-d`;
    // The anonymous contact was a lead with an owner when it turned out to be a known user.
    const router = service.app.get(LeadRouter);
    const assigned = await router.assign({
      workspaceId: workspace,
      contactId: mergedId,
      attributes: {},
      cause: originMetadata({ workspaceId: workspace, source: 'idr' }),
    });
    expect(assigned).toMatchObject({ state: 'assigned', ownerId: 'rep-merge' });

    await send(
      trackingEvent({ callType: 'identify', anonymousId: 'anon-d', userId: 'user-6', traitsJson: '{}' }),
    );
    await contactWith('user-6', 2);
    const closed = await waitFor('the merged contact closed', async () => {
      const assignment = await router.assignmentOf(workspace, mergedId);
      return assignment?.state === 'closed' ? assignment : undefined;
    });
    expect(closed).toMatchObject({ ownerId: 'rep-merge' });
    const load = await ownerLoadModel(store).findById(`${workspace}:rep-merge`).lean();
    expect(load).toMatchObject({ open: 0 });
    expect(
      await routingHoldModel(store).countDocuments({ workspaceId: workspace, ownerId: 'rep-merge' }),
    ).toBe(0);
    // Frozen for good: neither a recycle nor a new cause gives it an owner again.
    await router.recycle(workspace, mergedId, originMetadata({ workspaceId: workspace, source: 'idr' }));
    expect(await router.assignmentOf(workspace, mergedId)).toMatchObject({ state: 'closed' });
  });

  it('a merge interrupted after the freeze is finished by the next event for the merged id, once', async () => {
    await send(trackingEvent({ callType: 'page', anonymousId: 'anon-c', name: 'Home' }));
    await contactWith('anon-c', 1);
    // The state a crash leaves between freezing the anonymous contact and moving its points.
    const mergedId = `${workspace}:anon-c`;
    await contactMergeModel(store).create({
      _id: mergedId,
      workspaceId: workspace,
      survivingContactId: `${workspace}:user-5`,
      reason: 'identify',
      metadata: causedMetadata(
        originMetadata({ workspaceId: workspace, source: 'idr' }),
        LEADS_EVENT_SOURCE,
        'contacts-merged/identify',
      ),
      state: 'moving',
      mergedAt: new Date(),
    });
    await contactModel(store).updateOne({ _id: mergedId }, { $set: { mergedInto: `${workspace}:user-5` } });

    await send(trackingEvent({ anonymousId: 'anon-c', event: 'Button Clicked' }));
    await send(trackingEvent({ anonymousId: 'anon-c', event: 'Pricing Page Viewed' }));
    // page (1) moved once + click (1) + pricing page (10), all on the survivor.
    expect(await contactWith('user-5', 3)).toMatchObject({
      contactId: `${workspace}:user-5`,
      score: 12,
      eventCount: 3,
    });
    expect(await contactMergeModel(store).findById(mergedId).lean()).toMatchObject({
      state: 'done',
      movedScore: 1,
      movedEventCount: 1,
    });
    await mergesUntil((m) => m.some((x) => x.mergedContactId === mergedId));
  });
});

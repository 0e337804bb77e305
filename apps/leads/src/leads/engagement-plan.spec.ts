import { Topics, type TrackingEvent } from '@tributary/contracts';
import { derivedEventId } from '@tributary/messaging';
import { trackingEventFixture } from '@tributary/testing';
import { MAX_FACTS, factsOf, newContact, packFact, type ContactDoc } from '../contacts/contact.model';
import { identityKey, planIdentity } from '../identity/identity-rules';
import { scoringModelSchema } from '../models/scoring-model';
import type { VersionedScoringModel } from '../models/scoring-model.store';
import { LEADS_EVENT_SOURCE } from '../event-source';
import {
  groupByContact,
  isPlainEngagement,
  planEngagement,
  type EngagementPlan,
  type PlainEngagement,
} from './engagement-plan';

const ws = 'ws_plan';
const t0 = Date.UTC(2026, 0, 5, 12);
const latest = t0 + 60_000;
const now = new Date(t0 + 30_000);
const scoring: VersionedScoringModel = {
  version: 3,
  model: scoringModelSchema.parse({
    mqlThreshold: 30,
    engagementHalfLifeDays: 14,
    fit: [],
    engagement: [
      { id: 'pricing-page', when: { event: 'Pricing Page Viewed' }, points: 10, cap: 40 },
      { id: 'feature-used', when: { event: 'Feature Used' }, points: 1, cap: 5 },
    ],
  }),
};
const options = { stripPlusAddressing: false };

function track(
  userId: string,
  event: string,
  timestamp = t0,
  extra: Partial<TrackingEvent> = {},
): TrackingEvent {
  return trackingEventFixture({ userId, event, timestamp, metadata: { workspaceId: ws }, ...extra });
}

function plan(
  events: readonly TrackingEvent[],
  existing?: ContactDoc,
  model: VersionedScoringModel = scoring,
): EngagementPlan {
  return planEngagement({ contactId: `${ws}:ada`, existing, events, scoring: model, latest, now });
}

function ofKind<K extends EngagementPlan['kind']>(
  planned: EngagementPlan,
  kind: K,
): Extract<EngagementPlan, { kind: K }> {
  expect(planned.kind).toBe(kind);
  return planned as Extract<EngagementPlan, { kind: K }>;
}

describe('isPlainEngagement', () => {
  const plainOf = (event: TrackingEvent) => isPlainEngagement(event, planIdentity(event, options));

  it('takes a track call of a known or anonymous id as plain engagement', () => {
    expect(plainOf(track('ada', 'Feature Used'))).toBe(true);
    expect(plainOf(trackingEventFixture({ anonymousId: 'anon-1', event: 'Feature Used' }))).toBe(true);
  });

  it('leaves identity links and traits to the one-event path', () => {
    const identify = trackingEventFixture({ callType: 'identify', userId: 'ada', anonymousId: 'anon-1' });
    const withEmail = trackingEventFixture({
      callType: 'identify',
      userId: 'ada',
      traitsJson: JSON.stringify({ email: 'ada@acme.example' }),
    });
    const withTitle = trackingEventFixture({
      callType: 'identify',
      userId: 'ada',
      traitsJson: JSON.stringify({ title: 'VP Marketing' }),
    });
    const alias = trackingEventFixture({ callType: 'alias', userId: 'ada', previousId: 'old-id' });
    expect([identify, withEmail, withTitle, alias].map(plainOf)).toEqual([false, false, false, false]);
  });
});

describe('groupByContact', () => {
  const plainOf = (event: TrackingEvent): PlainEngagement => ({
    event,
    subject: planIdentity(event, options).subject,
  });

  it("groups a batch's events by contact, in order, following the identity index", () => {
    const a1 = plainOf(track('ada', 'Feature Used'));
    const b1 = plainOf(track('bob', 'Feature Used'));
    const a2 = plainOf(track('ada', 'Pricing Page Viewed'));
    const c1 = plainOf(
      trackingEventFixture({ anonymousId: 'anon-9', event: 'Feature Used', metadata: { workspaceId: ws } }),
    );
    // Bob's id is bound to another contact (a merge); Ada and the anonymous visitor are in no index entry yet.
    const owners = new Map([[identityKey(ws, 'user', 'bob'), { contactId: `${ws}:robert` }]]);
    const groups = groupByContact([a1, b1, a2, c1], owners);
    const idsOf = (items: PlainEngagement[]) => items.map(({ event }) => event.metadata.eventId);
    expect([...groups.entries()].map(([id, events]) => [id, events.map((e) => e.metadata.eventId)])).toEqual([
      [`${ws}:ada`, idsOf([a1, a2])],
      [`${ws}:robert`, idsOf([b1])],
      [`${ws}:anon-9`, idsOf([c1])],
    ]);
  });
});

describe('planEngagement', () => {
  it('inserts a new contact with its facts and score, announced under the last event', () => {
    const viewed = track('ada', 'Pricing Page Viewed', t0 - 1_000);
    const used = track('ada', 'Feature Used', t0);
    const planned = ofKind(plan([viewed, used]), 'insert');

    expect(planned.contact).toMatchObject({
      _id: `${ws}:ada`,
      workspaceId: ws,
      score: 11,
      engagementScore: 11,
      modelVersion: 3,
      eventCount: 2,
      revision: 1,
      scoredRevision: 1,
      lastRule: 'Feature Used',
      factIds: [viewed.metadata.eventId, used.metadata.eventId],
      createdAt: now,
    });
    expect(planned.scored).toEqual({ total: 11, mqlThreshold: 30 });
    expect(planned.cause).toBe(used.metadata);
    expect(planned.announce).toMatchObject({
      topic: Topics.LeadsScored,
      key: `${ws}:ada`,
      event: {
        metadata: {
          eventId: derivedEventId(used.metadata.eventId, `${LEADS_EVENT_SOURCE}/lead-scored`),
          causationId: used.metadata.eventId,
        },
        score: 11,
        previousScore: 0,
        trigger: 'event',
        enrichmentState: 'none',
        modelVersion: 3,
      },
    });
  });

  it('never dates a fact or the score after the latest time an event may claim', () => {
    const future = track('ada', 'Pricing Page Viewed', Date.UTC(9999, 11, 31));
    const planned = ofKind(plan([track('ada', 'Pricing Page Viewed', t0), future]), 'insert');
    expect(factsOf(planned.contact).map((fact) => fact.at)).toEqual([t0, latest]);
    // As of `latest`, the fact of a minute before has barely decayed: 10 + 10.
    expect(planned.contact.score).toBe(20);
  });

  it('writes nothing for a redelivered batch whose score is current', () => {
    const events = [track('ada', 'Pricing Page Viewed')];
    const first = ofKind(plan(events), 'insert');
    const again = ofKind(plan(events, first.contact), 'unchanged');
    expect(again.contact).toBe(first.contact);
    expect(again.scored).toEqual({ total: 10, mqlThreshold: 30 });
  });

  it('updates the revision read with the new facts only, counting each event once', () => {
    const seen = track('ada', 'Pricing Page Viewed');
    const existing = ofKind(plan([seen]), 'insert').contact;
    const fresh = track('ada', 'Feature Used', t0 + 1);
    const planned = ofKind(
      plan([seen, fresh, fresh], { ...existing, revision: 7, scoredRevision: 7 }),
      'update',
    );

    expect(planned).toMatchObject({ readRevision: 7, newFacts: 1 });
    expect(planned.set).toMatchObject({
      score: 11,
      scoredRevision: 8,
      lastRule: 'Feature Used',
      updatedAt: now,
    });
    expect(planned.set.factIds).toEqual([seen.metadata.eventId, fresh.metadata.eventId]);
    expect(planned.contact).toMatchObject({ revision: 8, eventCount: 2, score: 11, scoredRevision: 8 });
  });

  it('keeps the newest MAX_FACTS facts', () => {
    const old = Array.from({ length: MAX_FACTS }, (_, index) => ({
      eventId: `old-${index}`,
      callType: 'track',
      name: 'Feature Used',
      path: null,
      at: t0 - 1_000 + index,
    }));
    const existing = newContact(`${ws}:ada`, ws, now, {
      eventCount: MAX_FACTS,
      facts: old.map(packFact),
      factIds: old.map((fact) => fact.eventId),
    });
    const fresh = track('ada', 'Pricing Page Viewed', t0);
    const planned = ofKind(plan([fresh], existing), 'update');
    expect(planned.set.factIds).toHaveLength(MAX_FACTS);
    expect(planned.set.factIds?.[0]).toBe('old-1');
    expect(planned.set.factIds?.at(-1)).toBe(fresh.metadata.eventId);
    expect(planned.contact.eventCount).toBe(MAX_FACTS + 1);
  });

  it('rescores without a new revision when only the model changed', () => {
    const events = [track('ada', 'Pricing Page Viewed')];
    const existing = ofKind(plan(events), 'insert').contact;
    const planned = ofKind(plan(events, existing, { ...scoring, version: 4 }), 'update');
    expect(planned).toMatchObject({ readRevision: 1, newFacts: 0 });
    expect(planned.set).toEqual(expect.objectContaining({ modelVersion: 4, scoredRevision: 1 }));
    expect(planned.set).not.toHaveProperty('facts');
    expect(planned.contact).toMatchObject({ revision: 1, eventCount: 1, modelVersion: 4 });
  });

  it('routes a redelivery under the cause that made the contact an MQL before a crash', () => {
    const made = track('ada', 'Pricing Page Viewed');
    const later = track('ada', 'Feature Used', t0 + 1);
    const existing = newContact(`${ws}:ada`, ws, now, {
      stage: 'mql',
      stageHistory: [
        {
          from: 'lead',
          to: 'mql',
          reason: 'score-threshold',
          at: now,
          eventId: 'lifecycle-event',
          causeEventId: made.metadata.eventId,
        },
      ],
    });
    const planned = ofKind(plan([made, later], existing), 'update');
    expect(planned.cause).toBe(made.metadata);
    expect(planned.announce).toMatchObject({ event: { metadata: { causationId: later.metadata.eventId } } });
  });

  it('leaves a merged contact to the one-event path', () => {
    const events = [track('ada', 'Feature Used')];
    const merged = newContact(`${ws}:ada`, ws, now, { mergedInto: `${ws}:bob` });
    expect(plan(events, merged)).toEqual({ kind: 'retry', events });
  });
});

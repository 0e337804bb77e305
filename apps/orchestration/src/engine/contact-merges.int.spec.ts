/**
 * Contact merges on the real stack (Kafka, registry, Mongo-wire store), email through SendGrid's official SDK against
 * the local fake: a contact merged away (`contacts.merged`) continues as the survivor, one enrollment per journey,
 * and no step is sent twice.
 */
import type { Model } from 'mongoose';
import { Topics, type ContactsMerged, type JourneyStepRecorded, type LeadScored } from '@tributary/contracts';
import type { Kafka } from 'kafkajs';
import type { AvroSchemaRegistry, EventPublisher } from '@tributary/messaging';
import { FakeSendGrid } from '@tributary/sandbox';
import {
  publishLeadsScored,
  readTopicToEnd,
  uniqueId,
  waitFor,
  leadScoredAfterEvent,
} from '@tributary/testing';
import { type ContactProfileDoc, type EnrollmentDoc } from './engine.models';
import { OrchestrationHarness } from './testing/orchestration-harness';

const run = uniqueId('merges');
const workspace = `ws_merges_${run}`;
const otherWorkspace = `ws_merges_other_${run}`;
const apiKey = `SG.${run}`;
const sendgrid = new FakeSendGrid({ apiKey });
let harness: OrchestrationHarness;
let publisher: EventPublisher;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
const startedAt = Date.now();
let enrollments: Model<EnrollmentDoc>;
let profiles: Model<ContactProfileDoc>;

const JOURNEY = 'merge-nurture';
// Long enough to merge while the contacts wait; the next email comes after it.
const WAIT = '4s';

beforeAll(async () => {
  await sendgrid.start();
  harness = await OrchestrationHarness.start({
    run,
    name: 'merges',
    env: {
      SENDGRID_API_KEY: apiKey,
      SENDGRID_BASE_URL: sendgrid.baseUrl,
      JOURNEY_TIMER_LEASE_MS: '3000',
    },
    topics: [Topics.LeadsScored, Topics.ContactsMerged],
  });
  ({ kafka, registry, publisher, enrollments, profiles } = harness);
  for (const ws of [workspace, otherWorkspace])
    await harness.publishJourney(ws, JOURNEY, {
      name: 'Merge nurture',
      entry: { on: 'event', event: 'Trial Started' },
      steps: [
        { id: 'welcome', type: 'email', subject: 'Welcome', html: '<p>Welcome</p>' },
        { id: 'pause', type: 'wait', duration: WAIT },
        { id: 'follow-up', type: 'email', subject: 'Follow-up', html: '<p>How is it going?</p>' },
      ],
    });
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await sendgrid.stop();
});

const consenting = (email: string, extra: Record<string, string> = {}): Record<string, string> => ({
  email,
  firstName: 'Ada',
  emailMarketingConsent: 'true',
  ...extra,
});

const didEvent = (
  contact: string,
  event: string,
  attributes: Record<string, string>,
  ws = workspace,
): LeadScored => leadScoredAfterEvent(ws, contact, event, attributes);

function mergeOf(survivor: string, merged: string, ws = workspace): ContactsMerged {
  return {
    metadata: {
      eventId: uniqueId('merge'),
      occurredAt: Date.now(),
      workspaceId: ws,
      source: 'leads',
      correlationId: uniqueId('corr'),
      causationId: null,
    },
    survivingContactId: survivor,
    mergedContactId: merged,
    reason: 'email',
  };
}

async function publishMerges(merges: readonly ContactsMerged[]): Promise<void> {
  // Keyed by the survivor, as the lead service does.
  await publisher.publishAll(
    merges.map((event) => ({ topic: Topics.ContactsMerged, key: event.survivingContactId, event })),
  );
}

const enrollmentOf = (contact: string, ws = workspace): string => `${ws}:${JOURNEY}:${contact}`;

function enrollment(
  id: string,
  done: (e: EnrollmentDoc) => boolean,
  timeoutMs = 30_000,
): Promise<EnrollmentDoc> {
  return waitFor(
    `enrollment ${id}`,
    async () => {
      const doc = await enrollments.findById(id).lean();
      return doc && done(doc) ? doc : undefined;
    },
    { timeoutMs },
  );
}

const waiting = (e: EnrollmentDoc): boolean => e.state === 'active' && e.waitingAt === 'pause';
const ended = (e: EnrollmentDoc): boolean => e.state !== 'active';

/** Lets the runner go past any wait that could still send, so "once" is read after the engine went quiet. */
const quiet = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 6_000));

/** What journey.steps holds about these enrollments, read to the topic's end (call after `quiet`). */
async function stepsOf(enrollmentIds: readonly string[]): Promise<JourneyStepRecorded[]> {
  const records = await readTopicToEnd(kafka, Topics.JourneySteps, startedAt - 5_000);
  const events = await Promise.all(
    records.map(async (r) => (await registry.decode(r.value)) as JourneyStepRecorded),
  );
  return events.filter((e) => enrollmentIds.includes(e.enrollmentId));
}

describe('a merged contact continues as the survivor, one enrollment per journey', () => {
  it('merge during a wait: the survivor gets the next email once, the old contact none; other workspaces untouched', async () => {
    const old = `${run}-old`;
    const survivor = `${run}-survivor`;
    const oldEmail = `${run}-old@example.com`;
    const survivorEmail = `${run}-survivor@example.com`;
    const otherEmail = `${run}-other@example.com`;
    const otherContact = `${run}-other`;
    await publishLeadsScored(publisher, [
      didEvent(old, 'Trial Started', consenting(oldEmail, { plan: 'pro', firstName: 'Old' })),
      // The survivor is known but not in the journey.
      didEvent(survivor, 'Page Viewed', consenting(survivorEmail)),
      // Another workspace's contact, in its own copy of the journey.
      didEvent(otherContact, 'Trial Started', consenting(otherEmail, { region: 'eu' }), otherWorkspace),
    ]);
    await enrollment(enrollmentOf(old), waiting);
    await enrollment(enrollmentOf(otherContact, otherWorkspace), waiting);
    await waitFor(
      'survivor profile',
      async () => (await profiles.findOne({ _id: survivor, workspaceId: workspace }).lean()) ?? undefined,
    );

    // The second names another workspace's contact: a merge never reaches across workspaces.
    await publishMerges([mergeOf(survivor, old), mergeOf(survivor, otherContact)]);

    const moved = await enrollment(enrollmentOf(old), ended);
    expect([moved.state, moved.reason]).toEqual(['exited', 'merged']);
    const continued = await enrollment(enrollmentOf(survivor), ended);
    expect([continued.state, continued.contactId, continued.run]).toEqual(['completed', survivor, 0]);
    await enrollment(enrollmentOf(otherContact, otherWorkspace), ended);
    await quiet();

    expect(sendgrid.messagesTo(survivorEmail).map((m) => m.subject)).toEqual(['Follow-up']);
    expect(sendgrid.messagesTo(oldEmail).map((m) => m.subject)).toEqual(['Welcome']);
    // The other workspace's contact ran its journey untouched.
    const other = await enrollments.findById(enrollmentOf(otherContact, otherWorkspace)).lean();
    expect([other?.state, other?.reason, other?.contactId]).toEqual(['completed', null, otherContact]);
    expect(sendgrid.messagesTo(otherEmail).map((m) => m.subject)).toEqual(['Welcome', 'Follow-up']);
    // Attributes folded: the survivor's own values win, the merged one's fill the gaps.
    const profile = await profiles.findOne({ _id: survivor, workspaceId: workspace }).lean();
    expect([profile?.attributes.email, profile?.attributes.firstName, profile?.attributes.plan]).toEqual([
      survivorEmail,
      'Ada',
      'pro',
    ]);
    expect(profile?.attributes.region).toBeUndefined();
  }, 90_000);

  it('both in the same journey: the survivor’s enrollment continues, the merged one ends', async () => {
    const old = `${run}-both-old`;
    const survivor = `${run}-both-survivor`;
    const oldEmail = `${run}-both-old@example.com`;
    const survivorEmail = `${run}-both-survivor@example.com`;
    await publishLeadsScored(publisher, [
      didEvent(old, 'Trial Started', consenting(oldEmail)),
      didEvent(survivor, 'Trial Started', consenting(survivorEmail)),
    ]);
    await enrollment(enrollmentOf(old), waiting);
    const before = await enrollment(enrollmentOf(survivor), waiting);

    await publishMerges([mergeOf(survivor, old)]);

    const merged = await enrollment(enrollmentOf(old), ended);
    expect([merged.state, merged.reason]).toEqual(['exited', 'merged']);
    const survived = await enrollment(enrollmentOf(survivor), ended);
    expect([survived.state, survived.enteredAt]).toEqual(['completed', before.enteredAt]);
    await quiet();
    // journey.steps says how the merged one ended, once; the survivor's ends as completed.
    const ends = await stepsOf([enrollmentOf(old), enrollmentOf(survivor)]);
    expect(
      ends
        .filter((e) => e.step === '(end)')
        .map((e) => [e.enrollmentId, e.status, e.reason])
        .sort(),
    ).toEqual(
      [
        [enrollmentOf(old), 'exited', 'merged'],
        [enrollmentOf(survivor), 'completed', null],
      ].sort(),
    );
    expect(sendgrid.messagesTo(survivorEmail).map((m) => m.subject)).toEqual(['Welcome', 'Follow-up']);
    expect(sendgrid.messagesTo(oldEmail).map((m) => m.subject)).toEqual(['Welcome']);
    expect(
      await enrollments.countDocuments({ workspaceId: workspace, journeyId: JOURNEY, contactId: survivor }),
    ).toBe(1);
  }, 90_000);

  it('an enrollment the runner holds is not moved under it, and moves once the lease ends', async () => {
    const old = `${run}-leased-old`;
    const survivor = `${run}-leased-survivor`;
    const oldEmail = `${run}-leased-old@example.com`;
    const survivorEmail = `${run}-leased-survivor@example.com`;
    await publishLeadsScored(publisher, [
      didEvent(old, 'Trial Started', consenting(oldEmail)),
      didEvent(survivor, 'Page Viewed', consenting(survivorEmail)),
    ]);
    await enrollment(enrollmentOf(old), waiting);
    // As a runner's claim would: leased for 2 s, well before the wait ends.
    const leaseUntil = new Date(Date.now() + 2_000);
    await enrollments.updateOne({ _id: enrollmentOf(old) }, { $set: { leaseOwner: 'runner-x', leaseUntil } });

    await publishMerges([mergeOf(survivor, old)]);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, leaseUntil.getTime() - Date.now() - 500)));
    const held = await enrollments.findById(enrollmentOf(old)).lean();
    expect([held?.state, held?.leaseOwner]).toEqual(['active', 'runner-x']);
    expect(await enrollments.findById(enrollmentOf(survivor)).lean()).toBeNull();

    const moved = await enrollment(enrollmentOf(old), ended);
    expect([moved.state, moved.reason]).toEqual(['exited', 'merged']);
    await enrollment(enrollmentOf(survivor), ended);
    await quiet();
    expect(sendgrid.messagesTo(survivorEmail).map((m) => m.subject)).toEqual(['Follow-up']);
    expect(sendgrid.messagesTo(oldEmail).map((m) => m.subject)).toEqual(['Welcome']);
  }, 90_000);

  it('a redelivered merge changes nothing', async () => {
    const old = `${run}-again-old`;
    const survivor = `${run}-again-survivor`;
    const oldEmail = `${run}-again-old@example.com`;
    const survivorEmail = `${run}-again-survivor@example.com`;
    await publishLeadsScored(publisher, [
      didEvent(old, 'Trial Started', consenting(oldEmail)),
      didEvent(survivor, 'Page Viewed', consenting(survivorEmail)),
    ]);
    await enrollment(enrollmentOf(old), waiting);
    await waitFor(
      'survivor profile',
      async () => (await profiles.findOne({ _id: survivor, workspaceId: workspace }).lean()) ?? undefined,
    );
    const merge = mergeOf(survivor, old);
    await publishMerges([merge]);
    await enrollment(enrollmentOf(survivor), ended);
    await quiet();
    const enrollmentsBefore = await enrollments
      .find({ workspaceId: workspace, contactId: { $in: [old, survivor] } })
      .sort({ _id: 1 })
      .lean();
    const profileBefore = await profiles.findOne({ _id: survivor, workspaceId: workspace }).lean();

    // The same record again, then a marker merge on the same key (partition): once the marker is applied, the
    // redelivery before it was too.
    const marker = `${run}-again-marker`;
    await publishLeadsScored(publisher, [didEvent(marker, 'Page Viewed', { late: 'yes' })]);
    await waitFor(
      'marker profile',
      async () => (await profiles.findOne({ _id: marker, workspaceId: workspace }).lean()) ?? undefined,
    );
    await publishMerges([merge, mergeOf(survivor, marker)]);
    await waitFor('marker folded', async () => {
      const p = await profiles.findOne({ _id: survivor, workspaceId: workspace }).lean();
      return p?.attributes.late === 'yes' ? p : undefined;
    });
    await quiet();

    const enrollmentsAfter = await enrollments
      .find({ workspaceId: workspace, contactId: { $in: [old, survivor] } })
      .sort({ _id: 1 })
      .lean();
    expect(enrollmentsAfter).toEqual(enrollmentsBefore);
    const profileAfter = await profiles.findOne({ _id: survivor, workspaceId: workspace }).lean();
    const { late: _late, ...attributesAfter } = profileAfter?.attributes ?? {};
    expect(attributesAfter).toEqual(profileBefore?.attributes);
    expect(sendgrid.messagesTo(survivorEmail).map((m) => m.subject)).toEqual(['Follow-up']);
    expect(sendgrid.messagesTo(oldEmail).map((m) => m.subject)).toEqual(['Welcome']);
  }, 90_000);
});

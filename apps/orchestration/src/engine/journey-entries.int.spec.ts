/**
 * Entries beyond events, scores and stages, on the real stack: a lead assigned (to a team), an SLA breached, and
 * attribute conditions evaluated when the contact changes (entered when they come to hold, not while they hold).
 * Each "once" is read past a marker published after it on the same partition.
 */
import type { Model } from 'mongoose';
import { originMetadata, type EventPublisher } from '@tributary/messaging';
import { Topics, type LeadAssigned, type LeadSlaBreached } from '@tributary/contracts';
import { FakeSendGrid } from '@tributary/sandbox';
import { leadScoredFixture, publishLeadsScored, uniqueId, waitFor } from '@tributary/testing';
import { validateJourney } from '../journeys/journey-definition';
import { type ContactProfileDoc, type EnrollmentDoc } from './engine.models';
import { OrchestrationHarness } from './testing/orchestration-harness';

const run = uniqueId('entries');
const workspace = `ws_entries_${run}`;
const apiKey = `SG.${run}`;
const sendgrid = new FakeSendGrid({ apiKey });
let harness: OrchestrationHarness;
let publisher: EventPublisher;
let enrollments: Model<EnrollmentDoc>;
let profiles: Model<ContactProfileDoc>;

beforeAll(async () => {
  await sendgrid.start();
  harness = await OrchestrationHarness.start({
    run,
    name: 'entries',
    env: { SENDGRID_API_KEY: apiKey, SENDGRID_BASE_URL: sendgrid.baseUrl },
    topics: [Topics.LeadsScored, Topics.LeadsAssigned, Topics.LeadsSlaBreached],
  });
  ({ publisher, enrollments, profiles } = harness);
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await sendgrid.stop();
});

async function publishJourney(journeyId: string, document: unknown): Promise<void> {
  await harness.publishJourney(workspace, journeyId, document);
}

const hello = (id: string, subject: string) => ({
  id,
  type: 'email',
  subject,
  html: `<p>${subject}</p>`,
  category: 'transactional',
});
const enrollmentOf = (journeyId: string, contact: string): string => `${workspace}:${journeyId}:${contact}`;

/** A contact known to orchestration with an email (the lead service's score carries its attributes). */
async function knownContact(contact: string, attributes: Record<string, string> = {}): Promise<string> {
  const email = `${contact}@example.com`;
  await publishLeadsScored(publisher, [
    leadScoredFixture(workspace, contact, 10, 'entries', { attributes: { email, ...attributes } }),
  ]);
  await waitFor(`${contact} known`, async () => (await profiles.findById(contact).lean()) ?? undefined);
  return email;
}

function assigned(contact: string, team: string): LeadAssigned {
  return {
    metadata: originMetadata({ workspaceId: workspace, source: 'entries' }),
    contactId: contact,
    ownerId: `owner-${team}`,
    teamId: team,
    ruleId: 'rule-1',
    reason: 'territory',
    previousOwnerId: null,
    assignedAt: Date.now(),
    acceptDueAt: Date.now() + 3_600_000,
  };
}

const publishAssigned = (events: LeadAssigned[]) =>
  publisher.publishAll(events.map((event) => ({ topic: Topics.LeadsAssigned, key: event.contactId, event })));

/** An enrollment, once it exists. */
const enrolled = (id: string) =>
  waitFor(`enrollment ${id}`, async () => (await enrollments.findById(id).lean()) ?? undefined);

const finished = (id: string) =>
  waitFor(`enrollment ${id} finished`, async () => {
    const doc = await enrollments.findById(id).lean();
    return doc && doc.state !== 'active' ? doc : undefined;
  });

describe('journeys entered by routing and by attribute changes', () => {
  it('enters a lead assigned to the entry’s team once, even when the assignment is delivered twice', async () => {
    await publishJourney('emea-welcome', {
      name: 'EMEA rep intro',
      entry: { on: 'assigned', team: 'emea' },
      steps: [hello('intro', 'Meet your EMEA rep')],
    });
    // Enters on any assignment to team "marker": proof that what was published before it has been consumed.
    await publishJourney('routing-marker', {
      name: 'Marker',
      entry: { on: 'assigned', team: 'marker' },
      steps: [{ id: 'hold', type: 'wait', duration: '1h' }],
    });
    const emea = `${run}-emea`;
    const apac = `${run}-apac`;
    const emeaEmail = await knownContact(emea);
    const apacEmail = await knownContact(apac);
    const assignment = assigned(emea, 'emea');

    await publishAssigned([assignment, assignment, assigned(apac, 'apac')]);
    await publishAssigned([assigned(emea, 'marker'), assigned(apac, 'marker')]);
    await enrolled(enrollmentOf('routing-marker', emea));
    await enrolled(enrollmentOf('routing-marker', apac));
    await finished(enrollmentOf('emea-welcome', emea));

    expect(sendgrid.messagesTo(emeaEmail).map((m) => m.subject)).toEqual(['Meet your EMEA rep']);
    expect(await enrollments.findById(enrollmentOf('emea-welcome', apac)).lean()).toBeNull();
    expect(sendgrid.messagesTo(apacEmail)).toEqual([]);
  });

  it('enters a lead whose SLA was breached', async () => {
    await publishJourney('sla-apology', {
      name: 'Sorry for the wait',
      entry: { on: 'sla_breached' },
      steps: [hello('sorry', 'Sorry for the wait')],
    });
    const contact = `${run}-waiting`;
    const email = await knownContact(contact);
    const breach: LeadSlaBreached = {
      metadata: originMetadata({ workspaceId: workspace, source: 'entries' }),
      contactId: contact,
      ownerId: 'owner-1',
      teamId: 'emea',
      assignedAt: Date.now() - 7_200_000,
      acceptDueAt: Date.now() - 3_600_000,
      breachedAt: Date.now(),
      reassignedTo: null,
    };
    await publisher.publishAll([{ topic: Topics.LeadsSlaBreached, key: contact, event: breach }]);

    await finished(enrollmentOf('sla-apology', contact));
    expect(sendgrid.messagesTo(email).map((m) => m.subject)).toEqual(['Sorry for the wait']);
  });

  it('enters when attribute conditions come to hold, not again while they keep holding (re-entry always)', async () => {
    await publishJourney('went-enterprise', {
      name: 'Welcome to Enterprise',
      entry: { on: 'attribute', where: [{ attribute: 'plan', op: 'eq', value: 'enterprise' }] },
      reentry: 'always',
      steps: [hello('welcome', 'Welcome to Enterprise')],
    });
    await publishJourney('attribute-marker', {
      name: 'Marker',
      entry: { on: 'attribute', where: [{ attribute: 'marker', op: 'eq', value: 'yes' }] },
      steps: [{ id: 'hold', type: 'wait', duration: '1h' }],
    });
    const contact = `${run}-upgrader`;
    const email = await knownContact(contact, { plan: 'starter' });
    const scored = (attributes: Record<string, string>, points: number) =>
      leadScoredFixture(workspace, contact, points, 'entries', { attributes: { email, ...attributes } });

    await publishLeadsScored(publisher, [scored({ plan: 'enterprise' }, 20)]);
    await finished(enrollmentOf('went-enterprise', contact));
    // Still enterprise, a new score: the conditions held before this change, so it does not enter again.
    await publishLeadsScored(publisher, [scored({ plan: 'enterprise' }, 30)]);
    await publishLeadsScored(publisher, [scored({ plan: 'enterprise', marker: 'yes' }, 40)]);
    await enrolled(enrollmentOf('attribute-marker', contact));

    expect(sendgrid.messagesTo(email).map((m) => m.subject)).toEqual(['Welcome to Enterprise']);
    expect(await enrollments.findById(enrollmentOf('went-enterprise', contact)).lean()).toMatchObject({
      run: 0,
      state: 'completed',
    });
  });

  it('refuses an attribute entry that tests an event property, naming the field', () => {
    const parsed = validateJourney({
      name: 'Bad',
      entry: { on: 'attribute', where: [{ property: 'plan', op: 'eq', value: 'pro' }] },
      steps: [hello('x', 'X')],
    });
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? [] : parsed.errors.map((e) => e.field)).toContain('entry.where[0].property');
  });
});

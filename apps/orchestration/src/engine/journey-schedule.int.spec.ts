/**
 * Scheduled journeys on the real stack, two orchestration replicas sharing one store: a run a few seconds ahead
 * enters exactly the workspace's contacts matching its conditions, each once (re-entry `always`, so a second run of
 * the occurrence would show as a second enrollment run and a second email), and no contact of another workspace.
 * A rerun of an occurrence (a replica killed before recording it) enters nobody again; occurrences missed while no
 * replica ran run once; a paused journey's occurrence runs nobody. "Once" is read from the fake provider until it has
 * been quiet for a while.
 */
import type { Model } from 'mongoose';
import { Topics } from '@tributary/contracts';
import type { EventPublisher } from '@tributary/messaging';
import { FakeSendGrid } from '@tributary/sandbox';
import { leadScoredFixture, publishLeadsScored, uniqueId, waitFor } from '@tributary/testing';
import { validateJourney } from '../journeys/journey-definition';
import { JourneyCatalog } from '../journeys/journey-catalog';
import { type ContactProfileDoc, type EnrollmentDoc } from './engine.models';
import {
  JOURNEY_SCHEDULE_DUE_MODEL,
  JOURNEY_SCHEDULE_MODEL,
  JourneyScheduler,
  scheduleDueId,
  type JourneyScheduleDoc,
} from './journey-scheduler.service';
import { OrchestrationHarness } from './testing/orchestration-harness';

const run = uniqueId('schedule');
const workspace = `ws_schedule_${run}`;
const otherWorkspace = `${workspace}_other`;
const apiKey = `SG.${run}`;
const sendgrid = new FakeSendGrid({ apiKey });
let harness: OrchestrationHarness;
let publisher: EventPublisher;
let catalog: JourneyCatalog;
let profiles: Model<ContactProfileDoc>;
let enrollments: Model<EnrollmentDoc>;
let schedules: Model<JourneyScheduleDoc>;
let due: Model<{ _id: string }>;

beforeAll(async () => {
  await sendgrid.start();
  // Two replicas: each occurrence must be run by one of them only.
  harness = await OrchestrationHarness.start({
    run,
    name: 'schedule',
    replicas: 2,
    env: {
      SENDGRID_API_KEY: apiKey,
      SENDGRID_BASE_URL: sendgrid.baseUrl,
      JOURNEY_SCHEDULE_POLL_MS: '200',
      JOURNEY_TIMER_LEASE_MS: '5000',
    },
    topics: [Topics.LeadsScored],
  });
  ({ publisher, catalog, enrollments, profiles } = harness);
  schedules = harness.get<Model<JourneyScheduleDoc>>(JOURNEY_SCHEDULE_MODEL);
  due = harness.get<Model<{ _id: string }>>(JOURNEY_SCHEDULE_DUE_MODEL);
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await sendgrid.stop();
});

interface Contact {
  id: string;
  email: string;
}

/** Contacts as the lead service names them (`<workspace>:<id>`), known to orchestration with an email. */
async function knownContacts(
  ws: string,
  label: string,
  count: number,
  attributes: Record<string, string>,
  stage: string,
): Promise<Contact[]> {
  const contacts = Array.from({ length: count }, (_, i) => ({
    id: `${ws}:${run}-${label}-${i}`,
    email: `${label}-${i}-${run}@example.com`,
  }));
  await publishLeadsScored(
    publisher,
    contacts.map((c) =>
      leadScoredFixture(ws, c.id, 10, 'schedule', { attributes: { email: c.email, ...attributes }, stage }),
    ),
  );
  for (const c of contacts)
    await waitFor(`${c.id} known`, async () => (await profiles.findById(c.id).lean()) ?? undefined);
  return contacts;
}

/** Publishes a journey that runs once, `inMs` from now, for pro contacts at the MQL stage. */
async function publishOneOff(journeyId: string, subject: string, inMs: number): Promise<Date> {
  const at = new Date(Date.now() + inMs);
  const parsed = validateJourney({
    name: subject,
    entry: {
      on: 'schedule',
      at: at.toISOString(),
      where: [{ attribute: 'plan', op: 'eq', value: 'pro' }],
      stage: 'mql',
    },
    reentry: 'always',
    steps: [{ id: 'hello', type: 'email', subject, html: `<p>${subject}</p>`, category: 'transactional' }],
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  await catalog.append(workspace, journeyId, parsed.value, 'test');
  await catalog.publish(workspace, journeyId);
  return at;
}

/** The schedule once its occurrence has run to its end. */
const ran = (journeyId: string, at: Date) =>
  waitFor(
    `${journeyId} ran`,
    async () => {
      const doc = await schedules.findById(`${workspace}:${journeyId}`).lean();
      return doc?.lastRunAt?.getTime() === at.getTime() && doc.leaseOwner === null ? doc : undefined;
    },
    { timeoutMs: 30_000 },
  );

/** Waits until the fake has received nothing new for `quietMs`. */
async function untilQuiet(quietMs = 3_000): Promise<void> {
  let seen = -1;
  let since = Date.now();
  for (;;) {
    const count = sendgrid.messages.length;
    if (count !== seen) {
      seen = count;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The journey's enrollments of these contacts (read by `_id`: an enrollment is `<ws>:<journey>:<contact>`). */
const enrollmentsOf = (journeyId: string, contacts: readonly Contact[]) =>
  enrollments.find({ _id: { $in: contacts.map((c) => `${workspace}:${journeyId}:${c.id}`) } }).lean();

const subjectsTo = (contacts: readonly Contact[]) =>
  contacts.map((c) => sendgrid.messagesTo(c.email).map((m) => m.subject));

describe('scheduled journeys', () => {
  it('enters the matching contacts of its workspace once, on two replicas, and nobody again when the occurrence reruns', async () => {
    const pro = await knownContacts(workspace, 'pro', 6, { plan: 'pro' }, 'mql');
    const lead = await knownContacts(workspace, 'lead', 2, { plan: 'pro' }, 'lead');
    const free = await knownContacts(workspace, 'free', 2, { plan: 'free' }, 'mql');
    const outsiders = await knownContacts(otherWorkspace, 'outsider', 3, { plan: 'pro' }, 'mql');

    const at = await publishOneOff('pro-digest', 'Your pro digest', 4_000);
    await ran('pro-digest', at);
    await untilQuiet();

    expect(subjectsTo(pro)).toEqual(pro.map(() => ['Your pro digest']));
    expect(subjectsTo([...lead, ...free, ...outsiders]).flat()).toEqual([]);
    const entered = await enrollmentsOf('pro-digest', [...pro, ...lead, ...free, ...outsiders]);
    expect(entered.map((e) => e.contactId).sort()).toEqual(pro.map((c) => c.id).sort());
    expect(entered.map((e) => e.run)).toEqual(pro.map(() => 0));
    // A one-off has nothing after it.
    expect((await schedules.findById(`${workspace}:pro-digest`).lean())?.nextAt).toBeNull();

    // As if the replica running it died after enrolling everyone and before recording the run: its lease ran out,
    // and the entry it wrote at the lease's end brings the same occurrence back to a replica.
    const id = `${workspace}:pro-digest`;
    const leaseUntil = new Date(Date.now() - 1);
    await schedules.updateOne(
      { _id: id },
      { $set: { nextAt: at, lastRunAt: null, cursor: null, leaseOwner: 'killed-replica', leaseUntil } },
    );
    await due.create({ _id: scheduleDueId(leaseUntil.getTime(), id) });
    await ran('pro-digest', at);
    await untilQuiet();

    expect(subjectsTo(pro)).toEqual(pro.map(() => ['Your pro digest']));
    const after = await enrollmentsOf('pro-digest', [...pro, ...lead, ...free]);
    expect(after.map((e) => e.run)).toEqual(pro.map(() => 0));
  }, 90_000);

  it('runs Mondays missed while no replica ran once, then waits for next Monday 09:00 in its zone', async () => {
    const team = await knownContacts(workspace, 'team', 3, { plan: 'team' }, 'mql');
    const parsed = validateJourney({
      name: 'Team digest',
      entry: {
        on: 'schedule',
        cron: '0 9 * * 1',
        timezone: 'Europe/Berlin',
        where: [{ attribute: 'plan', op: 'eq', value: 'team' }],
      },
      reentry: 'always',
      steps: [
        { id: 'hello', type: 'email', subject: 'Team digest', html: '<p>t</p>', category: 'transactional' },
      ],
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    await catalog.append(workspace, 'team-digest', parsed.value, 'test');
    await catalog.publish(workspace, 'team-digest');
    const id = `${workspace}:team-digest`;
    const armed = await waitFor(
      'team-digest armed',
      async () => (await schedules.findById(id).lean()) ?? undefined,
    );
    expect(armed.nextAt?.getTime()).toBeGreaterThan(Date.now());

    // As if every replica had been down for four weeks: the schedule still names the occurrence of four weeks ago.
    const missed = new Date((armed.nextAt as Date).getTime() - 4 * 7 * 86_400_000);
    await schedules.updateOne({ _id: id }, { $set: { nextAt: missed } });
    await due.create({ _id: scheduleDueId(missed.getTime(), id) });
    const done = await ran('team-digest', missed);
    await untilQuiet();

    expect(subjectsTo(team)).toEqual(team.map(() => ['Team digest']));
    expect((await enrollmentsOf('team-digest', team)).map((e) => e.run)).toEqual(team.map(() => 0));
    // The next run is the coming Monday at 09:00 Berlin time, not the Mondays in between.
    expect(done.nextAt?.getTime()).toBe(armed.nextAt?.getTime());
    expect(
      new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Europe/Berlin',
        weekday: 'short',
        hour: '2-digit',
        minute: '2-digit',
      }).format(done.nextAt as Date),
    ).toBe('Mon 09:00');
  }, 60_000);

  it('arms at start a published schedule journey whose schedule was lost, and only that one', async () => {
    const parsed = validateJourney({
      name: 'Lost digest',
      entry: { on: 'schedule', cron: '30 8 * * 2', timezone: 'Europe/Berlin' },
      reentry: 'always',
      steps: [{ id: 'hello', type: 'email', subject: 'Lost', html: '<p>l</p>', category: 'transactional' }],
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    await catalog.append(workspace, 'lost-digest', parsed.value, 'test');
    await catalog.publish(workspace, 'lost-digest');
    const id = `${workspace}:lost-digest`;
    const armed = await waitFor(
      'lost-digest armed',
      async () => (await schedules.findById(id).lean()) ?? undefined,
    );
    // As if the process had stopped between storing the publish and arming it.
    await schedules.deleteOne({ _id: id });
    const scheduler = harness.get(JourneyScheduler);

    expect((await scheduler.reconcile()).filter((j) => j.startsWith(workspace))).toEqual([id]);
    const rearmed = await schedules.findById(id).lean();
    expect(rearmed?.nextAt?.getTime()).toBe(armed.nextAt?.getTime());
    // Its due entry is back, and a second look finds nothing to arm.
    expect(await due.exists({ _id: scheduleDueId(armed.nextAt?.getTime() ?? 0, id) })).toBeTruthy();
    expect((await scheduler.reconcile()).filter((j) => j.startsWith(workspace))).toEqual([]);
  }, 60_000);

  it('does not run a paused journey at its occurrence', async () => {
    const pro = await knownContacts(workspace, 'paused', 2, { plan: 'pro' }, 'mql');
    const at = await publishOneOff('paused-digest', 'Paused digest', 3_000);
    await catalog.pause(workspace, 'paused-digest');
    await ran('paused-digest', at);
    await untilQuiet(2_000);

    expect(subjectsTo(pro).flat()).toEqual([]);
    expect(await enrollmentsOf('paused-digest', pro)).toEqual([]);
  }, 60_000);
});

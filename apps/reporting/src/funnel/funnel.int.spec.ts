/**
 * The lead funnel on the real stack, against a hand-computed fixture: stages entered, advanced and how fast, people
 * in each stage now, cut by original source and owner; a merged contact counts once whatever order the merge and its
 * lifecycle arrive in; republished events change nothing; routing per owner; another workspace sees none of it.
 */
import type { Kafka } from 'kafkajs';
import {
  Topics,
  type ContactsMerged,
  type LeadAccepted,
  type LeadAssigned,
  type LeadSlaBreached,
  type LifecycleChanged,
  type TrackingEvent,
} from '@tributary/contracts';
import { type EventPublisher, type OutgoingEvent, originMetadata } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import {
  connectTestPublisher,
  testServiceEnv,
  trackingEventFixture,
  uniqueId,
  waitFor,
  waitForGroupCaughtUp,
} from '@tributary/testing';
import { ReportingModule } from '../app.module';
import { loadReportingConfig } from '../config';
import type { FunnelReport, RoutingRow } from './funnel.controller';

const run = uniqueId('fun');
const workspace = `ws_fun_${run}`;
const other = `ws_fun_other_${run}`;
const key = `fun-key-${run}`;
const otherKey = `fun-other-key-${run}`;
const group = `reporting.${run}`;
const TOPICS = [
  Topics.LifecycleChanged,
  Topics.ContactsMerged,
  Topics.LeadsAssigned,
  Topics.LeadsSlaBreached,
  Topics.LeadsAccepted,
  Topics.TrackingEvents,
];
let service: RunningService;
let kafka: Kafka;
let publisher: EventPublisher;

beforeAll(async () => {
  const config = loadReportingConfig(
    testServiceEnv('reporting', run, { WRITE_KEYS: `${key}:${workspace},${otherKey}:${other}` }),
  );
  service = await startService(ReportingModule.forRoot(config), config);
  ({ kafka, publisher } = await connectTestPublisher(`fun-${run}`, config, TOPICS));
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

/** Hours after 2026-11-02T00:00Z (the workspace's zone is UTC). */
const D1 = Date.parse('2026-11-02T00:00:00Z');
const h = (hours: number) => D1 + hours * 3_600_000;
const contact = (id: string, ws = workspace) => `${ws}:${id}`;

function lifecycle(id: string, to: string, at: number, ws = workspace): OutgoingEvent {
  const event: LifecycleChanged = {
    metadata: originMetadata({ workspaceId: ws, source: 'leads', occurredAt: at }),
    contactId: contact(id, ws),
    from: null,
    to,
    reason: 'test',
    score: null,
  };
  return { topic: Topics.LifecycleChanged, key: event.contactId, event };
}

function merged(from: string, into: string): OutgoingEvent {
  const event: ContactsMerged = {
    metadata: originMetadata({ workspaceId: workspace, source: 'leads', occurredAt: h(30) }),
    survivingContactId: contact(into),
    mergedContactId: contact(from),
    reason: 'identify',
  };
  return { topic: Topics.ContactsMerged, key: event.survivingContactId, event };
}

function assigned(id: string, ownerId: string, at: number): OutgoingEvent {
  const event: LeadAssigned = {
    metadata: originMetadata({ workspaceId: workspace, source: 'leads', occurredAt: at }),
    contactId: contact(id),
    ownerId,
    teamId: 't1',
    ruleId: 'r1',
    reason: 'round-robin',
    previousOwnerId: null,
    assignedAt: at,
    acceptDueAt: at + 3_600_000,
  };
  return { topic: Topics.LeadsAssigned, key: event.contactId, event };
}

function acceptedBy(id: string, ownerId: string, assignedAt: number, acceptedAt: number): OutgoingEvent {
  const event: LeadAccepted = {
    metadata: originMetadata({ workspaceId: workspace, source: 'leads', occurredAt: acceptedAt }),
    contactId: contact(id),
    ownerId,
    teamId: 't1',
    assignedAt,
    acceptedAt,
  };
  return { topic: Topics.LeadsAccepted, key: event.contactId, event };
}

function breached(id: string, ownerId: string, at: number): OutgoingEvent {
  const event: LeadSlaBreached = {
    metadata: originMetadata({ workspaceId: workspace, source: 'leads', occurredAt: at }),
    contactId: contact(id),
    ownerId,
    teamId: 't1',
    assignedAt: at - 3_600_000,
    acceptDueAt: at,
    breachedAt: at,
    reassignedTo: null,
  };
  return { topic: Topics.LeadsSlaBreached, key: event.contactId, event };
}

function page(
  who: { userId?: string; anonymousId?: string },
  at: number,
  url: string,
  referrer = '',
): OutgoingEvent {
  const event: TrackingEvent = trackingEventFixture({
    metadata: { workspaceId: workspace, occurredAt: at },
    callType: 'page',
    userId: who.userId ?? null,
    anonymousId: who.anonymousId ?? null,
    timestamp: at,
    receivedAt: at,
    contextJson: JSON.stringify({ page: { url, referrer } }),
  });
  return { topic: Topics.TrackingEvents, key: who.userId ?? who.anonymousId ?? '', event };
}

async function get<T>(path: string, apiKey = key): Promise<T> {
  const res = await fetch(`${service.url}${path}`, {
    headers: { authorization: `Basic ${Buffer.from(`${apiKey}:`).toString('base64')}` },
  });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const RANGE = 'from=2026-11-02&to=2026-11-05';
const stagesOf = (report: FunnelReport) =>
  Object.fromEntries(
    report.stages
      .filter((s) => s.entered > 0 || s.current > 0)
      .map((s) => [s.stage, [s.entered, s.advanced, s.conversionRate, s.daysToAdvance.median, s.current]]),
  );

// u1: google cpc, lead → mql (1 day) → sql (2 days). u2: Hacker News referral, lead → mql (2 days).
// anon3 (newsletter email touch, lead on day 2) merged into u3 (lead day 3, mql day 3 09:00): one person whose
// lead is day 2 08:00, so lead → mql is 25 hours.
const lifecycleEvents = [
  lifecycle('u1', 'lead', h(10)),
  lifecycle('u1', 'mql', h(34)),
  lifecycle('u1', 'sql', h(82)),
  lifecycle('u2', 'lead', h(12)),
  lifecycle('u2', 'mql', h(60)),
  lifecycle('anon3', 'lead', h(32)),
  lifecycle('u3', 'lead', h(56)),
  lifecycle('u3', 'mql', h(57)),
];
const touches = [
  page({ userId: 'u1' }, h(9), 'https://shop.example/?utm_source=Google&utm_medium=cpc&utm_campaign=spring'),
  page({ userId: 'u1' }, h(40), 'https://shop.example/?utm_source=bing&utm_medium=cpc'), // later: not the first
  page({ userId: 'u2' }, h(11), 'https://shop.example/pricing', 'https://news.ycombinator.com/item?id=1'),
  page(
    { anonymousId: 'anon3' },
    h(31),
    'https://shop.example/?utm_source=newsletter&utm_medium=email&utm_campaign=dec',
  ),
  page({ userId: 'u3' }, h(55), 'https://shop.example/', 'https://shop.example/blog'), // own site: not a touch
];
const routingEvents = [
  assigned('u1', 'o1', h(35)),
  assigned('u2', 'o2', h(61)),
  breached('u2', 'o2', h(84)),
  assigned('u2', 'o1', h(85)), // reassigned after the breach: u2's owner is o1 now
  acceptedBy('u1', 'o1', h(35), h(35) + 30 * 60_000),
  acceptedBy('u2', 'o1', h(85), h(85) + 90 * 60_000),
];

const EXPECTED = {
  lead: [3, 3, 1, 1.0417, 0],
  mql: [3, 1, 0.3333, 2, 2],
  sql: [1, 0, 0, null, 1],
};

describe('lead funnel', () => {
  it('counts stages entered, advanced and how fast, a merged contact once (merge published first)', async () => {
    // The merge before the lifecycle it folds: the result must not depend on arrival order.
    await publisher.publishAll([merged('anon3', 'u3')]);
    await publisher.publishAll([...touches, ...lifecycleEvents, ...routingEvents]);

    const report = await waitFor('the funnel to hold every event', async () => {
      const r = await get<FunnelReport>(`/v1/reports/funnel?${RANGE}`);
      return JSON.stringify(stagesOf(r)) === JSON.stringify(EXPECTED) ? r : undefined;
    });
    expect(stagesOf(report)).toEqual(EXPECTED);
    expect(report.stages.find((s) => s.stage === 'lead')?.daysToAdvance.mean).toBe(1.3472);
    // The trend's buckets sum to the funnel's entered counts for the same range.
    expect(report.trend).toEqual([
      { bucket: '2026-11-02T00:00:00+00:00', entered: { lead: 2 } },
      { bucket: '2026-11-03T00:00:00+00:00', entered: { lead: 1, mql: 1 } },
      { bucket: '2026-11-04T00:00:00+00:00', entered: { mql: 2 } },
      { bucket: '2026-11-05T00:00:00+00:00', entered: { sql: 1 } },
    ]);
  });

  it('cuts people by their original source and campaign, merged touches included, and by current owner', async () => {
    const entered = async (filter: string) =>
      Object.fromEntries(
        (await get<FunnelReport>(`/v1/reports/funnel?${RANGE}&${filter}`)).stages
          .filter((s) => s.entered > 0)
          .map((s) => [s.stage, s.entered]),
      );
    expect(await entered('source=google&campaign=spring')).toEqual({ lead: 1, mql: 1, sql: 1 });
    expect(await entered('source=news.ycombinator.com')).toEqual({ lead: 1, mql: 1 });
    expect(await entered('source=newsletter&medium=email')).toEqual({ lead: 1, mql: 1 });
    expect(await entered('ownerId=o1')).toEqual({ lead: 2, mql: 2, sql: 1 });
    expect(await entered('ownerId=o2')).toEqual({});
  });

  it('lists the people, merged ones once, as JSON pages and as CSV', async () => {
    const first = await get<{
      items: { contactId: string; source: string }[];
      nextCursor: string;
      total: number;
    }>('/v1/reports/funnel/contacts?limit=2');
    expect(first.total).toBe(3);
    expect(first.items.map((p) => p.contactId)).toEqual([contact('u1'), contact('u2')]);
    const second = await get<{ items: { contactId: string; source: string }[]; nextCursor: string | null }>(
      `/v1/reports/funnel/contacts?limit=2&cursor=${first.nextCursor}`,
    );
    expect(second).toMatchObject({
      items: [{ contactId: contact('u3'), source: 'newsletter' }],
      nextCursor: null,
    });

    const csv = await fetch(`${service.url}/v1/reports/funnel/contacts?format=csv`, {
      headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
    });
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await csv.text()).trim().split('\n');
    expect(lines[0]).toBe(
      'contactId,stage,source,medium,campaign,ownerId,teamId,reached_subscriber,reached_lead,reached_mql,reached_sql,reached_opportunity,reached_customer',
    );
    expect(lines.slice(1)).toEqual([
      `${contact('u1')},sql,google,cpc,spring,o1,t1,,2026-11-02T10:00:00.000Z,2026-11-03T10:00:00.000Z,2026-11-05T10:00:00.000Z,,`,
      `${contact('u2')},mql,news.ycombinator.com,referral,(not set),o1,t1,,2026-11-02T12:00:00.000Z,2026-11-04T12:00:00.000Z,,,`,
      `${contact('u3')},mql,newsletter,email,dec,(none),(none),,2026-11-03T08:00:00.000Z,2026-11-04T09:00:00.000Z,,,`,
    ]);
  });

  it('counts assignments, accepts with the mean time to accept, and SLA breaches per owner', async () => {
    const routing = await get<{ items: RoutingRow[] }>(`/v1/reports/routing?${RANGE}`);
    expect(routing.items).toEqual([
      {
        ownerId: 'o1',
        teamId: 't1',
        assigned: 2,
        accepted: 2,
        breached: 0,
        breachRate: 0,
        meanMinutesToAccept: 60,
      },
      {
        ownerId: 'o2',
        teamId: 't1',
        assigned: 1,
        accepted: 0,
        breached: 1,
        breachRate: 1,
        meanMinutesToAccept: null,
      },
    ]);
  });

  it('changes nothing when every event is published again (same event ids, new records)', async () => {
    await publisher.publishAll([...touches, ...lifecycleEvents, ...routingEvents, merged('anon3', 'u3')]);
    await waitForGroupCaughtUp(kafka, group, TOPICS);
    expect(stagesOf(await get<FunnelReport>(`/v1/reports/funnel?${RANGE}`))).toEqual(EXPECTED);
    expect((await get<{ items: RoutingRow[] }>(`/v1/reports/routing?${RANGE}`)).items).toEqual([
      {
        ownerId: 'o1',
        teamId: 't1',
        assigned: 2,
        accepted: 2,
        breached: 0,
        breachRate: 0,
        meanMinutesToAccept: 60,
      },
      {
        ownerId: 'o2',
        teamId: 't1',
        assigned: 1,
        accepted: 0,
        breached: 1,
        breachRate: 1,
        meanMinutesToAccept: null,
      },
    ]);
  });

  it('shows another workspace none of it, and its own only', async () => {
    await publisher.publishAll([lifecycle('z1', 'lead', h(10), other)]);
    const theirs = await waitFor('the other workspace’s lead', async () => {
      const r = await get<FunnelReport>(`/v1/reports/funnel?${RANGE}`, otherKey);
      return r.stages.some((s) => s.entered > 0) ? r : undefined;
    });
    expect(stagesOf(theirs)).toEqual({ lead: [1, 0, 0, null, 1] });
    expect((await get<{ items: RoutingRow[] }>(`/v1/reports/routing?${RANGE}`, otherKey)).items).toEqual([]);
    expect((await get<{ total: number }>('/v1/reports/funnel/contacts', otherKey)).total).toBe(1);
  });

  it('refuses a bad query with the field and the reason', async () => {
    const res = await fetch(`${service.url}/v1/reports/funnel?from=yesterday&grain=month`, {
      headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { field: string }[] };
    expect(body.errors.map((e) => e.field).sort()).toEqual(['from', 'grain']);
  });
});

/**
 * Attribution on the real stack, against hand-computed credits: a customer touched three times (14, 7 and 0 days
 * before) under each model, a goal with revenue whose touch came before the visitor was identified (a merge), and
 * conversions with no touch in the look-back that go to (direct). Republished events change nothing.
 */
import type { Kafka } from 'kafkajs';
import { Topics, type ContactsMerged, type LifecycleChanged } from '@tributary/contracts';
import {
  type AvroSchemaRegistry,
  type EventPublisher,
  type OutgoingEvent,
  originMetadata,
} from '@tributary/messaging';
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
import { ReportTopics } from '../report-topics/report-topics';
import { latestReports } from '../report-topics/testing/latest-reports';
import type { AttributionReport } from './attribution.controller';

const run = uniqueId('attr');
const workspace = `ws_attr_${run}`;
const key = `attr-key-${run}`;
const group = `reporting.${run}`;
const TOPICS = [Topics.LifecycleChanged, Topics.ContactsMerged, Topics.TrackingEvents];
let service: RunningService;
let kafka: Kafka;
let publisher: EventPublisher;
let registry: AvroSchemaRegistry;

beforeAll(async () => {
  const config = loadReportingConfig(
    testServiceEnv('reporting', run, {
      WRITE_KEYS: `${key}:${workspace}`,
      // The fixture's days are in October: publish far enough back to hold them.
      REPORT_TOPICS_DAYS: '400',
    }),
  );
  service = await startService(ReportingModule.forRoot(config), config);
  ({ kafka, publisher, registry } = await connectTestPublisher(`attr-${run}`, config, TOPICS));
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

const D0 = Date.parse('2026-10-01T12:00:00Z');
const day = (n: number) => D0 + n * 86_400_000;
const contact = (id: string) => `${workspace}:${id}`;

function customer(id: string, at: number): OutgoingEvent {
  const event: LifecycleChanged = {
    metadata: originMetadata({ workspaceId: workspace, source: 'leads', occurredAt: at }),
    contactId: contact(id),
    from: 'sql',
    to: 'customer',
    reason: 'won',
    score: null,
  };
  return { topic: Topics.LifecycleChanged, key: event.contactId, event };
}

function visit(
  who: { userId?: string; anonymousId?: string },
  at: number,
  url: string,
  referrer = '',
): OutgoingEvent {
  const event = trackingEventFixture({
    metadata: { workspaceId: workspace, occurredAt: at },
    callType: 'page',
    userId: who.userId ?? null,
    anonymousId: who.anonymousId ?? null,
    timestamp: at,
    contextJson: JSON.stringify({ page: { url, referrer } }),
  });
  return { topic: Topics.TrackingEvents, key: who.userId ?? who.anonymousId ?? '', event };
}

function order(userId: string, at: number, revenue: number): OutgoingEvent {
  const event = trackingEventFixture({
    metadata: { workspaceId: workspace, occurredAt: at },
    callType: 'track',
    event: 'Order Completed',
    userId,
    timestamp: at,
    propertiesJson: JSON.stringify({ revenue, currency: 'EUR' }),
  });
  return { topic: Topics.TrackingEvents, key: userId, event };
}

function merge(from: string, into: string): OutgoingEvent {
  const event: ContactsMerged = {
    metadata: originMetadata({ workspaceId: workspace, source: 'leads', occurredAt: day(11) }),
    survivingContactId: contact(into),
    mergedContactId: contact(from),
    reason: 'identify',
  };
  return { topic: Topics.ContactsMerged, key: event.survivingContactId, event };
}

const events = [
  visit({ userId: 'u1' }, day(0), 'https://shop.example/?utm_source=google&utm_medium=cpc'),
  visit({ userId: 'u1' }, day(7), 'https://shop.example/?utm_source=newsletter&utm_medium=email'),
  visit({ userId: 'u1' }, day(14), 'https://shop.example/', 'https://news.ycombinator.com/'),
  customer('u1', day(14)),
  visit({ anonymousId: 'a2' }, day(10), 'https://shop.example/', 'https://www.facebook.com/'),
  merge('a2', 'u2'),
  order('u2', day(12), 100),
  customer('u3', day(13)),
  visit({ userId: 'u4' }, day(-40), 'https://shop.example/?utm_source=google&utm_medium=cpc'),
  customer('u4', day(13)),
];

async function attribution(query = ''): Promise<AttributionReport> {
  const res = await fetch(`${service.url}/v1/reports/attribution?from=2026-10-01&to=2026-10-21${query}`, {
    headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
  });
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
  return (await res.json()) as AttributionReport;
}

/** Channel → model → credit, rounded to 6 places. */
function credits(report: AttributionReport): Record<string, Record<string, number>> {
  return Object.fromEntries(
    report.channels.map((row) => [
      row.channel,
      Object.fromEntries(
        Object.entries(row.credit).map(([model, value]) => [model, Math.round(value * 1e6) / 1e6]),
      ),
    ]),
  );
}

const all = (value: number) => ({
  first_touch: value,
  last_touch: value,
  linear: value,
  time_decay: value,
  position_based: value,
});

const EXPECTED = {
  '(direct)': all(2),
  'facebook.com / social': all(1),
  'google / cpc': {
    first_touch: 1,
    last_touch: 0,
    linear: 0.333333,
    time_decay: 0.142857,
    position_based: 0.4,
  },
  'news.ycombinator.com / referral': {
    first_touch: 0,
    last_touch: 1,
    linear: 0.333333,
    time_decay: 0.571429,
    position_based: 0.4,
  },
  'newsletter / email': {
    first_touch: 0,
    last_touch: 0,
    linear: 0.333333,
    time_decay: 0.285714,
    position_based: 0.2,
  },
};

describe('attribution', () => {
  it('credits every model per channel as computed by hand; each model’s credits sum to the conversions', async () => {
    await publisher.publishAll(events);
    const report = await waitFor('every conversion attributed', async () => {
      const r = await attribution();
      return JSON.stringify(credits(r)) === JSON.stringify(EXPECTED) ? r : undefined;
    });
    expect(credits(report)).toEqual(EXPECTED);
    expect(report.conversions).toEqual({ 'stage:customer': 3, 'goal:Order Completed': 1 });
    expect(report.revenue).toBe(100);
    for (const model of report.models) {
      const sum = report.channels.reduce((total, row) => total + row.credit[model as 'linear'], 0);
      expect(sum).toBeCloseTo(4, 9);
    }
    // The goal's revenue goes to the touch its visitor had before being identified.
    expect(report.channels.find((row) => row.channel === 'facebook.com / social')?.revenue).toEqual(all(100));
  });

  it('narrows to one kind of conversion, and to a shorter look-back when asked', async () => {
    expect(credits(await attribution('&conversion=goal:Order%20Completed'))).toEqual({
      'facebook.com / social': all(1),
    });
    // Five days back from day 14 reaches only the referral on day 14.
    const short = credits(await attribution('&lookbackDays=5&conversion=stage:customer'));
    expect(short).toEqual({ '(direct)': all(2), 'news.ycombinator.com / referral': all(1) });
  });

  it('changes nothing when every event is published again', async () => {
    await publisher.publishAll(events);
    await waitForGroupCaughtUp(kafka, group, TOPICS);
    expect(credits(await attribution())).toEqual(EXPECTED);
  });

  it('publishes each day’s credit per model and channel, and the funnel per day and stage, on compacted report topics', async () => {
    const since = Date.now();
    const topics = service.app.get(ReportTopics);
    topics.markChanged([workspace], Topics.TrackingEvents);
    topics.markChanged([workspace], Topics.LifecycleChanged);
    expect(await topics.publishChanged()).toBeGreaterThan(0);

    const attribution = await latestReports(kafka, registry, Topics.ReportsAttribution, workspace, since);
    const credit = (k: string) => Math.round((attribution.get(k)?.credit ?? NaN) * 1e6) / 1e6;
    expect(credit('2026-10-14|linear|(direct)')).toBe(2);
    expect(credit('2026-10-13|position_based|facebook.com / social')).toBe(1);
    expect(attribution.get('2026-10-13|time_decay|facebook.com / social')?.revenue).toBe(100);
    expect(credit('2026-10-15|time_decay|google / cpc')).toBe(0.142857);
    expect(credit('2026-10-15|time_decay|newsletter / email')).toBe(0.285714);
    expect(credit('2026-10-15|time_decay|news.ycombinator.com / referral')).toBe(0.571429);
    expect(credit('2026-10-15|first_touch|news.ycombinator.com / referral')).toBe(0);
    // Three channels on the 15th, one on each other day, under each of five models.
    expect(attribution.size).toBe((3 + 1 + 1) * 5);

    const funnel = await latestReports(kafka, registry, Topics.ReportsFunnel, workspace, since);
    expect(funnel.get('2026-10-14|customer')).toMatchObject({ entered: 2, advanced: 0, timeZone: 'UTC' });
    expect(funnel.get('2026-10-15|customer')).toMatchObject({ entered: 1, advanced: 0 });
    expect(funnel.get('2026-10-15|lead')).toMatchObject({ entered: 0, advanced: 0 });
    expect(funnel.size).toBe(2 * 6);
  });

  it('republishes attribution, not the funnel, when only tracking events moved the workspace', async () => {
    const since = Date.now();
    const topics = service.app.get(ReportTopics);
    topics.markChanged([workspace], Topics.TrackingEvents);
    expect(await topics.publishChanged()).toBeGreaterThan(0);

    const attribution = await latestReports(kafka, registry, Topics.ReportsAttribution, workspace, since);
    expect(attribution.size).toBe((3 + 1 + 1) * 5);
    // No stage was reached and nobody merged: the funnel's rows are as last published.
    const funnel = await latestReports(kafka, registry, Topics.ReportsFunnel, workspace, since);
    expect(funnel.size).toBe(0);
  });
});

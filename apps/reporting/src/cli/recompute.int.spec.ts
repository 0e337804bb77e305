/**
 * The recompute on the real stack: a workspace's read models rebuilt from the raw topics (touches, goals, lifecycle,
 * merges, routing, captures, journey records, all with copies published twice and a merge before what it folds) equal
 * the live ones document by document; and a live document changed by hand is named as a difference.
 */
import type { Connection } from 'mongoose';
import { Writable } from 'node:stream';
import {
  Topics,
  type ContactsMerged,
  type JourneyStepRecorded,
  type LeadAssigned,
  type LeadSlaBreached,
  type LifecycleChanged,
} from '@tributary/contracts';
import { type EventPublisher, type OutgoingEvent, originMetadata } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import { STORE_CONNECTION } from '@tributary/store';
import {
  connectTestPublisher,
  leadCapturedFixture,
  testServiceEnv,
  trackingEventFixture,
  uniqueId,
  waitForGroupCaughtUp,
} from '@tributary/testing';
import type { Kafka } from 'kafkajs';
import { ReportingModule } from '../app.module';
import { loadReportingConfig } from '../config';
import { reportingTopics } from '../intake/reporting-topics';
import { FUNNEL_CONTACTS_COLLECTION } from '../funnel/funnel-contacts';
import { runRecompute } from './recompute-command';

const run = uniqueId('rec');
const workspace = `ws_rec_${run}`;
const env = testServiceEnv('reporting', run, { WRITE_KEYS: `rec-key-${run}:${workspace}` });
const startedAt = Date.now();
let service: RunningService;
let kafka: Kafka;
let publisher: EventPublisher;

beforeAll(async () => {
  const config = loadReportingConfig(env);
  service = await startService(ReportingModule.forRoot(config), config);
  ({ kafka, publisher } = await connectTestPublisher(`rec-${run}`, config, reportingTopics()));
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

const D0 = Date.parse('2026-11-10T09:00:00Z');
const at = (hours: number) => D0 + hours * 3_600_000;
const contact = (id: string) => `${workspace}:${id}`;
const meta = (occurredAt: number) => originMetadata({ workspaceId: workspace, source: 'test', occurredAt });

function fixture(): OutgoingEvent[] {
  const events: OutgoingEvent[] = [];
  const merge: ContactsMerged = {
    metadata: meta(at(5)),
    survivingContactId: contact('u1'),
    mergedContactId: contact('a1'),
    reason: 'identify',
  };
  events.push({ topic: Topics.ContactsMerged, key: merge.survivingContactId, event: merge });
  for (let i = 0; i < 40; i++) {
    const who = i % 3 === 0 ? { anonymousId: 'a1' } : { userId: `u${i % 5}` };
    const event = trackingEventFixture({
      metadata: { workspaceId: workspace, occurredAt: at(i) },
      callType: i % 4 === 0 ? 'track' : 'page',
      event: i % 4 === 0 ? 'Order Completed' : null,
      userId: who.userId ?? null,
      anonymousId: who.anonymousId ?? null,
      timestamp: at(i),
      receivedAt: at(i),
      propertiesJson: JSON.stringify({ revenue: i }),
      contextJson: JSON.stringify({
        page: { url: `https://shop.example/?utm_source=s${i % 3}&utm_medium=m${i % 2}`, referrer: '' },
      }),
    });
    events.push({ topic: Topics.TrackingEvents, key: who.userId ?? who.anonymousId ?? '', event });
  }
  const stages = ['lead', 'mql', 'sql', 'customer'];
  for (let i = 0; i < 12; i++) {
    const changed: LifecycleChanged = {
      metadata: meta(at(i * 3)),
      contactId: contact(i % 2 === 0 ? 'a1' : `u${i % 5}`),
      from: null,
      to: stages[i % 4] ?? 'lead',
      reason: 'test',
      score: null,
    };
    events.push({ topic: Topics.LifecycleChanged, key: changed.contactId, event: changed });
  }
  for (let i = 0; i < 6; i++) {
    const assigned: LeadAssigned = {
      metadata: meta(at(i * 4)),
      contactId: contact(`u${i}`),
      ownerId: `o${i % 2}`,
      teamId: 't',
      ruleId: 'r',
      reason: 'test',
      previousOwnerId: null,
      assignedAt: at(i * 4),
      acceptDueAt: at(i * 4 + 1),
    };
    events.push({ topic: Topics.LeadsAssigned, key: assigned.contactId, event: assigned });
    const breach: LeadSlaBreached = {
      metadata: meta(at(i * 4 + 1)),
      contactId: assigned.contactId,
      ownerId: assigned.ownerId,
      teamId: 't',
      assignedAt: assigned.assignedAt,
      acceptDueAt: assigned.acceptDueAt,
      breachedAt: at(i * 4 + 1),
      reassignedTo: null,
    };
    if (i % 2 === 1) events.push({ topic: Topics.LeadsSlaBreached, key: breach.contactId, event: breach });
    const captured = leadCapturedFixture({
      metadata: { workspaceId: workspace, occurredAt: at(i) },
      source: `form-${i % 2}`,
      capturedAt: at(i),
    });
    events.push({ topic: Topics.LeadsCaptured, key: `lead-${i}`, event: captured });
    const step: JourneyStepRecorded = {
      metadata: meta(at(i)),
      enrollmentId: `${workspace}:welcome:${i}`,
      journeyId: 'welcome',
      contactId: contact(`u${i}`),
      step: 'email-1',
      journeyVersion: 1,
      stepType: 'email',
      status: 'advanced',
      reason: null,
      enrollmentKey: null,
    };
    events.push({ topic: Topics.JourneySteps, key: step.enrollmentId, event: step });
  }
  return events;
}

const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });

describe('recompute:reports', () => {
  const events = fixture();

  it('rebuilds from the raw topics exactly what the live read models hold', async () => {
    await publisher.publishAll(events);
    await publisher.publishAll(events.slice(0, 20));
    await waitForGroupCaughtUp(kafka, env['CONSUMER_GROUP'] ?? '', reportingTopics());

    const lines: string[] = [];
    const summary = await runRecompute(
      { into: `${env['MONGO_DB']}_rebuilt`, since: startedAt - 5_000, workspace, compare: true },
      env,
      { progress: quiet, log: (line) => lines.push(line) },
    );
    expect(summary.differences).toEqual({
      report_tallies: [],
      report_event_counts: [],
      report_funnel_contacts: [],
      report_touchpoints: [],
      report_goal_conversions: [],
      report_journey_messages: [],
      report_journey_runs: [],
    });
    expect(summary.equal).toBe(true);
    expect(summary.records).toBeGreaterThanOrEqual(events.length + 20);
    expect(lines[0]).toMatch(/equal to the live read models/);
  });

  it('names a live document that differs from the rebuilt one', async () => {
    const live = service.app.get<Connection>(STORE_CONNECTION);
    await live
      .collection(FUNNEL_CONTACTS_COLLECTION)
      .updateOne(
        { _id: `${workspace}|${contact('u1')}` as never },
        { $set: { 'reached.lead': new Date(0) } },
      );
    const summary = await runRecompute(
      { into: `${env['MONGO_DB']}_rebuilt`, since: startedAt - 5_000, workspace, compare: true },
      env,
      { progress: quiet, log: () => undefined },
    );
    expect(summary.equal).toBe(false);
    expect(summary.differences?.['report_funnel_contacts']).toEqual([
      expect.stringMatching(new RegExp(`^${workspace}\\|${contact('u1')} live`)),
    ]);
  });
});

/**
 * Reporting on the real stack, the service in this process: a burst of journey steps is counted a fetch at a time (a
 * few store commands for hundreds of events), each event named by one report of its batch on the report topic, the
 * counts running; a redelivered burst moves nothing, and a step the store refuses is dead-lettered alone while its
 * batch is still counted exactly once (its counts then as the counter stood when the retry wrote them). Content workflow steps and attributes journeys set are counted once each too.
 */
import type { Kafka } from 'kafkajs';
import type { Connection } from 'mongoose';
import {
  Topics,
  type ContactAttributeUpdated,
  type ContentEvent,
  type DeadLetter,
  type EventCountReport,
  type JourneyStepRecorded,
} from '@tributary/contracts';
import {
  type AvroSchemaRegistry,
  type EventPublisher,
  deadLetterTopic,
  originMetadata,
} from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import { STORE_CONNECTION } from '@tributary/store';
import {
  connectTestPublisher,
  readTopicToEnd,
  readTopicUntil,
  storeCommandsOn,
  testServiceEnv,
  uniqueId,
  waitFor,
  type ReadRecord,
} from '@tributary/testing';
import { ReportingModule } from '../app.module';
import { loadReportingConfig } from '../config';

const run = uniqueId('rep');
const workspace = `ws_rep_${run}`;
const writeKey = `rep-key-${run}`;
const group = `reporting.${run}`;
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
/** Store commands this service sent about counters, as JSON (the test's are those naming its workspace). */
let commands: string[] = [];

beforeAll(async () => {
  // Any bound turns on the driver's command monitoring, which the test listens to; the bound itself logs nothing here.
  const config = loadReportingConfig(
    testServiceEnv('reporting', run, {
      WRITE_KEYS: `${writeKey}:${workspace}`,
      STORE_SLOW_COMMAND_MS: '600000',
    }),
  );
  service = await startService(ReportingModule.forRoot(config), config);
  commands = storeCommandsOn(service.app.get<Connection>(STORE_CONNECTION), ['report_event_counts']);
  ({ kafka, registry, publisher } = await connectTestPublisher(`rep-${run}`, config, [
    Topics.JourneySteps,
    Topics.ContentEvents,
    Topics.ContactsAttributes,
  ]));
});

afterAll(async () => {
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
});

function step(i: number, workspaceId = workspace): JourneyStepRecorded {
  return {
    metadata: originMetadata({ workspaceId, source: 'rep' }),
    enrollmentId: `${workspaceId}:welcome:lead-${i}`,
    journeyId: 'welcome',
    contactId: `lead-${i}`,
    step: 'welcome-email',
    journeyVersion: 1,
    stepType: 'email',
    status: 'advanced',
    reason: null,
    enrollmentKey: null,
  };
}

async function publishSteps(steps: JourneyStepRecorded[]): Promise<void> {
  await publisher.publishAll(
    steps.map((event) => ({ topic: Topics.JourneySteps, key: event.contactId, event })),
  );
}

async function counts(): Promise<Record<string, number>> {
  const res = await fetch(`${service.url}/v1/reports/event-counts`, {
    headers: { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}` },
  });
  return ((await res.json()) as { counts: Record<string, number> }).counts;
}

async function journeyStepCount(): Promise<number | undefined> {
  return (await counts())[Topics.JourneySteps];
}

/** The journey-step counter's reports on the topic since this file loaded, decoded (each distinct one once). */
async function stepReports(records: readonly ReadRecord[]): Promise<EventCountReport[]> {
  const reports = new Map<string, EventCountReport>();
  for (const record of records) {
    if (record.key?.toString() !== `${workspace}/${Topics.JourneySteps}`) continue;
    const report = (await registry.decode(record.value)) as EventCountReport;
    reports.set(report.metadata.eventId, report);
  }
  return [...reports.values()];
}

/**
 * The reports naming each of `steps`, by the step's eventId: read until every step is named, then to the topic's
 * end, so that a step named twice shows.
 */
async function reportsOf(steps: JourneyStepRecorded[]): Promise<Map<string, EventCountReport[]>> {
  const wanted = new Set(steps.map((s) => s.metadata.eventId));
  const named = new Set<string>();
  let decoded = 0;
  await readTopicUntil(kafka, Topics.ReportsEventCounts, async (records) => {
    // `records` grows with each fetch: decode only what came since the last call.
    for (const report of await stepReports(records.slice(decoded)))
      for (const id of report.eventIds) named.add(id);
    decoded = records.length;
    return [...wanted].every((id) => named.has(id));
  });
  const naming = new Map<string, EventCountReport[]>();
  for (const report of await stepReports(await readTopicToEnd(kafka, Topics.ReportsEventCounts)))
    for (const id of report.eventIds) if (wanted.has(id)) naming.set(id, [...(naming.get(id) ?? []), report]);
  return naming;
}

/** The distinct reports in `naming`, in counting order. */
function inOrder(naming: Map<string, EventCountReport[]>): EventCountReport[] {
  const distinct = new Map([...naming.values()].flat().map((r) => [r.metadata.eventId, r]));
  return [...distinct.values()].sort((a, b) => a.count - b.count);
}

describe('reporting counts a fetch at a time', () => {
  const burst = Array.from({ length: 400 }, (_, i) => step(i));

  it('counts a burst in a few store commands and names each event in one report of its batch, counts running', async () => {
    await publishSteps(burst);
    await waitFor('the burst counted', async () => (await journeyStepCount()) === 400);

    // One write per counter and fetched batch, and one read of the counters to announce them.
    expect(commands.filter((command) => command.includes(workspace)).length).toBeLessThanOrEqual(40);
    const naming = await reportsOf(burst);
    expect(burst.filter((s) => naming.get(s.metadata.eventId)?.length !== 1)).toEqual([]);
    // A report per fetched batch, not per event; each one's count takes in exactly the events it names.
    const reports = inOrder(naming);
    expect(reports.length).toBeLessThanOrEqual(20);
    expect(reports.map((r) => r.count - r.eventIds.length)).toEqual([
      0,
      ...reports.slice(0, -1).map((r) => r.count),
    ]);
    expect(reports.at(-1)?.count).toBe(400);
    // Caused by the last event it names.
    expect(reports.map((r) => r.metadata.causationId)).toEqual(reports.map((r) => r.eventIds.at(-1)));
  });

  it('a redelivered burst moves no counter and is named in no report again', async () => {
    const again = burst.slice(0, 150);
    await publishSteps(again);
    const marker = step(1_000);
    await publishSteps([marker]);
    // Same partitions, published before the marker: once the marker is counted, the repeats were consumed.
    await waitFor('the marker counted', async () => (await journeyStepCount()) === 401);
    const naming = await reportsOf([marker, ...again]);
    expect(naming.get(marker.metadata.eventId)?.map((r) => [r.count, r.eventIds])).toEqual([
      [401, [marker.metadata.eventId]],
    ]);
    expect(again.filter((s) => naming.get(s.metadata.eventId)?.length !== 1)).toEqual([]);
  });

  it('dead-letters a step the store refuses and counts the rest of its batch exactly once', async () => {
    const good = Array.from({ length: 60 }, (_, i) => step(2_000 + i));
    // PostgreSQL's jsonb refuses U+0000: no store takes this fact, whichever position it has in the batch.
    const refused = step(3_000, `${workspace}\u0000`);
    await publishSteps([...good.slice(0, 30), refused, ...good.slice(30)]);

    const letters = await readTopicUntil(kafka, deadLetterTopic(group), async (records) => {
      for (const record of records) {
        const letter = (await registry.decode(record.value)) as DeadLetter;
        if (letter.originalKey?.toString() === refused.contactId) return true;
      }
      return false;
    });
    expect(letters.length).toBeGreaterThan(0);
    await waitFor('the good steps counted', async () => (await journeyStepCount()) === 461);
    // Each good step is named once; after a failed batch the counts are as the counter stood when its retry wrote them.
    const naming = await reportsOf(good);
    expect(good.filter((s) => naming.get(s.metadata.eventId)?.length !== 1)).toEqual([]);
    const counts = inOrder(naming).map((r) => r.count);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(402);
    expect(Math.max(...counts)).toBe(461);
    // Nothing counted twice after the record-by-record retry: still 461 a moment later.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await journeyStepCount()).toBe(461);
  });
});

describe('reporting counts what the campaign side did', () => {
  const contentStep = (contentId: string, action: string): ContentEvent => ({
    metadata: originMetadata({ workspaceId: workspace, source: 'rep' }),
    contentId,
    kind: 'blog_post',
    title: 'Spring launch',
    action,
    fromStatus: null,
    status: action,
    version: 1,
    actorCredentialId: null,
    destination: null,
    remoteId: null,
    remoteUrl: null,
    reason: null,
    publishAt: null,
  });
  const attributeSet = (contactId: string, attribute = 'plan'): ContactAttributeUpdated => ({
    metadata: originMetadata({ workspaceId: workspace, source: 'rep' }),
    contactId,
    attribute,
    value: 'pro',
    journeyId: 'upgrade',
    journeyVersion: 1,
    enrollmentId: `${workspace}:upgrade:${contactId}`,
    stepId: 'mark-pro',
  });

  it('counts content steps per kind and action and journey-set attributes per name, each record once', async () => {
    const published = [contentStep('c-1', 'published'), contentStep('c-2', 'published')];
    const submitted = contentStep('c-1', 'submitted');
    const attributes = [attributeSet('lead-1'), attributeSet('lead-2'), attributeSet('lead-3')];
    // One key per topic, so the markers below follow everything before them on one partition.
    const toTopics = () => [
      ...[...published, submitted].map((event) => ({ topic: Topics.ContentEvents, key: workspace, event })),
      ...attributes.map((event) => ({ topic: Topics.ContactsAttributes, key: workspace, event })),
    ];
    await publisher.publishAll(toTopics());
    // Announced again (a step rerun after a crash announces the same eventIds): counted once.
    await publisher.publishAll(toTopics());
    await publisher.publishAll([
      { topic: Topics.ContentEvents, key: workspace, event: contentStep('c-3', 'approved') },
      { topic: Topics.ContactsAttributes, key: workspace, event: attributeSet('lead-4', 'tier') },
    ]);

    await waitFor('the markers counted', async () => {
      const now = await counts();
      return now['content.events:blog_post:approved'] === 1 && now['contacts.attributes:tier'] === 1;
    });
    const seen = await counts();
    expect(seen['content.events:blog_post:published']).toBe(2);
    expect(seen['content.events:blog_post:submitted']).toBe(1);
    expect(seen['contacts.attributes:plan']).toBe(3);
  });
});

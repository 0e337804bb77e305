import { Inject, Injectable } from '@nestjs/common';
import { DateTime } from 'luxon';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION } from '@tributary/store';
import type { BucketGrain } from '../attribution/time-buckets';
import { reportingTopics } from '../intake/reporting-topics';
import { queryTallies, type TallyRow } from '../read-models/bucketed-counts';
import { ConnectionStates } from './connection-states';
import { ConsumerLagReader, type ConsumerLag } from './consumer-lag';
import { REJECTED_MODEL } from './data-quality.contributor';
import {
  BASELINE_MS,
  PLATFORM_WORKSPACE,
  errorRate,
  isStalled,
  rejectionTopic,
  topicStatus,
  type RejectionSource,
  type TopicStatus,
} from './integration-health';
import { addLatencies, latencyPercentiles, type LatencyPercentiles } from './latency-histogram';
import {
  DEAD_LETTERS_MODEL,
  TOPIC_FLOW_MODEL,
  TOPIC_LATEST_COLLECTION,
  TOPIC_MINUTES_COLLECTION,
} from './topic-flow.contributor';

/** The per-minute view covers the last this many complete minutes. */
export const RECENT_MINUTES = 15;
const MINUTE_MS = 60_000;

export interface TopicHealth {
  topic: string;
  /** Events accepted in the range (by accepted-at time: a tracking call's receivedAt, else its occurredAt). */
  events: number;
  /** Mean events a minute over the last 15 complete minutes. */
  eventsPerMinute: number;
  newestEventAt: string | null;
  /** Now minus the newest event's accepted-at time. */
  freshnessMs: number | null;
  /** From acceptance to reporting taking the event in, as bucket upper bounds (at most 41% above the truth). */
  latencyMs: LatencyPercentiles;
  deadLetters: number;
  rejected: number;
  /** (deadLetters + rejected) / (events + rejected); null when nothing came or reporting does not read the topic. */
  errorRate: number | null;
  status: TopicStatus;
}

export interface DeadLetterCount {
  sourceTopic: string;
  consumerGroup: string;
  errorType: string;
  count: number;
}

export interface RejectedCount {
  source: string;
  route: string;
  /** The topic the records were bound for, when the route names one. */
  topic: string | null;
  count: number;
}

export interface ConnectionHealth {
  connectionId: string;
  connector: string;
  object: string;
  status: string;
  lastPollAt: string | null;
  lastSuccessAt: string | null;
  readUpTo: string | null;
  lagMs: number | null;
  consecutiveFailures: number;
  lastError: string | null;
  apiVersion: string;
  apiSunsetAt: string | null;
  apiSunsetSoon: boolean;
  reportedAt: string;
  stalled: boolean;
}

export interface IntegrationHealthReport {
  range: { from: string; to: string; timeZone: string };
  generatedAt: string;
  topics: TopicHealth[];
  /** Events a minute of the last minutes, per topic (minutes without events left out). */
  recentMinutes: { minute: string; topic: string; events: number }[];
  deadLetters: DeadLetterCount[];
  rejected: RejectedCount[];
  /** The platform's consumer groups: counts of records, no workspace's data, the same for every caller. */
  consumerLag: ConsumerLag[];
  connections: ConnectionHealth[];
  /** Dead letters whose original record could not be read, so belong to no workspace: counts only. */
  platform: { unreadableDeadLetters: DeadLetterCount[] };
}

/** With no range asked for, health covers the last 24 whole local hours (to the start of the next hour). */
export const DEFAULT_HEALTH_HOURS = 24;

export function defaultHealthRange(now: number, zone: string): HealthRange {
  const nextHour = DateTime.fromMillis(now, { zone }).startOf('hour').plus({ hours: 1 });
  return {
    from: nextHour.minus({ hours: DEFAULT_HEALTH_HOURS }).toMillis(),
    to: nextHour.toMillis(),
    zone,
  };
}

export interface HealthRange {
  from: number;
  to: number;
  zone: string;
}

const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();
const isoDate = (date: Date | null): string | null => (date ? date.toISOString() : null);

/**
 * Assembles a workspace's integration health from the read models (throughput, latency, freshness, dead letters,
 * rejections, connections) and Kafka (consumer lag), judging each topic and connection as it goes.
 */
@Injectable()
export class HealthReports {
  constructor(
    @Inject(STORE_CONNECTION) private readonly connection: Connection,
    private readonly connections: ConnectionStates,
    private readonly lag: ConsumerLagReader,
  ) {}

  async report(workspaceId: string, range: HealthRange, now = Date.now()): Promise<IntegrationHealthReport> {
    const tallies = (
      model: string,
      by: string[],
      owner = workspaceId,
      within = range,
      grain = grainOf(range),
    ) =>
      queryTallies(this.connection, {
        workspaceId: owner,
        model,
        grain,
        from: within.from,
        to: within.to,
        zone: within.zone,
        by,
      });
    const baselineFrom = DateTime.fromMillis(now - BASELINE_MS, { zone: range.zone })
      .startOf('day')
      .toMillis();
    const [flow, baseline, letters, rejections, unreadable, newest, minutes, connections, consumerLag] =
      await Promise.all([
        tallies(TOPIC_FLOW_MODEL, ['topic']),
        tallies(
          TOPIC_FLOW_MODEL,
          ['topic'],
          workspaceId,
          { ...range, from: baselineFrom, to: now + 1 },
          'day',
        ),
        tallies(DEAD_LETTERS_MODEL, ['sourceTopic', 'consumerGroup', 'errorType']),
        tallies(REJECTED_MODEL, ['source', 'route']),
        tallies(DEAD_LETTERS_MODEL, ['sourceTopic', 'consumerGroup', 'errorType'], PLATFORM_WORKSPACE, {
          ...range,
          zone: 'UTC',
        }),
        this.newestEvents(workspaceId),
        this.recentMinutes(workspaceId, now),
        this.connections.ofWorkspace(workspaceId),
        this.lag.current(now),
      ]);

    const deadLetters = deadLetterCounts(letters);
    const rejected = sumRows(rejections, ['source', 'route'], 'rejected').map(({ dims, count }) => ({
      source: dims['source'] ?? '',
      route: dims['route'] ?? '',
      topic: rejectionTopic((dims['source'] ?? 'ingestion') as RejectionSource, dims['route'] ?? ''),
      count,
    }));
    const observed = new Set<string>(reportingTopics());
    const topics = new Set<string>([
      ...observed,
      ...deadLetters.map((letter) => letter.sourceTopic),
      ...rejected.flatMap((r) => (r.topic ? [r.topic] : [])),
    ]);
    const flowByTopic = new Map<string, { events: number; latencies: number[] }>();
    for (const row of flow) {
      const topic = row.dims['topic'] ?? '';
      const seen = flowByTopic.get(topic) ?? { events: 0, latencies: [] };
      seen.events += row.n['events'] ?? 0;
      addLatencies(seen.latencies, row.n);
      flowByTopic.set(topic, seen);
    }
    const baselineByTopic = new Map(
      sumRows(baseline, ['topic'], 'events').map(({ dims, count }) => [dims['topic'] ?? '', count]),
    );
    const perMinute = new Map<string, number>();
    for (const { topic, events } of minutes) perMinute.set(topic, (perMinute.get(topic) ?? 0) + events);

    const rows = [...topics].sort().map((topic): TopicHealth => {
      const seen = flowByTopic.get(topic) ?? { events: 0, latencies: [] };
      const errors = {
        events: seen.events,
        deadLetters: deadLetters.filter((l) => l.sourceTopic === topic).reduce((sum, l) => sum + l.count, 0),
        rejected: rejected.filter((r) => r.topic === topic).reduce((sum, r) => sum + r.count, 0),
      };
      const rate = errorRate(errors, observed.has(topic));
      const newestEventAt = newest.get(topic) ?? null;
      return {
        topic,
        ...errors,
        eventsPerMinute: Math.round(((perMinute.get(topic) ?? 0) / RECENT_MINUTES) * 1000) / 1000,
        newestEventAt: iso(newestEventAt),
        freshnessMs: newestEventAt === null ? null : Math.max(0, now - newestEventAt),
        latencyMs: latencyPercentiles(seen.latencies),
        errorRate: rate === null ? null : Math.round(rate * 10_000) / 10_000,
        status: topicStatus({
          errorRate: rate,
          newestEventAt,
          baselineEvents: baselineByTopic.get(topic) ?? 0,
          baselineMs: now - baselineFrom,
          now,
        }),
      };
    });
    return {
      range: {
        from: new Date(range.from).toISOString(),
        to: new Date(range.to).toISOString(),
        timeZone: range.zone,
      },
      generatedAt: new Date(now).toISOString(),
      topics: rows,
      recentMinutes: minutes.map(({ minute, topic, events }) => ({
        minute: new Date(minute).toISOString(),
        topic,
        events,
      })),
      deadLetters,
      rejected,
      consumerLag,
      connections: connections.map((doc) => ({
        connectionId: doc.connectionId,
        connector: doc.connector,
        object: doc.object,
        status: doc.status,
        lastPollAt: isoDate(doc.lastPollAt),
        lastSuccessAt: isoDate(doc.lastSuccessAt),
        readUpTo: isoDate(doc.readUpTo),
        lagMs: doc.lagMs,
        consecutiveFailures: doc.consecutiveFailures,
        lastError: doc.lastError,
        apiVersion: doc.apiVersion,
        apiSunsetAt: doc.apiSunsetAt,
        apiSunsetSoon: doc.apiSunsetSoon,
        reportedAt: doc.reportedAt.toISOString(),
        stalled: isStalled(
          {
            status: doc.status,
            lastSuccessAt: doc.lastSuccessAt?.getTime() ?? null,
            consecutiveFailures: doc.consecutiveFailures,
          },
          now,
        ),
      })),
      platform: { unreadableDeadLetters: deadLetterCounts(unreadable) },
    };
  }

  /** The newest accepted-at time seen per topic, whenever it was. */
  private async newestEvents(workspaceId: string): Promise<Map<string, number>> {
    const docs = await this.connection
      .collection<{ _id: string; topic: string; newestEventAt?: number }>(TOPIC_LATEST_COLLECTION)
      .find({ workspaceId }, { projection: { topic: 1, newestEventAt: 1 } })
      .toArray();
    return new Map(
      docs.flatMap((doc) =>
        doc.newestEventAt === undefined ? [] : [[doc.topic, doc.newestEventAt] as const],
      ),
    );
  }

  /** Events per topic and minute of the last complete minutes, oldest first. */
  private async recentMinutes(
    workspaceId: string,
    now: number,
  ): Promise<{ minute: number; topic: string; events: number }[]> {
    const end = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    const docs = await this.connection
      .collection<{ _id: string; topic: string; minuteAt: Date; events?: number }>(TOPIC_MINUTES_COLLECTION)
      .find(
        { workspaceId, minuteAt: { $gte: new Date(end - RECENT_MINUTES * MINUTE_MS), $lt: new Date(end) } },
        { projection: { topic: 1, minuteAt: 1, events: 1 } },
      )
      .toArray();
    return docs
      .map((doc) => ({ minute: doc.minuteAt.getTime(), topic: doc.topic, events: doc.events ?? 0 }))
      .sort((a, b) => a.minute - b.minute || a.topic.localeCompare(b.topic));
  }
}

/** Whole local days are read from the day tallies, anything else from the hour tallies. */
function grainOf(range: HealthRange): BucketGrain {
  const midnight = (ms: number) =>
    DateTime.fromMillis(ms, { zone: range.zone }).startOf('day').toMillis() === ms;
  return midnight(range.from) && midnight(range.to) ? 'day' : 'hour';
}

/** Rows summed over their buckets, per the named dimensions, of one count. */
function sumRows(
  rows: readonly TallyRow[],
  by: readonly string[],
  field: string,
): { dims: Record<string, string>; count: number }[] {
  const sums = new Map<string, { dims: Record<string, string>; count: number }>();
  for (const row of rows) {
    const dims = Object.fromEntries(by.map((name) => [name, row.dims[name] ?? '']));
    const key = JSON.stringify(by.map((name) => dims[name]));
    const sum = sums.get(key) ?? { dims, count: 0 };
    sum.count += row.n[field] ?? 0;
    sums.set(key, sum);
  }
  return [...sums.values()];
}

function deadLetterCounts(rows: readonly TallyRow[]): DeadLetterCount[] {
  return sumRows(rows, ['sourceTopic', 'consumerGroup', 'errorType'], 'deadLetters')
    .map(({ dims, count }) => ({
      sourceTopic: dims['sourceTopic'] ?? '',
      consumerGroup: dims['consumerGroup'] ?? '',
      errorType: dims['errorType'] ?? '',
      count,
    }))
    .sort(
      (a, b) =>
        a.sourceTopic.localeCompare(b.sourceTopic) ||
        a.consumerGroup.localeCompare(b.consumerGroup) ||
        a.errorType.localeCompare(b.errorType),
    );
}

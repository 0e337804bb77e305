import { Catalog, ServiceNames, Topics, type TopicName } from '@tributary/contracts';

/**
 * The decisions of the integration health report, pure: which topic a rejected record was bound for, a topic's error
 * rate and status, whether a sync connection stalled, which consumer groups are the platform's and how far behind
 * they are. The contributors and the report service do the I/O around them.
 */

/** The owner of counts no workspace owns: dead letters whose original record cannot be read. */
export const PLATFORM_WORKSPACE = '';

/** A topic is failing when this share of the records that reached (or tried to reach) it failed. */
export const FAILING_ERROR_RATE = 0.05;
/** A topic is stale when silent for this many of its usual gaps between events… */
export const STALE_GAPS = 10;
/** …and for at least this long (a busy topic's gap is seconds; a pause of a few minutes is not a stall). */
export const STALE_FLOOR_MS = 15 * 60_000;
/** How far back a topic's usual rate is measured, whatever range the caller asked for (the stall is in that range). */
export const BASELINE_MS = 7 * 24 * 3_600_000;
/** A sync connection whose last successful poll is older than this has stalled. */
export const STALLED_AFTER_MS = 60 * 60_000;

/** Where a rejected record came from: the edge (an HTTP route) or sync (a system's object). */
export type RejectionSource = 'ingestion' | 'sync';

const TRACKING_ROUTE = /^\/v1\/(batch|track|identify|page|screen|group|alias)$/;
const DELIVERY_ROUTE = /^\/v1\/webhooks\/(sendgrid|twilio)\//;

/**
 * The topic a rejected record would have gone to: tracking calls to tracking.events, provider feedback to
 * messages.deliveries, lead forms to leads.captured, record changes sync refused came in on records.changed. Null for
 * a route the edge does not map to one topic.
 */
export function rejectionTopic(source: RejectionSource, route: string): TopicName | null {
  if (source === 'sync') return Topics.RecordsChanged;
  if (TRACKING_ROUTE.test(route)) return Topics.TrackingEvents;
  if (DELIVERY_ROUTE.test(route)) return Topics.MessagesDeliveries;
  if (route === '/v1/leads') return Topics.LeadsCaptured;
  return null;
}

export interface TopicErrors {
  /** Records taken into the topic. */
  events: number;
  /** Records of the topic some consumer group gave up on. */
  deadLetters: number;
  /** Records refused before they reached the topic. */
  rejected: number;
}

/**
 * Of the records that reached the topic or were refused on the way, the share that failed (dead-lettered by a
 * consumer, or refused); null when nothing came, or when reporting does not read the topic and so cannot count what
 * reached it.
 */
export function errorRate(errors: TopicErrors, observed: boolean): number | null {
  const attempted = errors.events + errors.rejected;
  if (!observed || attempted === 0) return null;
  // A dead letter is counted when it failed, its record when it was accepted: at a range's edge they may part.
  return Math.min(1, (errors.deadLetters + errors.rejected) / attempted);
}

/** How long a topic may be silent before it is stale: ten of its usual gaps over the baseline, 15 minutes at least. */
export function staleAfterMs(baselineEvents: number, baselineMs = BASELINE_MS): number {
  return Math.max(STALE_FLOOR_MS, (STALE_GAPS * baselineMs) / Math.max(baselineEvents, 1));
}

export type TopicStatus = 'ok' | 'stale' | 'failing';

/**
 * `failing` at an error rate of 5% or more; `stale` when the newest event is older than `staleAfterMs` of the topic's
 * own rate (a topic that never carried the workspace's events is not stale); otherwise `ok`.
 */
export function topicStatus(topic: {
  errorRate: number | null;
  newestEventAt: number | null;
  /** Events over the baseline (the last `baselineMs`). */
  baselineEvents: number;
  baselineMs?: number;
  now: number;
}): TopicStatus {
  if (topic.errorRate !== null && topic.errorRate >= FAILING_ERROR_RATE) return 'failing';
  const staleAfter = staleAfterMs(topic.baselineEvents, topic.baselineMs);
  if (topic.newestEventAt !== null && topic.now - topic.newestEventAt > staleAfter) return 'stale';
  return 'ok';
}

/** What stalling is judged on: a connection's latest reported state. */
export interface ConnectionProgress {
  status: 'healthy' | 'failing' | 'paused';
  lastSuccessAt: number | null;
  consecutiveFailures: number;
}

/**
 * A connection stalled when its last successful poll is older than `afterMs`, or when it never succeeded and is
 * failing. A paused connection was stopped on purpose: not stalled.
 */
export function isStalled(connection: ConnectionProgress, now: number, afterMs = STALLED_AFTER_MS): boolean {
  if (connection.status === 'paused') return false;
  if (connection.lastSuccessAt === null) return connection.consecutiveFailures > 0;
  return now - connection.lastSuccessAt > afterMs;
}

export interface ConsumerGroupTopics {
  group: string;
  service: string;
  topics: TopicName[];
}

/**
 * The platform's consumer groups and the catalog topics each reads: one per service the catalog lists as a consumer,
 * named as this service's own group is (`reporting` → `leads`; an isolated copy `reporting.run1` → `leads.run1`).
 */
export function platformConsumerGroups(ownGroup: string, ownService: string): ConsumerGroupTopics[] {
  const suffix = ownGroup.startsWith(ownService) ? ownGroup.slice(ownService.length) : '';
  const specs = Object.values(Catalog);
  return ServiceNames.map((service) => ({
    service,
    group: `${service}${suffix}`,
    topics: specs.filter((spec) => spec.consumers.includes(service)).map((spec) => spec.name),
  })).filter((group) => group.topics.length > 0);
}

/** A partition's committed offset (`-1`: none yet) and its high watermark, as Kafka's admin API reports them. */
export interface PartitionOffsets {
  partition: number;
  committed: string;
  high: string;
}

/**
 * Records of a topic written but not yet committed by a group: the sum over its partitions of high watermark minus
 * committed offset. Partitions the group never committed are left out (where it would start depends on its reset
 * policy); null when it committed none.
 */
export function topicLag(partitions: readonly PartitionOffsets[]): number | null {
  let lag: number | null = null;
  for (const { committed, high } of partitions) {
    const at = Number(committed);
    if (!Number.isFinite(at) || at < 0) continue;
    lag = (lag ?? 0) + Math.max(0, Number(high) - at);
  }
  return lag;
}

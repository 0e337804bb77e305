import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DateTime } from 'luxon';
import { Topics, type TopicName } from '@tributary/contracts';
import { EventPublisher, originMetadata, type OutgoingEvent } from '@tributary/messaging';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { SERVICE_CONFIG } from '@tributary/config';
import type { ReportingConfig } from '../config';
import { ATTRIBUTION_MODELS, compareModels } from '../attribution/attribution';
import { AttributionReports } from '../attribution/attribution-reports';
import { FUNNEL_STAGES } from '../funnel/funnel';
import { FunnelPeople } from '../funnel/funnel-people';
import { DEFAULT_HEALTH_HOURS, HealthReports, defaultHealthRange } from '../health/health-reports';
import { JOURNEY_TOPICS } from '../journeys/journey-performance.contributor';
import { DELIVERY_METRICS } from '../journeys/journey-facts';
import { JourneyReports } from '../journeys/journey-reports.service';
import { ReportSettingsStore, type ReportSettings } from '../settings/report-settings';

const DAY_MS = 86_400_000;

/** The workspace's local date of an instant, e.g. `2026-03-29`: the day of a report row. */
function localDay(at: number, zone: string): string {
  return DateTime.fromMillis(at, { zone }).toISODate() ?? '';
}

/** The topics whose events change the funnel's rows (who reached which stage when, and who is one person). */
const FUNNEL_SOURCES: ReadonlySet<TopicName> = new Set([Topics.LifecycleChanged, Topics.ContactsMerged]);

/** The topics whose events change attribution's rows: touches and goals, stages reached, merges. */
const ATTRIBUTION_SOURCES: ReadonlySet<TopicName> = new Set([
  Topics.TrackingEvents,
  Topics.LifecycleChanged,
  Topics.ContactsMerged,
]);

/**
 * The share of reporting's time republishing may take: a publish that took d waits d × (1 / share - 1) before the
 * next. A workspace of a million contacts streams them for a minute or more; back to back, every tick would do so and
 * starve the intake. Small workspaces (a publish of milliseconds) are not held back beyond the interval.
 */
export const REPUBLISH_SHARE = 0.2;

/** Whether the report topics may be published again at `now`, given when the last publish started and ended. */
export function republishDue(
  now: number,
  last: { startedAt: number; endedAt: number } | undefined,
  share = REPUBLISH_SHARE,
): boolean {
  if (!last) return true;
  return now - last.endedAt >= (last.endedAt - last.startedAt) * (1 / share - 1);
}

/**
 * Publishes the report topics analysts read (compacted, latest value per key): a workspace whose read models moved
 * has its integration health published again a moment later, recomputed from the store, and its recent days' funnel,
 * attribution and journey performance when a topic they are made of moved. A replica publishes the workspaces its own
 * batches moved; all replicas compute the same values.
 */
@Injectable()
export class ReportTopics implements OnModuleInit, OnModuleDestroy {
  /** Changed workspaces, and the topics that moved them. */
  private readonly changed = new Map<string, Set<TopicName>>();
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> | undefined;
  private lastPublish: { startedAt: number; endedAt: number } | undefined;

  constructor(
    private readonly publisher: EventPublisher,
    private readonly people: FunnelPeople,
    private readonly attribution: AttributionReports,
    private readonly journeys: JourneyReports,
    private readonly health: HealthReports,
    private readonly settings: ReportSettingsStore,
    @Inject(SERVICE_CONFIG) private readonly config: ReportingConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    if (!this.config.REPORT_TOPICS_PUBLISH) return;
    this.timer = setInterval(() => void this.tick(), this.config.REPORT_TOPICS_INTERVAL_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.publishing;
  }

  /** The workspaces a batch of `topic` moved: their reports are published at the next tick. */
  markChanged(workspaceIds: Iterable<string>, topic: TopicName): void {
    for (const id of workspaceIds) {
      const topics = this.changed.get(id) ?? new Set<TopicName>();
      topics.add(topic);
      this.changed.set(id, topics);
    }
  }

  /** Publishes every changed workspace's reports now (the tick, and tests). */
  async publishChanged(now = Date.now()): Promise<number> {
    const workspaces = [...this.changed];
    this.changed.clear();
    let published = 0;
    for (const [workspaceId, topics] of workspaces) {
      try {
        published += await this.publishWorkspace(workspaceId, topics, now);
      } catch (error) {
        for (const topic of topics) this.markChanged([workspaceId], topic); // tried again at the next tick
        this.logger.warn({ err: error, workspaceId }, 'report topics not published');
      }
    }
    return published;
  }

  private async tick(): Promise<void> {
    if (this.publishing || this.changed.size === 0 || !republishDue(Date.now(), this.lastPublish)) return;
    const startedAt = Date.now();
    this.publishing = this.publishChanged()
      .then(() => undefined)
      .finally(() => {
        this.lastPublish = { startedAt, endedAt: Date.now() };
        this.publishing = undefined;
      });
    await this.publishing;
  }

  /** The reports of one workspace whose read models `topics` moved; returns how many records were published. */
  private async publishWorkspace(
    workspaceId: string,
    topics: ReadonlySet<TopicName>,
    now: number,
  ): Promise<number> {
    const settings = await this.settings.get(workspaceId);
    const zone = settings.timeZone;
    const to = DateTime.fromMillis(now, { zone }).startOf('day').plus({ days: 1 }).toMillis();
    const from = to - this.config.REPORT_TOPICS_DAYS * DAY_MS;
    const metadata = () => originMetadata({ workspaceId, source: 'reporting' });
    const asOf = now;
    const records: OutgoingEvent[] = [];
    const moved = (sources: ReadonlySet<TopicName>) => [...topics].some((topic) => sources.has(topic));
    if (moved(FUNNEL_SOURCES))
      records.push(...(await this.funnelRecords(workspaceId, zone, { from, to }, metadata, asOf)));
    if (moved(ATTRIBUTION_SOURCES))
      records.push(...(await this.attributionRecords(workspaceId, settings, { from, to }, metadata, asOf)));
    if (JOURNEY_TOPICS.some((topic) => topics.has(topic)))
      records.push(...(await this.journeyRecords(workspaceId, zone, { from, to }, metadata, asOf)));
    records.push(...(await this.healthRecords(workspaceId, zone, now, metadata)));
    await this.publisher.publishAll(records);
    return records.length;
  }

  /** Each day's funnel rows per stage: the people who reached it that day, and how many of them went on. */
  private async funnelRecords(
    workspaceId: string,
    zone: string,
    { from, to }: { from: number; to: number },
    metadata: () => ReturnType<typeof originMetadata>,
    asOf: number,
  ): Promise<OutgoingEvent<typeof Topics.ReportsFunnel>[]> {
    const records: OutgoingEvent<typeof Topics.ReportsFunnel>[] = [];
    const funnel = new Map<string, { entered: number; advanced: number }>();
    // Streamed: a workspace of a million contacts is never held whole.
    for await (const person of this.people.stream(workspaceId))
      FUNNEL_STAGES.forEach((stage, index) => {
        const at = person.reached[stage];
        if (at === undefined || at < from || at >= to) return;
        const key = `${localDay(at, zone)}|${stage}`;
        const row = funnel.get(key) ?? { entered: 0, advanced: 0 };
        row.entered++;
        if (FUNNEL_STAGES.slice(index + 1).some((later) => (person.reached[later] ?? -Infinity) >= at))
          row.advanced++;
        funnel.set(key, row);
      });
    for (const day of new Set([...funnel.keys()].map((key) => key.split('|')[0] ?? '')))
      for (const stage of FUNNEL_STAGES) {
        const row = funnel.get(`${day}|${stage}`) ?? { entered: 0, advanced: 0 };
        records.push({
          topic: Topics.ReportsFunnel,
          key: `${workspaceId}|${day}|${stage}`,
          event: { metadata: metadata(), day, timeZone: zone, stage, ...row, asOf },
        });
      }
    return records;
  }

  /** Each day's credit and revenue per model and channel, of the conversions that day. */
  private async attributionRecords(
    workspaceId: string,
    settings: ReportSettings,
    range: { from: number; to: number },
    metadata: () => ReturnType<typeof originMetadata>,
    asOf: number,
  ): Promise<OutgoingEvent<typeof Topics.ReportsAttribution>[]> {
    const zone = settings.timeZone;
    const records: OutgoingEvent<typeof Topics.ReportsAttribution>[] = [];
    const { lookbackDays, halfLifeDays, positionShares, conversionStages } = settings.attribution;
    const options = { lookbackDays, halfLifeDays, positionShares };
    const paths = await this.attribution.conversions(workspaceId, range, conversionStages, options);
    const byDay = new Map<string, typeof paths>();
    for (const path of paths) {
      const day = localDay(path.conversion.at, zone);
      const onDay = byDay.get(day);
      if (onDay) onDay.push(path);
      else byDay.set(day, [path]);
    }
    for (const [day, dayPaths] of byDay)
      for (const row of compareModels(dayPaths, options))
        for (const model of ATTRIBUTION_MODELS)
          records.push({
            topic: Topics.ReportsAttribution,
            key: `${workspaceId}|${day}|${model}|${row.channel}`,
            event: {
              metadata: metadata(),
              day,
              timeZone: zone,
              model,
              channel: row.channel,
              credit: row.credit[model],
              revenue: row.revenue[model],
              lookbackDays,
              asOf,
            },
          });
    return records;
  }

  /** Each day's journey and step rows, for the days of the range with any journey activity. */
  private async journeyRecords(
    workspaceId: string,
    zone: string,
    range: { from: number; to: number },
    metadata: () => ReturnType<typeof originMetadata>,
    asOf: number,
  ): Promise<OutgoingEvent<typeof Topics.ReportsJourneys>[]> {
    const trend = await this.journeys.trend(workspaceId, { ...range, grain: 'day' }, zone, {});
    const active = trend.filter(
      (row) =>
        row.enrolled > 0 ||
        row.converted > 0 ||
        row.sent > 0 ||
        row.skipped > 0 ||
        row.failed > 0 ||
        DELIVERY_METRICS.some((metric) => row[metric] > 0),
    );
    const records: OutgoingEvent<typeof Topics.ReportsJourneys>[] = [];
    for (const { bucket } of active) {
      const start = DateTime.fromISO(bucket, { zone });
      const day = start.toISODate() ?? '';
      const dayRange = { from: start.toMillis(), to: start.plus({ days: 1 }).toMillis() };
      for (const row of await this.journeys.table(workspaceId, dayRange, zone, {}))
        records.push({
          topic: Topics.ReportsJourneys,
          key: [workspaceId, day, row.journeyId, row.stepId ?? '', row.channel ?? ''].join('|'),
          event: { metadata: metadata(), day, timeZone: zone, ...row, asOf },
        });
    }
    return records;
  }

  /** One record per topic and per sync connection over the last 24 whole hours, as the API and health board. */
  private async healthRecords(
    workspaceId: string,
    zone: string,
    now: number,
    metadata: () => ReturnType<typeof originMetadata>,
  ): Promise<OutgoingEvent<typeof Topics.ReportsIntegrationHealth>[]> {
    const report = await this.health.report(workspaceId, defaultHealthRange(now, zone), now);
    const at = (iso: string | null) => (iso === null ? null : Date.parse(iso));
    const none = {
      events: null,
      eventsPerMinute: null,
      newestEventAt: null,
      latencyP50Ms: null,
      latencyP95Ms: null,
      latencyP99Ms: null,
      deadLetters: null,
      rejected: null,
      errorRate: null,
      connector: null,
      object: null,
      lastSuccessAt: null,
      lagMs: null,
      consecutiveFailures: null,
      lastError: null,
    };
    const common = { windowHours: DEFAULT_HEALTH_HOURS, asOf: now };
    return [
      ...report.topics.map((topic) => ({
        topic: Topics.ReportsIntegrationHealth,
        key: `${workspaceId}|topic|${topic.topic}`,
        event: {
          metadata: metadata(),
          ...none,
          ...common,
          subject: 'topic',
          name: topic.topic,
          status: topic.status,
          stalled: topic.status !== 'ok',
          events: topic.events,
          eventsPerMinute: topic.eventsPerMinute,
          newestEventAt: at(topic.newestEventAt),
          latencyP50Ms: topic.latencyMs.p50,
          latencyP95Ms: topic.latencyMs.p95,
          latencyP99Ms: topic.latencyMs.p99,
          deadLetters: topic.deadLetters,
          rejected: topic.rejected,
          errorRate: topic.errorRate,
        },
      })),
      ...report.connections.map((connection) => ({
        topic: Topics.ReportsIntegrationHealth,
        key: `${workspaceId}|connection|${connection.connectionId}`,
        event: {
          metadata: metadata(),
          ...none,
          ...common,
          subject: 'connection',
          name: connection.connectionId,
          status: connection.status,
          stalled: connection.stalled,
          connector: connection.connector,
          object: connection.object,
          lastSuccessAt: at(connection.lastSuccessAt),
          lagMs: connection.lagMs,
          consecutiveFailures: connection.consecutiveFailures,
          lastError: connection.lastError,
        },
      })),
    ];
  }
}

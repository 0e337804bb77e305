import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DateTime } from 'luxon';
import { Topics } from '@tributary/contracts';
import { EventPublisher, originMetadata, type OutgoingEvent } from '@tributary/messaging';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { SERVICE_CONFIG } from '@tributary/config';
import type { ReportingConfig } from '../config';
import { ATTRIBUTION_MODELS, compareModels } from '../attribution/attribution';
import { AttributionReports } from '../attribution/attribution-reports';
import { FUNNEL_STAGES } from '../funnel/funnel';
import { FunnelPeople } from '../funnel/funnel-people';
import { ReportSettingsStore } from '../settings/report-settings';

const DAY_MS = 86_400_000;

/**
 * Publishes the report topics analysts read (compacted, latest value per key): a workspace whose read models moved
 * has its recent days' funnel and attribution published again a moment later, recomputed from the store. A replica
 * publishes the workspaces its own batches moved; all replicas compute the same values.
 */
@Injectable()
export class ReportTopics implements OnModuleInit, OnModuleDestroy {
  private readonly changed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> | undefined;

  constructor(
    private readonly publisher: EventPublisher,
    private readonly people: FunnelPeople,
    private readonly attribution: AttributionReports,
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

  /** The workspaces a batch moved: their reports are published at the next tick. */
  markChanged(workspaceIds: Iterable<string>): void {
    for (const id of workspaceIds) this.changed.add(id);
  }

  /** Publishes every changed workspace's reports now (the tick, and tests). */
  async publishChanged(now = Date.now()): Promise<number> {
    const workspaces = [...this.changed];
    this.changed.clear();
    let published = 0;
    for (const workspaceId of workspaces) {
      try {
        published += await this.publishWorkspace(workspaceId, now);
      } catch (error) {
        this.changed.add(workspaceId); // tried again at the next tick
        this.logger.warn({ err: error, workspaceId }, 'report topics not published');
      }
    }
    return published;
  }

  private async tick(): Promise<void> {
    if (this.publishing || this.changed.size === 0) return;
    this.publishing = this.publishChanged()
      .then(() => undefined)
      .finally(() => (this.publishing = undefined));
    await this.publishing;
  }

  /** The recent days' funnel and attribution of one workspace; returns how many records were published. */
  private async publishWorkspace(workspaceId: string, now: number): Promise<number> {
    const settings = await this.settings.get(workspaceId);
    const zone = settings.timeZone;
    const dayOf = (at: number) => DateTime.fromMillis(at, { zone }).toISODate() ?? '';
    const to = DateTime.fromMillis(now, { zone }).startOf('day').plus({ days: 1 }).toMillis();
    const from = to - this.config.REPORT_TOPICS_DAYS * DAY_MS;
    const metadata = () => originMetadata({ workspaceId, source: 'reporting' });
    const asOf = now;
    const records: OutgoingEvent[] = [];

    const people = await this.people.people(workspaceId);
    const funnel = new Map<string, { entered: number; advanced: number }>();
    for (const person of people)
      FUNNEL_STAGES.forEach((stage, index) => {
        const at = person.reached[stage];
        if (at === undefined || at < from || at >= to) return;
        const key = `${dayOf(at)}|${stage}`;
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

    const { lookbackDays, halfLifeDays, positionShares, conversionStages } = settings.attribution;
    const options = { lookbackDays, halfLifeDays, positionShares };
    const paths = await this.attribution.conversions(workspaceId, { from, to }, conversionStages, options);
    const byDay = new Map<string, typeof paths>();
    for (const path of paths) {
      const day = dayOf(path.conversion.at);
      byDay.set(day, [...(byDay.get(day) ?? []), path]);
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
    await this.publisher.publishAll(records);
    return records.length;
  }
}

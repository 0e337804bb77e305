import { Inject, Injectable } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { Topics, type EventCountReport, type EventMetadata } from '@tributary/contracts';
import {
  AvroSchemaRegistry,
  EventPublisher,
  causedMetadata,
  type RecordPosition,
} from '@tributary/messaging';
import { SERVICE_CONFIG } from '@tributary/config';
import { STORE_CONNECTION, findByIds, type BatchCollection } from '@tributary/store';
import type { ReportingConfig } from '../config';
import type { TallyBatch } from '../read-models/tallies';

/** Per-workspace event counts by type, e.g. `{ track: 12, "leads.scored": 12 }`. */
export interface EventCounts {
  workspaceId: string;
  counts: Record<string, number>;
  total: number;
}

/** One consumed event as reporting counts it: its metadata and the type it is counted under. */
export interface CountedEvent {
  metadata: EventMetadata;
  eventType: string;
}

/** A report names the events it counted: this many at most, so a backlog's batch makes no oversized record. */
const MAX_EVENTS_PER_REPORT = 500;

/** One tally document per workspace and event type: `count`, with the offsets it took in under `applied`. */
export const EVENT_COUNTS_COLLECTION = 'report_event_counts';

interface EventCountDoc {
  _id: string;
  workspaceId: string;
  eventType: string;
  count: number;
}

/**
 * Counts every event Tributary sees per workspace and type, through the batch's tallies (a redelivered record counts
 * once by its offset, a republished event by the intake's first-seen claim), and publishes where each counter stands
 * for analysts once the batch is written, naming the events counted.
 */
@Injectable()
export class EventCounter {
  constructor(
    @Inject(STORE_CONNECTION) private readonly connection: Connection,
    private readonly publisher: EventPublisher,
    private readonly registry: AvroSchemaRegistry,
    @Inject(SERVICE_CONFIG) private readonly config: Pick<ReportingConfig, 'REPORT_TOPICS_PUBLISH'>,
  ) {}

  private encoder: ((report: EventCountReport) => Buffer) | undefined;

  /** The report topic's encoder, made once its schema is registered (at start-up, before any batch). */
  private encodeReport(): (report: EventCountReport) => Buffer {
    return (this.encoder ??= this.registry.encoderFor(Topics.ReportsEventCounts));
  }

  /** Adds one to the counter of each event, in the batch's tallies. */
  count(tallies: TallyBatch, events: readonly CountedEvent[], positions: readonly RecordPosition[]): void {
    events.forEach((event, i) => {
      const position = positions[i];
      if (!position) throw new Error(`no position for counted event ${i}`);
      const { workspaceId } = event.metadata;
      tallies.add(
        EVENT_COUNTS_COLLECTION,
        counterIdOf(event),
        { workspaceId, eventType: event.eventType },
        position,
        { inc: { count: 1 } },
      );
    });
  }

  /**
   * Announces where each counter a batch moved stands, read back after the batch's tallies were written: one report
   * per counter and batch (per `MAX_EVENTS_PER_REPORT` of its events), naming the events it counted, caused by the
   * last of them. Its count is the counter's after that event: c - n + k for the k-th of the counter's n events in
   * the batch, c being where the counter stands. Nothing when this process must not publish (a recompute).
   */
  async announce(events: readonly CountedEvent[]): Promise<void> {
    if (!this.config.REPORT_TOPICS_PUBLISH || events.length === 0) return;
    const byCounter = new Map<string, CountedEvent[]>();
    for (const event of events) {
      const id = counterIdOf(event);
      const counted = byCounter.get(id);
      if (counted) counted.push(event);
      else byCounter.set(id, [event]);
    }
    const stored = await findByIds(this.collection(), [...byCounter.keys()], { count: 1 });
    const encode = this.encodeReport();
    const reports: { key: string; value: Buffer }[] = [];
    for (const [id, counted] of byCounter) {
      const before = (stored.get(id)?.count ?? counted.length) - counted.length;
      for (let from = 0; from < counted.length; from += MAX_EVENTS_PER_REPORT) {
        const chunk = counted.slice(from, from + MAX_EVENTS_PER_REPORT);
        const last = chunk[chunk.length - 1] as CountedEvent;
        reports.push({
          key: id,
          value: encode({
            metadata: causedMetadata(last.metadata, 'reporting', 'event-count'),
            eventType: last.eventType,
            count: Math.max(0, before) + from + chunk.length,
            asOf: Date.now(),
            eventIds: chunk.map(({ metadata }) => metadata.eventId),
          }),
        });
      }
    }
    await this.publisher.publishEncoded(Topics.ReportsEventCounts, reports);
  }

  async countsFor(workspaceId: string): Promise<EventCounts> {
    const rows = await this.collection()
      .find({ workspaceId }, { projection: { eventType: 1, count: 1 } })
      .toArray();
    const counts = Object.fromEntries(rows.map((row) => [row.eventType, row.count]));
    return { workspaceId, counts, total: rows.reduce((sum, row) => sum + row.count, 0) };
  }

  /** The counters' driver collection, typed for string ids. */
  private collection(): BatchCollection<EventCountDoc> & {
    find(
      filter: Record<string, unknown>,
      options: { projection: Record<string, 1> },
    ): { toArray(): Promise<EventCountDoc[]> };
  } {
    return this.connection.collection(EVENT_COUNTS_COLLECTION) as unknown as ReturnType<
      EventCounter['collection']
    >;
  }
}

/** Counter ids keep the old `workspace/type` form: the report topic's key, which analysts' tables are keyed by. */
function counterIdOf({ metadata, eventType }: CountedEvent): string {
  return `${metadata.workspaceId}/${eventType}`;
}

import { Inject, Injectable } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { Topics, type EventMetadata } from '@tributary/contracts';
import {
  EventPublisher,
  causedMetadata,
  type OutgoingEvent,
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
 * once by its offset, a republished event by the intake's first-seen claim), and publishes each event's running count
 * for analysts once the batch is written.
 */
@Injectable()
export class EventCounter {
  constructor(
    @Inject(STORE_CONNECTION) private readonly connection: Connection,
    private readonly publisher: EventPublisher,
    @Inject(SERVICE_CONFIG) private readonly config: Pick<ReportingConfig, 'REPORT_TOPICS_PUBLISH'>,
  ) {}

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
   * Announces each counted event with its running count, read back after the batch's tallies were written: the k-th
   * of a counter's n events in the batch counted c - n + k, c being where the counter stands. Nothing when this
   * process must not publish (a recompute).
   */
  async announce(events: readonly CountedEvent[]): Promise<void> {
    if (!this.config.REPORT_TOPICS_PUBLISH || events.length === 0) return;
    const ids = [...new Set(events.map(counterIdOf))];
    const stored = await findByIds(this.collection(), ids, { count: 1 });
    const inBatch = new Map<string, number>();
    for (const event of events) inBatch.set(counterIdOf(event), (inBatch.get(counterIdOf(event)) ?? 0) + 1);
    const counted = new Map<string, number>();
    const reports: OutgoingEvent<typeof Topics.ReportsEventCounts>[] = events.map((event) => {
      const id = counterIdOf(event);
      const k = (counted.get(id) ?? 0) + 1;
      counted.set(id, k);
      const count = (stored.get(id)?.count ?? 0) - (inBatch.get(id) ?? 0) + k;
      return { topic: Topics.ReportsEventCounts, key: id, event: reportOf(event, Math.max(k, count)) };
    });
    await this.publisher.publishAll(reports);
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

function reportOf({ metadata, eventType }: CountedEvent, count: number) {
  return {
    metadata: causedMetadata(metadata, 'reporting', 'event-count'),
    eventType,
    count,
    asOf: Date.now(),
  };
}

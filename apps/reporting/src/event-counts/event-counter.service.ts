import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics, type EventMetadata } from '@tributary/contracts';
import { EventPublisher, causedMetadata } from '@tributary/messaging';
import { EVENT_FACT_MODEL, type EventFactDoc } from './event-fact.model';

/** Per-workspace event counts by type, e.g. `{ track: 12, "leads.scored": 12 }`. */
export interface EventCounts {
  workspaceId: string;
  counts: Record<string, number>;
  total: number;
}

/** Counts every event Tributary sees per workspace and type, and publishes the running count for analysts. */
@Injectable()
export class EventCounter {
  constructor(
    @Inject(EVENT_FACT_MODEL) private readonly facts: Model<EventFactDoc>,
    private readonly publisher: EventPublisher,
  ) {}

  async record(metadata: EventMetadata, eventType: string): Promise<void> {
    const { workspaceId } = metadata;
    // Upsert by eventId: idempotent without a separate dedupe marker.
    await this.facts.updateOne(
      { _id: metadata.eventId },
      { $setOnInsert: { workspaceId, eventType, occurredAt: new Date(metadata.occurredAt) } },
      { upsert: true },
    );
    const count = await this.facts.countDocuments({ workspaceId, eventType });
    await this.publisher.publish({
      topic: Topics.ReportsEventCounts,
      key: `${workspaceId}/${eventType}`,
      event: {
        metadata: causedMetadata(metadata, 'reporting', 'event-count'),
        eventType,
        count,
        asOf: Date.now(),
      },
    });
  }

  async countsFor(workspaceId: string): Promise<EventCounts> {
    const rows = await this.facts.aggregate<{ _id: string; count: number }>([
      { $match: { workspaceId } },
      { $group: { _id: '$eventType', count: { $sum: 1 } } },
    ]);
    const counts = Object.fromEntries(rows.map((row) => [row._id, row.count]));
    return { workspaceId, counts, total: rows.reduce((sum, row) => sum + row.count, 0) };
  }
}

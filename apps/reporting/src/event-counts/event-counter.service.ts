import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics, type EventMetadata } from '@tributary/contracts';
import { EventPublisher, causedMetadata } from '@tributary/messaging';
import { EVENT_COUNT_MODEL, type EventCountDoc } from './event-count.model';
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
    @Inject(EVENT_COUNT_MODEL) private readonly counters: Model<EventCountDoc>,
    private readonly publisher: EventPublisher,
  ) {}

  async record(metadata: EventMetadata, eventType: string): Promise<void> {
    const { workspaceId } = metadata;
    const counterId = `${workspaceId}/${eventType}`;
    // The fact keyed by eventId decides whether this delivery is new; only a new fact moves the counter, so a
    // redelivered event is never counted twice. (Without multi-document transactions a crash between the two
    // writes can leave a counter one short; `event_facts` stays the exact source to recount from.)
    const fact = await this.facts.updateOne(
      { _id: metadata.eventId },
      { $setOnInsert: { workspaceId, eventType, occurredAt: new Date(metadata.occurredAt) } },
      { upsert: true },
    );
    const counter =
      fact.upsertedCount === 1
        ? await this.counters
            .findOneAndUpdate(
              { _id: counterId },
              { $inc: { count: 1 }, $set: { workspaceId, eventType, updatedAt: new Date() } },
              { upsert: true, new: true }, // no projection: FerretDB 1.x findAndModify refuses "fields"
            )
            .lean()
        : await this.counters.findById(counterId, { count: 1 }).lean();
    await this.publisher.publish({
      topic: Topics.ReportsEventCounts,
      key: counterId,
      event: {
        metadata: causedMetadata(metadata, 'reporting', 'event-count'),
        eventType,
        count: counter?.count ?? 0,
        asOf: Date.now(),
      },
    });
  }

  async countsFor(workspaceId: string): Promise<EventCounts> {
    const rows = await this.counters.find({ workspaceId }, { eventType: 1, count: 1 }).lean();
    const counts = Object.fromEntries(rows.map((row) => [row.eventType, row.count]));
    return { workspaceId, counts, total: rows.reduce((sum, row) => sum + row.count, 0) };
  }
}

import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics, type EventMetadata } from '@tributary/contracts';
import { EventPublisher, causedMetadata, type OutgoingEvent } from '@tributary/messaging';
import { findByIds, isDuplicateKey, type BatchCollection } from '@tributary/store';
import { SERVICE_CONFIG } from '@tributary/config';
import type { ReportingConfig } from '../config';
import { EVENT_COUNT_MODEL, type EventCountDoc } from './event-count.model';
import { EVENT_FACT_MODEL, type EventFactDoc } from './event-fact.model';

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

/** Concurrent first upserts of one counter: the loser meets the winner's `_id` and retries as an update. */
const COUNTER_UPSERT_ATTEMPTS = 3;

/** Counts every event Tributary sees per workspace and type, and publishes the running count for analysts. */
@Injectable()
export class EventCounter {
  constructor(
    @Inject(EVENT_FACT_MODEL) private readonly facts: Model<EventFactDoc>,
    @Inject(EVENT_COUNT_MODEL) private readonly counters: Model<EventCountDoc>,
    private readonly publisher: EventPublisher,
    @Inject(SERVICE_CONFIG) private readonly config: Pick<ReportingConfig, 'REPORT_TOPICS_PUBLISH'>,
  ) {}

  /** Announces running counts, unless this process must not publish (a recompute). */
  private async announce(reports: OutgoingEvent<typeof Topics.ReportsEventCounts>[]): Promise<void> {
    if (this.config.REPORT_TOPICS_PUBLISH) await this.publisher.publishAll(reports);
  }

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
    await this.announce([
      {
        topic: Topics.ReportsEventCounts,
        key: counterId,
        event: reportOf(metadata, eventType, counter?.count ?? 0),
      },
    ]);
  }

  /**
   * Counts a consumed batch in a few store commands whatever its size: one insert of the facts (the new ones are
   * those it inserted), one `$inc` per counter the batch moves, one read of the counters it did not move, and one
   * produce of every event's report. A single event takes `record`, the path a failed batch is retried through.
   */
  async recordMany(events: readonly CountedEvent[]): Promise<void> {
    const [only] = events;
    if (events.length === 1 && only) return this.record(only.metadata, only.eventType);
    // A delivery repeated within the batch is one fact, counted once.
    const distinct = [...new Map(events.map((event) => [event.metadata.eventId, event])).values()];
    const { landed, failure } = await this.insertFacts(distinct);

    // Each counter moves once by its new events; the k-th of n new events of a counter that ends at c counted c-n+k.
    const moves = new Map<string, { workspaceId: string; eventType: string; by: number }>();
    for (const event of distinct) {
      if (!landed.has(event.metadata.eventId)) continue;
      const id = counterIdOf(event);
      const move = moves.get(id) ?? {
        workspaceId: event.metadata.workspaceId,
        eventType: event.eventType,
        by: 0,
      };
      move.by += 1;
      moves.set(id, move);
    }
    const after = new Map<string, number>();
    await Promise.all([...moves].map(async ([id, move]) => after.set(id, await this.increment(id, move))));
    // What landed is counted and announced now; the record-by-record retry finds those facts and counts the rest.
    if (failure) {
      await this.announce(
        this.reportsOf(
          distinct.filter((e) => landed.has(e.metadata.eventId)),
          landed,
          moves,
          after,
          new Map(),
        ),
      );
      throw failure;
    }
    const unmoved = distinct.map(counterIdOf).filter((id) => !after.has(id));
    const current = await findByIds(
      this.counters.collection as unknown as BatchCollection<EventCountDoc>,
      unmoved,
      {
        count: 1,
      },
    );
    await this.announce(this.reportsOf(distinct, landed, moves, after, current));
  }

  /** Each event's report: a new event's own running count, a repeated one's counter as it stands. */
  private reportsOf(
    events: readonly CountedEvent[],
    landed: ReadonlySet<string>,
    moves: ReadonlyMap<string, { by: number }>,
    after: ReadonlyMap<string, number>,
    current: ReadonlyMap<string, { count: number }>,
  ): OutgoingEvent<typeof Topics.ReportsEventCounts>[] {
    const counted = new Map<string, number>();
    return events.map((event) => {
      const id = counterIdOf(event);
      let count = current.get(id)?.count ?? after.get(id) ?? 0;
      if (landed.has(event.metadata.eventId)) {
        const k = (counted.get(id) ?? 0) + 1;
        counted.set(id, k);
        count = (after.get(id) ?? 0) - (moves.get(id)?.by ?? 0) + k;
      }
      return {
        topic: Topics.ReportsEventCounts,
        key: id,
        event: reportOf(event.metadata, event.eventType, count),
      };
    });
  }

  async countsFor(workspaceId: string): Promise<EventCounts> {
    const rows = await this.counters.find({ workspaceId }, { eventType: 1, count: 1 }).lean();
    const counts = Object.fromEntries(rows.map((row) => [row.eventType, row.count]));
    return { workspaceId, counts, total: rows.reduce((sum, row) => sum + row.count, 0) };
  }

  /**
   * Inserts one fact per event in one unordered insert. `landed`: the facts this insert wrote (an existing one was
   * counted before). When some were refused for another reason, what landed is read back (a refusal may not say
   * which documents its statement took with it) and `failure` is that refusal.
   */
  private async insertFacts(
    events: readonly CountedEvent[],
  ): Promise<{ landed: Set<string>; failure?: unknown }> {
    const ids = events.map((event) => event.metadata.eventId);
    const docs: EventFactDoc[] = events.map(({ metadata, eventType }) => ({
      _id: metadata.eventId,
      workspaceId: metadata.workspaceId,
      eventType,
      occurredAt: new Date(metadata.occurredAt),
    }));
    try {
      await this.factCollection().insertMany(docs, { ordered: false });
      return { landed: new Set(ids) };
    } catch (error) {
      const refused = writeErrorsOf(error);
      if (refused === undefined) throw error;
      const existed = new Set(refused.filter((e) => e.code === 11000).map((e) => ids[e.index]));
      // FerretDB answers a refused statement with no per-document errors: then only a read-back tells.
      if (refused.length > 0 && refused.every((e) => e.code === 11000)) {
        return { landed: new Set(ids.filter((id) => !existed.has(id))) };
      }
      const present = await findByIds(
        this.facts.collection as unknown as BatchCollection<EventFactDoc>,
        ids,
        {
          _id: 1,
        },
      );
      return { landed: new Set(ids.filter((id) => present.has(id) && !existed.has(id))), failure: error };
    }
  }

  /** The facts' driver collection, typed for string ids (the driver's typing expects ObjectIds). */
  private factCollection(): BatchCollection<EventFactDoc> {
    return this.facts.collection as unknown as BatchCollection<EventFactDoc>;
  }

  /** Moves a counter by `by` and returns its new count. */
  private async increment(
    counterId: string,
    { workspaceId, eventType, by }: { workspaceId: string; eventType: string; by: number },
  ): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const counter = await this.counters
          .findOneAndUpdate(
            { _id: counterId },
            { $inc: { count: by }, $set: { workspaceId, eventType, updatedAt: new Date() } },
            { upsert: true, new: true },
          )
          .lean();
        return counter?.count ?? by;
      } catch (error) {
        if (!isDuplicateKey(error) || attempt >= COUNTER_UPSERT_ATTEMPTS) throw error;
      }
    }
  }
}

function counterIdOf({ metadata, eventType }: CountedEvent): string {
  return `${metadata.workspaceId}/${eventType}`;
}

function reportOf(metadata: EventMetadata, eventType: string, count: number) {
  return {
    metadata: causedMetadata(metadata, 'reporting', 'event-count'),
    eventType,
    count,
    asOf: Date.now(),
  };
}

/** The per-document refusals of an unordered bulk, or undefined when the whole command failed. */
function writeErrorsOf(error: unknown): { index: number; code?: unknown }[] | undefined {
  const writeErrors = (error as { writeErrors?: unknown } | null)?.writeErrors;
  if (Array.isArray(writeErrors)) return writeErrors as { index: number; code?: unknown }[];
  // The driver gives a single refusal as one object, not a list.
  if (writeErrors && typeof writeErrors === 'object')
    return [writeErrors as { index: number; code?: unknown }];
  return undefined;
}

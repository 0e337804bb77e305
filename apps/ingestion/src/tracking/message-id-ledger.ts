import { Schema, type Connection, type Model, type mongo } from 'mongoose';
import { deleteExpired, expireDocuments } from '@tributary/store';

interface MessageIdDoc {
  _id: string;
  seenAt: Date;
}

/** Whether a call's messageId was already stored within the dedupe window. */
export type DedupeDecision = 'new' | 'duplicate';

/**
 * The dedupe rule: a messageId is a duplicate only if a `done` mark (written after Kafka acknowledged the event)
 * exists and is younger than the window. A claim without a done mark means an earlier attempt crashed or is still
 * in flight: producing again is safe because the eventId is deterministic.
 */
export function dedupeDecision(
  claimExisted: boolean,
  doneAt: Date | undefined,
  now: number,
  windowMs: number,
): DedupeDecision {
  if (!claimExisted) return 'new';
  return doneAt !== undefined && doneAt.getTime() > now - windowMs ? 'duplicate' : 'new';
}

const DUPLICATE_KEY = 11000;

/**
 * Marks one group-commit write holds at most, and what each waiting request puts in per round: a request's marks
 * beyond that wait for the next write, so one tenant's 11,500-event batch is written in slices and the marks of
 * other requests go out with its first slice instead of waiting behind all of it.
 */
const MARKS_PER_WRITE = 1_000;
const MARKS_PER_ROUND = 100;

interface QueuedMarks {
  docs: MessageIdDoc[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

function duplicateIndexes(error: unknown): Set<number> | undefined {
  const writeErrors = (error as { writeErrors?: unknown }).writeErrors;
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
  if (list.length === 0) return undefined;
  const indexes = new Set<number>();
  for (const e of list as { code?: number; index?: number; err?: { code?: number; index?: number } }[]) {
    const code = e.code ?? e.err?.code;
    const index = e.index ?? e.err?.index;
    if (code !== DUPLICATE_KEY || index === undefined) return undefined;
    indexes.add(index);
  }
  return indexes;
}

/**
 * Remembers which (workspace, messageId) pairs were stored on `tracking.events`, for the dedupe window, in
 * ingestion's own database. Built from inserts only: FerretDB 1.x answers an insert batch fast but scans the
 * collection for `$in` lookups and updates. So each id gets a `claim` (insert; a duplicate-key error is the cheap
 * "maybe seen" signal) before producing and a `done` mark after Kafka acknowledged; only a claim that collides is
 * looked up by _id. Expiry: a TTL index where the server has one (MongoDB), else a periodic sweep.
 */
export class MessageIdLedger {
  private readonly model: Model<MessageIdDoc>;
  private expiry?: { stop(): void };

  constructor(
    connection: Connection,
    private readonly windowMs: number,
  ) {
    const schema = new Schema<MessageIdDoc>(
      { _id: { type: String, required: true }, seenAt: { type: Date, required: true } },
      { versionKey: false, collection: 'tracking_message_ids' },
    );
    this.model =
      connection.models['TrackingMessageId'] ?? connection.model<MessageIdDoc>('TrackingMessageId', schema);
  }

  /** Expires marks after the dedupe window (TTL index on MongoDB, a sweep on FerretDB). */
  async init(sweepEveryMs = 600_000): Promise<'ttl-index' | 'sweeper'> {
    const expiry = await expireDocuments(this.model.collection, 'seenAt', this.windowMs, sweepEveryMs);
    this.expiry = expiry;
    return expiry.mode;
  }

  /** Deletes marks older than the window; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    return deleteExpired(this.model.collection, 'seenAt', this.windowMs, now);
  }

  /** Stops the sweeper (service shutdown). */
  stop(): void {
    this.expiry?.stop();
  }

  /** Claims each id and decides new vs duplicate (in input order). */
  async claim(
    workspaceId: string,
    messageIds: readonly string[],
    now = Date.now(),
  ): Promise<DedupeDecision[]> {
    if (messageIds.length === 0) return [];
    const seenAt = new Date(now);
    const collided = await this.insertAll(
      messageIds.map((id) => ({ _id: `claim:${workspaceId}:${id}`, seenAt })),
    );
    return Promise.all(
      messageIds.map(async (id, i) => {
        if (!collided.has(i)) return 'new';
        const done = await this.model.findById(`done:${workspaceId}:${id}`).lean();
        return dedupeDecision(true, done?.seenAt, now, this.windowMs);
      }),
    );
  }

  /**
   * Marks ids as stored on Kafka (after the ack); resolves once the marks are written. Concurrent requests share one
   * insert (group commit): while a write is in flight, newer marks queue and go out together when it ends, so under
   * load the store sees one insert per round trip instead of one per request, and at low load nothing waits. A write
   * takes marks from every waiting request in turn (MARKS_PER_ROUND each) up to MARKS_PER_WRITE.
   */
  async markDone(workspaceId: string, messageIds: readonly string[], now = Date.now()): Promise<void> {
    if (messageIds.length === 0) return;
    const seenAt = new Date(now);
    const docs = messageIds.map((id) => ({ _id: `done:${workspaceId}:${id}`, seenAt }));
    await new Promise<void>((resolve, reject) => {
      this.queuedMarks.push({ docs, resolve, reject });
      if (!this.writingMarks) void this.writeQueuedMarks();
    });
  }

  private queuedMarks: QueuedMarks[] = [];
  private writingMarks = false;

  /** The next write: marks taken round-robin from the waiting requests. */
  private nextWrite(): { docs: MessageIdDoc[]; group: Set<QueuedMarks> } {
    const docs: MessageIdDoc[] = [];
    const group = new Set<QueuedMarks>();
    let took = true;
    while (took && docs.length < MARKS_PER_WRITE) {
      took = false;
      for (const queued of this.queuedMarks) {
        const room = Math.min(MARKS_PER_ROUND, MARKS_PER_WRITE - docs.length, queued.docs.length);
        if (room <= 0) continue;
        docs.push(...queued.docs.splice(0, room));
        group.add(queued);
        took = true;
      }
    }
    return { docs, group };
  }

  private async writeQueuedMarks(): Promise<void> {
    this.writingMarks = true;
    while (this.queuedMarks.length > 0) {
      const { docs, group } = this.nextWrite();
      this.queuedMarks = this.queuedMarks.filter((queued) => queued.docs.length > 0);
      try {
        const collided = await this.insertAll(docs);
        // An expired earlier mark is replaced, so the window restarts from this store.
        for (const i of collided) {
          const doc = docs[i];
          if (!doc) continue;
          const existing = await this.model.findById(doc._id).lean();
          if (existing && existing.seenAt.getTime() <= doc.seenAt.getTime() - this.windowMs) {
            await this.model.deleteOne({ _id: doc._id });
            await this.insertAll([doc]);
          }
        }
        for (const g of group) if (g.docs.length === 0) g.resolve();
      } catch (error) {
        // A request whose slice failed fails whole; its slices still waiting are dropped.
        for (const g of group) g.reject(error);
        this.queuedMarks = this.queuedMarks.filter((queued) => !group.has(queued));
      }
    }
    this.writingMarks = false;
  }

  /** Inserts unordered; returns the indexes that already existed. */
  private async insertAll(docs: MessageIdDoc[]): Promise<Set<number>> {
    try {
      await (this.model.collection as unknown as mongo.Collection<MessageIdDoc>).insertMany(docs, {
        ordered: false,
      });
      return new Set();
    } catch (error) {
      const duplicates = duplicateIndexes(error);
      if (!duplicates) throw error;
      return duplicates;
    }
  }
}

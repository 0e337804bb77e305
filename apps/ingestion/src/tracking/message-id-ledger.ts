import { Schema, type Connection, type Model, type mongo } from 'mongoose';
import { deleteExpired, expireDocuments, findByIds, type BatchCollection } from '@tributary/store';

interface MessageIdDoc {
  _id: string;
  seenAt: Date;
}

/** Whether a call's messageId was already stored within the dedupe window. */
export type DedupeDecision = 'new' | 'duplicate';

/**
 * The dedupe rule: a messageId is a duplicate only if its `done` mark (written after Kafka acknowledged the event)
 * is younger than the window. No mark means new, even when an earlier attempt crashed before its mark: producing
 * again is safe because the eventId is deterministic.
 */
export function dedupeDecision(doneAt: Date | undefined, now: number, windowMs: number): DedupeDecision {
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
 * ingestion's own database. A request costs one `_id $in` read of its ids' done marks before producing; the marks
 * of what Kafka acknowledged are written after the answer, group-committed, and held in memory until written so a
 * retry to this replica meanwhile is still a duplicate. A retry reaching another replica in those milliseconds is
 * produced again and absorbed downstream by its deterministic eventId. Expiry: a TTL index where the server has
 * one (MongoDB), else a periodic sweep.
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

  /** New or duplicate, for each id in input order. */
  async decide(
    workspaceId: string,
    messageIds: readonly string[],
    now = Date.now(),
  ): Promise<DedupeDecision[]> {
    if (messageIds.length === 0) return [];
    const keys = messageIds.map((id) => `done:${workspaceId}:${id}`);
    const unwritten = keys.map((key) => this.unwritten.get(key));
    const toRead = keys.filter((_, i) => unwritten[i] === undefined);
    const stored = toRead.length > 0 ? await findByIds(this.collection, toRead, { seenAt: 1 }) : new Map();
    return keys.map((key, i) => dedupeDecision(unwritten[i] ?? stored.get(key)?.seenAt, now, this.windowMs));
  }

  /** Marks not written yet: a backlog the caller may wait on when the store falls behind. */
  get backlog(): number {
    return this.unwritten.size;
  }

  /** Resolves once every mark queued so far is written (or failed): before the service stops. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
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
    for (const doc of docs) this.unwritten.set(doc._id, seenAt);
    try {
      await new Promise<void>((resolve, reject) => {
        this.queuedMarks.push({ docs: [...docs], resolve, reject });
        this.startWriting();
      });
    } finally {
      for (const doc of docs) if (this.unwritten.get(doc._id) === seenAt) this.unwritten.delete(doc._id);
    }
  }

  private queuedMarks: QueuedMarks[] = [];
  private writing: Promise<void> | undefined;
  // Marks queued or being written, by _id: what `decide` answers from before the store has them.
  private readonly unwritten = new Map<string, Date>();

  /** One writer at a time; marks queued while it finished are picked up by the next. */
  private startWriting(): void {
    if (this.writing) return;
    this.writing = this.writeQueuedMarks().finally(() => {
      this.writing = undefined;
      if (this.queuedMarks.length > 0) this.startWriting();
    });
  }

  private get collection(): BatchCollection<MessageIdDoc> {
    return this.model.collection as unknown as BatchCollection<MessageIdDoc>;
  }

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

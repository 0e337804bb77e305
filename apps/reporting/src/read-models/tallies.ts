import type { Connection } from 'mongoose';
import type { RecordPosition } from '@tributary/messaging';
import { findByIds, guardedUpserts, type BatchCollection, type GuardedUpdate } from '@tributary/store';

/** What one consumed record adds to one tally document: counts, and newest/oldest values seen. */
export interface TallyChange {
  inc?: Record<string, number>;
  max?: Record<string, number | Date>;
  min?: Record<string, number | Date>;
}

interface PendingTally {
  collection: string;
  id: string;
  /** The document's identity (workspace, model, bucket, dimensions), set on every write. */
  fields: Record<string, unknown>;
  /** Every record's change summed as it is added: the first try applies them all. */
  inc: Record<string, number>;
  max: Record<string, number | Date>;
  min: Record<string, number | Date>;
  /** Per partition mark, the lowest offset of the batch's records that moved this document: the first try's guard. */
  firstOffsets: Map<string, number>;
  /** Each record's change with its mark and offset, side by side, for a retry that applies only some of them. */
  changes: TallyChange[];
  marks: string[];
  offsets: number[];
}

/** The sub-document holding, per topic partition, the offset of the last record a tally document took in. */
export const APPLIED_FIELD = 'applied';

/** How many times a document a redelivery already moved is read again and given what it lacks before giving up. */
const MAX_REAPPLY_ROUNDS = 5;

/** A partition's field under `applied`: dots would make a path, so a topic's dots become underscores. */
export function markOf(position: Pick<RecordPosition, 'topic' | 'partition'>): string {
  return `${position.topic.replaceAll('.', '_')}:${position.partition}`;
}

/** markOf, computed once per topic and partition: a batch adds several changes for each of its records. */
const markCache = new Map<string, string[]>();
function cachedMarkOf(position: Pick<RecordPosition, 'topic' | 'partition'>): string {
  let marks = markCache.get(position.topic);
  if (!marks) {
    marks = [];
    markCache.set(position.topic, marks);
  }
  return (marks[position.partition] ??= markOf(position));
}

/** A tally document's id from its parts, each escaped so that no two part lists share an id. */
export function tallyId(parts: readonly (string | number)[]): string {
  return parts.map((part) => encodeURIComponent(String(part))).join('|');
}

/**
 * The changes a consumed batch makes to read-model documents, gathered in memory so that each document is written
 * once per batch however many records touch it. Every document remembers, per topic partition, the offset of the last
 * record it took in; a record at or below that offset is not applied again. That makes a redelivered record count once
 * without a fact per event: a batch re-read after a crash, or cut differently, is applied exactly where it was not.
 */
export class TallyBatch {
  private readonly pending = new Map<string, Map<string, PendingTally>>();
  private count = 0;

  /** Adds one record's change to the document `id` of `collection`. */
  add(
    collection: string,
    id: string,
    fields: Record<string, unknown>,
    position: RecordPosition,
    change: TallyChange,
  ): void {
    let documents = this.pending.get(collection);
    if (!documents) {
      documents = new Map();
      this.pending.set(collection, documents);
    }
    let tally = documents.get(id);
    if (!tally) {
      tally = emptyTally(collection, id, fields);
      documents.set(id, tally);
      this.count++;
    }
    const mark = cachedMarkOf(position);
    const offset = Number(position.offset);
    tally.changes.push(change);
    tally.marks.push(mark);
    tally.offsets.push(offset);
    sumInto(tally, change, mark, offset);
  }

  get documents(): number {
    return this.count;
  }

  /**
   * Forgets the changes of the records `dropped` says so of (e.g. copies of events taken in under another record),
   * summing again the documents they had moved.
   */
  drop(dropped: (mark: string, offset: number) => boolean): void {
    for (const documents of this.pending.values())
      for (const [id, tally] of documents) {
        if (!tally.marks.some((mark, i) => dropped(mark, tally.offsets[i] ?? 0))) continue;
        const kept = emptyTally(tally.collection, id, tally.fields);
        tally.changes.forEach((change, i) => {
          const mark = tally.marks[i] ?? '';
          const offset = tally.offsets[i] ?? 0;
          if (dropped(mark, offset)) return;
          kept.changes.push(change);
          kept.marks.push(mark);
          kept.offsets.push(offset);
          sumInto(kept, change, mark, offset);
        });
        if (kept.changes.length > 0) documents.set(id, kept);
        else {
          documents.delete(id);
          this.count--;
        }
      }
  }

  /** The pending documents, per collection. */
  byCollection(): Map<string, PendingTally[]> {
    return new Map([...this.pending].map(([name, documents]) => [name, [...documents.values()]]));
  }
}

function emptyTally(collection: string, id: string, fields: Record<string, unknown>): PendingTally {
  return {
    collection,
    id,
    fields,
    inc: {},
    max: {},
    min: {},
    firstOffsets: new Map(),
    changes: [],
    marks: [],
    offsets: [],
  };
}

/** Adds one record's change to a running sum: counts added, newest and oldest kept, the partition's marks moved. */
function sumInto(
  sum: Pick<PendingTally, 'inc' | 'max' | 'min' | 'firstOffsets'>,
  change: TallyChange,
  mark: string,
  offset: number,
): void {
  // for...in rather than Object.entries: this runs several times per consumed record.
  const { inc, max, min } = change;
  for (const field in inc) sum.inc[field] = (sum.inc[field] ?? 0) + (inc[field] ?? 0);
  for (const field in max) {
    const value = max[field] as number | Date;
    const held = sum.max[field];
    if (held === undefined || value > held) sum.max[field] = value;
  }
  for (const field in min) {
    const value = min[field] as number | Date;
    const held = sum.min[field];
    if (held === undefined || value < held) sum.min[field] = value;
  }
  const markField = `${APPLIED_FIELD}.${mark}`;
  const last = sum.max[markField];
  if (last === undefined || offset > (last as number)) sum.max[markField] = offset;
  const first = sum.firstOffsets.get(mark);
  if (first === undefined || offset < first) sum.firstOffsets.set(mark, offset);
}

type AppliedMarks = Record<string, number | undefined>;

/**
 * Writes a batch: one unordered bulk of guarded upserts per collection. A document's guard holds when it has not yet
 * taken in any record of this batch (its mark is below the batch's first offset of that partition, or absent); the
 * documents a redelivery already moved are refused, read back, and given only the records past their marks, guarded by
 * those exact marks (another consumer of a rebalanced partition may be writing too).
 */
export async function applyTallies(
  connection: Connection,
  batch: TallyBatch,
  now = new Date(),
): Promise<void> {
  await Promise.all(
    [...batch.byCollection()].map(async ([name, tallies]) => {
      const collection = connection.collection(name);
      let round: { tally: PendingTally; marks: AppliedMarks | null }[] = tallies.map((tally) => ({
        tally,
        marks: null,
      }));
      for (let attempt = 1; round.length > 0; attempt++) {
        const writes = round
          .map(({ tally, marks }) => ({ tally, update: guardedUpdateOf(tally, marks, now) }))
          .filter((write): write is { tally: PendingTally; update: GuardedUpdate } => write.update !== null);
        const refused = await guardedUpserts(
          collection as unknown as Parameters<typeof guardedUpserts>[0],
          writes.map(({ update }) => update),
        );
        if (refused.size === 0) return;
        if (attempt >= MAX_REAPPLY_ROUNDS)
          throw new Error(`${refused.size} ${name} documents kept changing under this batch`);
        const again = writes.filter((_, i) => refused.has(i)).map(({ tally }) => tally);
        const stored = await findByIds(
          collection as unknown as BatchCollection<{ _id: string; [APPLIED_FIELD]?: AppliedMarks }>,
          again.map((tally) => tally.id),
          { _id: 1, [APPLIED_FIELD]: 1 },
        );
        round = again.map((tally) => ({ tally, marks: stored.get(tally.id)?.[APPLIED_FIELD] ?? {} }));
      }
    }),
  );
}

/**
 * The upsert applying a document's pending records. `marks` null: the first try, guarded by "none of these records
 * taken in yet"; otherwise the document's marks as read, and only the records past them (null when none is left).
 */
function guardedUpdateOf(tally: PendingTally, marks: AppliedMarks | null, now: Date): GuardedUpdate | null {
  let sum: Pick<PendingTally, 'inc' | 'max' | 'min' | 'firstOffsets'> = tally;
  if (marks !== null) {
    sum = { inc: {}, max: {}, min: {}, firstOffsets: new Map() };
    tally.changes.forEach((change, i) => {
      const mark = tally.marks[i] ?? '';
      const offset = tally.offsets[i] ?? 0;
      const seen = marks[mark];
      if (seen === undefined || offset > seen) sumInto(sum, change, mark, offset);
    });
    if (sum.firstOffsets.size === 0) return null;
  }

  const guards = [...sum.firstOffsets].map(([mark, first]) => {
    const field = `${APPLIED_FIELD}.${mark}`;
    if (marks === null) return { $or: [{ [field]: { $lt: first } }, { [field]: { $exists: false } }] };
    const seen = marks[mark];
    return seen === undefined ? { [field]: { $exists: false } } : { [field]: seen };
  });
  const update: Record<string, unknown> = { $set: { ...tally.fields, updatedAt: now }, $max: sum.max };
  if (Object.keys(sum.inc).length > 0) update['$inc'] = sum.inc;
  if (Object.keys(sum.min).length > 0) update['$min'] = sum.min;
  return {
    filter: { _id: tally.id, ...(guards.length === 1 ? guards[0] : { $and: guards }) },
    update,
  };
}

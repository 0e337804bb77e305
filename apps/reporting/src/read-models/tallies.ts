import type { Connection } from 'mongoose';
import type { RecordPosition } from '@tributary/messaging';
import { findByIds, guardedUpserts, type BatchCollection, type GuardedUpdate } from '@tributary/store';

/** What one consumed record adds to one tally document: counts, and newest/oldest values seen. */
export interface TallyChange {
  inc?: Record<string, number>;
  max?: Record<string, number | Date>;
  min?: Record<string, number | Date>;
}

/** One record's change to one document, with where the record sits (its partition's mark and its offset). */
interface Contribution extends TallyChange {
  mark: string;
  offset: number;
}

interface PendingTally {
  collection: string;
  id: string;
  /** The document's identity (workspace, model, bucket, dimensions), set on every write. */
  fields: Record<string, unknown>;
  contributions: Contribution[];
}

/** The sub-document holding, per topic partition, the offset of the last record a tally document took in. */
export const APPLIED_FIELD = 'applied';

/** How many times a document a redelivery already moved is read again and given what it lacks before giving up. */
const MAX_REAPPLY_ROUNDS = 5;

/** A partition's field under `applied`: dots would make a path, so a topic's dots become underscores. */
export function markOf(position: Pick<RecordPosition, 'topic' | 'partition'>): string {
  return `${position.topic.replaceAll('.', '_')}:${position.partition}`;
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
  private readonly pending = new Map<string, PendingTally>();

  /** Adds one record's change to the document `id` of `collection`. */
  add(
    collection: string,
    id: string,
    fields: Record<string, unknown>,
    position: RecordPosition,
    change: TallyChange,
  ): void {
    const key = `${collection}\u0000${id}`;
    let tally = this.pending.get(key);
    if (!tally) {
      tally = { collection, id, fields, contributions: [] };
      this.pending.set(key, tally);
    }
    tally.contributions.push({ ...change, mark: markOf(position), offset: Number(position.offset) });
  }

  get documents(): number {
    return this.pending.size;
  }

  /** The pending documents, per collection. */
  byCollection(): Map<string, PendingTally[]> {
    const grouped = new Map<string, PendingTally[]>();
    for (const tally of this.pending.values()) {
      const list = grouped.get(tally.collection) ?? [];
      list.push(tally);
      grouped.set(tally.collection, list);
    }
    return grouped;
  }
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
  const taken =
    marks === null
      ? tally.contributions
      : tally.contributions.filter((c) => marks[c.mark] === undefined || c.offset > (marks[c.mark] ?? 0));
  if (taken.length === 0) return null;

  const inc: Record<string, number> = {};
  const max: Record<string, number | Date> = {};
  const min: Record<string, number | Date> = {};
  const firstOffsets = new Map<string, number>();
  for (const contribution of taken) {
    for (const [field, by] of Object.entries(contribution.inc ?? {})) inc[field] = (inc[field] ?? 0) + by;
    for (const [field, value] of Object.entries(contribution.max ?? {}))
      if (max[field] === undefined || value > (max[field] as number | Date)) max[field] = value;
    for (const [field, value] of Object.entries(contribution.min ?? {}))
      if (min[field] === undefined || value < (min[field] as number | Date)) min[field] = value;
    const markField = `${APPLIED_FIELD}.${contribution.mark}`;
    if (max[markField] === undefined || contribution.offset > (max[markField] as number))
      max[markField] = contribution.offset;
    const first = firstOffsets.get(contribution.mark);
    if (first === undefined || contribution.offset < first)
      firstOffsets.set(contribution.mark, contribution.offset);
  }

  const guards = [...firstOffsets].map(([mark, first]) => {
    const field = `${APPLIED_FIELD}.${mark}`;
    if (marks === null) return { $or: [{ [field]: { $lt: first } }, { [field]: { $exists: false } }] };
    const seen = marks[mark];
    return seen === undefined ? { [field]: { $exists: false } } : { [field]: seen };
  });
  const update: Record<string, unknown> = { $set: { ...tally.fields, updatedAt: now }, $max: max };
  if (Object.keys(inc).length > 0) update['$inc'] = inc;
  if (Object.keys(min).length > 0) update['$min'] = min;
  return {
    filter: { _id: tally.id, ...(guards.length === 1 ? guards[0] : { $and: guards }) },
    update,
  };
}

import { Inject, Injectable } from '@nestjs/common';
import type { AnyBulkWriteOperation, Model } from 'mongoose';
import { Topics } from '@tributary/contracts';
import { EventPublisher, fastUuidV5, type OutgoingEvent } from '@tributary/messaging';
import { isDuplicateKey } from '@tributary/store';
import {
  GOLDEN_HISTORY_MODEL,
  GOLDEN_KEY_MODEL,
  GOLDEN_RECORD_MODEL,
  goldenKeyOf,
  type GoldenEntity,
  type GoldenHistoryDoc,
  type GoldenKeyDoc,
  type GoldenLink,
  type GoldenRecordDoc,
  type HeldValue,
} from './golden-record.model';
import {
  conflictingValue,
  goldenChangeEvent,
  hashOf,
  type Keys,
  type SourceChange,
  type WrittenRecord,
} from './golden-record-state';

/** Tries of a write that keeps meeting another replica's. */
export const MAX_ATTEMPTS = 6;

/**
 * Golden records' persistence: keys claimed first come first served, records written on their version (a token tells
 * which conditional writes stood), and announcements published from the records' outboxes and kept in the history.
 * An outbox item whose history entry exists was announced: it is dropped when the record is next loaded, not cleared
 * by a write of its own (on FerretDB, rewriting a whole record to empty its outbox cost as much as writing it). Every
 * command here works on a whole batch.
 */
@Injectable()
export class GoldenRecordStore {
  constructor(
    @Inject(GOLDEN_RECORD_MODEL) private readonly records: Model<GoldenRecordDoc>,
    @Inject(GOLDEN_KEY_MODEL) private readonly keys: Model<GoldenKeyDoc>,
    @Inject(GOLDEN_HISTORY_MODEL) private readonly history: Model<GoldenHistoryDoc>,
    private readonly publisher: EventPublisher,
  ) {}

  async findKeys(ids: readonly string[]): Promise<GoldenKeyDoc[]> {
    return this.keys.find({ _id: { $in: [...ids] } }).lean();
  }

  /** A page of a workspace's live records of one entity, in id order after `after`. */
  async page(
    workspaceId: string,
    entity: GoldenEntity,
    after: string,
    limit: number,
  ): Promise<GoldenRecordDoc[]> {
    return this.records
      .find({ workspaceId, entity, mergedInto: null, erasedAt: null, _id: { $gt: after } })
      .sort({ _id: 1 })
      .limit(limit)
      .lean();
  }

  /** Records what systems were seen to hold, by key (`held.<field>`). */
  async writeHeld(held: readonly [string, Record<string, HeldValue>][]): Promise<void> {
    const writes = held.filter(([, fields]) => Object.keys(fields).length > 0);
    if (writes.length === 0) return;
    await this.keys.bulkWrite(
      writes.map(([key, fields]) => ({
        updateOne: {
          filter: { _id: key },
          update: { $set: Object.fromEntries(Object.entries(fields).map(([f, v]) => [`held.${f}`, v])) },
        },
      })),
      { ordered: false },
    );
  }

  /** The record a golden id now stands for (following merges). */
  async resolve(goldenId: string): Promise<string> {
    let id = goldenId;
    for (let hop = 0; hop < 8; hop += 1) {
      const doc = await this.records.findById(id, { mergedInto: 1 }).lean();
      if (!doc?.mergedInto) return id;
      id = doc.mergedInto;
    }
    return id;
  }

  /**
   * Writes the keys this batch made, first come first served. When another replica claimed one first (the same
   * email arriving from two systems at once), a record this batch was about to create joins the claimant's golden
   * record instead, and its other new keys follow.
   */
  async claim(
    newKeys: Map<string, { workspaceId: string; goldenId: string }>,
    assigned: { change: SourceChange; keys: Keys; goldenId: string }[],
    minted: ReadonlySet<string>,
  ): Promise<void> {
    // Two inserts of one new key at once: one stands, the other fails as a duplicate. Either way the key is there.
    // (Inserts, not upserts: FerretDB takes a batch of inserts in one statement, upserts one by one.)
    await this.keys
      .insertMany(
        [...newKeys].map(([key, value]) => ({ _id: key, ...value })),
        { ordered: false, lean: true },
      )
      .catch((error: unknown) => {
        if (!isDuplicateKey(error)) throw error;
      });
    const claimed = new Map(
      (await this.keys.find({ _id: { $in: [...newKeys.keys()] } }, { goldenId: 1 }).lean()).map((k) => [
        k._id,
        k.goldenId,
      ]),
    );
    const adopted = new Map<string, string>();
    for (const entry of assigned) {
      if (!minted.has(entry.goldenId)) continue;
      const winner =
        adopted.get(entry.goldenId) ??
        entry.keys.all.map((k) => claimed.get(k)).find((id) => id !== undefined && id !== entry.goldenId);
      if (winner) adopted.set(entry.goldenId, winner);
    }
    if (adopted.size === 0) return;
    for (const entry of assigned) entry.goldenId = adopted.get(entry.goldenId) ?? entry.goldenId;
    await this.keys.bulkWrite(
      [...newKeys].flatMap(([key, value]) => {
        const winner = adopted.get(value.goldenId);
        return winner && claimed.get(key) === value.goldenId
          ? [
              {
                updateOne: {
                  filter: { _id: key, goldenId: value.goldenId },
                  update: { $set: { goldenId: winner } },
                },
              },
            ]
          : [];
      }),
      { ordered: false },
    );
  }

  /** The records by id, and where merged ones now live (their survivors loaded too). */
  async load(ids: readonly string[]) {
    const docs = new Map<string, GoldenRecordDoc>();
    const redirect = new Map<string, string>();
    let wanted = [...ids];
    for (let hop = 0; wanted.length > 0 && hop < 8; hop += 1) {
      const found = await this.records.find({ _id: { $in: wanted } }).lean();
      wanted = [];
      for (const doc of found) {
        docs.set(doc._id, doc);
        if (doc.mergedInto && !docs.has(doc.mergedInto)) wanted.push(doc.mergedInto);
      }
    }
    for (const id of ids) {
      let target = id;
      for (let hop = 0; hop < 8 && docs.get(target)?.mergedInto; hop += 1)
        target = docs.get(target)?.mergedInto ?? target;
      if (target !== id) redirect.set(id, target);
    }
    const announced = await this.announced([...docs.values()]);
    for (const [id, doc] of docs)
      if (doc.outbox.some((item) => announced.has(historyId(doc, item))))
        docs.set(id, { ...doc, outbox: doc.outbox.filter((item) => !announced.has(historyId(doc, item))) });
    return { docs, redirect };
  }

  /** The history ids of the records' outbox items that were announced (their history entry exists). */
  private async announced(docs: readonly GoldenRecordDoc[]): Promise<Set<string>> {
    const ids = docs.flatMap((doc) => doc.outbox.map((item) => historyId(doc, item)));
    if (ids.length === 0) return new Set();
    return new Set((await this.history.find({ _id: { $in: ids } }, { _id: 1 }).lean()).map((h) => h._id));
  }

  /** Writes records on their version; answers the ids another writer changed first. */
  async writeRecords(
    writes: { id: string; op: AnyBulkWriteOperation<GoldenRecordDoc> }[],
    token: string,
  ): Promise<string[]> {
    if (writes.length === 0) return [];
    let clean = false;
    try {
      const result = await this.records.bulkWrite(
        writes.map((w) => w.op),
        { ordered: false },
      );
      clean = result.matchedCount + result.insertedCount === writes.length;
    } catch (error) {
      // A duplicate id: another replica created the record first. Which writes stood is read back below.
      if (!isDuplicateKey(error)) throw error;
    }
    if (clean) return [];
    const ids = writes.map((w) => w.id);
    const stood = new Set(
      (await this.records.find({ _id: { $in: ids }, lastWrite: token }, { _id: 1 }).lean()).map((d) => d._id),
    );
    return ids.filter((id) => !stood.has(id));
  }

  /**
   * Publishes what the records' outboxes hold (golden changes, conflicts) and was not announced before, then keeps it
   * in the history, which marks it announced.
   */
  async announce(docs: readonly GoldenRecordDoc[]): Promise<void> {
    const outgoing: OutgoingEvent[] = [];
    const history: GoldenHistoryDoc[] = [];
    const announced = await this.announced(docs);
    for (const doc of docs)
      for (const item of doc.outbox) {
        if (announced.has(historyId(doc, item))) continue;
        outgoing.push(goldenChangeEvent(doc, item));
        for (const conflict of item.conflicts)
          outgoing.push({
            topic: Topics.GoldenRecordsConflicts,
            key: doc._id,
            event: {
              metadata: {
                ...goldenChangeEvent(doc, item).event.metadata,
                eventId: fastUuidV5(`${item.eventId}/conflict/${conflict.field}`),
              },
              goldenId: doc._id,
              entity: doc.entity,
              field: conflict.field,
              rule: conflict.rule,
              winner: conflictingValue(conflict.winner),
              loser: conflictingValue(conflict.loser),
            },
          });
        history.push({
          _id: historyId(doc, item),
          workspaceId: doc.workspaceId,
          goldenId: doc._id,
          eventId: item.eventId,
          cause: item.cause,
          causeSystem: item.causeSystem,
          causeExternalId: item.causeExternalId,
          changes: item.changes,
          conflicts: item.conflicts,
          conflictCount: item.conflicts.length,
          version: item.version,
          at: new Date(item.at),
        });
      }
    if (outgoing.length === 0) return;
    await this.publisher.publishAll(outgoing);
    // Another replica announcing the same item (a redelivered batch) wrote the same entry: the duplicate is fine.
    await this.history.insertMany(history, { ordered: false, lean: true }).catch((error: unknown) => {
      if (!isDuplicateKey(error)) throw error;
    });
  }

  /**
   * Remembers what was written to systems' records, so their echoes are known when the systems report them back; a
   * record the write created is linked to its golden record at once (a second change must update it, not create
   * another).
   */
  async rememberWritten(writes: readonly WrittenRecord[]): Promise<void> {
    if (writes.length === 0) return;
    await this.keys.bulkWrite(
      writes.map((w) => ({
        updateOne: {
          filter: { _id: goldenKeyOf(w.workspaceId, w.entity, w.system, w.externalId) },
          update: {
            $set: {
              workspaceId: w.workspaceId,
              goldenId: w.goldenId,
              ...Object.fromEntries(
                Object.entries(w.fields).map(([f, value]) => [
                  `held.${f}`,
                  { hash: hashOf(value), written: true, at: w.at },
                ]),
              ),
            },
          },
          upsert: true,
        },
      })),
      { ordered: false },
    );
    const created = writes.filter((w) => w.created);
    if (created.length > 0)
      await this.records.bulkWrite(
        created.map((w) => ({
          updateOne: {
            filter: { _id: w.goldenId, 'links.externalId': { $ne: w.externalId } },
            update: {
              $push: { links: { system: w.system, externalId: w.externalId } },
              $inc: { version: 1 },
            },
          },
        })),
        { ordered: false },
      );
  }

  /** The records a golden record links now (after merges), or none when it is gone. */
  async linksOf(goldenId: string): Promise<GoldenLink[]> {
    const id = await this.resolve(goldenId);
    return (await this.records.findById(id, { links: 1 }).lean())?.links ?? [];
  }

  /** Drops links to records the system merged away (their ids now lead to the survivor there). */
  async unlink(goldenId: string, system: string, externalIds: readonly string[]): Promise<void> {
    const id = await this.resolve(goldenId);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const doc = await this.records.findById(id, { links: 1, version: 1 }).lean();
      if (!doc) return;
      const links = doc.links.filter((l) => l.system !== system || !externalIds.includes(l.externalId));
      if (links.length === doc.links.length) return;
      const written = await this.records.updateOne(
        { _id: id, version: doc.version },
        { $set: { links, version: doc.version + 1, updatedAt: new Date() } },
      );
      if (written.matchedCount === 1) return;
    }
    throw new Error(`golden record ${id} kept changing; unlinking will be retried`);
  }
}

/** The history entry an outbox item becomes once announced. */
function historyId(doc: Pick<GoldenRecordDoc, '_id'>, item: { eventId: string }): string {
  return `${doc._id}|${item.eventId}`;
}

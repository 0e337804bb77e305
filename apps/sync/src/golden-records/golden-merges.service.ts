import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import type { ContactsMerged, EventMetadata } from '@tributary/contracts';
import { fastUuidV5 } from '@tributary/messaging';
import {
  GOLDEN_KEY_MODEL,
  GOLDEN_RECORD_MODEL,
  goldenKeyOf,
  type GoldenKeyDoc,
  type GoldenRecordDoc,
} from './golden-record.model';
import { LEADS_SOURCE, changesBetween, pending, unionLinks, withFields } from './golden-record-state';
import { GoldenRecordStore, MAX_ATTEMPTS } from './golden-record.store';
import { SurvivorshipRulesStore } from './survivorship-rules.store';
import { emptyFieldState, mergeStates, type FieldState } from './survivorship';

/** The lead pipeline's merges of contacts, applied to their golden records. */
@Injectable()
export class GoldenMerges {
  constructor(
    @Inject(GOLDEN_RECORD_MODEL) private readonly records: Model<GoldenRecordDoc>,
    @Inject(GOLDEN_KEY_MODEL) private readonly keys: Model<GoldenKeyDoc>,
    private readonly store: GoldenRecordStore,
    private readonly rules: SurvivorshipRulesStore,
  ) {}

  /**
   * The lead pipeline found two contacts to be one person: the merged contact's golden record folds into the
   * survivor's (each source's latest value of each field, and the later lock, so the result is the same whichever
   * folds into which), its links and keys follow, and the survivor announces what changed with `mergedGoldenId`.
   */
  async onContactsMerged(merges: readonly ContactsMerged[]): Promise<void> {
    for (const merge of merges) {
      const ws = merge.metadata.workspaceId;
      const [survivorKey, mergedKey] = [merge.survivingContactId, merge.mergedContactId].map((id) =>
        goldenKeyOf(ws, 'contact', LEADS_SOURCE, id),
      ) as [string, string];
      const found = new Map(
        (await this.keys.find({ _id: { $in: [survivorKey, mergedKey] } }).lean()).map((k) => [
          k._id,
          k.goldenId,
        ]),
      );
      const [into, from] = [found.get(survivorKey), found.get(mergedKey)];
      if (!from) continue;
      if (!into) {
        // The survivor has no golden record yet: the merged contact's becomes the survivor's.
        await this.keys.updateOne(
          { _id: survivorKey },
          { $setOnInsert: { workspaceId: ws, goldenId: from } },
          { upsert: true },
        );
        continue;
      }
      await this.fold(merge.metadata, await this.store.resolve(from), await this.store.resolve(into));
    }
  }

  /** Folds golden record `fromId` into `intoId`. */
  private async fold(metadata: EventMetadata, fromId: string, intoId: string): Promise<void> {
    if (fromId === intoId) return;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const docs = await this.records.find({ _id: { $in: [fromId, intoId] } }).lean();
      const from = docs.find((d) => d._id === fromId);
      const into = docs.find((d) => d._id === intoId);
      if (!from || !into) return;
      if (from.mergedInto === intoId) return this.store.announce([into]);
      const rules = await this.rules.of(into.workspaceId, into.entity);
      const before = into.values;
      const fields: Record<string, FieldState> = { ...into.fields };
      for (const [field, state] of Object.entries(from.fields))
        fields[field] = mergeStates(fields[field] ?? emptyFieldState(), state);
      const next = withFields(rules, fields);
      const changes = changesBetween(before, next);
      const links = unionLinks(into.links, from.links);
      const eventId = fastUuidV5(`golden-merge/${fromId}/${intoId}/${metadata.eventId}`);
      const written = await this.records.bulkWrite([
        {
          updateOne: {
            filter: { _id: intoId, version: into.version },
            update: {
              $set: {
                ...next,
                links,
                version: into.version + 1,
                updatedAt: new Date(),
                outbox: [
                  ...into.outbox,
                  pending(metadata, eventId, 'merge', null, null, changes, [], into.version + 1, fromId),
                ],
              },
            },
          },
        },
        {
          updateOne: {
            filter: { _id: fromId, version: from.version },
            update: { $set: { mergedInto: intoId, version: from.version + 1, updatedAt: new Date() } },
          },
        },
      ]);
      if (written.matchedCount < 2) continue;
      // Keys of the folded record now lead to the survivor.
      await this.keys.updateMany({ goldenId: fromId }, { $set: { goldenId: intoId } });
      const merged = await this.records.findById(intoId).lean();
      if (merged) await this.store.announce([merged]);
      return;
    }
    throw new Error(`golden records ${fromId} and ${intoId} kept changing; the merge will be retried`);
  }
}

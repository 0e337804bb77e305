import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics, type EventMetadata } from '@tributary/contracts';
import { EventPublisher, causedMetadata } from '@tributary/messaging';
import { ProcessedEvents, isDuplicateKey } from '@tributary/store';
import {
  CONTACT_MODEL,
  MAX_FACTS,
  factsOf,
  packFact,
  type ContactDoc,
  type StoredFact,
} from '../contacts/contact.model';
import type { MergeReason } from './identity-rules';
import { CONTACT_MERGE_MODEL, type ContactMergeDoc } from './identity.model';
import { LEADS_EVENT_SOURCE } from '../event-source';

// Optimistic writes on the survivor's revision; a merge racing this many live events on one contact is a bug.
const MAX_FOLD_ATTEMPTS = 8;

/** Both contacts' facts, once each, oldest first, within the per-contact bound. */
function unionFacts(a: readonly StoredFact[], b: readonly StoredFact[]): StoredFact[] {
  const byId = new Map<string, StoredFact>();
  for (const fact of [...a, ...b]) byId.set(fact.eventId, fact);
  return [...byId.values()]
    .sort((x, y) => x.at - y.at || x.eventId.localeCompare(y.eventId))
    .slice(-MAX_FACTS);
}

/** A merge as the rest of the lead service hears of it. */
export interface ContactMerged {
  workspaceId: string;
  mergedContactId: string;
  survivingContactId: string;
}

/**
 * Something the lead service keeps per contact that must follow a merge (e.g. routing frees the merged contact's owner).
 * Called on every completion attempt of a merge until it is done, so it must be idempotent.
 */
export interface MergedContactHandler {
  onContactMerged(merge: ContactMerged): Promise<void>;
}

/** The handlers ContactMerger calls (a multi-provider list bound by the app module; none when unbound). */
export const MERGED_CONTACT_HANDLERS = Symbol('MERGED_CONTACT_HANDLERS');

// Merge chains are short (path compression in the resolver); the bound only guards against a cycle from a race.
const MAX_HOPS = 16;

/**
 * Folds one contact into another without multi-document transactions: record the intent (merge history), freeze
 * the merged contact (`mergedInto`), move its score and event count onto the survivor exactly once (ProcessedEvents),
 * let the handlers follow (routing closes the merged contact's assignment), announce `contacts.merged`, mark the
 * record done. Every step is safe to repeat, and a merge interrupted half-way
 * is finished by whoever next meets the frozen contact (`survivorOf`).
 */
@Injectable()
export class ContactMerger {
  constructor(
    @Inject(CONTACT_MODEL) private readonly contacts: Model<ContactDoc>,
    @Inject(CONTACT_MERGE_MODEL) private readonly merges: Model<ContactMergeDoc>,
    private readonly processed: ProcessedEvents,
    private readonly publisher: EventPublisher,
    @Optional()
    @Inject(MERGED_CONTACT_HANDLERS)
    private readonly handlers: readonly MergedContactHandler[] = [],
  ) {}

  /** Merges `mergedContactId` into `survivingContactId`; a contact never scored has nothing to move. */
  async merge(input: {
    mergedContactId: string;
    survivingContactId: string;
    reason: MergeReason;
    cause: EventMetadata;
  }): Promise<void> {
    const { mergedContactId, survivingContactId, reason, cause } = input;
    const merged = await this.contacts.findById(mergedContactId, { mergedInto: 1 }).lean();
    if (!merged) return;
    if (!merged.mergedInto) {
      // Intent first, first writer wins: a crash after it leaves a record the redelivery completes.
      const record = await this.merges
        .findOneAndUpdate(
          { _id: mergedContactId },
          {
            $setOnInsert: {
              workspaceId: cause.workspaceId,
              survivingContactId,
              reason,
              metadata: causedMetadata(cause, LEADS_EVENT_SOURCE, `contacts-merged/${reason}`),
              state: 'moving',
              mergedAt: new Date(),
            },
          },
          { upsert: true, new: true },
        )
        .lean();
      // Frozen from here: resolution hops over it to the survivor, so its score is final and can move.
      await this.contacts.updateOne(
        { _id: mergedContactId, mergedInto: { $exists: false } },
        { $set: { mergedInto: record.survivingContactId, updatedAt: new Date() } },
      );
    }
    await this.settle(mergedContactId);
  }

  /** The live contact `contactId` ends up at, finishing any merge along the way that was interrupted. */
  async survivorOf(contactId: string): Promise<string> {
    let id = contactId;
    for (let hop = 0; hop < MAX_HOPS; hop += 1) {
      const contact = await this.contacts.findById(id, { mergedInto: 1 }).lean();
      if (!contact?.mergedInto) return id;
      await this.settle(id);
      id = contact.mergedInto;
    }
    return id;
  }

  private async settle(mergedContactId: string): Promise<void> {
    const record = await this.merges.findById(mergedContactId).lean();
    if (!record || record.state === 'done') return;
    const merged = await this.contacts.findById(mergedContactId).lean();
    if (!merged) return;
    // The survivor may itself have been merged since: the points go where its identity lives now.
    const target = await this.survivorOf(record.survivingContactId);
    await this.processed.once('scoring-merge', mergedContactId, () => this.fold(merged, target));
    for (const handler of this.handlers ?? [])
      await handler.onContactMerged({
        workspaceId: record.workspaceId,
        mergedContactId,
        survivingContactId: target,
      });
    // Announced on every completion attempt: the deterministic eventId lets consumers drop a repeat.
    await this.publisher.publish({
      topic: Topics.ContactsMerged,
      key: record.survivingContactId,
      event: {
        metadata: record.metadata,
        survivingContactId: record.survivingContactId,
        mergedContactId,
        reason: record.reason,
      },
    });
    await this.merges.updateOne(
      { _id: mergedContactId },
      { $set: { state: 'done', movedScore: merged.score, movedEventCount: merged.eventCount } },
    );
  }

  /**
   * Moves what the lead service knows of the merged contact onto the survivor: its facts (so the survivor's next score counts
   * them under the current model), the attributes the survivor lacks, and its stage when the survivor has none.
   * Written conditionally on the survivor's revision, so a concurrent event on the survivor is never overwritten.
   */
  private async fold(merged: ContactDoc, targetId: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_FOLD_ATTEMPTS; attempt += 1) {
      const survivor = await this.contacts.findById(targetId).lean<ContactDoc>();
      const facts = unionFacts(factsOf(survivor), factsOf(merged));
      const attributes = { ...(merged.attributes ?? {}), ...(survivor?.attributes ?? {}) };
      const stage = survivor?.stage ?? merged.stage ?? null;
      const stageHistory = survivor?.stage ? survivor.stageHistory : (merged.stageHistory ?? []);
      if (!survivor) {
        const { mergedInto: _frozen, ...rest } = merged;
        try {
          await this.contacts.collection.insertOne({
            ...rest,
            _id: targetId,
            facts: facts.map(packFact),
            factIds: facts.map((fact) => fact.eventId),
            revision: 1,
            scoredRevision: -1,
            lastRule: 'merged',
            updatedAt: new Date(),
          } as never);
          return;
        } catch (error) {
          // The survivor appeared meanwhile (its own first event): fold into it instead.
          if (!isDuplicateKey(error)) throw error;
          continue;
        }
      }
      const written = await this.contacts.updateOne(
        { _id: targetId, revision: survivor.revision },
        {
          $set: {
            facts: facts.map(packFact),
            factIds: facts.map((fact) => fact.eventId),
            attributes,
            stage,
            stageHistory,
            workspaceId: merged.workspaceId,
            updatedAt: new Date(),
          },
          $inc: { revision: 1, eventCount: merged.eventCount },
        },
      );
      if (written.matchedCount === 1) return;
    }
    throw new Error(`merge into ${targetId} kept racing concurrent changes`);
  }
}

import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics, type EventMetadata } from '@tributary/contracts';
import { EventPublisher, ProcessedEvents, causedMetadata } from '@tributary/messaging';
import { CONTACT_MODEL, type ContactDoc } from '../contacts/contact.model';
import type { MergeReason } from './identity-rules';
import { CONTACT_MERGE_MODEL, type ContactMergeDoc } from './identity.model';

// Merge chains are short (path compression in the resolver); the bound only guards against a cycle from a race.
const MAX_HOPS = 16;

/**
 * Folds one contact into another without multi-document transactions: record the intent (merge history), freeze
 * the merged contact (`mergedInto`), move its score and event count onto the survivor exactly once (ProcessedEvents),
 * announce `contacts.merged`, mark the record done. Every step is safe to repeat, and a merge interrupted half-way
 * is finished by whoever next meets the frozen contact (`survivorOf`).
 */
@Injectable()
export class ContactMerger {
  constructor(
    @Inject(CONTACT_MODEL) private readonly contacts: Model<ContactDoc>,
    @Inject(CONTACT_MERGE_MODEL) private readonly merges: Model<ContactMergeDoc>,
    private readonly processed: ProcessedEvents,
    private readonly publisher: EventPublisher,
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
              metadata: causedMetadata(cause, 'scoring', `contacts-merged/${reason}`),
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
    await this.processed.once('scoring-merge', mergedContactId, () =>
      this.contacts.updateOne(
        { _id: target },
        {
          $inc: { score: merged.score, eventCount: merged.eventCount },
          $set: { workspaceId: merged.workspaceId, updatedAt: new Date() },
          $setOnInsert: { lastRule: 'merged' },
        },
        { upsert: true },
      ),
    );
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
}

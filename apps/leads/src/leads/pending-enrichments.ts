import { Inject, Injectable } from '@nestjs/common';
import { Schema, type Connection, type Model } from 'mongoose';
import { STORE_CONNECTION } from '@tributary/store';

/** A contact scored without enrichment because the provider was down; retried with backoff until it answers. */
export interface PendingEnrichmentDoc {
  _id: string;
  workspaceId: string;
  email: string | null;
  attempts: number;
  nextAttemptAt: Date;
  createdAt: Date;
}

const pendingSchema = new Schema<PendingEnrichmentDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    email: { type: String, default: null },
    attempts: { type: Number, required: true },
    nextAttemptAt: { type: Date, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'enrichment_pending' },
);

export const ENRICHMENT_RETRY_POLICY = Symbol('ENRICHMENT_RETRY_POLICY');

export interface EnrichmentRetryPolicy {
  /** First retry after this long; doubles per attempt up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A claimed retry is someone else's again after this long (the claimer crashed). */
  leaseMs: number;
}

/**
 * The re-enrichment queue: a small collection of its own, so finding due contacts scans only the pending ones
 * (FerretDB scans for anything but `_id`), not every contact.
 */
@Injectable()
export class PendingEnrichments {
  private readonly model: Model<PendingEnrichmentDoc>;

  constructor(
    @Inject(STORE_CONNECTION) connection: Connection,
    @Inject(ENRICHMENT_RETRY_POLICY) private readonly policy: EnrichmentRetryPolicy,
  ) {
    this.model =
      connection.models['PendingEnrichment'] ??
      connection.model<PendingEnrichmentDoc>('PendingEnrichment', pendingSchema);
  }

  /** Queues a contact once; scheduling it again while it waits keeps its place and attempt count. */
  async schedule(input: { contactId: string; workspaceId: string; email: string | null }): Promise<void> {
    const now = Date.now();
    await this.model.updateOne(
      { _id: input.contactId },
      {
        $setOnInsert: {
          workspaceId: input.workspaceId,
          email: input.email,
          attempts: 0,
          nextAttemptAt: new Date(now + this.policy.baseDelayMs),
          createdAt: new Date(now),
        },
      },
      { upsert: true },
    );
  }

  /** Claims up to `limit` due contacts: each claim pushes its next attempt out by the lease, so replicas skip it. */
  async claimDue(limit: number, now = new Date()): Promise<PendingEnrichmentDoc[]> {
    const due = await this.model
      .find({ nextAttemptAt: { $lte: now } })
      .limit(limit)
      .lean();
    const claimed: PendingEnrichmentDoc[] = [];
    for (const entry of due) {
      const won = await this.model.updateOne(
        { _id: entry._id, nextAttemptAt: entry.nextAttemptAt },
        { $set: { nextAttemptAt: new Date(now.getTime() + this.policy.leaseMs) } },
      );
      if (won.modifiedCount === 1) claimed.push(entry);
    }
    return claimed;
  }

  async done(contactId: string): Promise<void> {
    await this.model.deleteOne({ _id: contactId });
  }

  /** Still down: try again later, exponentially later. */
  async retryLater(entry: PendingEnrichmentDoc, now = Date.now()): Promise<void> {
    const delay = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (entry.attempts + 1));
    await this.model.updateOne(
      { _id: entry._id },
      { $set: { nextAttemptAt: new Date(now + delay) }, $inc: { attempts: 1 } },
    );
  }

  async isPending(contactId: string): Promise<boolean> {
    return (await this.model.exists({ _id: contactId })) !== null;
  }
}

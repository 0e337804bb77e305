import { Inject, Injectable } from '@nestjs/common';
import type { AnyBulkWriteOperation, Model } from 'mongoose';
import type { MessageDelivery } from '@tributary/contracts';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import { normalAddress, SUPPRESSION_MODEL, type SuppressionDoc } from './audience-guards';
import { feedbackEffects } from './delivery-feedback';
import { MESSAGE_MODEL, type MessageDoc } from './engine.models';

/**
 * Applies providers' delivery feedback (`messages.deliveries`): suppressions of the workspace's addresses, and the
 * delivery state of the journey message it names. A batch costs two store commands. Every write is idempotent
 * (an insert-if-absent, a delete of one reason, a state that only moves up, a first-seen time), so a redelivered
 * batch changes nothing; a recipient's STOP and START share a partition and are applied in the order they came.
 */
@Injectable()
export class DeliveryFeedback {
  constructor(
    @Inject(MESSAGE_MODEL) private readonly messages: Model<MessageDoc>,
    @Inject(SUPPRESSION_MODEL) private readonly suppressions: Model<SuppressionDoc>,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  async apply(deliveries: readonly MessageDelivery[]): Promise<void> {
    const listOps: AnyBulkWriteOperation<SuppressionDoc>[] = [];
    const messageOps: AnyBulkWriteOperation<MessageDoc>[] = [];
    const changes: { feedback: string; recipient: string; change: string }[] = [];
    for (const delivery of deliveries) {
      const effects = feedbackEffects(delivery);
      const workspaceId = delivery.metadata.workspaceId;
      const at = new Date(delivery.metadata.occurredAt);
      if (effects.suppress) {
        const { channel, reason } = effects.suppress;
        const address = normalAddress(channel, delivery.address);
        const doc: SuppressionDoc = {
          _id: `${workspaceId}:${channel}:${address}`,
          workspaceId,
          channel,
          address,
          reason,
          createdAt: at,
        };
        listOps.push({
          updateOne: { filter: { _id: doc._id }, update: { $setOnInsert: doc }, upsert: true },
        });
        changes.push({
          feedback: delivery.event,
          recipient: delivery.maskedAddress,
          change: `suppressed: ${reason}`,
        });
      }
      if (effects.lift) {
        const { channel, reason } = effects.lift;
        const id = `${workspaceId}:${channel}:${normalAddress(channel, delivery.address)}`;
        // An admin's or a bounce's suppression is not the contact's to lift by texting START.
        listOps.push({ deleteOne: { filter: { _id: id, reason } } });
        changes.push({
          feedback: delivery.event,
          recipient: delivery.maskedAddress,
          change: `lifted: ${reason}`,
        });
      }
      if (!delivery.messageKey) continue;
      // The workspace in the filter: feedback verified for one workspace never touches another's messages.
      const message = { _id: delivery.messageKey, workspaceId };
      if (effects.seen)
        messageOps.push({
          updateOne: { filter: message, update: { $min: { [`feedback.${effects.seen}`]: at } } },
        });
      if (effects.status) {
        const { status, rank } = effects.status;
        messageOps.push({
          updateOne: {
            filter: {
              ...message,
              $or: [{ 'delivery.rank': { $exists: false } }, { 'delivery.rank': { $lt: rank } }],
            },
            update: { $set: { delivery: { status, rank, reason: delivery.reason, at } } },
          },
        });
      }
    }
    // Ordered: a STOP and a START of one number in one batch land in that order.
    if (listOps.length > 0) await this.suppressions.bulkWrite(listOps, { ordered: true });
    if (messageOps.length > 0) await this.messages.bulkWrite(messageOps, { ordered: false });
    for (const change of changes)
      this.logger.info({ event: 'delivery_feedback', ...change }, 'suppression list changed');
  }
}

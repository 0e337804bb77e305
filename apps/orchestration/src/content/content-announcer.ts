import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics } from '@tributary/contracts';
import { EventPublisher } from '@tributary/messaging';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import { isDuplicateKey } from '@tributary/store';
import { timerId } from '../engine/engine.models';
import {
  CONTENT_AUDIT_MODEL,
  CONTENT_ITEM_MODEL,
  CONTENT_TIMER_MODEL,
  type ContentAuditDoc,
  type ContentItemDoc,
  type ContentTimerDoc,
} from './content.models';

/** How long a step may wait unannounced before the publisher comes back for it (a failed or interrupted flush). */
export const ANNOUNCE_GRACE_MS = 5_000;

/**
 * Announces workflow steps: each write puts its steps in the item's outbox together with the state change, then
 * this puts them on `content.events` and in the audit trail and clears them. A step whose announcement failed stays
 * in the outbox and the item is woken again, so every step goes out (at least once, always with the same eventId).
 */
@Injectable()
export class ContentAnnouncer {
  constructor(
    @Inject(CONTENT_ITEM_MODEL) private readonly items: Model<ContentItemDoc>,
    @Inject(CONTENT_AUDIT_MODEL) private readonly audits: Model<ContentAuditDoc>,
    @Inject(CONTENT_TIMER_MODEL) private readonly timers: Model<ContentTimerDoc>,
    private readonly publisher: EventPublisher,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  /** Adds due-time entries ("look at this item then"); an entry that exists already is the same entry. */
  async addTimers(entries: readonly { at: Date; itemId: string }[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      await this.timers.insertMany(
        entries.map((e) => ({ _id: timerId(e.at.getTime(), e.itemId) })),
        { ordered: false },
      );
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
  }

  /** Makes the publisher look at the item by `at` at the latest (a later wake-up is brought forward). */
  async wakeBy(itemId: string, at: Date): Promise<void> {
    await this.addTimers([{ at, itemId }]);
    await this.items.updateOne({ _id: itemId }, { $min: { wakeAt: at } });
  }

  /** Announces the item's pending steps, oldest first; never throws (what failed is announced later). */
  async flush(itemId: string): Promise<void> {
    try {
      const item = await this.items.findById(itemId, { outbox: 1, workspaceId: 1, contentId: 1 }).lean();
      const entries = Object.entries(item?.outbox ?? {}).sort(([, a], [, b]) => a.seq - b.seq);
      if (!item || entries.length === 0) return;
      try {
        await this.audits.insertMany(
          entries.map(([eventId, { audit }]) => ({
            _id: eventId,
            workspaceId: item.workspaceId,
            contentId: item.contentId,
            at: new Date(audit.metadata.occurredAt),
            ...audit,
          })),
          { ordered: false },
        );
      } catch (error) {
        // A step recorded by an earlier, interrupted flush is the same record.
        if (!isDuplicateKey(error)) throw error;
      }
      await this.publisher.publishAll(
        entries.map(([, { event }]) => ({
          topic: Topics.ContentEvents,
          key: `${item.workspaceId}:${item.contentId}`,
          event,
        })),
      );
      await this.items.updateOne(
        { _id: itemId },
        { $unset: Object.fromEntries(entries.map(([eventId]) => [`outbox.${eventId}`, 1])) },
      );
    } catch (error) {
      this.logger.warn(
        { event: 'content-announce-failed', itemId, reason: (error as Error).message },
        'content steps not announced yet; the publisher retries',
      );
      await this.wakeBy(itemId, new Date(Date.now() + ANNOUNCE_GRACE_MS)).catch(() => undefined);
    }
  }
}

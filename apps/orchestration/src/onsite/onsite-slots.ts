import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Schema, type Model } from 'mongoose';
import { isDuplicateKey } from '@tributary/store';
import { modelProvider } from '../engine/engine.models';

/** A contact's content for one on-site slot; `_id` is `${workspaceId}:${slot}:${contactId}`. */
export interface OnsiteSlotDoc {
  _id: string;
  workspaceId: string;
  slot: string;
  contactId: string;
  content: string;
  /** The step visit that wrote it (its message key): a rerun of the same visit writes nothing new. */
  visitKey: string;
  journeyId: string;
  stepId: string;
  expiresAt: Date | null;
  updatedAt: Date;
}

const onsiteSlotSchema = new Schema<OnsiteSlotDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    slot: { type: String, required: true },
    contactId: { type: String, required: true },
    content: { type: String, required: true },
    visitKey: { type: String, required: true },
    journeyId: { type: String, required: true },
    stepId: { type: String, required: true },
    expiresAt: { type: Date, default: null },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'onsite_slots' },
);

export const ONSITE_SLOT_MODEL = Symbol('ONSITE_SLOT_MODEL');
export const onsiteSlotModelProviders = [modelProvider(ONSITE_SLOT_MODEL, 'OnsiteSlot', onsiteSlotSchema)];

export function onsiteSlotId(workspaceId: string, slot: string, contactId: string): string {
  return `${workspaceId}:${slot}:${contactId}`;
}

/** What a website reads for a slot. */
export interface ShownSlot {
  slot: string;
  content: string;
  expiresAt: string | null;
  /** A strong validator of content and expiry, for If-None-Match. */
  etag: string;
}

/** Who the site says the visitor is: one id or both (a userId is tried first). */
export type Visitor = { userId: string; anonymousId?: string } | { userId?: string; anonymousId: string };

/** On-site content per contact and slot: written by journeys' onsite steps, read by the workspace's website. */
@Injectable()
export class OnsiteSlots {
  constructor(@Inject(ONSITE_SLOT_MODEL) private readonly slots: Model<OnsiteSlotDoc>) {}

  /**
   * Stores the content for the contact; the same visit redelivered writes nothing (its first write stands, expiry
   * included), a later visit replaces it.
   */
  async store(entry: Omit<OnsiteSlotDoc, '_id' | 'updatedAt'>): Promise<void> {
    const _id = onsiteSlotId(entry.workspaceId, entry.slot, entry.contactId);
    try {
      await this.slots.updateOne(
        { _id, visitKey: { $ne: entry.visitKey } },
        { $set: { ...entry, updatedAt: new Date() } },
        { upsert: true },
      );
    } catch (error) {
      // The doc exists with this visit's key: the upsert's insert collided with it, which is the rerun case.
      if (!isDuplicateKey(error)) throw error;
    }
  }

  /** The visitor's unexpired content for the slot, or null; only this workspace's contacts are looked at. */
  async read(workspaceId: string, slot: string, visitor: Visitor, now: Date): Promise<ShownSlot | null> {
    for (const contactId of contactIdsOf(workspaceId, visitor)) {
      const doc = await this.slots.findById(onsiteSlotId(workspaceId, slot, contactId)).lean();
      if (!doc || doc.workspaceId !== workspaceId) continue;
      if (doc.expiresAt && doc.expiresAt.getTime() <= now.getTime()) continue;
      const expiresAt = doc.expiresAt ? doc.expiresAt.toISOString() : null;
      const etag = `"${createHash('sha256')
        .update(`${doc.content}\u0000${expiresAt ?? ''}`)
        .digest('base64url')
        .slice(0, 27)}"`;
      return { slot, content: doc.content, expiresAt, etag };
    }
    return null;
  }
}

/**
 * The contacts a visitor may be, as apps/leads identity names a contact never merged: `${workspaceId}:${id}` of its
 * userId, then of its anonymousId (a visitor not identified yet is still its anonymousId's contact). A contact merged
 * under another id (alias, email match) is not found. Point reads only: this answers every page view.
 */
export function contactIdsOf(workspaceId: string, visitor: Visitor): string[] {
  return [visitor.userId, visitor.anonymousId]
    .filter((id): id is string => id !== undefined)
    .map((id) => `${workspaceId}:${id}`);
}

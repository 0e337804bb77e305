import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import type { TrackingEvent } from '@tributary/contracts';
import { ContactMerger } from './contact-merger.service';
import { emailMatch, planIdentity, refForId, type IdentityOptions, type IdentityRef } from './identity-rules';
import { IDENTITY_MODEL, type IdentityDoc } from './identity.model';

export const IDENTITY_OPTIONS = Symbol('IDENTITY_OPTIONS');

/**
 * Finds the one contact an event is about within its workspace, applying the identity links the event asserts
 * (identify, alias, email) first, so later events for any merged id land on the surviving contact.
 */
@Injectable()
export class IdentityResolver {
  constructor(
    @Inject(IDENTITY_MODEL) private readonly identities: Model<IdentityDoc>,
    @Inject(IDENTITY_OPTIONS) private readonly options: IdentityOptions,
    private readonly merger: ContactMerger,
  ) {}

  /** The contact to score `event` on, after the merges it implies. */
  async resolveEvent(event: TrackingEvent): Promise<string> {
    const plan = planIdentity(event, this.options);
    const ws = plan.workspaceId;
    let subject = (await this.resolve(ws, plan.subject)).contactId;
    for (const link of plan.merges) {
      const from = await this.resolve(ws, link.from);
      if (from.contactId !== subject)
        await this.merger.merge({
          mergedContactId: from.contactId,
          survivingContactId: subject,
          reason: link.reason,
          cause: event.metadata,
        });
      // Also binds ids never scored (identify before the first page view lands), so their events follow.
      if (!from.indexed || from.contactId !== subject) await this.bind(ws, link.from.keys, subject);
    }
    if (plan.emailKey) {
      const owner = await this.resolveKey(plan.emailKey);
      const match = emailMatch(owner, subject);
      if (match.action === 'claim') await this.bind(ws, [plan.emailKey], subject);
      if (match.action === 'merge') {
        await this.merger.merge({
          mergedContactId: match.merged,
          survivingContactId: match.survivor,
          reason: 'email',
          cause: event.metadata,
        });
        await this.bind(ws, plan.subject.keys, match.survivor);
        subject = match.survivor;
      }
    }
    return subject;
  }

  /** The live contact of an id given from outside (a userId, else an anonymousId). */
  async resolveId(workspaceId: string, id: string): Promise<string> {
    return (await this.resolve(workspaceId, refForId(workspaceId, id))).contactId;
  }

  private async resolve(
    workspaceId: string,
    ref: IdentityRef,
  ): Promise<{ contactId: string; indexed: boolean }> {
    let foundKey: string | null = null;
    let start = ref.fallbackContactId;
    for (const key of ref.keys) {
      const entry = await this.identities.findById(key).lean();
      if (entry) {
        foundKey = key;
        start = entry.contactId;
        break;
      }
    }
    const contactId = await this.merger.survivorOf(start);
    const compressKey = foundKey ?? ref.keys[0];
    // Path compression: the next event for this id skips the hops.
    if (contactId !== start && compressKey) await this.bind(workspaceId, [compressKey], contactId);
    return { contactId, indexed: foundKey !== null && contactId === start };
  }

  private async resolveKey(key: string): Promise<string | null> {
    const entry = await this.identities.findById(key).lean();
    return entry ? this.merger.survivorOf(entry.contactId) : null;
  }

  private async bind(workspaceId: string, keys: readonly string[], contactId: string): Promise<void> {
    for (const key of keys)
      await this.identities.updateOne(
        { _id: key },
        { $set: { workspaceId, contactId, updatedAt: new Date() } },
        { upsert: true },
      );
  }
}

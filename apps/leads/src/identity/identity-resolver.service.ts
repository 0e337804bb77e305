import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import type { EventMetadata, TrackingEvent } from '@tributary/contracts';
import { ContactMerger } from './contact-merger.service';
import {
  defaultContactId,
  emailMatch,
  identityKey,
  normalizeEmail,
  planIdentity,
  refForId,
  type IdentityOptions,
  type IdentityRef,
} from './identity-rules';
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

  /**
   * The contact a captured lead is: the one that owns its email, else the one its source record (e.g. a HubSpot
   * contact id) was captured as, else a new one. Binds both keys, so later identify calls with that email and CRM
   * changes of that record land on it; when email and record point at two contacts they merge (email survives).
   */
  async resolveLead(input: {
    workspaceId: string;
    email: string | null;
    source: string;
    externalId: string | null;
    leadId: string;
    cause: EventMetadata;
  }): Promise<string> {
    const ws = input.workspaceId;
    const email = normalizeEmail(input.email, this.options);
    const emailKey = email ? identityKey(ws, 'email', email) : null;
    const externalKey = input.externalId
      ? identityKey(ws, 'ext', `${input.source}:${input.externalId}`)
      : null;
    const byEmail = emailKey ? await this.resolveKey(emailKey) : null;
    const byRecord = externalKey ? await this.resolveKey(externalKey) : null;
    const contactId = byEmail ?? byRecord ?? defaultContactId(ws, `lead:${input.leadId}`);
    if (byEmail && byRecord && byEmail !== byRecord)
      await this.merger.merge({
        mergedContactId: byRecord,
        survivingContactId: byEmail,
        reason: 'email',
        cause: input.cause,
      });
    const unbound = [
      ...(emailKey && byEmail !== contactId ? [emailKey] : []),
      ...(externalKey && byRecord !== contactId ? [externalKey] : []),
    ];
    await this.bind(ws, unbound, contactId);
    return contactId;
  }

  /** The live contact that owns a (normalised) email, if any. */
  async findByEmail(workspaceId: string, email: string): Promise<string | null> {
    const normalized = normalizeEmail(email, this.options);
    return normalized ? this.resolveKey(identityKey(workspaceId, 'email', normalized)) : null;
  }

  /** The live contact a source system's record was captured as (`hubspot`, `1246965`), if any. */
  async findByExternalId(workspaceId: string, system: string, externalId: string): Promise<string | null> {
    return this.resolveKey(identityKey(workspaceId, 'ext', `${system}:${externalId}`));
  }

  /** Every identity key that resolves to `contactId` directly (the contacts API; scans, so not on a hot path). */
  async keysOf(workspaceId: string, contactId: string): Promise<string[]> {
    const entries = await this.identities.find({ workspaceId, contactId }, { _id: 1 }).lean();
    return entries.map((entry) => entry._id).sort();
  }

  /**
   * The live contact an API caller names: a contact id (`<ws>:...`), `email:<address>`, or a userId / anonymousId.
   * Merged contacts answer with their survivor; null when an email is unknown.
   */
  async resolveContactKey(workspaceId: string, contactKey: string): Promise<string | null> {
    if (contactKey.startsWith(`${workspaceId}:`)) return this.merger.survivorOf(contactKey);
    if (contactKey.startsWith('email:'))
      return this.findByEmail(workspaceId, contactKey.slice('email:'.length));
    return this.resolveId(workspaceId, contactKey);
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

import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { LRUCache } from 'lru-cache';
import { findByIds, insertClaims, isDuplicateKey, type BatchCollection } from '@tributary/store';
import { IDENTITY_MODEL, type IdentityDoc } from '../identity/identity.model';
import type { LifecycleStage } from '../lifecycle/lifecycle';
import type { ContactAttributes } from './contact-attributes';
import {
  CONTACT_MODEL,
  MAX_FACTS,
  newContact,
  packFact,
  type ContactDoc,
  type EnrichmentState,
  type StageChange,
  type StoredFact,
} from './contact.model';

/** What an event or a source told us about a contact: at most one fact, attributes, a source, an enrichment. */
export interface ContactChange {
  contactId: string;
  workspaceId: string;
  fact?: StoredFact;
  attributes?: ContactAttributes;
  source?: string;
  enrichment?: { state: EnrichmentState; sources: string[]; failure?: string };
}

/** The score fields of a contact, as one scoring computed them. */
export type ScoreFields = Pick<
  ContactDoc,
  'score' | 'fitScore' | 'engagementScore' | 'breakdown' | 'modelVersion'
>;

/**
 * One contact's write in a batch, `contact` being the document as it will be stored: a new contact, one left as it
 * is, or `set` applied to the revision read (`readRevision`) with `newFacts` more events counted.
 */
export type ContactWrite =
  | { kind: 'insert'; contact: ContactDoc }
  | { kind: 'unchanged'; contact: ContactDoc }
  | {
      kind: 'update';
      contact: ContactDoc;
      readRevision: number;
      set: Partial<ContactDoc>;
      newFacts: number;
    };

type ContactUpdate = Extract<ContactWrite, { kind: 'update' }>;

/** A new contact with the identity keys that name it. */
export interface NewContact {
  identities: IdentityDoc[];
  contact: ContactDoc;
}

/**
 * Contacts this replica wrote last, reused by the next batch instead of a read. Safe because every batch write is
 * conditional on the revision read (and on the contact not being merged): a stale copy only costs a re-read.
 */
const RECENT_CONTACTS = 20_000;
/**
 * And at most this much of them: a contact with its MAX_FACTS newest facts takes tens of KB, so 20,000 of those would
 * be over a GB in a service whose pod gives its heap 192 MB; 24 MB holds 20,000 contacts without facts.
 */
const RECENT_CONTACT_BYTES = 24 * 1024 * 1024;

// Documents written by older versions may lack a list: sizing must never throw inside the cache.
const lengthOf = (list: unknown): number => (Array.isArray(list) ? list.length : 0);

/** A contact's rough heap size: a packed fact is a ~100-character string, and the facts dominate. */
export function contactBytes(contact: ContactDoc): number {
  return (
    1_024 +
    lengthOf(contact.facts) * 250 +
    lengthOf(contact.factIds) * 90 +
    lengthOf(contact.breakdown) * 150 +
    lengthOf(contact.stageHistory) * 100
  );
}

/** `attributes.title` style paths, so a patch sets fields without replacing what other sources told us. */
function dotted(attributes: ContactAttributes | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(attributes ?? {}))
    if (value !== undefined) out[`attributes.${name}`] = value;
  return out;
}

/** The cache of recently written contacts: bounded by count and by their estimated size. */
export function recentContacts(): LRUCache<string, ContactDoc> {
  return new LRUCache<string, ContactDoc>({
    max: RECENT_CONTACTS,
    maxSize: RECENT_CONTACT_BYTES,
    sizeCalculation: contactBytes,
  });
}

/**
 * The contacts and the identity keys the lead pipeline writes, and every store-specific choice about them: which
 * writes are conditional on what, batch reads and inserts, and the cache of recently written contacts.
 */
@Injectable()
export class ContactRepository {
  private readonly recent = recentContacts();

  constructor(
    @Inject(CONTACT_MODEL) private readonly contacts: Model<ContactDoc>,
    @Inject(IDENTITY_MODEL) private readonly identityIndex: Model<IdentityDoc>,
  ) {}

  /** The identity index's driver collection, for the batch reads and inserts. */
  private get identityCollection(): BatchCollection<IdentityDoc> {
    return this.identityIndex.collection as unknown as BatchCollection<IdentityDoc>;
  }

  /** The contacts' driver collection, for the batch reads and inserts. */
  private get contactCollection(): BatchCollection<ContactDoc> {
    return this.contacts.collection as unknown as BatchCollection<ContactDoc>;
  }

  async read(contactId: string): Promise<ContactDoc | null> {
    return this.contacts.findById(contactId).lean<ContactDoc>();
  }

  /** A contact of the workspace, or null (a contact id of another workspace names nobody). */
  async readInWorkspace(workspaceId: string, contactId: string): Promise<ContactDoc | null> {
    return this.contacts.findOne({ _id: contactId, workspaceId }).lean<ContactDoc>();
  }

  /** Contacts by id: those this replica wrote last from memory, the others in one `$in` read. */
  async readMany(contactIds: Iterable<string>): Promise<Map<string, ContactDoc>> {
    const ids = [...contactIds];
    const read = await findByIds(
      this.contactCollection,
      ids.filter((contactId) => !this.recent.has(contactId)),
    );
    const found = new Map<string, ContactDoc>();
    for (const contactId of ids) {
      const contact = this.recent.get(contactId) ?? read.get(contactId);
      if (contact) found.set(contactId, contact);
    }
    return found;
  }

  /** How many contacts of the workspace were not merged away. */
  async countLive(workspaceId: string): Promise<number> {
    return this.contacts.countDocuments({ workspaceId, mergedInto: { $exists: false } });
  }

  /** `countLive`'s contacts, one at a time in id order. */
  async *eachLive(workspaceId: string): AsyncGenerator<ContactDoc> {
    const filter = { workspaceId, mergedInto: { $exists: false } };
    for await (const contact of this.contacts.find(filter).sort({ _id: 1 }).lean<ContactDoc[]>().cursor())
      yield contact;
  }

  /** Which identity keys some contact owns, in one `$in` read: key → its contact id. */
  async ownersOf(keys: Iterable<string>): Promise<ReadonlyMap<string, Pick<IdentityDoc, 'contactId'>>> {
    return findByIds(this.identityCollection, keys, { contactId: 1 });
  }

  /** Which of these identity keys are bound already, in one `$in` read (none for no keys). */
  async boundKeys(keys: readonly string[]): Promise<ReadonlySet<string>> {
    if (keys.length === 0) return new Set();
    return new Set((await findByIds(this.identityCollection, keys, { _id: 1 })).keys());
  }

  /** Inserts a new contact and remembers it; false when it exists already (a redelivery or another writer). */
  async insert(contact: ContactDoc): Promise<boolean> {
    try {
      await this.contacts.collection.insertOne(contact as never);
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      return false;
    }
    this.recent.set(contact._id, contact);
    return true;
  }

  /**
   * Creates new contacts with their identity keys: the keys first (one `insertMany`), then the contacts whose keys
   * were all free (another). Returns the ones created; a key it did bind points at a contact the caller then creates.
   */
  async createAll<T extends NewContact>(items: readonly T[]): Promise<T[]> {
    const entries = items.flatMap((item) => item.identities.map((entry) => ({ entry, item })));
    const taken = await insertClaims(
      this.identityCollection,
      entries.map(({ entry }) => entry),
    );
    const blocked = new Set(entries.filter((_, index) => taken.has(index)).map(({ item }) => item));
    const free = items.filter((item) => !blocked.has(item));
    const existed = await insertClaims(
      this.contactCollection,
      free.map(({ contact }) => contact),
    );
    const created = free.filter((_, index) => !existed.has(index));
    for (const { contact } of created) this.recent.set(contact._id, contact);
    return created;
  }

  /**
   * Records a change. With a fact: insert the contact if it is new, else append the fact unless it is there already
   * (a redelivery leaves the contact as it is). Insert first: the store fails a duplicate insert at once but scans
   * for a conditional update that matches nothing.
   */
  async record(change: ContactChange): Promise<ContactDoc> {
    const now = new Date();
    const { fact } = change;
    const enrichment = change.enrichment
      ? { ...change.enrichment, attempts: 0 }
      : { state: 'none' as const, sources: [], attempts: 0 };
    if (fact) {
      const created = newContact(change.contactId, change.workspaceId, now, {
        eventCount: 1,
        lastRule: fact.name ?? fact.callType,
        attributes: Object.fromEntries(
          Object.entries(change.attributes ?? {}).filter(([, value]) => value !== undefined),
        ),
        facts: [packFact(fact)],
        factIds: [fact.eventId],
        enrichment,
        sources: change.source ? [change.source] : [],
      });
      if (await this.insert(created)) return created;
    }
    const set: Record<string, unknown> = {
      workspaceId: change.workspaceId,
      updatedAt: now,
      ...dotted(change.attributes),
    };
    if (change.enrichment) set['enrichment'] = enrichment;
    if (fact) set['lastRule'] = fact.name ?? fact.callType;
    const update: Record<string, unknown> = { $set: set, $inc: { revision: 1, eventCount: fact ? 1 : 0 } };
    if (fact)
      update['$push'] = {
        facts: { $each: [packFact(fact)], $slice: -MAX_FACTS },
        factIds: { $each: [fact.eventId], $slice: -MAX_FACTS },
      };
    if (change.source) update['$addToSet'] = { sources: change.source };
    const filter = fact
      ? { _id: change.contactId, factIds: { $ne: fact.eventId } }
      : { _id: change.contactId };
    const doc = await this.contacts.collection.findOneAndUpdate(filter as never, update, {
      returnDocument: 'after',
    });
    if (doc) return this.boundFacts(doc as unknown as ContactDoc);
    // The fact was recorded before (redelivery), or a profile change for a contact that does not exist.
    const existing = await this.read(change.contactId);
    if (!existing) throw new Error(`contact ${change.contactId} does not exist`);
    return existing;
  }

  /**
   * The newest MAX_FACTS facts of a contact the one-event path grew. `$slice` bounds a `$push` on MongoDB, but
   * FerretDB ignores it: trim what is above the bound, unless a newer change landed (its writer trims then).
   */
  private async boundFacts(doc: ContactDoc): Promise<ContactDoc> {
    if (doc.facts.length <= MAX_FACTS && doc.factIds.length <= MAX_FACTS) return doc;
    const facts = doc.facts.slice(-MAX_FACTS);
    const factIds = doc.factIds.slice(-MAX_FACTS);
    await this.contacts.collection.updateOne({ _id: doc._id, revision: doc.revision } as never, {
      $set: { facts, factIds },
    });
    return { ...doc, facts, factIds };
  }

  /** Stores a score computed on `revision`; false when a newer change landed meanwhile. */
  async saveScore(contactId: string, revision: number, fields: ScoreFields): Promise<boolean> {
    // findAndModify, not update: FerretDB answers the same conditional write several times faster that way.
    const written = await this.contacts.collection.findOneAndUpdate({ _id: contactId, revision } as never, {
      $set: { ...fields, scoredRevision: revision },
    });
    return Boolean(written);
  }

  /** Moves the stage to `change.to` and records the move, if the stage is still `from`; false otherwise. */
  async moveStage(contactId: string, from: LifecycleStage | null, change: StageChange): Promise<boolean> {
    const moved = await this.contacts.collection.findOneAndUpdate(
      { _id: contactId, stage: from } as never,
      { $set: { stage: change.to, updatedAt: change.at }, $push: { stageHistory: change } } as never,
      { returnDocument: 'after' },
    );
    return Boolean(moved);
  }

  /**
   * Writes a batch: new contacts in one `insertMany`, updates in one unordered `bulkWrite`, each conditional on the
   * revision read and on the contact not being merged. When some matched nothing, the contacts are read back to tell
   * which landed. Returns, per write, whether it landed; the cache keeps those and forgets the others.
   */
  async writeBatch(writes: readonly ContactWrite[]): Promise<boolean[]> {
    const inserts: ContactWrite[] = [];
    const updates: ContactUpdate[] = [];
    for (const write of writes)
      if (write.kind === 'insert') inserts.push(write);
      else if (write.kind === 'update') updates.push(write);
    const taken = await insertClaims(
      this.contactCollection,
      inserts.map((write) => write.contact),
    );
    let landed = (_write: ContactUpdate): boolean => true;
    if (updates.length > 0) {
      const result = await this.contacts.collection.bulkWrite(
        updates.map((write) => ({
          updateOne: {
            filter: {
              _id: write.contact._id,
              revision: write.readRevision,
              mergedInto: { $exists: false },
            } as never,
            update:
              write.newFacts > 0
                ? { $set: write.set, $inc: { revision: 1, eventCount: write.newFacts } }
                : { $set: write.set },
          },
        })),
        { ordered: false },
      );
      if (result.matchedCount < updates.length) {
        const current = await findByIds(
          this.contactCollection,
          updates.map((write) => write.contact._id),
        );
        landed = (write) => {
          const stored = current.get(write.contact._id);
          const factIds = new Set(stored?.factIds ?? []);
          return (
            stored !== undefined &&
            stored.revision === write.contact.revision &&
            write.contact.factIds.every((id) => factIds.has(id))
          );
        };
      }
    }
    const missed = new Set(inserts.filter((_, index) => taken.has(index)));
    return writes.map((write) => {
      const wrote =
        write.kind === 'unchanged' || (write.kind === 'insert' ? !missed.has(write) : landed(write));
      if (wrote) this.recent.set(write.contact._id, write.contact);
      else this.recent.delete(write.contact._id);
      return wrote;
    });
  }
}

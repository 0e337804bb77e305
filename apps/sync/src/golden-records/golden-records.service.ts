import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import type { AnyBulkWriteOperation, Model } from 'mongoose';
import {
  Topics,
  type ContactsMerged,
  type EventMetadata,
  type LeadScored,
  type RecordChanged,
} from '@tributary/contracts';
import {
  EventPublisher,
  causedMetadata,
  fastUuidV5,
  originMetadata,
  type OutgoingEvent,
} from '@tributary/messaging';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import { isDuplicateKey } from '@tributary/store';
import { CONNECTOR_REGISTRY, type ConnectorRegistry } from '../connectors/connector-registry';
import type { ConnectorObject } from '../connectors/connector';
import {
  GOLDEN_HISTORY_MODEL,
  GOLDEN_KEY_MODEL,
  GOLDEN_RECORD_MODEL,
  goldenKeyOf,
  type GoldenChangeCause,
  type GoldenEntity,
  type GoldenFieldChange,
  type GoldenHistoryDoc,
  type GoldenKeyDoc,
  type GoldenLink,
  type GoldenRecordDoc,
  type HeldValue,
  type PendingAnnouncement,
} from './golden-record.model';
import { validateRecord } from './record-validation';
import { SurvivorshipRulesStore } from './survivorship-rules.store';
import {
  MANUAL_SOURCE,
  applyChange,
  emptyFieldState,
  mergeLock,
  mergeStates,
  survivingValue,
  type FieldState,
  type SurvivorshipRules,
} from './survivorship';

/** The lead pipeline as a source of golden-record values: its contacts' profile attributes. */
export const LEADS_SOURCE = 'leads';

/** Lead profile attributes (LeadScored.attributes) that are golden contact fields, by the same name. */
const LEAD_FIELDS = ['email', 'firstName', 'lastName', 'phone', 'company', 'title', 'country', 'industry'];

/** A write outbound sync made to a system's record. */
export interface WrittenRecord {
  workspaceId: string;
  entity: GoldenEntity;
  system: string;
  externalId: string;
  goldenId: string;
  /** The vendor fields written, with the values written. */
  fields: Record<string, string | null>;
  /** The vendor's modification time of the write. */
  at: number;
  /** The write created the record. */
  created: boolean;
}

/** A source's change of one golden record, whatever it came as. */
export interface SourceChange {
  metadata: EventMetadata;
  entity: GoldenEntity;
  /** The source: a connector kind (hubspot), `leads` or `manual`. */
  system: string;
  /** The source's record (null for manual changes). */
  externalId: string | null;
  /** The golden record, when the caller knows it (manual changes). */
  goldenId?: string;
  /** Canonical field values, and the source's own field each came from (for its held-value hash). */
  values: { field: string; value: string | null; sourceField: string }[];
  sourceAt: number;
  cause: GoldenChangeCause;
  locks?: { field: string; locked: boolean }[];
}

const MAX_ATTEMPTS = 6;

/**
 * Golden records: every source's changes (vendor records, the lead pipeline's profiles, values set by hand) taken in
 * by survivorship, with the changes announced on `golden.records.changed` and conflicts on `golden.records.conflicts`.
 *
 * A batch costs a handful of store commands whatever its size: one read of the keys (which golden record a source's
 * record is, and the values last seen from it or written to it), one read of the records, one bulk write of each, and
 * the announcements. Records are written with their version as a condition; a record another replica changed in the
 * meantime is computed again. What a change announces is written with the record (its outbox), published, kept in the
 * history and only then cleared: a crash anywhere repeats the announcement with the same event id, never loses it.
 */
@Injectable()
export class GoldenRecords {
  constructor(
    @Inject(GOLDEN_RECORD_MODEL) private readonly records: Model<GoldenRecordDoc>,
    @Inject(GOLDEN_KEY_MODEL) private readonly keys: Model<GoldenKeyDoc>,
    @Inject(GOLDEN_HISTORY_MODEL) private readonly history: Model<GoldenHistoryDoc>,
    @Inject(CONNECTOR_REGISTRY) private readonly registry: ConnectorRegistry,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    private readonly rules: SurvivorshipRulesStore,
    private readonly publisher: EventPublisher,
  ) {}

  /** Field values dropped because they were our own writes coming back (since start; for metrics and the bench). */
  echoesDropped = 0;

  /**
   * Vendor record changes (change capture and webhooks): checked against the connector's fields (a bad record goes to
   * `sync.records.rejected` whole, the rest go on), mapped to golden fields, echoes of our own writes dropped.
   */
  async onRecordsChanged(records: readonly RecordChanged[]): Promise<void> {
    const changes: SourceChange[] = [];
    const rejected: OutgoingEvent<typeof Topics.SyncRecordsRejected>[] = [];
    for (const record of records) {
      const object = this.objectOf(record);
      if (!object) continue;
      if (record.operation === 'delete') continue;
      const raw = parseFields(record.fieldsJson);
      const { values, problems } = validateRecord(object, raw ?? {}, record.operation === 'create');
      if (!raw) problems.unshift({ field: 'fieldsJson', reason: 'not a JSON object' });
      const [first] = problems;
      if (first) {
        rejected.push(rejection(record, first, problems));
        continue;
      }
      changes.push({
        metadata: record.metadata,
        entity: object.entity,
        system: record.system,
        externalId: record.externalId,
        values: Object.entries(values).flatMap(([name, value]) => {
          const field = object.fields[name]?.canonical;
          return field ? [{ field, value: normalized(field, value), sourceField: name }] : [];
        }),
        sourceAt: record.changedAt,
        cause: 'source_change',
      });
    }
    if (rejected.length > 0) {
      await this.publisher.publishAll(rejected);
      this.logger.warn(
        { rejected: rejected.length, of: records.length },
        'record changes refused at the boundary went to sync.records.rejected',
      );
    }
    await this.apply(changes);
  }

  /** The lead pipeline's profile of each scored contact: a source like any other, keyed by its contact id. */
  async onLeadProfiles(leads: readonly LeadScored[]): Promise<void> {
    await this.apply(
      leads.map((lead) => ({
        metadata: lead.metadata,
        entity: 'contact',
        system: LEADS_SOURCE,
        externalId: lead.contactId,
        values: LEAD_FIELDS.filter((field) => lead.attributes[field] !== undefined).map((field) => ({
          field,
          value: normalized(field, lead.attributes[field] ?? null),
          sourceField: field,
        })),
        sourceAt: lead.metadata.occurredAt,
        cause: 'source_change',
      })),
    );
  }

  /** A value set by hand through the API, and optionally the field's lock. */
  async setManually(
    metadata: EventMetadata,
    goldenId: string,
    entity: GoldenEntity,
    values: { field: string; value?: string | null; locked?: boolean }[],
  ): Promise<void> {
    await this.apply([
      {
        metadata,
        entity,
        system: MANUAL_SOURCE,
        externalId: null,
        goldenId,
        values: values.flatMap((v) =>
          v.value === undefined ? [] : [{ field: v.field, value: v.value, sourceField: v.field }],
        ),
        locks: values.flatMap((v) => (v.locked === undefined ? [] : [{ field: v.field, locked: v.locked }])),
        sourceAt: metadata.occurredAt,
        cause: 'manual',
      },
    ]);
  }

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
      await this.fold(merge.metadata, await this.resolve(from), await this.resolve(into));
    }
  }

  /** The record a golden id now stands for (following merges). */
  async resolve(goldenId: string): Promise<string> {
    let id = goldenId;
    for (let hop = 0; hop < 8; hop += 1) {
      const doc = await this.records.findById(id, { mergedInto: 1 }).lean();
      if (!doc?.mergedInto) return id;
      id = doc.mergedInto;
    }
    return id;
  }

  /** Folds golden record `fromId` into `intoId`. */
  private async fold(metadata: EventMetadata, fromId: string, intoId: string): Promise<void> {
    if (fromId === intoId) return;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const docs = await this.records.find({ _id: { $in: [fromId, intoId] } }).lean();
      const from = docs.find((d) => d._id === fromId);
      const into = docs.find((d) => d._id === intoId);
      if (!from || !into) return;
      if (from.mergedInto === intoId) return this.announce([into]);
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
      if (merged) await this.announce([merged]);
      return;
    }
    throw new Error(`golden records ${fromId} and ${intoId} kept changing; the merge will be retried`);
  }

  /** Takes source changes into their golden records; records changed concurrently are computed again. */
  async apply(changes: readonly SourceChange[]): Promise<void> {
    let pendingChanges = changes.filter((c) => c.values.length > 0 || (c.locks?.length ?? 0) > 0);
    for (let attempt = 1; pendingChanges.length > 0; attempt += 1) {
      if (attempt > MAX_ATTEMPTS)
        throw new Error(`${pendingChanges.length} golden-record changes kept meeting concurrent writes`);
      pendingChanges = await this.attempt(pendingChanges);
    }
  }

  /** One pass: answers the changes whose records another writer changed first (to compute again). */
  private async attempt(changes: readonly SourceChange[]): Promise<SourceChange[]> {
    const keyed = changes.map((change) => ({ change, keys: keysOf(change) }));
    const keyDocs = new Map(
      (await this.keys.find({ _id: { $in: unique(keyed.flatMap((k) => k.keys.all)) } }).lean()).map((k) => [
        k._id,
        k,
      ]),
    );
    const goldenOf = new Map([...keyDocs.values()].map((k) => [k._id, k.goldenId]));
    const newKeys = new Map<string, { workspaceId: string; goldenId: string }>();
    const minted = new Set<string>();
    const assigned = keyed.map(({ change, keys }) => {
      const known =
        change.goldenId ??
        (keys.link ? goldenOf.get(keys.link) : undefined) ??
        keys.match.map((k) => goldenOf.get(k)).find((id) => id !== undefined);
      const goldenId =
        known ??
        fastUuidV5(
          `golden/${change.metadata.workspaceId}/${change.entity}/${keys.link ?? keys.all[0] ?? ''}`,
        );
      if (!known) minted.add(goldenId);
      for (const key of keys.all)
        if (!goldenOf.has(key)) {
          goldenOf.set(key, goldenId);
          newKeys.set(key, { workspaceId: change.metadata.workspaceId, goldenId });
        }
      return { change, keys, goldenId };
    });
    if (newKeys.size > 0) await this.claim(newKeys, assigned, minted);

    const loaded = await this.load(unique(assigned.map((a) => a.goldenId)));
    const working = new Map<string, GoldenRecordDoc>();
    const baseVersion = new Map<string, number | null>();
    const heldUpdates = new Map<string, Record<string, HeldValue>>();
    const heldOwners = new Map<string, string>();
    const now = new Date();
    for (const entry of assigned) {
      const { change, keys } = entry;
      const goldenId = loaded.redirect.get(entry.goldenId) ?? entry.goldenId;
      let doc = working.get(goldenId);
      if (!doc) {
        const stored = loaded.docs.get(goldenId);
        baseVersion.set(goldenId, stored ? stored.version : null);
        doc = stored
          ? { ...stored, outbox: [...stored.outbox] }
          : newRecord(goldenId, change.metadata.workspaceId, change.entity, now);
        working.set(goldenId, doc);
      }
      if (doc.erasedAt || doc.workspaceId !== change.metadata.workspaceId) continue;
      // A value the source holds already (a restatement) or one we wrote to it (an echo) is no change from it.
      const held = keys.link ? keyDocs.get(keys.link)?.held : undefined;
      const heldNow = { ...(held ?? {}), ...(keys.link ? heldUpdates.get(keys.link) : {}) };
      const fresh = change.values.filter((v) => heldNow[v.sourceField]?.hash !== hashOf(v.value));
      this.echoesDropped += change.values.filter(
        (v) => heldNow[v.sourceField]?.written && heldNow[v.sourceField]?.hash === hashOf(v.value),
      ).length;
      if (keys.link && change.system !== MANUAL_SOURCE) {
        const seen = { ...(heldUpdates.get(keys.link) ?? {}) };
        for (const v of fresh)
          seen[v.sourceField] = { hash: hashOf(v.value), written: false, at: change.sourceAt };
        heldUpdates.set(keys.link, seen);
        heldOwners.set(keys.link, goldenId);
      }
      const rules = await this.rules.of(doc.workspaceId, doc.entity);
      let fields = doc.fields;
      for (const lock of change.locks ?? [])
        fields = {
          ...fields,
          [lock.field]: mergeLock(fields[lock.field] ?? emptyFieldState(), {
            locked: lock.locked,
            at: change.sourceAt,
          }),
        };
      const applied = applyChange(
        rules,
        fields,
        fresh.map((v) => ({
          field: v.field,
          value: v.value,
          source: change.system,
          sourceAt: change.sourceAt,
          eventId: change.metadata.eventId,
        })),
      );
      const before = doc.values;
      const next = withFields(rules, applied.fields);
      const link = change.externalId && change.system !== MANUAL_SOURCE ? change : null;
      const linkAdded =
        link !== null && !doc.links.some((l) => l.system === link.system && l.externalId === link.externalId);
      const links =
        linkAdded && link
          ? [...doc.links, { system: link.system, externalId: link.externalId ?? '' }]
          : doc.links;
      const changesNow = changesBetween(before, next);
      const announced = changesNow.length > 0 || applied.conflicts.length > 0 || linkAdded;
      const version = announced ? doc.version + 1 : doc.version;
      doc = {
        ...doc,
        ...next,
        fields: applied.fields,
        links,
        version,
        updatedAt: now,
        outbox: announced
          ? [
              ...doc.outbox,
              pending(
                change.metadata,
                fastUuidV5(`golden/${goldenId}/${change.metadata.eventId}`),
                change.cause,
                change.system,
                change.externalId,
                changesNow,
                applied.conflicts,
                version,
                null,
              ),
            ]
          : doc.outbox,
      };
      working.set(goldenId, doc);
    }

    const token = randomUUID();
    const writes: { id: string; op: AnyBulkWriteOperation<GoldenRecordDoc> }[] = [];
    for (const [goldenId, doc] of working) {
      const base = baseVersion.get(goldenId);
      if (base === doc.version && doc.outbox.length === (loaded.docs.get(goldenId)?.outbox.length ?? 0))
        continue;
      const { _id, ...rest } = doc;
      writes.push({
        id: _id,
        op:
          base === null || base === undefined
            ? { insertOne: { document: { ...doc, lastWrite: token } } }
            : {
                updateOne: {
                  filter: { _id, version: base },
                  update: { $set: { ...rest, lastWrite: token } },
                },
              },
      });
    }
    const failed = await this.writeRecords(writes, token);
    const retry = new Set(failed);
    // What a record's source was seen to hold counts only once the record's write stood (a retry must see it again).
    const heldWrites = [...heldUpdates].filter(([key]) => !retry.has(heldOwners.get(key) ?? ''));
    if (heldWrites.length > 0)
      await this.keys.bulkWrite(
        heldWrites.flatMap(([key, held]) =>
          Object.keys(held).length === 0
            ? []
            : [
                {
                  updateOne: {
                    filter: { _id: key },
                    update: {
                      $set: Object.fromEntries(Object.entries(held).map(([f, v]) => [`held.${f}`, v])),
                    },
                  },
                },
              ],
        ),
        { ordered: false },
      );
    await this.announce([...working.values()].filter((doc) => !retry.has(doc._id) && doc.outbox.length > 0));
    return assigned
      .filter((a) => retry.has(loaded.redirect.get(a.goldenId) ?? a.goldenId))
      .map((a) => a.change);
  }

  /**
   * Writes the keys this batch made, first come first served. When another replica claimed one first (the same
   * email arriving from two systems at once), a record this batch was about to create joins the claimant's golden
   * record instead, and its other new keys follow.
   */
  private async claim(
    newKeys: Map<string, { workspaceId: string; goldenId: string }>,
    assigned: { change: SourceChange; keys: Keys; goldenId: string }[],
    minted: ReadonlySet<string>,
  ): Promise<void> {
    // Two upserts of one new key at once: one inserts, the other fails as a duplicate. Either way the key is there.
    await this.keys
      .bulkWrite(
        [...newKeys].map(([key, value]) => ({
          updateOne: { filter: { _id: key }, update: { $setOnInsert: value }, upsert: true },
        })),
        { ordered: false },
      )
      .catch((error: unknown) => {
        if (!isDuplicateKey(error)) throw error;
      });
    const claimed = new Map(
      (await this.keys.find({ _id: { $in: [...newKeys.keys()] } }, { goldenId: 1 }).lean()).map((k) => [
        k._id,
        k.goldenId,
      ]),
    );
    const adopted = new Map<string, string>();
    for (const entry of assigned) {
      if (!minted.has(entry.goldenId)) continue;
      const winner =
        adopted.get(entry.goldenId) ??
        entry.keys.all.map((k) => claimed.get(k)).find((id) => id !== undefined && id !== entry.goldenId);
      if (winner) adopted.set(entry.goldenId, winner);
    }
    if (adopted.size === 0) return;
    for (const entry of assigned) entry.goldenId = adopted.get(entry.goldenId) ?? entry.goldenId;
    await this.keys.bulkWrite(
      [...newKeys].flatMap(([key, value]) => {
        const winner = adopted.get(value.goldenId);
        return winner && claimed.get(key) === value.goldenId
          ? [
              {
                updateOne: {
                  filter: { _id: key, goldenId: value.goldenId },
                  update: { $set: { goldenId: winner } },
                },
              },
            ]
          : [];
      }),
      { ordered: false },
    );
  }

  /** The records by id, and where merged ones now live (their survivors loaded too). */
  private async load(ids: readonly string[]) {
    const docs = new Map<string, GoldenRecordDoc>();
    const redirect = new Map<string, string>();
    let wanted = [...ids];
    for (let hop = 0; wanted.length > 0 && hop < 8; hop += 1) {
      const found = await this.records.find({ _id: { $in: wanted } }).lean();
      wanted = [];
      for (const doc of found) {
        docs.set(doc._id, doc);
        if (doc.mergedInto && !docs.has(doc.mergedInto)) wanted.push(doc.mergedInto);
      }
    }
    for (const id of ids) {
      let target = id;
      for (let hop = 0; hop < 8 && docs.get(target)?.mergedInto; hop += 1)
        target = docs.get(target)?.mergedInto ?? target;
      if (target !== id) redirect.set(id, target);
    }
    return { docs, redirect };
  }

  /** Writes records on their version; answers the ids another writer changed first. */
  private async writeRecords(
    writes: { id: string; op: AnyBulkWriteOperation<GoldenRecordDoc> }[],
    token: string,
  ): Promise<string[]> {
    if (writes.length === 0) return [];
    let clean = false;
    try {
      const result = await this.records.bulkWrite(
        writes.map((w) => w.op),
        { ordered: false },
      );
      clean = result.matchedCount + result.insertedCount === writes.length;
    } catch (error) {
      // A duplicate id: another replica created the record first. Which writes stood is read back below.
      if (!isDuplicateKey(error)) throw error;
    }
    if (clean) return [];
    const ids = writes.map((w) => w.id);
    const stood = new Set(
      (await this.records.find({ _id: { $in: ids }, lastWrite: token }, { _id: 1 }).lean()).map((d) => d._id),
    );
    return ids.filter((id) => !stood.has(id));
  }

  /**
   * Publishes what the records' outboxes hold (golden changes, conflicts), keeps it in the history, then clears the
   * outboxes of records still at the version announced.
   */
  async announce(docs: readonly GoldenRecordDoc[]): Promise<void> {
    const outgoing: OutgoingEvent[] = [];
    const history: AnyBulkWriteOperation<GoldenHistoryDoc>[] = [];
    for (const doc of docs)
      for (const item of doc.outbox) {
        outgoing.push(goldenChangeEvent(doc, item));
        for (const conflict of item.conflicts)
          outgoing.push({
            topic: Topics.GoldenRecordsConflicts,
            key: doc._id,
            event: {
              metadata: {
                ...goldenChangeEvent(doc, item).event.metadata,
                eventId: fastUuidV5(`${item.eventId}/conflict/${conflict.field}`),
              },
              goldenId: doc._id,
              entity: doc.entity,
              field: conflict.field,
              rule: conflict.rule,
              winner: conflictingValue(conflict.winner),
              loser: conflictingValue(conflict.loser),
            },
          });
        history.push({
          updateOne: {
            filter: { _id: `${doc._id}|${item.eventId}` },
            update: {
              $setOnInsert: {
                workspaceId: doc.workspaceId,
                goldenId: doc._id,
                eventId: item.eventId,
                cause: item.cause,
                causeSystem: item.causeSystem,
                causeExternalId: item.causeExternalId,
                changes: item.changes,
                conflicts: item.conflicts,
                conflictCount: item.conflicts.length,
                version: item.version,
                at: new Date(item.at),
              },
            },
            upsert: true,
          },
        });
      }
    if (outgoing.length === 0) return;
    await this.publisher.publishAll(outgoing);
    await this.history.bulkWrite(history, { ordered: false });
    await this.records.bulkWrite(
      docs.map((doc) => ({
        updateOne: { filter: { _id: doc._id, version: doc.version }, update: { $set: { outbox: [] } } },
      })),
      { ordered: false },
    );
  }

  /**
   * Decides every record of a workspace's entity again under new rules (each source's latest value is kept, so
   * nothing is read from the systems again); answers how many records' values changed. A record another writer
   * changes meanwhile is left to that writer, which decides under the rules it holds (other replicas read the new
   * rules within the rules cache's 5 s).
   */
  async decideAgain(workspaceId: string, entity: GoldenEntity, rules: SurvivorshipRules): Promise<number> {
    let after = '';
    let changed = 0;
    for (;;) {
      const page = await this.records
        .find({ workspaceId, entity, mergedInto: null, erasedAt: null, _id: { $gt: after } })
        .sort({ _id: 1 })
        .limit(500)
        .lean();
      const last = page.at(-1);
      if (!last) return changed;
      after = last._id;
      const token = randomUUID();
      const updated: GoldenRecordDoc[] = [];
      for (const doc of page) {
        const next = withFields(rules, doc.fields);
        const changes = changesBetween(doc.values, next);
        if (changes.length === 0) continue;
        const version = doc.version + 1;
        const eventId = fastUuidV5(`golden-rules/${doc._id}/${version}/${token}`);
        const metadata = originMetadata({ workspaceId, source: 'sync', eventId });
        updated.push({
          ...doc,
          ...next,
          version,
          outbox: [
            ...doc.outbox,
            pending(metadata, eventId, 'rules', null, null, changes, [], version, null),
          ],
        });
      }
      const failed = new Set(
        await this.writeRecords(
          updated.map((doc) => ({
            id: doc._id,
            op: {
              updateOne: {
                filter: { _id: doc._id, version: doc.version - 1 },
                update: {
                  $set: {
                    values: doc.values,
                    provenance: doc.provenance,
                    version: doc.version,
                    outbox: doc.outbox,
                    updatedAt: new Date(),
                    lastWrite: token,
                  },
                },
              },
            },
          })),
          token,
        ),
      );
      const stood = updated.filter((doc) => !failed.has(doc._id));
      await this.announce(stood);
      changed += stood.length;
    }
  }

  /**
   * Remembers what was written to systems' records, so their echoes are known when the systems report them back; a
   * record the write created is linked to its golden record at once (a second change must update it, not create
   * another).
   */
  async rememberWritten(writes: readonly WrittenRecord[]): Promise<void> {
    if (writes.length === 0) return;
    await this.keys.bulkWrite(
      writes.map((w) => ({
        updateOne: {
          filter: { _id: goldenKeyOf(w.workspaceId, w.entity, w.system, w.externalId) },
          update: {
            $set: {
              workspaceId: w.workspaceId,
              goldenId: w.goldenId,
              ...Object.fromEntries(
                Object.entries(w.fields).map(([f, value]) => [
                  `held.${f}`,
                  { hash: hashOf(value), written: true, at: w.at },
                ]),
              ),
            },
          },
          upsert: true,
        },
      })),
      { ordered: false },
    );
    const created = writes.filter((w) => w.created);
    if (created.length > 0)
      await this.records.bulkWrite(
        created.map((w) => ({
          updateOne: {
            filter: { _id: w.goldenId, 'links.externalId': { $ne: w.externalId } },
            update: {
              $push: { links: { system: w.system, externalId: w.externalId } },
              $inc: { version: 1 },
            },
          },
        })),
        { ordered: false },
      );
  }

  /** The records a golden record links now (after merges), or none when it is gone. */
  async linksOf(goldenId: string): Promise<GoldenLink[]> {
    const id = await this.resolve(goldenId);
    return (await this.records.findById(id, { links: 1 }).lean())?.links ?? [];
  }

  /** Drops links to records the system merged away (their ids now lead to the survivor there). */
  async unlink(goldenId: string, system: string, externalIds: readonly string[]): Promise<void> {
    const id = await this.resolve(goldenId);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const doc = await this.records.findById(id, { links: 1, version: 1 }).lean();
      if (!doc) return;
      const links = doc.links.filter((l) => l.system !== system || !externalIds.includes(l.externalId));
      if (links.length === doc.links.length) return;
      const written = await this.records.updateOne(
        { _id: id, version: doc.version },
        { $set: { links, version: doc.version + 1, updatedAt: new Date() } },
      );
      if (written.matchedCount === 1) return;
    }
    throw new Error(`golden record ${id} kept changing; unlinking will be retried`);
  }

  private objectOf(record: RecordChanged): ConnectorObject | undefined {
    return this.registry
      .descriptor(record.system)
      ?.objects.find((o) => o.entity === record.objectType || o.vendorObject === record.objectType);
  }
}

type Keys = { link: string | null; match: string[]; all: string[] };

/** The keys a change is found by: its source record, then its match key (a contact's email, a company's domain). */
function keysOf(change: SourceChange): Keys {
  const ws = change.metadata.workspaceId;
  const link =
    change.externalId && change.system !== MANUAL_SOURCE
      ? goldenKeyOf(ws, change.entity, change.system, change.externalId)
      : null;
  const matchField = change.entity === 'contact' ? 'email' : 'domain';
  const matchValue = change.values
    .find((v) => v.field === matchField)
    ?.value?.trim()
    .toLowerCase();
  const match = matchValue ? [goldenKeyOf(ws, change.entity, matchField, matchValue)] : [];
  return { link, match, all: [...(link ? [link] : []), ...match] };
}

function newRecord(id: string, workspaceId: string, entity: GoldenEntity, now: Date): GoldenRecordDoc {
  return {
    _id: id,
    workspaceId,
    entity,
    fields: {},
    values: {},
    provenance: {},
    links: [],
    mergedInto: null,
    erasedAt: null,
    outbox: [],
    version: 0,
    createdAt: now,
    updatedAt: now,
  };
}

/** The surviving values and provenance of a record's field states under the rules. */
function withFields(
  rules: SurvivorshipRules,
  fields: Record<string, FieldState>,
): Pick<GoldenRecordDoc, 'fields' | 'values' | 'provenance'> {
  const values: Record<string, string> = {};
  const provenance: GoldenRecordDoc['provenance'] = {};
  for (const [field, state] of Object.entries(fields)) {
    const surviving = survivingValue(rules, field, state);
    if (!surviving || surviving.value === null) continue;
    values[field] = surviving.value;
    provenance[field] = { source: surviving.source, sourceAt: surviving.sourceAt, rule: surviving.rule };
  }
  return { fields, values, provenance };
}

function changesBetween(
  before: Readonly<Record<string, string>>,
  next: Pick<GoldenRecordDoc, 'values' | 'provenance'>,
): GoldenFieldChange[] {
  const fields = unique([...Object.keys(before), ...Object.keys(next.values)]).sort();
  return fields.flatMap((field) => {
    const value = next.values[field] ?? null;
    const previous = before[field] ?? null;
    if (value === previous) return [];
    const provenance = next.provenance[field];
    return [
      {
        field,
        value,
        previous,
        source: provenance?.source ?? null,
        sourceAt: provenance?.sourceAt ?? null,
        rule: provenance?.rule ?? null,
      },
    ];
  });
}

function pending(
  metadata: EventMetadata,
  eventId: string,
  cause: GoldenChangeCause,
  causeSystem: string | null,
  causeExternalId: string | null,
  changes: GoldenFieldChange[],
  conflicts: PendingAnnouncement['conflicts'],
  version: number,
  mergedGoldenId: string | null,
): PendingAnnouncement {
  return {
    eventId,
    metadata: { correlationId: metadata.correlationId, causationId: metadata.eventId },
    cause,
    causeSystem,
    causeExternalId,
    at: metadata.occurredAt,
    changes,
    conflicts,
    mergedGoldenId,
    version,
  };
}

function goldenChangeEvent(
  doc: GoldenRecordDoc,
  item: PendingAnnouncement,
): OutgoingEvent<typeof Topics.GoldenRecordsChanged> {
  return {
    topic: Topics.GoldenRecordsChanged,
    key: doc._id,
    event: {
      metadata: {
        eventId: item.eventId,
        occurredAt: item.at,
        workspaceId: doc.workspaceId,
        source: 'sync',
        correlationId: item.metadata.correlationId,
        causationId: item.metadata.causationId,
      },
      goldenId: doc._id,
      entity: doc.entity,
      cause: item.cause,
      causeSystem: item.causeSystem,
      causeExternalId: item.causeExternalId,
      changes: item.changes,
      values: doc.values,
      links: doc.links,
      mergedGoldenId: item.mergedGoldenId,
      version: item.version,
    },
  };
}

const conflictingValue = (v: { value: string | null; source: string; sourceAt: number }) => ({
  value: v.value,
  source: v.source,
  sourceAt: v.sourceAt,
});

function rejection(
  record: RecordChanged,
  first: { field: string; reason: string },
  problems: { field: string; reason: string }[],
): OutgoingEvent<typeof Topics.SyncRecordsRejected> {
  return {
    topic: Topics.SyncRecordsRejected,
    key: `${record.system}:${record.objectType}:${record.externalId}`,
    event: {
      metadata: causedMetadata(record.metadata, 'sync', 'rejected'),
      system: record.system,
      objectType: record.objectType,
      externalId: record.externalId,
      field: first.field,
      reason: first.reason,
      problems,
      fieldsJson: record.fieldsJson,
      changeEventId: record.metadata.eventId,
    },
  };
}

function parseFields(json: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** Emails compare lowercased: the lead pipeline and vendors disagree on case. */
function normalized(field: string, value: string | null): string | null {
  const trimmed = value?.trim() ?? '';
  if (trimmed === '') return null;
  return field === 'email' ? trimmed.toLowerCase() : trimmed;
}

export const hashOf = (value: string | null) =>
  createHash('sha256')
    .update(value?.trim() ?? '')
    .digest('base64url')
    .slice(0, 22);

function unionLinks(a: GoldenRecordDoc['links'], b: GoldenRecordDoc['links']): GoldenRecordDoc['links'] {
  const seen = new Set(a.map((l) => `${l.system}|${l.externalId}`));
  return [...a, ...b.filter((l) => !seen.has(`${l.system}|${l.externalId}`))];
}

const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];

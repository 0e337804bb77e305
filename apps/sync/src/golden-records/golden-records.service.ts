import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { AnyBulkWriteOperation } from 'mongoose';
import { Topics, type EventMetadata, type LeadScored, type RecordChanged } from '@tributary/contracts';
import { EventPublisher, fastUuidV5, originMetadata, type OutgoingEvent } from '@tributary/messaging';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import { CONNECTOR_REGISTRY, type ConnectorRegistry } from '../connectors/connector-registry';
import type { ConnectorObject } from '../connectors/connector';
import type { GoldenEntity, GoldenRecordDoc, HeldValue } from './golden-record.model';
import {
  LEAD_FIELDS,
  LEADS_SOURCE,
  changesBetween,
  hashOf,
  keysOf,
  takeChange,
  newRecord,
  normalized,
  parseFields,
  pending,
  rejection,
  unique,
  withFields,
  type SourceChange,
} from './golden-record-state';
import { GoldenRecordStore, MAX_ATTEMPTS } from './golden-record.store';
import { validateRecord } from './record-validation';
import { SurvivorshipRulesStore } from './survivorship-rules.store';
import { MANUAL_SOURCE, type SurvivorshipRules } from './survivorship';

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
    @Inject(CONNECTOR_REGISTRY) private readonly registry: ConnectorRegistry,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    private readonly store: GoldenRecordStore,
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
      (await this.store.findKeys(unique(keyed.flatMap((k) => k.keys.all)))).map((k) => [k._id, k]),
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
    if (newKeys.size > 0) await this.store.claim(newKeys, assigned, minted);

    const loaded = await this.store.load(unique(assigned.map((a) => a.goldenId)));
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
      doc = takeChange(doc, change, fresh, rules, now);
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
    const failed = await this.store.writeRecords(writes, token);
    const retry = new Set(failed);
    // What a record's source was seen to hold counts only once the record's write stood (a retry must see it again).
    const heldWrites = [...heldUpdates].filter(([key]) => !retry.has(heldOwners.get(key) ?? ''));
    await this.store.writeHeld(heldWrites);
    await this.store.announce(
      [...working.values()].filter((doc) => !retry.has(doc._id) && doc.outbox.length > 0),
    );
    return assigned
      .filter((a) => retry.has(loaded.redirect.get(a.goldenId) ?? a.goldenId))
      .map((a) => a.change);
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
      const page = await this.store.page(workspaceId, entity, after, 500);
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
        await this.store.writeRecords(
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
      await this.store.announce(stood);
      changed += stood.length;
    }
  }

  private objectOf(record: RecordChanged): ConnectorObject | undefined {
    return this.registry
      .descriptor(record.system)
      ?.objects.find((o) => o.entity === record.objectType || o.vendorObject === record.objectType);
  }
}

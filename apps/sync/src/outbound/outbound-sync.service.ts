import { Inject, Injectable } from '@nestjs/common';
import { ConsecutiveBreaker, circuitBreaker, handleAll, type CircuitBreakerPolicy } from 'cockatiel';
import type { Model } from 'mongoose';
import { Topics, type GoldenRecordChanged } from '@tributary/contracts';
import { EventPublisher, PoisonMessageError, fastUuidV5, type OutgoingEvent } from '@tributary/messaging';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import { CONNECTOR_REGISTRY, type ConnectorRegistry } from '../connectors/connector-registry';
import type { ConnectorObject, RecordWrite, RecordWriter, WriteOutcome } from '../connectors/connector';
import {
  RECORD_VERSION_MODEL,
  type ConnectionDoc,
  type RecordVersionDoc,
} from '../connections/connection.models';
import { changeEvent, versionIdOf } from '../changes/change-capture.service';
import { Connections, vendorReason } from '../connections/connections.service';
import {
  GOLDEN_KEY_MODEL,
  goldenKeyOf,
  type GoldenEntity,
  type GoldenKeyDoc,
  type HeldValue,
} from '../golden-records/golden-record.model';
import { hashOf } from '../golden-records/golden-record-state';
import { GoldenRecordStore } from '../golden-records/golden-record.store';

/** Failures in a row that open a connection's breaker, and how long it stays open before one probe. */
const BREAKER_FAILURES = 5;
const BREAKER_OPEN_MS = 30_000;
/** How long a replica reuses a workspace's connection list (a paused connection stops within this). */
const CONNECTIONS_TTL_MS = 5_000;

/** One golden record's write to one connection. */
interface PlannedWrite extends RecordWrite {
  entity: GoldenEntity;
  causeEventId: string;
}

/**
 * Outbound sync: every golden-record change goes to each active connection that writes the record's entity, with
 * only the fields whose value the connection does not hold already. What a connection holds is the hash of each
 * field's value as last reported by it or written to it (golden_record_keys): so the system a change came from gets
 * nothing back unless survivorship decided otherwise, and our own write coming back is known as an echo.
 *
 * Failures: a vendor's "no" for one record (validation) fails that record only: the batch's other writes stand and the
 * consumer then takes the batch record by record, where the failing one goes to the dead-letter topic with the vendor's
 * answer. Rate limits and 5xx are retried by the vendor SDK (Retry-After honoured), then by the consumer with backoff;
 * a circuit breaker per connection stops calling a vendor that keeps failing.
 */
@Injectable()
export class OutboundSync {
  private readonly writers = new Map<string, { writer: RecordWriter; breaker: CircuitBreakerPolicy }>();
  private readonly connectionsOf = new Map<string, { docs: ConnectionDoc[]; until: number }>();

  constructor(
    private readonly connections: Connections,
    @Inject(GOLDEN_KEY_MODEL) private readonly keys: Model<GoldenKeyDoc>,
    @Inject(RECORD_VERSION_MODEL) private readonly versions: Model<RecordVersionDoc>,
    @Inject(CONNECTOR_REGISTRY) private readonly registry: ConnectorRegistry,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    private readonly golden: GoldenRecordStore,
    private readonly publisher: EventPublisher,
  ) {}

  async onGoldenChanges(changes: readonly GoldenRecordChanged[]): Promise<void> {
    const refused: string[] = [];
    for (const [workspaceId, ofWorkspace] of groupBy(changes, (c) => c.metadata.workspaceId))
      for (const connection of await this.writableIn(workspaceId))
        refused.push(...(await this.deliver(connection, ofWorkspace)));
    if (refused.length === 0) return;
    const reason = `refused by the vendor: ${refused.join('; ')}`.slice(0, 2_000);
    // Alone, the record goes to the dead-letter topic with the vendor's answer; in a batch, the consumer retries the
    // batch record by record (the writes that stood are held now and not repeated).
    throw changes.length === 1 ? new PoisonMessageError(reason) : new Error(reason);
  }

  /** Writes one workspace's changes to one connection; answers the vendor's refusals. */
  private async deliver(
    connection: ConnectionDoc,
    changes: readonly GoldenRecordChanged[],
  ): Promise<string[]> {
    const descriptor = this.registry.descriptor(connection.connector);
    if (!descriptor) return [];
    // A record changed twice in the batch is written once, at its latest values, with every field either changed.
    const latest = new Map<string, { change: GoldenRecordChanged; fields: Set<string> }>();
    for (const change of changes) {
      const object = objectFor(descriptor.objects, connection, change.entity);
      if (!object) continue;
      const seen = latest.get(change.goldenId);
      const fields = new Set([...(seen?.fields ?? []), ...change.changes.map((c) => c.field)]);
      if (!seen || change.version >= seen.change.version) latest.set(change.goldenId, { change, fields });
      else latest.set(change.goldenId, { change: seen.change, fields });
    }
    if (latest.size === 0) return [];
    const system = connection.connector;
    await this.mergeDuplicates(connection, descriptor.objects, changes);
    const keyOf = (change: GoldenRecordChanged) => {
      const link = change.links.find((l) => l.system === system);
      return link ? goldenKeyOf(change.metadata.workspaceId, change.entity, system, link.externalId) : null;
    };
    const keyIds = [...latest.values()].flatMap(({ change }) => keyOf(change) ?? []);
    const held = new Map(
      (await this.keys.find({ _id: { $in: keyIds } }, { held: 1 }).lean()).map((k) => [k._id, k.held ?? {}]),
    );
    const planned = new Map<ConnectorObject, PlannedWrite[]>();
    for (const { change, fields } of latest.values()) {
      const object = objectFor(descriptor.objects, connection, change.entity);
      if (!object) continue;
      const key = keyOf(change);
      const externalId = change.links.find((l) => l.system === system)?.externalId ?? null;
      const write = planWrite(object, change, externalId, fields, key ? (held.get(key) ?? {}) : {});
      if (!write) continue;
      const list = planned.get(object) ?? [];
      list.push(write);
      planned.set(object, list);
    }
    const refused: string[] = [];
    for (const [object, wanted] of planned) {
      const writes = await this.withoutUnreadChanges(connection, object, wanted, held);
      if (writes.length === 0) continue;
      const outcomes = await this.write(connection, object, writes);
      const byRef = new Map(writes.map((w) => [w.ref, w]));
      const stood: { write: PlannedWrite; externalId: string; modifiedAt: number }[] = [];
      let retry: string | null = null;
      for (const outcome of outcomes) {
        const write = byRef.get(outcome.ref);
        if (!write) continue;
        if (outcome.ok) stood.push({ write, externalId: outcome.externalId, modifiedAt: outcome.modifiedAt });
        else if (outcome.retryable)
          retry ??= `${descriptor.vendor} answered ${outcome.status}: ${outcome.reason}`;
        else
          refused.push(
            `${descriptor.vendor} ${outcome.status} for golden record ${outcome.ref}: ${outcome.reason}`,
          );
      }
      await this.golden.rememberWritten(
        stood.map(({ write, externalId, modifiedAt }) => ({
          workspaceId: connection.workspaceId,
          entity: write.entity,
          system,
          externalId,
          goldenId: write.ref,
          fields: write.fields,
          at: modifiedAt,
          created: write.externalId === null,
        })),
      );
      await this.publisher.publishAll(stood.map((s) => writtenEvent(connection, s.write, s.externalId)));
      // What stood is held now: the consumer's retry writes only the rest.
      if (retry) throw new Error(retry);
    }
    if (refused.length > 0)
      this.logger.warn(
        { connectionId: connection._id, refused: refused.length },
        'the vendor refused records',
      );
    return refused;
  }

  /**
   * Reads the records about to be overwritten first: one whose version is newer than any sync has seen of it or
   * written to it holds an edit change capture has not read yet (the same field edited on both sides at once).
   * Writing would overwrite that edit unseen, so the record is not written now: its change goes to records.changed
   * (the event change capture would publish) and survivorship decides, and the write that follows carries the result.
   */
  private async withoutUnreadChanges(
    connection: ConnectionDoc,
    object: ConnectorObject,
    writes: readonly PlannedWrite[],
    held: ReadonlyMap<string, Record<string, HeldValue>>,
  ): Promise<PlannedWrite[]> {
    const updates = writes.filter((w) => w.externalId !== null);
    if (updates.length === 0) return [...writes];
    const ids = updates.map((w) => w.externalId as string);
    const source = this.registry.source(connection.connector, this.connections.credentialsOf(connection));
    const current = await source.read(object, ids);
    const versions = new Map(
      (
        await this.versions
          .find({ _id: { $in: ids.map((id) => versionIdOf(connection._id, object.vendorObject, id)) } })
          .lean()
      ).map((v) => [v._id, v.modifiedAt]),
    );
    const unread = current.filter((record) => {
      const key = goldenKeyOf(connection.workspaceId, object.entity, connection.connector, record.id);
      const known = Math.max(
        versions.get(versionIdOf(connection._id, object.vendorObject, record.id)) ?? 0,
        ...Object.values(held.get(key) ?? {}).map((h) => h.at),
      );
      return record.modifiedAt > known;
    });
    if (unread.length === 0) return [...writes];
    await this.publisher.publishAll(unread.map((record) => changeEvent(connection, object, record)));
    await this.versions.bulkWrite(
      unread.map((record) => ({
        updateOne: {
          filter: { _id: versionIdOf(connection._id, object.vendorObject, record.id) },
          update: { $max: { modifiedAt: record.modifiedAt } },
          upsert: true,
        },
      })),
      { ordered: false },
    );
    this.logger.info(
      { connectionId: connection._id, records: unread.length },
      'records changed in the vendor since sync last read them: their changes go first, then the writes',
    );
    const skipped = new Set(unread.map((r) => r.id));
    return writes.filter((w) => w.externalId === null || !skipped.has(w.externalId));
  }

  /**
   * A merge that left a golden record with two records in one system (the same person twice in the CRM) merges them
   * there too, when the vendor can (HubSpot's merge): the first linked record survives, the other is unlinked.
   * Links are read fresh, so a redelivered merge does not merge again.
   */
  private async mergeDuplicates(
    connection: ConnectionDoc,
    objects: readonly ConnectorObject[],
    changes: readonly GoldenRecordChanged[],
  ): Promise<void> {
    for (const change of changes) {
      if (change.cause !== 'merge') continue;
      const object = objectFor(objects, connection, change.entity);
      const writer = this.writerOf(connection).writer;
      if (!object || !writer.merge) continue;
      const [primary, ...duplicates] = (await this.golden.linksOf(change.goldenId)).filter(
        (l) => l.system === connection.connector,
      );
      if (!primary || duplicates.length === 0) continue;
      for (const duplicate of duplicates)
        await writer.merge(object, primary.externalId, duplicate.externalId);
      await this.golden.unlink(
        change.goldenId,
        connection.connector,
        duplicates.map((d) => d.externalId),
      );
      this.logger.info(
        { connectionId: connection._id, goldenId: change.goldenId, merged: duplicates.length },
        'merged duplicate records in the vendor',
      );
    }
  }

  private writerOf(connection: ConnectionDoc): { writer: RecordWriter; breaker: CircuitBreakerPolicy } {
    let entry = this.writers.get(connection._id);
    if (!entry) {
      entry = {
        writer: this.registry.writer(connection.connector, this.connections.credentialsOf(connection)),
        breaker: circuitBreaker(handleAll, {
          halfOpenAfter: BREAKER_OPEN_MS,
          breaker: new ConsecutiveBreaker(BREAKER_FAILURES),
        }),
      };
      this.writers.set(connection._id, entry);
    }
    return entry;
  }

  /** Writes under the connection's breaker: while open, the batch fails fast and is retried by the consumer. */
  private async write(
    connection: ConnectionDoc,
    object: ConnectorObject,
    writes: readonly RecordWrite[],
  ): Promise<WriteOutcome[]> {
    const { writer, breaker } = this.writerOf(connection);
    try {
      return await breaker.execute(async () => {
        const outcomes = await writer.write(object, writes);
        // Every record refused as retryable (429 or 5xx after the SDK's retries) counts as the vendor failing.
        if (outcomes.length > 0 && outcomes.every((o) => !o.ok && o.retryable))
          throw new Error(
            `${connection.connector}: ${outcomes[0] && !outcomes[0].ok ? outcomes[0].reason : ''}`,
          );
        return outcomes;
      });
    } catch (error) {
      throw new Error(
        `writing to ${connection.connector} connection ${connection._id}: ${vendorReason(error)}`,
      );
    }
  }

  private async writableIn(workspaceId: string): Promise<ConnectionDoc[]> {
    const cached = this.connectionsOf.get(workspaceId);
    if (cached && cached.until > Date.now()) return cached.docs;
    const docs = (await this.connections.activeIn(workspaceId)).filter((c) =>
      this.registry.descriptor(c.connector)?.capabilities.includes('write'),
    );
    this.connectionsOf.set(workspaceId, { docs, until: Date.now() + CONNECTIONS_TTL_MS });
    return docs;
  }
}

/** The connection's object for the entity, when the connection syncs it. */
function objectFor(
  objects: readonly ConnectorObject[],
  connection: ConnectionDoc,
  entity: string,
): ConnectorObject | undefined {
  return objects.find((o) => o.entity === entity && connection.objects.includes(o.vendorObject));
}

/**
 * The vendor fields to write for one golden record: to a record the connection has (`externalId`), the changed fields
 * whose value it does not hold; for one it lacks, every mapped value, and only when the match key (a contact's email)
 * is there to create it by. Null when there is nothing to write.
 */
export function planWrite(
  object: ConnectorObject,
  change: GoldenRecordChanged,
  externalId: string | null,
  changed: ReadonlySet<string>,
  holds: Readonly<Record<string, { hash: string }>>,
): PlannedWrite | null {
  const creating = externalId === null;
  const fields: Record<string, string | null> = {};
  for (const [vendorField, field] of Object.entries(object.fields)) {
    if (!field.canonical || field.readOnly) continue;
    if (!creating && !changed.has(field.canonical)) continue;
    const value = change.values[field.canonical] ?? null;
    if (creating && value === null) continue;
    if (holds[vendorField]?.hash === hashOf(value)) continue;
    fields[vendorField] = value;
  }
  if (Object.keys(fields).length === 0) return null;
  const matchField = change.entity === 'contact' ? 'email' : 'domain';
  if (creating && !change.values[matchField]) return null;
  return {
    ref: change.goldenId,
    externalId,
    fields,
    entity: change.entity as GoldenEntity,
    causeEventId: change.metadata.eventId,
  };
}

function writtenEvent(
  connection: ConnectionDoc,
  write: PlannedWrite,
  externalId: string,
): OutgoingEvent<typeof Topics.SyncOutbound> {
  return {
    topic: Topics.SyncOutbound,
    key: write.ref,
    event: {
      metadata: {
        eventId: fastUuidV5(`outbound/${connection._id}/${write.causeEventId}`),
        occurredAt: Date.now(),
        workspaceId: connection.workspaceId,
        source: 'sync',
        correlationId: write.causeEventId,
        causationId: write.causeEventId,
      },
      recordId: write.ref,
      destination: `${connection.connector}:${connection._id}:${externalId}`,
      operation: 'upsert',
      fieldsJson: JSON.stringify(write.fields),
    },
  };
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key) ?? [];
    group.push(item);
    groups.set(key, group);
  }
  return groups;
}

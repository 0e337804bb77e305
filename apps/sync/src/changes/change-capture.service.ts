import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Model } from 'mongoose';
import { Topics, type RecordChanged } from '@tributary/contracts';
import { SERVICE_CONFIG } from '@tributary/config';
import { EventPublisher, fastUuidV5, originMetadata, type OutgoingEvent } from '@tributary/messaging';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import { PollLoop } from '@tributary/runtime';
import { isDuplicateKey } from '@tributary/store';
import type { SyncConfig } from '../config';
import { CONNECTOR_REGISTRY, type ConnectorRegistry } from '../connectors/connector-registry';
import type { ConnectorObject, VendorRecord } from '../connectors/connector';
import {
  CHANGE_CURSOR_MODEL,
  RECORD_VERSION_MODEL,
  cursorIdOf,
  type ChangeCursorDoc,
  type ConnectionDoc,
  type RecordVersionDoc,
} from '../connections/connection.models';
import { Connections, vendorReason } from '../connections/connections.service';
import { laterPosition, nextChangePage, type ChangePosition } from './change-page';

/**
 * Change data capture by cursor: each replica looks for connection objects due a poll, takes one with a lease, reads
 * its changes in pages from a little before its cursor (the look-back, for changes the vendor shows late) up to the
 * poll's start, publishes the records whose version is new on `records.changed`, and only then saves the cursor. A
 * SIGKILL at any moment loses nothing: the next poll repeats at most the page that was in flight, whose records carry
 * the same event ids.
 */
@Injectable()
export class ChangeCapture implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly loop: PollLoop;
  private readonly owner = `sync-${randomUUID()}`;

  constructor(
    private readonly connections: Connections,
    @Inject(CHANGE_CURSOR_MODEL) private readonly cursors: Model<ChangeCursorDoc>,
    @Inject(RECORD_VERSION_MODEL) private readonly versions: Model<RecordVersionDoc>,
    @Inject(CONNECTOR_REGISTRY) private readonly registry: ConnectorRegistry,
    @Inject(SERVICE_CONFIG) private readonly config: SyncConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    private readonly publisher: EventPublisher,
  ) {
    this.loop = new PollLoop(
      () => this.round(),
      config.SYNC_POLL_TICK_MS,
      (error) => this.logger.error({ err: error }, 'change capture round failed'),
    );
  }

  onApplicationBootstrap(): void {
    if (this.config.SYNC_BACKGROUND_JOBS) this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** Polls every object of every active connection whose poll is due and not leased by another replica. */
  async round(): Promise<void> {
    for (const connection of await this.connections.active()) {
      for (const object of connection.objects) {
        if (this.loop.stopped) return;
        const lease = await this.lease(connection, object);
        if (!lease) continue;
        await this.poll(connection, object, lease).catch((error: unknown) =>
          this.logger.warn(
            { connectionId: connection._id, object, reason: vendorReason(error) },
            'change capture poll failed; the cursor stays where it was',
          ),
        );
        await this.reportHealth(connection, object);
      }
    }
  }

  /** Takes the object's poll when it is due and nobody holds it: the cursor as it stands, or null. */
  private async lease(
    connection: ConnectionDoc,
    object: string,
    whenDue = true,
  ): Promise<ChangeCursorDoc | null> {
    const now = new Date();
    return this.cursors
      .findOneAndUpdate(
        {
          _id: cursorIdOf(connection._id, object),
          leaseUntil: { $lte: now },
          ...(whenDue ? { dueAt: { $lte: now } } : {}),
        },
        {
          $set: {
            leaseOwner: this.owner,
            leaseUntil: new Date(now.getTime() + this.config.SYNC_POLL_LEASE_MS),
            lastPollAt: now,
          },
        },
        { new: true },
      )
      .lean();
  }

  /**
   * Reads the object's changes up to now, page by page, publishing and then saving the cursor after each; answers how
   * many records it published.
   */
  async poll(
    connection: ConnectionDoc,
    vendorObject: string,
    cursor: ChangeCursorDoc,
    progress: { onPage?: (read: number, published: number) => void; signal?: AbortSignal } = {},
  ): Promise<number> {
    const object = this.registry.object(connection.connector, vendorObject);
    if (!object) throw new Error(`${connection.connector} has no object '${vendorObject}'`);
    const source = this.registry.source(connection.connector, this.connections.credentialsOf(connection));
    const until = Date.now();
    let saved: ChangePosition = { modifiedAt: cursor.modifiedAt, id: cursor.lastId };
    // The look-back reads again what may have become visible since; versions already published are dropped.
    let position: ChangePosition =
      saved.modifiedAt === 0
        ? saved
        : { modifiedAt: Math.max(0, saved.modifiedAt - connection.lookbackMs), id: '' };
    let published = 0;
    let read = 0;
    const pageAt = (from: ChangePosition) => {
      const reading = nextChangePage(source, object, from, until, this.config.SYNC_CHANGE_PAGE);
      // A page read ahead that is never awaited (the poll stopped first) must not fail unheard.
      reading.catch(() => undefined);
      return reading;
    };
    try {
      let reading = pageAt(position);
      for (;;) {
        const page = await reading;
        // Read ahead: the next page's search waits for the budget and runs while this one is published and its
        // cursor saved (the cursor still moves only past what Kafka acknowledged).
        if (!page.done) reading = pageAt(page.next);
        read += page.records.length;
        const fresh = await this.unpublished(connection, vendorObject, page.records);
        if (fresh.length > 0) {
          await this.publisher.publishAll(fresh.map((record) => changeEvent(connection, object, record)));
          await this.remember(connection, vendorObject, fresh);
          published += fresh.length;
        }
        saved = laterPosition(saved, page.next);
        position = page.next;
        const done = page.done ? { intervalMs: connection.pollIntervalMs, published } : null;
        const kept = await this.save(cursor, saved, fresh.length, done);
        if (!kept) throw new Error('the poll lease was taken over; stopping');
        progress.onPage?.(read, published);
        if (page.done || this.loop.stopped) break;
        if (progress.signal?.aborted) {
          await this.release(cursor);
          break;
        }
      }
      return published;
    } catch (error) {
      // The circuit breaker per connection object, kept in the cursor so that every replica honours it: after
      // BREAKER_FAILURES failed polls in a row the next is due only after BREAKER_OPEN_MS, and that poll is the probe.
      const open = (cursor.consecutiveFailures ?? 0) + 1 >= BREAKER_FAILURES;
      await this.cursors.updateOne(
        { _id: cursor._id, leaseOwner: this.owner },
        {
          $set: {
            lastError: vendorReason(error),
            leaseOwner: null,
            leaseUntil: new Date(0),
            dueAt: new Date(Date.now() + Math.max(connection.pollIntervalMs, open ? BREAKER_OPEN_MS : 0)),
          },
          $inc: { consecutiveFailures: 1 },
        },
      );
      throw error;
    }
  }

  /**
   * A backfill of one object, as the CLI runs it: takes the poll's lease like a replica would (waiting while one holds
   * it), then reads from the cursor to now, reporting each page. Interrupted (`signal`), it releases the lease after
   * the page Kafka acknowledged; run again, it resumes there. Answers the records read and published, and how many
   * the source holds up to now when it can tell.
   */
  async backfill(
    workspaceId: string,
    connectionId: string,
    vendorObject: string,
    progress: {
      onStart?: (total: number | undefined) => void;
      onPage?: (read: number, published: number) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<{ published: number }> {
    const connection = await this.connections.doc(workspaceId, connectionId);
    const object = this.registry.object(connection.connector, vendorObject);
    if (!object || !connection.objects.includes(vendorObject))
      throw new Error(`connection ${connectionId} does not sync '${vendorObject}'`);
    // Due or not, as soon as no replica holds it.
    let cursor = await this.lease(connection, vendorObject, false);
    while (!cursor) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      if (progress.signal?.aborted) return { published: 0 };
      cursor = await this.lease(connection, vendorObject, false);
    }
    const source = this.registry.source(connection.connector, this.connections.credentialsOf(connection));
    progress.onStart?.(await source.count?.(object, cursor.modifiedAt, Date.now()).catch(() => undefined));
    const published = await this.poll(connection, vendorObject, cursor, progress);
    return { published };
  }

  /** Gives the poll back before it is done (an interrupted backfill): due again at once. */
  private async release(cursor: ChangeCursorDoc): Promise<void> {
    await this.cursors.updateOne(
      { _id: cursor._id, leaseOwner: this.owner },
      { $set: { leaseOwner: null, leaseUntil: new Date(0), dueAt: new Date() } },
    );
  }

  /**
   * Saves the cursor, renewing the lease, or, once the poll is `done`, releases it until the next poll is due;
   * false when the lease was lost.
   */
  private async save(
    cursor: ChangeCursorDoc,
    position: ChangePosition,
    publishedNow: number,
    done: { intervalMs: number; published: number } | null,
  ): Promise<boolean> {
    const now = Date.now();
    const update = () =>
      this.cursors.updateOne(
        { _id: cursor._id, leaseOwner: this.owner },
        {
          $set: {
            modifiedAt: position.modifiedAt,
            lastId: position.id,
            leaseUntil: done ? new Date(0) : new Date(now + this.config.SYNC_POLL_LEASE_MS),
            leaseOwner: done ? null : this.owner,
            ...(done
              ? {
                  dueAt: new Date(now + done.intervalMs),
                  lastSuccessAt: new Date(now),
                  lastError: null,
                  consecutiveFailures: 0,
                  lastPublished: done.published,
                }
              : {}),
          },
          $inc: { published: publishedNow },
        },
      );
    for (let attempt = 1; ; attempt++) {
      if ((await update()).matchedCount === 1) return true;
      // FerretDB can answer "matched nothing" when another write to the same database lands at the same
      // moment (the rate budget's, for the page read ahead; seen in CI). The lease is lost only if the cursor names
      // another owner and does not already hold this very save.
      const current = await this.cursors
        .findById(cursor._id, { leaseOwner: 1, leaseUntil: 1, lastSuccessAt: 1 })
        .lean();
      const applied = done
        ? current?.leaseOwner === null && current.lastSuccessAt?.getTime() === now
        : current?.leaseOwner === this.owner &&
          current.leaseUntil.getTime() === now + this.config.SYNC_POLL_LEASE_MS;
      if (applied) return true;
      if (current?.leaseOwner !== this.owner || attempt === 3) return false;
    }
  }

  /**
   * Publishes where the object's capture stands (sync.connector.health, compacted), and warns in the log once the
   * vendor's retirement of the API version is near.
   */
  private async reportHealth(connection: ConnectionDoc, object: string): Promise<void> {
    const cursor = await this.cursors.findById(cursorIdOf(connection._id, object)).lean();
    const descriptor = this.registry.descriptor(connection.connector);
    if (!cursor || !descriptor) return;
    const now = Date.now();
    const sunsetSoon =
      descriptor.apiSunsetAt !== null && Date.parse(descriptor.apiSunsetAt) - now < API_SUNSET_WARNING_MS;
    if (sunsetSoon)
      this.logger.warn(
        { connectionId: connection._id, apiVersion: descriptor.apiVersion, sunsetAt: descriptor.apiSunsetAt },
        `${descriptor.vendor} retires the API version this connector speaks soon`,
      );
    const failures = cursor.consecutiveFailures ?? 0;
    await this.publisher.publish({
      topic: Topics.SyncConnectorHealth,
      key: `${connection._id}/${object}`,
      event: {
        metadata: originMetadata({ workspaceId: connection.workspaceId, source: 'sync', occurredAt: now }),
        connectionId: connection._id,
        connector: connection.connector,
        object,
        status: failures > 0 ? 'failing' : 'healthy',
        lastPollAt: cursor.lastPollAt?.getTime() ?? null,
        lastSuccessAt: cursor.lastSuccessAt?.getTime() ?? null,
        readUpTo: cursor.modifiedAt > 0 ? cursor.modifiedAt : null,
        // Caught up means read to where the last successful poll began.
        lagMs: cursor.lastSuccessAt ? now - cursor.lastSuccessAt.getTime() : null,
        published: cursor.lastPublished,
        consecutiveFailures: failures,
        lastError: cursor.lastError,
        apiVersion: descriptor.apiVersion,
        apiSunsetAt: descriptor.apiSunsetAt,
        apiSunsetSoon: sunsetSoon,
      },
    });
  }

  /** The records whose version was not published yet (one read of their last published versions). */
  private async unpublished(
    connection: ConnectionDoc,
    object: string,
    records: readonly VendorRecord[],
  ): Promise<VendorRecord[]> {
    if (records.length === 0) return [];
    const ids = records.map((r) => versionIdOf(connection._id, object, r.id));
    const known = new Map(
      (await this.versions.find({ _id: { $in: ids } }).lean()).map((v) => [v._id, v.modifiedAt]),
    );
    return records.filter((r, i) => (known.get(ids[i] as string) ?? -1) < r.modifiedAt);
  }

  /**
   * Keeps each record's latest published version: inserted when new (one statement for a backfill's page on
   * FerretDB, where upserts go one by one), raised with `$max` when the record was published before.
   */
  private async remember(
    connection: ConnectionDoc,
    object: string,
    records: readonly VendorRecord[],
  ): Promise<void> {
    const docs = records.map((r) => ({
      _id: versionIdOf(connection._id, object, r.id),
      modifiedAt: r.modifiedAt,
    }));
    const taken = await this.versions.insertMany(docs, { ordered: false, lean: true }).then(
      () => [],
      (error: unknown) => {
        if (!isDuplicateKey(error)) throw error;
        const failed = (error as { writeErrors?: { index?: number; err?: { index?: number } }[] })
          .writeErrors;
        const indexes = new Set((failed ?? []).map((e) => e.index ?? e.err?.index));
        // Which ones were taken unknown: raise them all (a $max is harmless on the new ones).
        return indexes.has(undefined) || indexes.size === 0 ? docs : docs.filter((_, i) => indexes.has(i));
      },
    );
    if (taken.length === 0) return;
    await this.versions.bulkWrite(
      taken.map((doc) => ({
        updateOne: {
          filter: { _id: doc._id },
          update: { $max: { modifiedAt: doc.modifiedAt } },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }
}

/** How long before the vendor retires an API version the connector warns. */
const API_SUNSET_WARNING_MS = 90 * 86_400_000;
/** Polls failed in a row (each after the source's own retries) that open an object's breaker, and for how long. */
const BREAKER_FAILURES = 5;
const BREAKER_OPEN_MS = 30_000;

export const versionIdOf = (connectionId: string, object: string, id: string) =>
  `${connectionId}|${object}|${id}`;

/**
 * A vendor record's change as `records.changed` carries webhook changes: the vendor's field names, the vendor's
 * modification time. Its id comes from the connection, record and version, so a repeat is the same event.
 */
export function changeEvent(
  connection: ConnectionDoc,
  object: ConnectorObject,
  record: VendorRecord,
): OutgoingEvent<typeof Topics.RecordsChanged> {
  const event: RecordChanged = {
    metadata: originMetadata({
      workspaceId: connection.workspaceId,
      source: `sync:${connection.connector}`,
      occurredAt: record.modifiedAt,
      eventId: fastUuidV5(`cdc/${connection._id}/${object.vendorObject}/${record.id}/${record.modifiedAt}`),
    }),
    system: connection.connector,
    objectType: object.entity,
    externalId: record.id,
    operation: record.createdAt === record.modifiedAt ? 'create' : 'update',
    fieldsJson: JSON.stringify(record.fields),
    changedAt: record.modifiedAt,
  };
  return {
    topic: Topics.RecordsChanged,
    key: `${connection.connector}:${object.entity}:${record.id}`,
    event,
  };
}

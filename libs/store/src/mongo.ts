import mongoose, { type Connection } from 'mongoose';
import type { ReadinessCheck } from '@tributary/observability';

/** A store command that took longer than the configured bound: what and where, never the values. */
export interface SlowStoreCommand {
  command: string;
  collection: string | undefined;
  durationMs: number;
}

/**
 * Opens the service's own database; mongoose buffers nothing, so a down store surfaces as an error, not a hang.
 * With `slowCommandMs` > 0, commands slower than that are reported to `onSlowCommand` (driver command monitoring).
 */
export async function connectServiceStore(
  url: string,
  dbName: string,
  options: { slowCommandMs?: number; onSlowCommand?: (slow: SlowStoreCommand) => void } = {},
): Promise<Connection> {
  const { slowCommandMs = 0, onSlowCommand } = options;
  const monitor = slowCommandMs > 0 && onSlowCommand !== undefined;
  // Mongoose records a stack trace for every query it runs, only to word a "query was already executed" error; with
  // source maps that was 4% of scoring's CPU under a burst of leads.
  mongoose.set('skipOriginalStackTraces', true);
  const connection = mongoose.createConnection(url, {
    dbName,
    serverSelectionTimeoutMS: 3_000,
    heartbeatFrequencyMS: 2_000,
    bufferCommands: false,
    autoIndex: true,
    monitorCommands: monitor,
  });
  if (monitor) {
    const collections = new Map<number, string | undefined>();
    const client = connection.getClient();
    client.on('commandStarted', (event) => {
      const target: unknown = event.command[event.commandName];
      collections.set(event.requestId, typeof target === 'string' ? target : undefined);
    });
    const finish = (event: { requestId: number; commandName: string; duration: number }) => {
      const collection = collections.get(event.requestId);
      collections.delete(event.requestId);
      if (event.duration >= slowCommandMs)
        onSlowCommand({ command: event.commandName, collection, durationMs: event.duration });
    };
    client.on('commandSucceeded', finish);
    client.on('commandFailed', finish);
  }
  await connection.asPromise();
  return connection;
}

/** Readiness of the store: a ping round trip. */
export function storeReadiness(connection: Connection): ReadinessCheck {
  return {
    name: 'store',
    async check() {
      const db = connection.db;
      if (!db) throw new Error('not connected');
      await db.command({ ping: 1 });
    },
  };
}

/** True when an error means the store is unreachable (so work should pause), not that the data is bad. */
export function isStoreUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const name = error.name;
  return (
    name === 'MongoNetworkError' ||
    name === 'MongoServerSelectionError' ||
    name === 'MongoNotConnectedError' ||
    name === 'MongoNetworkTimeoutError' ||
    name === 'MongoTopologyClosedError' ||
    /connection .* closed|ECONNREFUSED|buffering timed out/i.test(error.message)
  );
}

// MongoDB's codes for a document no server will take as it is: BadValue, BSONObjectTooLarge, document too large.
const REFUSED_DOCUMENT_CODES = new Set([2, 10334, 17419]);

/**
 * True when the store refused the data itself, so the same write can never succeed: the driver could not encode it
 * (a NUL in a key), PostgreSQL behind FerretDB raised a data exception (SQLSTATE class 22, e.g. 22P05 for a NUL in
 * text) or found a value over one of its limits (class 54), or MongoDB called the document invalid. Retrying such a write only delays its dead letter.
 */
export function isStoreDataRejection(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'BSONError') return true;
  // Class 22: data exception; class 54: a limit the value exceeds (e.g. an index entry over 2,700 bytes).
  if (/SQLSTATE (22|54)[0-9A-Z]{3}/.test(error.message)) return true;
  const code = (error as { code?: unknown }).code;
  return error.name === 'MongoServerError' && typeof code === 'number' && REFUSED_DOCUMENT_CODES.has(code);
}

/**
 * True when a write failed because a document with that `_id` (or unique key) exists: the way an insert claims
 * something exactly once, on MongoDB and on FerretDB alike.
 */
export function isDuplicateKey(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, writeErrors } = error as {
    code?: unknown;
    writeErrors?: { code?: unknown; err?: { code?: unknown } }[];
  };
  // A bulk write's error carries each failed write (mongoose's insertMany keeps the driver's under `err`); it is a
  // duplicate only if every one of them is.
  if (Array.isArray(writeErrors) && writeErrors.length > 0)
    return writeErrors.every((failed) => (failed.code ?? failed.err?.code) === 11000);
  return code === 11000;
}

/**
 * Runs upserts once more when one of them lost a race to insert the same `_id` (E11000): two consumers upserting a
 * new contact at once. MongoDB retries such an upsert itself in some cases, FerretDB never does. The second run finds
 * the document and updates it; the writes must be safe to apply twice (`$set`, `$setOnInsert`, guarded `$inc`s).
 */
export async function upsertRacing<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
    return write();
  }
}

/** The collection operations the batch helpers below need (a mongoose model's `collection` has them). */
export interface BatchCollection<T> {
  find(
    filter: Record<string, unknown>,
    options?: { projection?: Record<string, 0 | 1> },
  ): { toArray(): Promise<T[]> };
  insertMany(docs: readonly T[], options: { ordered: false }): Promise<unknown>;
}

/** How many ids one `$in` read carries: big enough for a whole batch, small enough for any server's limits. */
const IDS_PER_READ = 1_000;

/**
 * Reads documents by `_id`, one `$in` query per thousand ids: an index lookup on MongoDB and on our patched FerretDB
 * (upstream FerretDB scanned the collection for `$in`).
 */
export async function findByIds<T extends { _id: string }>(
  collection: BatchCollection<T>,
  ids: Iterable<string>,
  projection?: Record<string, 0 | 1>,
): Promise<Map<string, T>> {
  const unique = [...new Set(ids)];
  const found = new Map<string, T>();
  for (let start = 0; start < unique.length; start += IDS_PER_READ) {
    const chunk = unique.slice(start, start + IDS_PER_READ);
    const docs = await collection.find({ _id: { $in: chunk } }, projection ? { projection } : {}).toArray();
    for (const doc of docs) found.set(doc._id, doc);
  }
  return found;
}

/**
 * Inserts documents in one unordered `insertMany` and returns the positions of those whose `_id` existed already
 * (each insert is a claim, as with `isDuplicateKey`); any other failure is thrown.
 */
export async function insertClaims<T>(
  collection: BatchCollection<T>,
  docs: readonly T[],
): Promise<Set<number>> {
  if (docs.length === 0) return new Set();
  try {
    await collection.insertMany(docs, { ordered: false });
    return new Set();
  } catch (error) {
    return duplicatePositions(error);
  }
}

/** The positions an unordered bulk refused with a duplicate key; any other failure is thrown. */
function duplicatePositions(error: unknown): Set<number> {
  const writeErrors = (error as { writeErrors?: unknown }).writeErrors;
  const failures = Array.isArray(writeErrors) ? (writeErrors as { index: number; code?: unknown }[]) : [];
  if (failures.length === 0 || failures.some((failure) => failure.code !== 11000)) throw error;
  return new Set(failures.map((failure) => failure.index));
}

/** An update of the one document `filter._id` names, applied only while the rest of `filter` holds. */
export interface GuardedUpdate {
  filter: { _id: string } & Record<string, unknown>;
  update: Record<string, unknown>;
}

/**
 * Guarded updates as `updateMany`s: those with the same update and the same guard become one `updateMany` over
 * their `_id`s. FerretDB applies an `updateMany` of 500 documents in about half the time of a bulk of 500
 * `updateOne`s, and enrollments stopping at the same step write the same update.
 */
export function groupedUpdates(
  updates: readonly GuardedUpdate[],
): { updateMany: { filter: Record<string, unknown>; update: Record<string, unknown> } }[] {
  const groups = new Map<
    string,
    { guard: Record<string, unknown>; update: Record<string, unknown>; ids: string[] }
  >();
  for (const { filter, update } of updates) {
    const { _id, ...guard } = filter;
    // Equal JSON is an equal update here: dates serialise to their instant, and one writer builds each shape.
    const key = JSON.stringify([guard, update]);
    const group = groups.get(key);
    if (group) group.ids.push(_id);
    else groups.set(key, { guard, update, ids: [_id] });
  }
  return [...groups.values()].map(({ guard, update, ids }) => ({
    updateMany: { filter: { ...guard, _id: ids.length === 1 ? ids[0] : { $in: ids } }, update },
  }));
}

/** The collection operation `guardedUpserts` needs (a mongoose model's `collection` has it). */
export interface UpsertCollection {
  bulkWrite(
    operations: { updateOne: GuardedUpdate & { upsert: true } }[],
    options: { ordered: false },
  ): Promise<unknown>;
}

/**
 * Applies guarded updates in one unordered bulk of upserts and returns the positions refused: their document exists
 * but fails the guard, so the upsert's insert meets its `_id` (E11000). A missing document is created. A counter
 * under a bound is one such update, e.g. `{ _id, open: { $lte: capacity - n } }` with `{ $inc: { open: n } }`.
 * Exact where an update is atomic on its document and each refusal is reported at its own position: MongoDB, and
 * FerretDB with our patches 4 and 6 (released, the first refusal failed the rest of the bulk).
 */
export async function guardedUpserts(
  collection: UpsertCollection,
  updates: readonly GuardedUpdate[],
): Promise<Set<number>> {
  if (updates.length === 0) return new Set();
  try {
    await collection.bulkWrite(
      updates.map((update) => ({ updateOne: { ...update, upsert: true } })),
      { ordered: false },
    );
    return new Set();
  } catch (error) {
    return duplicatePositions(error);
  }
}

/** The collection operations document expiry needs (a mongoose model's `collection` has them). */
export interface ExpiringCollection {
  createIndex(spec: Record<string, 1>, options?: { expireAfterSeconds?: number }): Promise<unknown>;
  deleteMany(filter: Record<string, unknown>): Promise<{ deletedCount: number }>;
}

/** Deletes documents whose `field` (a Date) is older than `ttlMs`; returns how many. */
export async function deleteExpired(
  collection: ExpiringCollection,
  field: string,
  ttlMs: number,
  now = Date.now(),
): Promise<number> {
  const result = await collection.deleteMany({ [field]: { $lt: new Date(now - ttlMs) } });
  return result.deletedCount;
}

/**
 * Expires documents after `ttlMs` by their `field`: a TTL index where the server has them (MongoDB); FerretDB 1.x
 * refuses `expireAfterSeconds`, so there a plain index plus a periodic sweep does the same job. `stop()` ends the
 * sweep (a no-op with a TTL index).
 */
export async function expireDocuments(
  collection: ExpiringCollection,
  field: string,
  ttlMs: number,
  sweepEveryMs = 600_000,
): Promise<{ mode: 'ttl-index' | 'sweeper'; stop(): void }> {
  try {
    await collection.createIndex({ [field]: 1 }, { expireAfterSeconds: Math.round(ttlMs / 1000) });
    return { mode: 'ttl-index', stop: () => undefined };
  } catch (error) {
    if (!/expireAfterSeconds/.test(String((error as Error).message))) throw error;
    await collection.createIndex({ [field]: 1 });
    const sweeper = setInterval(
      () => void deleteExpired(collection, field, ttlMs).catch(() => undefined),
      sweepEveryMs,
    );
    sweeper.unref();
    return { mode: 'sweeper', stop: () => clearInterval(sweeper) };
  }
}

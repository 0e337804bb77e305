import { Schema, type Connection, type Model } from 'mongoose';

export type ConnectionStatus = 'active' | 'paused';

/** A workspace's connection to one vendor account. Credentials are sealed (SecretBox); nothing else is secret. */
export interface ConnectionDoc {
  _id: string;
  workspaceId: string;
  connector: string;
  name: string;
  /** The vendor objects it syncs (`contacts`, `companies`). */
  objects: string[];
  status: ConnectionStatus;
  /** JSON of the credentials, sealed with the connection's workspace and id as context. */
  credentials: string;
  pollIntervalMs: number;
  /** How far behind its cursor each poll reads again, for changes the vendor makes visible late. */
  lookbackMs: number;
  /** The last test (a real call to the vendor): when, and why it failed. */
  lastTest: { at: Date; ok: boolean; reason: string | null } | null;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Where change capture stands on one object of one connection: every record modified before `modifiedAt`, and those
 * at it with an id up to `lastId`, has been published. Saved only after Kafka acknowledged what was read. The lease
 * keeps the poll to one replica at a time.
 */
export interface ChangeCursorDoc {
  _id: string;
  workspaceId: string;
  connectionId: string;
  object: string;
  modifiedAt: number;
  lastId: string;
  leaseOwner: string | null;
  leaseUntil: Date;
  /** When the next poll is due. */
  dueAt: Date;
  lastPollAt: Date | null;
  lastSuccessAt: Date | null;
  lastError: string | null;
  /** Polls failed in a row (0 once one succeeds). */
  consecutiveFailures?: number;
  /** Records published by the last poll, and since the cursor was made. */
  lastPublished: number;
  published: number;
}

/** The version (vendor modification time) of each record last published: a re-read of the same version is dropped. */
export interface RecordVersionDoc {
  _id: string;
  modifiedAt: number;
}

const connectionSchema = new Schema<ConnectionDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    connector: { type: String, required: true },
    name: { type: String, required: true },
    objects: { type: [String], required: true },
    status: { type: String, required: true },
    credentials: { type: String, required: true },
    pollIntervalMs: { type: Number, required: true },
    lookbackMs: { type: Number, required: true },
    lastTest: { type: Schema.Types.Mixed, default: null },
    createdBy: { type: String, required: true },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'sync_connections' },
);

const cursorSchema = new Schema<ChangeCursorDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    connectionId: { type: String, required: true },
    object: { type: String, required: true },
    modifiedAt: { type: Number, required: true },
    lastId: { type: String, default: '' },
    leaseOwner: { type: String, default: null },
    leaseUntil: { type: Date, required: true },
    dueAt: { type: Date, required: true },
    lastPollAt: { type: Date, default: null },
    lastSuccessAt: { type: Date, default: null },
    lastError: { type: String, default: null },
    consecutiveFailures: { type: Number, default: 0 },
    lastPublished: { type: Number, default: 0 },
    published: { type: Number, default: 0 },
  },
  { versionKey: false, collection: 'sync_change_cursors' },
);

const versionSchema = new Schema<RecordVersionDoc>(
  { _id: { type: String, required: true }, modifiedAt: { type: Number, required: true } },
  { versionKey: false, collection: 'sync_record_versions' },
);

export const CONNECTION_MODEL = Symbol('CONNECTION_MODEL');
export const CHANGE_CURSOR_MODEL = Symbol('CHANGE_CURSOR_MODEL');
export const RECORD_VERSION_MODEL = Symbol('RECORD_VERSION_MODEL');

/** The connection's model of that name, made once (mongoose refuses a second model of one name). */
export const modelOf = <T>(connection: Connection, name: string, schema: Schema<T>): Model<T> =>
  (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);

export const connectionModel = (c: Connection) => modelOf(c, 'SyncConnection', connectionSchema);
export const changeCursorModel = (c: Connection) => modelOf(c, 'SyncChangeCursor', cursorSchema);
export const recordVersionModel = (c: Connection) => modelOf(c, 'SyncRecordVersion', versionSchema);

export const cursorIdOf = (connectionId: string, object: string) => `${connectionId}|${object}`;

import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Model } from 'mongoose';
import { z } from 'zod';
import { SecretBox } from '@tributary/access';
import { SERVICE_CONFIG } from '@tributary/config';
import { fieldProblemsOf, type FieldProblem } from '@tributary/runtime';
import type { SyncConfig } from '../config';
import {
  CONNECTOR_REGISTRY,
  CREDENTIALS,
  type ConnectorCredentials,
  type ConnectorRegistry,
} from '../connectors/connector-registry';
import {
  CHANGE_CURSOR_MODEL,
  CONNECTION_MODEL,
  RECORD_VERSION_MODEL,
  cursorIdOf,
  type ChangeCursorDoc,
  type ConnectionDoc,
  type ConnectionStatus,
  type RecordVersionDoc,
} from './connection.models';

export const connectionRequest = z
  .object({
    connector: z.string().min(1),
    name: z.string().min(1).max(200),
    objects: z.array(z.string().min(1)).min(1).max(10),
    credentials: z.record(z.string().max(4_000)),
    pollIntervalSeconds: z.number().int().min(1).max(86_400).default(60),
    lookbackSeconds: z.number().int().min(0).max(86_400).default(30),
  })
  .strict();

export type ConnectionRequest = z.input<typeof connectionRequest>;

/** A connection as the API shows it: never its credentials. */
export interface ConnectionView {
  id: string;
  connector: string;
  name: string;
  objects: string[];
  status: ConnectionStatus;
  pollIntervalSeconds: number;
  lookbackSeconds: number;
  lastTest: { at: string; ok: boolean; reason: string | null } | null;
  /** Change capture per object: how far it has read (the source's time), its last polls, and what it published. */
  capture?: Record<string, CaptureView>;
  createdAt: string;
  updatedAt: string;
}

export interface CaptureView {
  /** Every change up to this time of the vendor's clock has been published; null before the first. */
  readUpTo: string | null;
  lastPollAt: string | null;
  lastSuccessAt: string | null;
  lastError: string | null;
  published: number;
}

export type ConnectionWrite = { ok: true; view: ConnectionView } | { ok: false; errors: FieldProblem[] };

export class ConnectionNotFoundError extends Error {}

/**
 * A workspace's vendor connections: created with credentials sealed at rest (never returned, never logged), tested
 * with a real vendor call, paused and resumed (change capture skips paused ones), deleted with their cursors.
 */
@Injectable()
export class Connections {
  private readonly box: SecretBox;

  constructor(
    @Inject(CONNECTION_MODEL) private readonly connections: Model<ConnectionDoc>,
    @Inject(CHANGE_CURSOR_MODEL) private readonly cursors: Model<ChangeCursorDoc>,
    @Inject(RECORD_VERSION_MODEL) private readonly versions: Model<RecordVersionDoc>,
    @Inject(CONNECTOR_REGISTRY) private readonly registry: ConnectorRegistry,
    @Inject(SERVICE_CONFIG) config: SyncConfig,
  ) {
    this.box = new SecretBox(config.SYNC_CREDENTIALS_KEYS, 'sync-connections');
  }

  async create(workspaceId: string, body: unknown, createdBy: string): Promise<ConnectionWrite> {
    const parsed = connectionRequest.safeParse(body);
    // The connector's own credentials schema, checked in the same pass so every field error comes back at once.
    const raw = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const schema = typeof raw['connector'] === 'string' ? CREDENTIALS[raw['connector']] : undefined;
    const credentials = schema?.safeParse(raw['credentials'] ?? {});
    const credentialErrors =
      credentials && !credentials.success
        ? fieldProblemsOf(credentials.error, 'credentials').map((p) => ({
            ...p,
            field: p.field ? `credentials.${p.field}` : 'credentials',
          }))
        : [];
    if (!parsed.success || credentialErrors.length > 0)
      return {
        ok: false,
        errors: [
          ...(parsed.success
            ? []
            : fieldProblemsOf(parsed.error, 'a connection: a JSON object').filter(
                (p) => !p.field.startsWith('credentials'),
              )),
          ...credentialErrors,
        ],
      };
    const request = parsed.data;
    const descriptor = this.registry.descriptor(request.connector);
    if (!descriptor)
      return { ok: false, errors: [{ field: 'connector', reason: `no connector '${request.connector}'` }] };
    const unknown = request.objects.filter((o) => !this.registry.object(request.connector, o));
    if (unknown.length > 0)
      return {
        ok: false,
        errors: unknown.map((o) => ({
          field: 'objects',
          reason: `${descriptor.vendor} has no object '${o}' here; one of ${descriptor.objects.map((d) => d.vendorObject).join(', ')}`,
        })),
      };
    const id = `conn_${randomUUID().replace(/-/g, '')}`;
    const now = new Date();
    const doc: ConnectionDoc = {
      _id: id,
      workspaceId,
      connector: request.connector,
      name: request.name,
      objects: [...new Set(request.objects)],
      status: 'active',
      credentials: this.box.seal(JSON.stringify(request.credentials), `${workspaceId}/${id}`),
      pollIntervalMs: request.pollIntervalSeconds * 1000,
      lookbackMs: request.lookbackSeconds * 1000,
      lastTest: null,
      createdBy,
      createdAt: now,
      updatedAt: now,
    };
    // Cursors first: a connection is never without the cursors change capture polls by.
    await this.cursors.insertMany(
      doc.objects.map((object) => ({
        _id: cursorIdOf(id, object),
        workspaceId,
        connectionId: id,
        object,
        modifiedAt: 0,
        lastId: '',
        leaseOwner: null,
        leaseUntil: new Date(0),
        dueAt: now,
        lastPollAt: null,
        lastSuccessAt: null,
        lastError: null,
        lastPublished: 0,
        published: 0,
      })),
    );
    await this.connections.create(doc);
    return { ok: true, view: viewOf(doc) };
  }

  async list(workspaceId: string): Promise<ConnectionView[]> {
    const docs = await this.connections.find({ workspaceId }).sort({ createdAt: 1 }).lean();
    return docs.map(viewOf);
  }

  /** One connection, with where change capture stands on each of its objects. */
  async get(workspaceId: string, id: string): Promise<ConnectionView> {
    const doc = await this.doc(workspaceId, id);
    const cursors = await this.cursors.find({ _id: { $in: cursorIdsOf(doc) } }).lean();
    const iso = (date: Date | null) => (date ? new Date(date).toISOString() : null);
    const capture = Object.fromEntries(
      cursors.map((c): [string, CaptureView] => [
        c.object,
        {
          readUpTo: c.modifiedAt > 0 ? new Date(c.modifiedAt).toISOString() : null,
          lastPollAt: iso(c.lastPollAt),
          lastSuccessAt: iso(c.lastSuccessAt),
          lastError: c.lastError,
          published: c.published,
        },
      ]),
    );
    return { ...viewOf(doc), capture };
  }

  /** The connection of a workspace, or ConnectionNotFoundError (also for another workspace's). */
  async doc(workspaceId: string, id: string): Promise<ConnectionDoc> {
    const doc = await this.connections.findOne({ _id: id }).lean();
    if (!doc || doc.workspaceId !== workspaceId) throw new ConnectionNotFoundError(`no connection '${id}'`);
    return doc;
  }

  /** Active connections of every workspace (change capture's round). */
  async active(): Promise<ConnectionDoc[]> {
    return this.connections.find({ status: 'active' }).lean();
  }

  /** A workspace's active connections (outbound sync writes to them). */
  async activeIn(workspaceId: string): Promise<ConnectionDoc[]> {
    return this.connections.find({ workspaceId, status: 'active' }).lean();
  }

  credentialsOf(doc: ConnectionDoc): ConnectorCredentials {
    return JSON.parse(
      this.box.open(doc.credentials, `${doc.workspaceId}/${doc._id}`),
    ) as ConnectorCredentials;
  }

  /** A real call to the vendor with the connection's credentials; the outcome is kept on the connection. */
  async test(workspaceId: string, id: string): Promise<ConnectionView> {
    const doc = await this.doc(workspaceId, id);
    let reason: string | null = null;
    try {
      await this.registry.source(doc.connector, this.credentialsOf(doc)).check();
    } catch (error) {
      reason = vendorReason(error);
    }
    const lastTest = { at: new Date(), ok: reason === null, reason };
    await this.connections.updateOne({ _id: id }, { $set: { lastTest, updatedAt: lastTest.at } });
    return viewOf({ ...doc, lastTest, updatedAt: lastTest.at });
  }

  async setStatus(workspaceId: string, id: string, status: ConnectionStatus): Promise<ConnectionView> {
    const doc = await this.doc(workspaceId, id);
    const updatedAt = new Date();
    await this.connections.updateOne({ _id: id }, { $set: { status, updatedAt } });
    if (status === 'active')
      await this.cursors.updateMany({ _id: { $in: cursorIdsOf(doc) } }, { $set: { dueAt: updatedAt } });
    return viewOf({ ...doc, status, updatedAt });
  }

  async delete(workspaceId: string, id: string): Promise<void> {
    const doc = await this.doc(workspaceId, id);
    await this.connections.deleteOne({ _id: id });
    await this.cursors.deleteMany({ _id: { $in: cursorIdsOf(doc) } });
    await this.versions.deleteMany({ _id: { $gte: `${id}|`, $lt: `${id}}` } });
  }
}

/** Its cursors' ids: looked up by `_id`, which the store's index serves (a `connectionId` filter scans). */
const cursorIdsOf = (doc: ConnectionDoc) => doc.objects.map((object) => cursorIdOf(doc._id, object));

function viewOf(doc: ConnectionDoc): ConnectionView {
  return {
    id: doc._id,
    connector: doc.connector,
    name: doc.name,
    objects: doc.objects,
    status: doc.status,
    pollIntervalSeconds: doc.pollIntervalMs / 1000,
    lookbackSeconds: doc.lookbackMs / 1000,
    lastTest: doc.lastTest ? { ...doc.lastTest, at: new Date(doc.lastTest.at).toISOString() } : null,
    createdAt: doc.createdAt.toISOString(),
    updatedAt: doc.updatedAt.toISOString(),
  };
}

/** A vendor failure in a line for people: the status and the vendor's message, never the request's credentials. */
export function vendorReason(error: unknown): string {
  const failure = error as { code?: unknown; body?: { message?: unknown; category?: unknown } };
  if (typeof failure.code === 'number') {
    const message = typeof failure.body?.message === 'string' ? failure.body.message : 'no message';
    const category = typeof failure.body?.category === 'string' ? ` ${failure.body.category}` : '';
    return `HTTP ${failure.code}${category}: ${message.slice(0, 300)}`;
  }
  return error instanceof Error ? error.message.slice(0, 300) : String(error).slice(0, 300);
}

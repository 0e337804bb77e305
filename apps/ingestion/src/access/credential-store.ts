import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKey } from '@tributary/store';
import { CredentialKind, liveSecrets, type CredentialSnapshot } from '@tributary/access';

/** A tenant. Its id is what every event and read model is keyed by. */
export interface WorkspaceDoc {
  _id: string;
  name: string;
  createdAt: Date;
}

/** One secret of an API key; a rotated-out secret keeps working until `expiresAt`. */
export interface KeySecret {
  hash: string;
  createdAt: Date;
  expiresAt: Date | null;
}

export interface ApiKeyDoc {
  _id: string;
  workspaceId: string;
  name: string;
  scopes: string[];
  secrets: KeySecret[];
  createdAt: Date;
  revokedAt: Date | null;
  /** Bumped by every rotation: optimistic concurrency without transactions (FerretDB has none). */
  revision: number;
}

export interface OAuthClientDoc {
  _id: string;
  workspaceId: string;
  name: string;
  scopes: string[];
  secretHash: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/** Raised when a rotation raced another one on the same key. */
export class ConcurrentChangeError extends Error {}

const workspaceSchema = new Schema<WorkspaceDoc>(
  { _id: { type: String, required: true }, name: { type: String, required: true }, createdAt: Date },
  { versionKey: false, collection: 'workspaces' },
);

const apiKeySchema = new Schema<ApiKeyDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true, index: true },
    name: { type: String, required: true },
    scopes: { type: [String], required: true },
    secrets: {
      type: [{ _id: false, hash: String, createdAt: Date, expiresAt: { type: Date, default: null } }],
      required: true,
    },
    createdAt: { type: Date, required: true },
    revokedAt: { type: Date, default: null },
    revision: { type: Number, required: true },
  },
  { versionKey: false, collection: 'api_keys' },
);

const oauthClientSchema = new Schema<OAuthClientDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true, index: true },
    name: { type: String, required: true },
    scopes: { type: [String], required: true },
    secretHash: { type: String, required: true },
    createdAt: { type: Date, required: true },
    revokedAt: { type: Date, default: null },
  },
  { versionKey: false, collection: 'oauth_clients' },
);

/**
 * The secrets of a key after a rotation: the new one, plus earlier ones ending at most `graceMs` from now (already
 * expired ones are dropped, so the list stays short).
 */
export function rotatedSecrets(
  secrets: readonly KeySecret[],
  newHash: string,
  graceMs: number,
  now: number,
): KeySecret[] {
  const graceEnd = now + graceMs;
  const kept = liveSecrets(secrets, now)
    .map((s) => ({
      ...s,
      expiresAt: new Date(Math.min(s.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY, graceEnd)),
    }))
    .filter((s) => s.expiresAt.getTime() > now);
  return [{ hash: newHash, createdAt: new Date(now), expiresAt: null }, ...kept];
}

const latest = (...dates: (Date | null)[]) =>
  new Date(Math.max(...dates.map((d) => d?.getTime() ?? Number.NEGATIVE_INFINITY)));

/** What every service may know of an API key (hashes only); `updatedAt` is its last change. */
export function apiKeySnapshot(key: ApiKeyDoc): Extract<CredentialSnapshot, { kind: 'api-key' }> {
  return {
    kind: CredentialKind.ApiKey,
    keyId: key._id,
    workspaceId: key.workspaceId,
    scopes: key.scopes,
    secrets: key.secrets.map((s) => ({ hash: s.hash, expiresAt: s.expiresAt })),
    revokedAt: key.revokedAt,
    updatedAt: latest(key.createdAt, key.revokedAt, ...key.secrets.map((s) => s.createdAt)),
  };
}

/** What every service may know of an OAuth client: not even its secret's hash (only the edge issues tokens). */
export function clientSnapshot(
  client: OAuthClientDoc,
): Extract<CredentialSnapshot, { kind: 'oauth-client' }> {
  return {
    kind: CredentialKind.OAuthClient,
    clientId: client._id,
    workspaceId: client.workspaceId,
    scopes: client.scopes,
    revokedAt: client.revokedAt,
    updatedAt: latest(client.createdAt, client.revokedAt),
  };
}

/** Workspaces, API keys and OAuth clients in ingestion's own database. Secrets arrive here already hashed. */
export class CredentialStore {
  private readonly workspaces: Model<WorkspaceDoc>;
  private readonly keys: Model<ApiKeyDoc>;
  private readonly clients: Model<OAuthClientDoc>;

  constructor(connection: Connection) {
    this.workspaces =
      connection.models['Workspace'] ?? connection.model<WorkspaceDoc>('Workspace', workspaceSchema);
    this.keys = connection.models['ApiKey'] ?? connection.model<ApiKeyDoc>('ApiKey', apiKeySchema);
    this.clients =
      connection.models['OAuthClient'] ?? connection.model<OAuthClientDoc>('OAuthClient', oauthClientSchema);
  }

  /** False when the id is taken. */
  async createWorkspace(workspace: WorkspaceDoc): Promise<boolean> {
    try {
      await this.workspaces.create(workspace);
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  async findWorkspace(id: string): Promise<WorkspaceDoc | null> {
    return this.workspaces.findById(id).lean<WorkspaceDoc>();
  }

  async listWorkspaces(onlyId?: string): Promise<WorkspaceDoc[]> {
    const filter = onlyId === undefined ? {} : { _id: onlyId };
    return this.workspaces.find(filter).sort({ createdAt: 1 }).lean<WorkspaceDoc[]>();
  }

  async createKey(key: ApiKeyDoc): Promise<void> {
    await this.keys.create(key);
  }

  /** A key by id alone (authentication: the id comes from the presented key). */
  async findKey(keyId: string): Promise<ApiKeyDoc | null> {
    return this.keys.findById(keyId).lean<ApiKeyDoc>();
  }

  /** A key of one workspace (administration: never reaches another workspace's keys). */
  async findWorkspaceKey(workspaceId: string, keyId: string): Promise<ApiKeyDoc | null> {
    return this.keys.findOne({ _id: keyId, workspaceId }).lean<ApiKeyDoc>();
  }

  /** Every key of every workspace (start-up snapshot of access.credentials). */
  async allKeys(): Promise<ApiKeyDoc[]> {
    return this.keys.find({}).lean<ApiKeyDoc[]>();
  }

  /** Every OAuth client of every workspace (start-up snapshot of access.credentials). */
  async allClients(): Promise<OAuthClientDoc[]> {
    return this.clients.find({}).lean<OAuthClientDoc[]>();
  }

  async listKeys(workspaceId: string): Promise<ApiKeyDoc[]> {
    return this.keys.find({ workspaceId }).sort({ createdAt: 1 }).lean<ApiKeyDoc[]>();
  }

  /** Keys of a workspace not revoked (the per-workspace cap counts these). */
  async countActiveKeys(workspaceId: string): Promise<number> {
    return this.keys.countDocuments({ workspaceId, revokedAt: null });
  }

  /** Replaces the secrets of a live key if nobody rotated it meanwhile; null when it is gone or revoked. */
  async replaceSecrets(key: ApiKeyDoc, secrets: KeySecret[]): Promise<ApiKeyDoc | null> {
    const result = await this.keys.updateOne(
      { _id: key._id, workspaceId: key.workspaceId, revision: key.revision, revokedAt: null },
      { $set: { secrets, revision: key.revision + 1 } },
    );
    if (result.matchedCount === 0) {
      const current = await this.findWorkspaceKey(key.workspaceId, key._id);
      if (current && current.revokedAt === null) throw new ConcurrentChangeError('key changed concurrently');
      return null;
    }
    return { ...key, secrets, revision: key.revision + 1 };
  }

  /** Marks a key revoked (idempotent); false when the workspace has no such key. */
  async revokeKey(workspaceId: string, keyId: string, now: Date): Promise<boolean> {
    // Two plain updates rather than an update pipeline (FerretDB 1.x has none); the filter keeps the first revokedAt.
    const result = await this.keys.updateOne(
      { _id: keyId, workspaceId, revokedAt: null },
      { $set: { revokedAt: now } },
    );
    return result.matchedCount > 0 || (await this.findWorkspaceKey(workspaceId, keyId)) !== null;
  }

  async createClient(client: OAuthClientDoc): Promise<void> {
    await this.clients.create(client);
  }

  async findClient(clientId: string): Promise<OAuthClientDoc | null> {
    return this.clients.findById(clientId).lean<OAuthClientDoc>();
  }

  async listClients(workspaceId: string): Promise<OAuthClientDoc[]> {
    return this.clients.find({ workspaceId }).sort({ createdAt: 1 }).lean<OAuthClientDoc[]>();
  }

  /** OAuth clients of a workspace not revoked. */
  async countActiveClients(workspaceId: string): Promise<number> {
    return this.clients.countDocuments({ workspaceId, revokedAt: null });
  }

  async revokeClient(workspaceId: string, clientId: string, now: Date): Promise<boolean> {
    const result = await this.clients.updateOne(
      { _id: clientId, workspaceId, revokedAt: null },
      { $set: { revokedAt: now } },
    );
    return result.matchedCount > 0 || (await this.clients.exists({ _id: clientId, workspaceId })) !== null;
  }
}

import {
  BadRequestException,
  ConflictException,
  ForbiddenException,
  Inject,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import type { z } from 'zod';
import { formatApiKey, hashSecret, liveSecrets, newCredentialId, newSecret } from '@tributary/access';
import { SERVICE_CONFIG } from '@tributary/config';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import type { IngestionConfig } from '../config';
import type { AdminActor } from './admin-auth';
import {
  createCredentialRequest,
  createWorkspaceRequest,
  parseAdminRequest,
  rotateKeyRequest,
} from './admin-requests';
import { AuditLog, type AuditRecord } from './audit-log';
import {
  ConcurrentChangeError,
  CredentialStore,
  rotatedSecrets,
  type ApiKeyDoc,
  type OAuthClientDoc,
  type WorkspaceDoc,
} from './credential-store';
import { CredentialFeed } from './credential-feed';
import { EdgeCredentials } from './edge-credentials';
import { CurrentSigningKeyError, SigningKeyring } from './signing-keys';

/** An API key as the admin API shows it: never its secret or hash. */
export interface ApiKeyView {
  keyId: string;
  workspaceId: string;
  name: string;
  scopes: string[];
  status: 'active' | 'revoked';
  createdAt: string;
  revokedAt: string | null;
  /** When the previous secret of a rotation stops working, while one is still accepted. */
  previousSecretValidUntil: string | null;
}

export interface OAuthClientView {
  clientId: string;
  workspaceId: string;
  name: string;
  scopes: string[];
  status: 'active' | 'revoked';
  createdAt: string;
  revokedAt: string | null;
}

export interface WorkspaceView {
  workspaceId: string;
  name: string;
  createdAt: string;
}

const workspaceView = (w: WorkspaceDoc): WorkspaceView => ({
  workspaceId: w._id,
  name: w.name,
  createdAt: w.createdAt.toISOString(),
});

function keyView(key: ApiKeyDoc, now: number): ApiKeyView {
  const previous = liveSecrets(key.secrets, now)
    .map((s) => s.expiresAt?.getTime())
    .filter((t): t is number => t !== undefined);
  return {
    keyId: key._id,
    workspaceId: key.workspaceId,
    name: key.name,
    scopes: key.scopes,
    status: key.revokedAt ? 'revoked' : 'active',
    createdAt: key.createdAt.toISOString(),
    revokedAt: key.revokedAt?.toISOString() ?? null,
    previousSecretValidUntil: previous.length > 0 ? new Date(Math.max(...previous)).toISOString() : null,
  };
}

const clientView = (c: OAuthClientDoc): OAuthClientView => ({
  clientId: c._id,
  workspaceId: c.workspaceId,
  name: c.name,
  scopes: c.scopes,
  status: c.revokedAt ? 'revoked' : 'active',
  createdAt: c.createdAt.toISOString(),
  revokedAt: c.revokedAt?.toISOString() ?? null,
});

function parse<T extends z.ZodTypeAny>(schema: T, body: unknown): z.infer<T> {
  const parsed = parseAdminRequest(schema, body);
  if (!parsed.ok) throw new BadRequestException({ error: 'invalid_request', problems: parsed.problems });
  return parsed.value;
}

const notFound = (what: string) => new NotFoundException({ error: 'not_found', reason: `${what} not found` });

/** 409 naming the cap: a workspace that holds the most active credentials of a kind must revoke one first. */
function refuseBeyondCap(active: number, cap: number, what: 'API keys' | 'OAuth clients'): void {
  if (active < cap) return;
  const reason = `this workspace has ${active} active ${what}, the most allowed (${cap}); revoke one first`;
  throw new ConflictException({
    error: 'limit_reached',
    reason,
    problems: [{ field: 'workspaceId', reason }],
  });
}

/**
 * Workspaces, API keys, OAuth clients and signing keys. Every action is authorised against the actor (a workspace
 * credential only ever reaches its own workspace) and audited; secrets are returned once and never stored or logged.
 * Every credential change is published to `access.credentials` after the store has it (signing keys: by the keyring).
 */
@Injectable()
export class AccessAdministration {
  constructor(
    private readonly store: CredentialStore,
    private readonly credentials: EdgeCredentials,
    private readonly keyring: SigningKeyring,
    private readonly feed: CredentialFeed,
    private readonly audit: AuditLog,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  async createWorkspace(actor: AdminActor, body: unknown): Promise<WorkspaceView> {
    const request = parse(createWorkspaceRequest, body);
    const workspaceId = request.id ?? `ws_${newCredentialId()}`;
    const target = { action: 'workspace.created', targetType: 'workspace', targetId: workspaceId } as const;
    await this.requireOperator(actor, target);
    const workspace: WorkspaceDoc = { _id: workspaceId, name: request.name, createdAt: new Date() };
    if (!(await this.store.createWorkspace(workspace))) {
      throw new ConflictException({ error: 'conflict', reason: `workspace ${workspaceId} already exists` });
    }
    await this.succeeded(actor, {
      ...target,
      targetWorkspaceId: workspaceId,
      details: { name: request.name },
    });
    return workspaceView(workspace);
  }

  /** The operator sees every workspace; a workspace admin only its own. */
  async listWorkspaces(actor: AdminActor): Promise<WorkspaceView[]> {
    const list = await this.store.listWorkspaces(actor.kind === 'workspace' ? actor.workspaceId : undefined);
    return list.map(workspaceView);
  }

  async createKey(
    actor: AdminActor,
    workspaceId: string,
    body: unknown,
  ): Promise<ApiKeyView & { apiKey: string }> {
    const request = parse(createCredentialRequest, body);
    const keyId = newCredentialId();
    const target = { action: 'api_key.created', targetType: 'api_key', targetId: keyId } as const;
    await this.requireWorkspace(actor, workspaceId, target);
    // Checked before the insert: creations racing at the cap can pass it by their number, which a cap tolerates.
    refuseBeyondCap(
      await this.store.countActiveKeys(workspaceId),
      this.config.MAX_API_KEYS_PER_WORKSPACE,
      'API keys',
    );
    const secret = newSecret();
    const now = new Date();
    const key: ApiKeyDoc = {
      _id: keyId,
      workspaceId,
      name: request.name,
      scopes: request.scopes,
      secrets: [{ hash: hashSecret(secret), createdAt: now, expiresAt: null }],
      createdAt: now,
      revokedAt: null,
      revision: 0,
    };
    await this.store.createKey(key);
    await this.feed.apiKeyChanged(key);
    await this.succeeded(actor, {
      ...target,
      targetWorkspaceId: workspaceId,
      details: { scopes: key.scopes },
    });
    return { ...keyView(key, now.getTime()), apiKey: formatApiKey(keyId, secret) };
  }

  async listKeys(actor: AdminActor, workspaceId: string): Promise<ApiKeyView[]> {
    await this.requireWorkspace(actor, workspaceId, {
      action: 'api_key.listed',
      targetType: 'workspace',
      targetId: workspaceId,
    });
    const now = Date.now();
    return (await this.store.listKeys(workspaceId)).map((key) => keyView(key, now));
  }

  /** A new secret; the previous one keeps working for the grace period (so callers can roll out the new one). */
  async rotateKey(
    actor: AdminActor,
    workspaceId: string,
    keyId: string,
    body: unknown,
  ): Promise<ApiKeyView & { apiKey: string }> {
    const request = parse(rotateKeyRequest, body);
    const target = { action: 'api_key.rotated', targetType: 'api_key', targetId: keyId } as const;
    await this.requireWorkspace(actor, workspaceId, target);
    const key = await this.store.findWorkspaceKey(workspaceId, keyId);
    if (!key || key.revokedAt) throw notFound('active API key');
    const graceSeconds = request.graceSeconds ?? this.config.API_KEY_ROTATION_GRACE_SECONDS;
    const secret = newSecret();
    const now = Date.now();
    let rotated: ApiKeyDoc | null;
    try {
      rotated = await this.store.replaceSecrets(
        key,
        rotatedSecrets(key.secrets, hashSecret(secret), graceSeconds * 1000, now),
      );
    } catch (error) {
      if (error instanceof ConcurrentChangeError) {
        throw new ConflictException({ error: 'conflict', reason: 'key rotated concurrently; retry' });
      }
      throw error;
    }
    if (!rotated) throw notFound('active API key');
    this.credentials.forgetKey(keyId);
    await this.feed.apiKeyChanged(rotated);
    await this.succeeded(actor, { ...target, targetWorkspaceId: workspaceId, details: { graceSeconds } });
    return { ...keyView(rotated, now), apiKey: formatApiKey(keyId, secret) };
  }

  async revokeKey(actor: AdminActor, workspaceId: string, keyId: string): Promise<void> {
    const target = { action: 'api_key.revoked', targetType: 'api_key', targetId: keyId } as const;
    await this.requireWorkspace(actor, workspaceId, target);
    if (!(await this.store.revokeKey(workspaceId, keyId, new Date()))) throw notFound('API key');
    this.credentials.forgetKey(keyId);
    const revoked = await this.store.findWorkspaceKey(workspaceId, keyId);
    if (revoked) await this.feed.apiKeyChanged(revoked);
    await this.succeeded(actor, { ...target, targetWorkspaceId: workspaceId });
  }

  async createClient(
    actor: AdminActor,
    workspaceId: string,
    body: unknown,
  ): Promise<OAuthClientView & { clientSecret: string }> {
    const request = parse(createCredentialRequest, body);
    const clientId = `client_${newCredentialId()}`;
    const target = {
      action: 'oauth_client.created',
      targetType: 'oauth_client',
      targetId: clientId,
    } as const;
    await this.requireWorkspace(actor, workspaceId, target);
    refuseBeyondCap(
      await this.store.countActiveClients(workspaceId),
      this.config.MAX_OAUTH_CLIENTS_PER_WORKSPACE,
      'OAuth clients',
    );
    const secret = newSecret();
    const client: OAuthClientDoc = {
      _id: clientId,
      workspaceId,
      name: request.name,
      scopes: request.scopes,
      secretHash: hashSecret(secret),
      createdAt: new Date(),
      revokedAt: null,
    };
    await this.store.createClient(client);
    await this.feed.clientChanged(client);
    await this.succeeded(actor, {
      ...target,
      targetWorkspaceId: workspaceId,
      details: { scopes: client.scopes },
    });
    return { ...clientView(client), clientSecret: secret };
  }

  async listClients(actor: AdminActor, workspaceId: string): Promise<OAuthClientView[]> {
    await this.requireWorkspace(actor, workspaceId, {
      action: 'oauth_client.listed',
      targetType: 'workspace',
      targetId: workspaceId,
    });
    return (await this.store.listClients(workspaceId)).map(clientView);
  }

  async revokeClient(actor: AdminActor, workspaceId: string, clientId: string): Promise<void> {
    const target = {
      action: 'oauth_client.revoked',
      targetType: 'oauth_client',
      targetId: clientId,
    } as const;
    await this.requireWorkspace(actor, workspaceId, target);
    if (!(await this.store.revokeClient(workspaceId, clientId, new Date()))) throw notFound('OAuth client');
    this.credentials.forgetClient(clientId);
    const revoked = await this.store.findClient(clientId);
    if (revoked) await this.feed.clientChanged(revoked);
    await this.succeeded(actor, { ...target, targetWorkspaceId: workspaceId });
  }

  async rotateSigningKey(actor: AdminActor): Promise<{ kid: string; previousKeysVerifyUntil: string }> {
    await this.requireOperator(actor, {
      action: 'signing_key.rotated',
      targetType: 'signing_key',
      targetId: '-',
    });
    const { kid, retiredUntil } = await this.keyring.rotate();
    await this.succeeded(actor, { action: 'signing_key.rotated', targetType: 'signing_key', targetId: kid });
    return { kid, previousKeysVerifyUntil: retiredUntil.toISOString() };
  }

  async removeSigningKey(actor: AdminActor, kid: string): Promise<void> {
    const target = { action: 'signing_key.removed', targetType: 'signing_key', targetId: kid } as const;
    await this.requireOperator(actor, target);
    let removed: boolean;
    try {
      removed = await this.keyring.remove(kid);
    } catch (error) {
      if (error instanceof CurrentSigningKeyError) {
        throw new ConflictException({ error: 'conflict', reason: 'this key signs new tokens: rotate first' });
      }
      throw error;
    }
    if (!removed) throw notFound('signing key');
    await this.succeeded(actor, target);
  }

  private async requireOperator(
    actor: AdminActor,
    target: Pick<AuditRecord, 'action' | 'targetType' | 'targetId'>,
  ): Promise<void> {
    if (actor.kind === 'operator') return;
    await this.denied(actor, target, 'only the platform operator may do this');
  }

  /** A workspace credential reaches only its own workspace; the workspace must exist. */
  private async requireWorkspace(
    actor: AdminActor,
    workspaceId: string,
    target: Pick<AuditRecord, 'action' | 'targetType' | 'targetId'>,
  ): Promise<void> {
    if (actor.kind === 'workspace' && actor.workspaceId !== workspaceId) {
      await this.denied(
        actor,
        { ...target, targetWorkspaceId: workspaceId },
        'credential belongs to another workspace',
      );
    }
    if (!(await this.store.findWorkspace(workspaceId))) throw notFound(`workspace ${workspaceId}`);
  }

  private async denied(
    actor: AdminActor,
    target: Pick<AuditRecord, 'action' | 'targetType' | 'targetId' | 'targetWorkspaceId'>,
    reason: string,
  ): Promise<never> {
    this.logger.warn(
      { event: 'admin.denied', actor: actor.credentialId, ...target, reason },
      'admin action refused',
    );
    await this.audit.record({ ...target, actor, outcome: 'denied', reason });
    throw new ForbiddenException({ error: 'forbidden', reason });
  }

  private async succeeded(
    actor: AdminActor,
    record: Pick<AuditRecord, 'action' | 'targetType' | 'targetId' | 'targetWorkspaceId' | 'details'>,
  ): Promise<void> {
    this.logger.info(
      { event: record.action, actor: actor.credentialId, target: record.targetId },
      'admin action',
    );
    await this.audit.record({ ...record, actor, outcome: 'success' });
  }
}

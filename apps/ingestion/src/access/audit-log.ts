import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Topics, type AuditEntry } from '@tributary/contracts';
import { EventPublisher, originMetadata } from '@tributary/messaging';
import { currentRequestId } from '@tributary/observability';
import type { AdminActor } from './admin-auth';

/** Workspace of audit entries about the platform itself (signing keys, operator actions without a workspace). */
export const PLATFORM_WORKSPACE = '_platform';

export interface AuditRecord {
  action: string;
  actor: AdminActor;
  targetType: 'workspace' | 'api_key' | 'oauth_client' | 'signing_key';
  targetId: string;
  /** The workspace acted on, if any. */
  targetWorkspaceId?: string;
  outcome: AuditEntry['outcome'];
  reason?: string;
  /** Non-secret details (scopes, grace periods). Callers must never put secrets here. */
  details?: Record<string, unknown>;
}

/**
 * Emits `audit.log` entries for administrative actions. An entry belongs to the acting credential's workspace when a
 * workspace acted (so a refused attempt on workspace B is visible to A's admins, not leaked to B), otherwise to the
 * workspace acted on, otherwise to `_platform`. Resolves once Kafka acknowledged it.
 */
@Injectable()
export class AuditLog {
  constructor(private readonly publisher: EventPublisher) {}

  async record(record: AuditRecord): Promise<AuditEntry> {
    const workspaceId =
      record.actor.kind === 'workspace'
        ? record.actor.workspaceId
        : (record.targetWorkspaceId ?? PLATFORM_WORKSPACE);
    const requestId = currentRequestId() ?? randomUUID();
    const entry: AuditEntry = {
      metadata: originMetadata({ workspaceId, source: 'ingestion', correlationId: requestId }),
      action: record.action,
      actorCredentialId: record.actor.credentialId,
      actorWorkspaceId: record.actor.kind === 'workspace' ? record.actor.workspaceId : null,
      targetType: record.targetType,
      targetId: record.targetId,
      outcome: record.outcome,
      reason: record.reason ?? null,
      requestId,
      detailsJson: record.details ? JSON.stringify(record.details) : null,
    };
    await this.publisher.publish({ topic: Topics.AuditLog, key: workspaceId, event: entry });
    return entry;
  }
}

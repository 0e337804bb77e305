import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Schema, type Connection, type Model } from 'mongoose';
import { Topics, type AuditEntry } from '@tributary/contracts';
import { EventPublisher, originMetadata } from '@tributary/messaging';
import { currentRequestId } from '@tributary/observability';
import { CONNECTOR_REGISTRY, type ConnectorRegistry } from '../connectors/connector-registry';
import { modelOf, type ConnectionDoc } from '../connections/connection.models';
import { Connections, vendorReason } from '../connections/connections.service';
import {
  GOLDEN_HISTORY_MODEL,
  GOLDEN_KEY_MODEL,
  GOLDEN_RECORD_MODEL,
  type GoldenHistoryDoc,
  type GoldenKeyDoc,
  type GoldenLink,
  type GoldenRecordDoc,
} from './golden-record.model';
import { LEADS_SOURCE } from './golden-record-state';

/** What became of one linked record: deleted in its system, failed (to try again), or its system is not connected. */
export interface ErasedLink extends GoldenLink {
  outcome: 'deleted' | 'failed' | 'not-connected';
  reason: string | null;
  at: string;
}

/** The record of an erasure: which systems' records were deleted, when, at whose request. Holds no personal data. */
export interface ErasureDoc {
  _id: string;
  workspaceId: string;
  /** The golden records erased (the record and those merged into it). */
  goldenIds: string[];
  requestedBy: string;
  requestedAt: Date;
  completedAt: Date | null;
  links: ErasedLink[];
}

const erasureSchema = new Schema<ErasureDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    goldenIds: { type: [String], required: true },
    requestedBy: { type: String, required: true },
    requestedAt: { type: Date, required: true },
    completedAt: { type: Date, default: null },
    links: { type: Schema.Types.Mixed, default: [] },
  },
  { versionKey: false, minimize: false, collection: 'golden_record_erasures' },
);

export const ERASURE_MODEL = Symbol('ERASURE_MODEL');
export const erasureModel = (c: Connection): Model<ErasureDoc> =>
  modelOf(c, 'GoldenRecordErasure', erasureSchema);

export interface ErasureView {
  goldenId: string;
  status: 'complete' | 'incomplete';
  requestedAt: string;
  completedAt: string | null;
  links: ErasedLink[];
}

/**
 * Erasing a person (GDPR art. 17): every record linked to the golden record is deleted in its system (the vendor's
 * GDPR delete where it has one), then the golden record's values, keys (emails are keys) and history are removed and
 * the erasure recorded, with an audit entry. A system that fails is tried again by asking again: the erasure record
 * keeps what is left to do. The lead pipeline's contact is not sync's to delete; it is listed as not connected.
 */
@Injectable()
export class Erasures {
  constructor(
    @Inject(GOLDEN_RECORD_MODEL) private readonly records: Model<GoldenRecordDoc>,
    @Inject(GOLDEN_KEY_MODEL) private readonly keys: Model<GoldenKeyDoc>,
    @Inject(GOLDEN_HISTORY_MODEL) private readonly history: Model<GoldenHistoryDoc>,
    @Inject(ERASURE_MODEL) private readonly erasures: Model<ErasureDoc>,
    @Inject(CONNECTOR_REGISTRY) private readonly registry: ConnectorRegistry,
    private readonly connections: Connections,
    private readonly publisher: EventPublisher,
  ) {}

  /** Erases the golden record `goldenIds[0]` (and those merged into it); answers what was done. */
  async erase(workspaceId: string, goldenIds: readonly string[], requestedBy: string): Promise<ErasureView> {
    const [goldenId] = goldenIds;
    if (!goldenId) throw new Error('no golden record to erase');
    const docs = await this.records.find({ _id: { $in: [...goldenIds] }, workspaceId }).lean();
    const earlier = await this.erasures.findById(erasureIdOf(workspaceId, goldenId)).lean();
    const now = new Date();
    const linked = uniqueLinks([...(earlier?.links ?? []), ...docs.flatMap((d) => d.links)]);
    const connected = await this.connections.activeIn(workspaceId);
    const links: ErasedLink[] = [];
    for (const link of linked) {
      const done = earlier?.links.find(
        (l) => l.system === link.system && l.externalId === link.externalId && l.outcome === 'deleted',
      );
      links.push(done ?? (await this.eraseLink(link, connected, docs[0]?.entity ?? 'contact')));
    }
    const complete = links.every((l) => l.outcome !== 'failed');
    await this.erasures.updateOne(
      { _id: erasureIdOf(workspaceId, goldenId) },
      {
        $set: { workspaceId, goldenIds, links, completedAt: complete ? now : null },
        $setOnInsert: { requestedBy, requestedAt: now },
      },
      { upsert: true },
    );
    // Personal data goes once every system said yes; until then the links are needed to try again.
    if (complete) {
      await this.keys.deleteMany({ workspaceId, goldenId: { $in: [...goldenIds] } });
      await this.history.deleteMany({ workspaceId, goldenId: { $in: [...goldenIds] } });
      await this.records.updateMany(
        { _id: { $in: [...goldenIds] }, workspaceId },
        {
          $set: {
            fields: {},
            values: {},
            provenance: {},
            links: [],
            outbox: [],
            erasedAt: now,
            updatedAt: now,
          },
          $inc: { version: 1 },
        },
      );
    }
    await this.audit(workspaceId, goldenId, requestedBy, complete, links);
    const stored = await this.erasures.findById(erasureIdOf(workspaceId, goldenId)).lean();
    return {
      goldenId,
      status: complete ? 'complete' : 'incomplete',
      requestedAt: (stored?.requestedAt ?? now).toISOString(),
      completedAt: stored?.completedAt?.toISOString() ?? null,
      links,
    };
  }

  /** A past erasure of the workspace, or null. */
  async find(workspaceId: string, goldenId: string): Promise<ErasureDoc | null> {
    return this.erasures.findOne({ _id: erasureIdOf(workspaceId, goldenId), workspaceId }).lean();
  }

  private async eraseLink(
    link: GoldenLink,
    connected: readonly ConnectionDoc[],
    entity: string,
  ): Promise<ErasedLink> {
    const at = new Date().toISOString();
    const connection = connected.find((c) => c.connector === link.system);
    const descriptor = this.registry.descriptor(link.system);
    const object = descriptor?.objects.find((o) => o.entity === entity);
    if (link.system === LEADS_SOURCE || !connection || !object || !descriptor?.capabilities.includes('erase'))
      return { ...link, outcome: 'not-connected', reason: null, at };
    try {
      const writer = this.registry.writer(link.system, this.connections.credentialsOf(connection));
      await writer.erase(object, link.externalId);
      return { ...link, outcome: 'deleted', reason: null, at };
    } catch (error) {
      return { ...link, outcome: 'failed', reason: vendorReason(error), at };
    }
  }

  private async audit(
    workspaceId: string,
    goldenId: string,
    requestedBy: string,
    complete: boolean,
    links: readonly ErasedLink[],
  ): Promise<void> {
    const requestId = currentRequestId() ?? randomUUID();
    const entry: AuditEntry = {
      metadata: originMetadata({ workspaceId, source: 'sync', correlationId: requestId }),
      action: complete ? 'golden_record.erased' : 'golden_record.erasure_incomplete',
      actorCredentialId: requestedBy,
      actorWorkspaceId: workspaceId,
      targetType: 'golden_record',
      targetId: goldenId,
      outcome: 'success',
      reason: complete ? null : 'a connected system did not delete its record; ask again to retry',
      requestId,
      detailsJson: JSON.stringify({
        systems: links.map((l) => ({ system: l.system, externalId: l.externalId, outcome: l.outcome })),
      }),
    };
    await this.publisher.publish({ topic: Topics.AuditLog, key: workspaceId, event: entry });
  }
}

const erasureIdOf = (workspaceId: string, goldenId: string) => `${workspaceId}|${goldenId}`;

function uniqueLinks(links: readonly GoldenLink[]): GoldenLink[] {
  const seen = new Map<string, GoldenLink>();
  for (const l of links)
    seen.set(`${l.system}|${l.externalId}`, { system: l.system, externalId: l.externalId });
  return [...seen.values()];
}

import { Inject, Injectable } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Model } from 'mongoose';
import { SERVICE_CONFIG } from '@tributary/config';
import { isDuplicateKey } from '@tributary/store';
import type { OrchestrationConfig } from '../config';
import { ANNOUNCE_GRACE_MS, ContentAnnouncer } from './content-announcer';
import { contentStep, refusedAttempt } from './content-steps';
import {
  decide,
  freshDestination,
  startPublishing,
  startUnpublishing,
  type ContentCommand,
  type ContentKind,
  type ContentStatus,
  type DestinationName,
  type DestinationState,
} from './content-workflow';
import {
  CONTENT_AUDIT_MODEL,
  CONTENT_COMMENT_MODEL,
  CONTENT_ITEM_MODEL,
  CONTENT_VERSION_MODEL,
  type ContentAuditDoc,
  type ContentCommentDoc,
  type ContentItemDoc,
  type ContentVersionDoc,
} from './content.models';

/** The written part of a version. */
export interface ContentDraft {
  title: string;
  body: string;
  excerpt: string | null;
  /** Where it goes; unchanged on an edit that names none. */
  destinations?: readonly DestinationName[];
}

/** A command the workflow refused: `conflict` (the status does not allow it), `forbidden` (four eyes) or `busy`. */
export class ContentRefusedError extends Error {
  constructor(
    readonly refusal: 'conflict' | 'forbidden' | 'busy',
    readonly status: ContentStatus,
    reason: string,
  ) {
    super(reason);
  }
}

export class ContentNotFoundError extends Error {}

/** Lost races on one item are judged again on what the other writer left, this many times. */
const MAX_WRITE_ATTEMPTS = 10;
/** A command waits this long for the publisher's lease on the item to end before it answers busy. */
const BUSY_WAIT_MS = 3_000;
const BUSY_POLL_MS = 100;
const MAX_LISTED = 200;

const itemId = (workspaceId: string, contentId: string): string => `${workspaceId}:${contentId}`;
const versionId = (workspaceId: string, contentId: string, version: number): string =>
  `${workspaceId}:${contentId}:${version}`;
const minDate = (...dates: (Date | null | undefined)[]): Date =>
  new Date(Math.min(...dates.filter((d): d is Date => d instanceof Date).map((d) => d.getTime())));

/** The destination states for `names`, keeping what is known of those the item had. */
function destinationsFor(
  current: readonly DestinationState[],
  names: readonly DestinationName[],
): DestinationState[] {
  return names.map((name) => current.find((d) => d.name === name) ?? freshDestination(name));
}

/**
 * A workspace's content items as the API changes them: created and edited as new versions, moved through review,
 * scheduled, published and unpublished by status changes the workflow allows, commented on. Each change is one
 * write guarded by the item's revision, carrying its step in the outbox; ContentAnnouncer announces it.
 */
@Injectable()
export class ContentItems {
  constructor(
    @Inject(CONTENT_ITEM_MODEL) private readonly items: Model<ContentItemDoc>,
    @Inject(CONTENT_VERSION_MODEL) private readonly versions: Model<ContentVersionDoc>,
    @Inject(CONTENT_COMMENT_MODEL) private readonly comments: Model<ContentCommentDoc>,
    @Inject(CONTENT_AUDIT_MODEL) private readonly audits: Model<ContentAuditDoc>,
    private readonly announcer: ContentAnnouncer,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
  ) {}

  async create(
    workspaceId: string,
    kind: ContentKind,
    draft: ContentDraft & { destinations: readonly DestinationName[] },
    actor: string,
    requestId: string,
  ): Promise<ContentItemDoc> {
    const contentId = `c_${randomBytes(8).toString('hex')}`;
    const now = new Date();
    await this.versions.create({
      _id: versionId(workspaceId, contentId, 1),
      workspaceId,
      contentId,
      version: 1,
      title: draft.title,
      body: draft.body,
      excerpt: draft.excerpt,
      createdBy: actor,
      createdAt: now,
    });
    const item: ContentItemDoc = {
      _id: itemId(workspaceId, contentId),
      workspaceId,
      contentId,
      kind,
      status: 'draft',
      title: draft.title,
      latestVersion: 1,
      approvedVersion: null,
      approvedBy: null,
      publishedVersion: null,
      authors: [actor],
      createdBy: actor,
      destinations: draft.destinations.map(freshDestination),
      publishAt: null,
      flowId: null,
      revision: 1,
      outbox: {},
      leaseUntil: new Date(0),
      leaseOwner: null,
      createdAt: now,
      updatedAt: now,
    };
    const step = contentStep(item, 1, {
      action: 'created',
      from: null,
      actor,
      correlationId: requestId,
      version: 1,
      title: draft.title,
    });
    item.outbox = { [step.event.metadata.eventId]: step };
    item.wakeAt = new Date(now.getTime() + ANNOUNCE_GRACE_MS);
    await this.announcer.addTimers([{ at: item.wakeAt, itemId: item._id }]);
    await this.items.create(item);
    await this.announcer.flush(item._id);
    return this.read(workspaceId, contentId);
  }

  /** Stores the draft as the next version and moves the item back to draft (dropping any approval and schedule). */
  async edit(
    workspaceId: string,
    contentId: string,
    draft: ContentDraft,
    actor: string,
    requestId: string,
  ): Promise<ContentItemDoc> {
    const before = await this.read(workspaceId, contentId);
    // Refused before a version is stored, so a refused edit leaves nothing behind.
    const allowed = decide({ status: before.status, authors: before.authors, actor }, { type: 'edit' });
    if (!allowed.ok) throw new ContentRefusedError(allowed.refusal, before.status, allowed.reason);
    const version = await this.appendVersion(workspaceId, contentId, before.latestVersion + 1, draft, actor);
    return this.transition(workspaceId, contentId, actor, { type: 'edit' }, requestId, (item) => ({
      set: {
        title: version > item.latestVersion ? draft.title : item.title,
        latestVersion: Math.max(item.latestVersion, version),
        authors: item.authors.includes(actor) ? item.authors : [...item.authors, actor],
        approvedVersion: null,
        approvedBy: null,
        publishAt: null,
        ...(draft.destinations
          ? { destinations: destinationsFor(item.destinations, draft.destinations) }
          : {}),
      },
      version,
      title: draft.title,
    }));
  }

  /**
   * Moves the item on by a workflow command; refused commands throw ContentRefusedError. Publish and unpublish
   * answer the item leased to the caller (in the same write), for ContentPublisher.work to run at once.
   */
  async command(
    workspaceId: string,
    contentId: string,
    command: Exclude<ContentCommand, { type: 'edit' }>,
    actor: string,
    requestId: string,
    options: { publishAt?: Date; reason?: string } = {},
  ): Promise<ContentItemDoc> {
    const updated = await this.transition(workspaceId, contentId, actor, command, requestId, (item) => {
      const now = new Date();
      switch (command.type) {
        case 'submit':
          return { set: {}, version: item.latestVersion, title: item.title };
        case 'approve':
          return {
            set: { approvedVersion: item.latestVersion, approvedBy: actor },
            version: item.latestVersion,
            title: item.title,
          };
        case 'request_changes':
          return { set: {}, version: item.latestVersion, title: item.title, reason: options.reason ?? null };
        case 'schedule': {
          const publishAt = options.publishAt ?? now;
          return {
            set: { publishAt, flowId: requestId },
            version: item.approvedVersion ?? item.latestVersion,
            title: item.title,
            wake: publishAt,
          };
        }
        case 'publish': {
          const version = item.approvedVersion ?? item.latestVersion;
          return {
            set: {
              publishAt: null,
              flowId: requestId,
              destinations: startPublishing(item.destinations, version),
            },
            version,
            title: item.title,
            lease: true,
          };
        }
        case 'unpublish':
          return {
            set: { flowId: requestId, destinations: startUnpublishing(item.destinations) },
            version: item.publishedVersion ?? item.latestVersion,
            title: item.title,
            lease: true,
          };
      }
    });
    if (command.type === 'request_changes' && options.reason)
      await this.comments.create({
        _id: randomUUID(),
        workspaceId,
        contentId,
        version: updated.latestVersion,
        body: options.reason,
        author: actor,
        kind: 'changes_requested',
        createdAt: new Date(),
      });
    return updated;
  }

  /** A comment on the latest version: any status, even while the item is being published. */
  async comment(
    workspaceId: string,
    contentId: string,
    body: string,
    actor: string,
    requestId: string,
  ): Promise<ContentCommentDoc> {
    const item = await this.read(workspaceId, contentId);
    const comment: ContentCommentDoc = {
      _id: randomUUID(),
      workspaceId,
      contentId,
      version: item.latestVersion,
      body,
      author: actor,
      kind: 'comment',
      createdAt: new Date(),
    };
    await this.comments.create(comment);
    // Ordered after the state it was made on; its id comes from the comment, not a revision (no revision guard).
    const step = contentStep(item, item.revision, {
      action: 'commented',
      from: null,
      actor,
      correlationId: requestId,
      version: item.latestVersion,
      title: item.title,
      key: `comment/${comment._id}`,
    });
    const wake = new Date(Date.now() + ANNOUNCE_GRACE_MS);
    await this.announcer.addTimers([{ at: wake, itemId: item._id }]);
    await this.items.updateOne(
      { _id: item._id },
      {
        $set: { [`outbox.${step.event.metadata.eventId}`]: { ...step, seq: item.revision + 0.5 } },
        $min: { wakeAt: wake },
        $inc: { revision: 1 },
      },
    );
    await this.announcer.flush(item._id);
    return comment;
  }

  async read(workspaceId: string, contentId: string): Promise<ContentItemDoc> {
    const item = await this.items.findById(itemId(workspaceId, contentId)).lean();
    if (!item) throw new ContentNotFoundError(`no content ${contentId}`);
    return item;
  }

  async list(
    workspaceId: string,
    filter: { status?: ContentStatus; kind?: ContentKind; limit?: number },
  ): Promise<ContentItemDoc[]> {
    return this.items
      .find({
        workspaceId,
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.kind ? { kind: filter.kind } : {}),
      })
      .sort({ updatedAt: -1 })
      .limit(Math.min(filter.limit ?? 50, MAX_LISTED))
      .lean();
  }

  async version(
    workspaceId: string,
    contentId: string,
    version: number,
  ): Promise<ContentVersionDoc | undefined> {
    return (await this.versions.findById(versionId(workspaceId, contentId, version)).lean()) ?? undefined;
  }

  async commentsOf(workspaceId: string, contentId: string): Promise<ContentCommentDoc[]> {
    await this.read(workspaceId, contentId);
    return this.comments.find({ workspaceId, contentId }).sort({ createdAt: 1 }).limit(1_000).lean();
  }

  /** The item's audit trail, oldest first. */
  async history(workspaceId: string, contentId: string): Promise<ContentAuditDoc[]> {
    await this.read(workspaceId, contentId);
    return this.audits.find({ workspaceId, contentId }).sort({ at: 1 }).limit(1_000).lean();
  }

  /** Inserts version `from` (or the next free one, when a concurrent edit took it) and returns its number. */
  private async appendVersion(
    workspaceId: string,
    contentId: string,
    from: number,
    draft: ContentDraft,
    actor: string,
  ): Promise<number> {
    for (let version = from; ; version += 1) {
      try {
        await this.versions.create({
          _id: versionId(workspaceId, contentId, version),
          workspaceId,
          contentId,
          version,
          title: draft.title,
          body: draft.body,
          excerpt: draft.excerpt,
          createdBy: actor,
          createdAt: new Date(),
        });
        return version;
      } catch (error) {
        if (!isDuplicateKey(error) || version >= from + MAX_WRITE_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * Decides `command` on the item as stored and writes the outcome only if the item is still at the revision read
   * (a lost race is decided again on what the winner left). A self-approval is recorded in the audit trail as denied.
   */
  private async transition(
    workspaceId: string,
    contentId: string,
    actor: string,
    command: ContentCommand,
    requestId: string,
    change: (item: ContentItemDoc) => {
      set: Partial<ContentItemDoc>;
      version: number;
      title: string;
      reason?: string | null;
      wake?: Date;
      /** Lease the item to the caller in the same write: no replica can take it before the caller works it. */
      lease?: boolean;
    },
  ): Promise<ContentItemDoc> {
    for (let attempt = 1; ; attempt += 1) {
      const item = await this.unleased(workspaceId, contentId, actor, command);
      const decision = decide({ status: item.status, authors: item.authors, actor }, command);
      if (!decision.ok) {
        if (decision.refusal === 'forbidden')
          await this.recordRefusal(item, command.type, actor, decision.reason, requestId);
        throw new ContentRefusedError(decision.refusal, item.status, decision.reason);
      }
      const now = new Date();
      const planned = change(item);
      // A lease ends with an entry at its end: if the caller dies while working the item, a replica takes over.
      const lease = planned.lease
        ? { leaseOwner: randomUUID(), leaseUntil: new Date(now.getTime() + this.config.CONTENT_LEASE_MS) }
        : {};
      const wake = planned.wake ?? lease.leaseUntil;
      const next: ContentItemDoc = {
        ...item,
        ...planned.set,
        ...lease,
        status: decision.status,
        revision: item.revision + 1,
        updatedAt: now,
      };
      const step = contentStep(next, next.revision, {
        action: decision.action,
        from: decision.from,
        actor,
        correlationId: requestId,
        version: planned.version,
        title: planned.title,
        reason: planned.reason ?? null,
      });
      // Woken after the grace at the latest, so a step whose announcement is interrupted still goes out.
      const wakeAt = minDate(item.wakeAt, wake, new Date(now.getTime() + ANNOUNCE_GRACE_MS));
      await this.announcer.addTimers([
        { at: wakeAt, itemId: item._id },
        ...(wake ? [{ at: wake, itemId: item._id }] : []),
      ]);
      const { matchedCount } = await this.items.updateOne(
        { _id: item._id, revision: item.revision },
        {
          $set: {
            ...planned.set,
            ...lease,
            status: decision.status,
            updatedAt: now,
            wakeAt,
            [`outbox.${step.event.metadata.eventId}`]: step,
          },
          $inc: { revision: 1 },
        },
      );
      if (matchedCount > 0) {
        await this.announcer.flush(item._id);
        return { ...next, wakeAt };
      }
      if (attempt >= MAX_WRITE_ATTEMPTS)
        throw new ContentRefusedError('busy', item.status, 'the content keeps changing; try again');
    }
  }

  /**
   * The item once no publisher holds it (a command never changes an item under a publisher). A command its status
   * refuses anyway is refused at once; otherwise it waits a little for the lease, then answers busy.
   */
  private async unleased(
    workspaceId: string,
    contentId: string,
    actor: string,
    command: ContentCommand,
  ): Promise<ContentItemDoc> {
    for (let waited = 0; ; waited += BUSY_POLL_MS) {
      const item = await this.read(workspaceId, contentId);
      const leased = item.leaseOwner !== null && new Date(item.leaseUntil).getTime() > Date.now();
      if (!leased) return item;
      const decision = decide({ status: item.status, authors: item.authors, actor }, command);
      if (!decision.ok) return item;
      if (waited >= BUSY_WAIT_MS)
        throw new ContentRefusedError(
          'busy',
          item.status,
          'the content is being published or unpublished right now; try again shortly',
        );
      await sleep(BUSY_POLL_MS);
    }
  }

  private async recordRefusal(
    item: ContentItemDoc,
    action: string,
    actor: string,
    reason: string,
    requestId: string,
  ): Promise<void> {
    const eventId = randomUUID();
    const entry = refusedAttempt(
      item,
      action === 'approve' ? 'approved' : action,
      actor,
      reason,
      requestId,
      eventId,
    );
    await this.audits.create({
      _id: eventId,
      workspaceId: item.workspaceId,
      contentId: item.contentId,
      at: new Date(),
      ...entry,
    });
  }
}

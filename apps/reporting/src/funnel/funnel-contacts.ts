import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { Connection } from 'mongoose';
import { Topics, type TopicName } from '@tributary/contracts';
import type { RecordPosition } from '@tributary/messaging';
import {
  STORE_CONNECTION,
  guardedUpserts,
  type GuardedUpdate,
  type UpsertCollection,
} from '@tributary/store';
import { touchOf, type Touch } from '../attribution/touchpoints';
import type { AnyIntakeBatch, ReportContributor } from '../intake/report-contributor';
import { countInBuckets } from '../read-models/bucketed-counts';
import { DEFAULT_REPORT_SETTINGS } from '../settings/report-settings';

/** One contact as the funnel sees it: the stages it reached and when, and what it is cut by. */
export interface FunnelContactDoc {
  _id: string;
  workspaceId: string;
  contactId: string;
  /** The contact it was merged into, followed to the end (itself when never merged): merged contacts count once. */
  root: string;
  /** The first time each lifecycle stage was reached. */
  reached?: Record<string, Date>;
  /** The stage it is in now, and since when (the newest lifecycle change wins). */
  stage?: string;
  stageAt?: Date;
  /** Its first marketing touch (original source and campaign). */
  firstTouch?: Touch & { at: Date };
  /** Its latest owner. */
  owner?: { ownerId: string; teamId: string; at: Date };
}

export const FUNNEL_CONTACTS_COLLECTION = 'report_funnel_contacts';

/** Routing counts per owner (assigned, accepted, breached) are tallies of this model. */
export const ROUTING_MODEL = 'routing';
/** Leads captured at the edge per source, a tally of this model. */
export const CAPTURED_MODEL = 'leads-captured';

export function funnelContactId(workspaceId: string, contactId: string): string {
  return `${workspaceId}|${contactId}`;
}

/** Whose contact a tracking call is before merges, as the lead service names it: userId, else anonymousId. */
export function trackedContactId(
  workspaceId: string,
  userId: string | null,
  anonymousId: string | null,
): string | null {
  const id = userId ?? anonymousId;
  return id ? `${workspaceId}:${id}` : null;
}

/**
 * The lead funnel's contacts, fed by lifecycle changes, merges, routing and first touches. Every write is idempotent
 * and order-independent (the earliest reach wins, the newest stage and owner win by event time, the oldest touch wins,
 * merges repoint roots), so a redelivery changes nothing and a recompute from the topics gives the same documents.
 */
@Injectable()
export class FunnelContributor implements ReportContributor {
  readonly topics: readonly TopicName[] = [
    Topics.LifecycleChanged,
    Topics.ContactsMerged,
    Topics.LeadsAssigned,
    Topics.LeadsSlaBreached,
    Topics.LeadsAccepted,
    Topics.TrackingEvents,
    Topics.LeadsCaptured,
  ];

  /** Contacts whose stored first touch is known to be no later than this: later touches need no write. */
  private readonly knownFirstTouch = new LRUCache<string, number>({ max: 100_000 });

  constructor(@Inject(STORE_CONNECTION) private readonly connection: Connection) {}

  async collect(batch: AnyIntakeBatch): Promise<void> {
    const zoneOf = (workspaceId: string) =>
      (batch.settings.get(workspaceId) ?? DEFAULT_REPORT_SETTINGS).timeZone;
    switch (batch.topic) {
      case Topics.LifecycleChanged: {
        const reached: GuardedUpdate[] = [];
        const stages: GuardedUpdate[] = [];
        for (const { metadata, contactId, to } of batch.events) {
          const _id = funnelContactId(metadata.workspaceId, contactId);
          const at = new Date(metadata.occurredAt);
          const identity = { workspaceId: metadata.workspaceId, contactId, root: contactId };
          reached.push({
            filter: { _id },
            update: { $min: { [`reached.${to}`]: at }, $setOnInsert: identity },
          });
          stages.push(newer(_id, 'stageAt', at, { stage: to, stageAt: at }, identity));
        }
        await this.write(reached);
        await this.write(stages, { staleRefused: true });
        return;
      }
      case Topics.ContactsMerged:
        // In order: a batch may hold a chain (b into a, then a into c).
        for (const { metadata, survivingContactId, mergedContactId } of batch.events)
          await this.merge(metadata.workspaceId, mergedContactId, survivingContactId);
        return;
      case Topics.LeadsAssigned: {
        const owners: GuardedUpdate[] = [];
        batch.events.forEach(({ metadata, contactId, ownerId, teamId, assignedAt }, i) => {
          const _id = funnelContactId(metadata.workspaceId, contactId);
          const at = new Date(assignedAt);
          owners.push(
            newer(
              _id,
              'owner.at',
              at,
              { owner: { ownerId, teamId, at } },
              {
                workspaceId: metadata.workspaceId,
                contactId,
                root: contactId,
              },
            ),
          );
          this.countRouting(batch.tallies, position(batch.positions, i), {
            workspaceId: metadata.workspaceId,
            at: assignedAt,
            zone: zoneOf(metadata.workspaceId),
            ownerId,
            teamId,
            inc: { assigned: 1 },
          });
        });
        await this.write(owners, { staleRefused: true });
        return;
      }
      case Topics.LeadsSlaBreached:
        batch.events.forEach(({ metadata, ownerId, teamId, breachedAt }, i) =>
          this.countRouting(batch.tallies, position(batch.positions, i), {
            workspaceId: metadata.workspaceId,
            at: breachedAt,
            zone: zoneOf(metadata.workspaceId),
            ownerId,
            teamId,
            inc: { breached: 1 },
          }),
        );
        return;
      case Topics.LeadsAccepted:
        // Counted on the day of the assignment accepted, so a day's accepted never exceeds its assigned.
        batch.events.forEach(({ metadata, ownerId, teamId, assignedAt, acceptedAt }, i) =>
          this.countRouting(batch.tallies, position(batch.positions, i), {
            workspaceId: metadata.workspaceId,
            at: assignedAt,
            zone: zoneOf(metadata.workspaceId),
            ownerId,
            teamId,
            inc: { accepted: 1, acceptMsTotal: Math.max(0, acceptedAt - assignedAt) },
          }),
        );
        return;
      case Topics.LeadsCaptured:
        batch.events.forEach(({ metadata, source, capturedAt }, i) =>
          countInBuckets(batch.tallies, position(batch.positions, i), {
            workspaceId: metadata.workspaceId,
            model: CAPTURED_MODEL,
            at: capturedAt,
            zone: zoneOf(metadata.workspaceId),
            dims: { source },
            inc: { captured: 1 },
          }),
        );
        return;
      case Topics.TrackingEvents: {
        const touches: GuardedUpdate[] = [];
        const written = new Map<string, number>();
        for (const event of batch.events) {
          const contactId = trackedContactId(event.metadata.workspaceId, event.userId, event.anonymousId);
          if (!contactId) continue;
          const _id = funnelContactId(event.metadata.workspaceId, contactId);
          const at = event.timestamp;
          const known = written.get(_id) ?? this.knownFirstTouch.get(_id);
          if (known !== undefined && known <= at) continue;
          const touch = touchOf(event);
          if (!touch) continue;
          written.set(_id, at);
          touches.push(
            older(
              _id,
              'firstTouch.at',
              new Date(at),
              { firstTouch: { ...touch, at: new Date(at) } },
              {
                workspaceId: event.metadata.workspaceId,
                contactId,
                root: contactId,
              },
            ),
          );
        }
        await this.write(touches, { staleRefused: true });
        // Only after the write: a failed batch must not make the retry skip its touches.
        for (const [id, at] of written)
          this.knownFirstTouch.set(id, Math.min(at, this.knownFirstTouch.get(id) ?? at));
        return;
      }
      default:
        return;
    }
  }

  /**
   * `merged` now counts as `survivor`'s root: the survivor's own root if it was merged on, so chains end where they
   * end whatever order the merges arrive in; contacts that pointed at `merged` move along.
   */
  private async merge(workspaceId: string, merged: string, survivor: string): Promise<void> {
    const contacts = this.connection.collection<FunnelContactDoc>(FUNNEL_CONTACTS_COLLECTION);
    const survivorDoc = await contacts.findOne(
      { _id: funnelContactId(workspaceId, survivor) },
      { projection: { root: 1 } },
    );
    const root = survivorDoc?.root ?? survivor;
    // A merge into a contact that was merged into the one now merged would make a cycle: the survivor stays root.
    const target = root === merged ? survivor : root;
    await contacts.updateOne(
      { _id: funnelContactId(workspaceId, merged) },
      { $set: { root: target }, $setOnInsert: { workspaceId, contactId: merged } },
      { upsert: true },
    );
    await contacts.updateMany({ workspaceId, root: merged }, { $set: { root: target } });
  }

  private countRouting(
    tallies: AnyIntakeBatch['tallies'],
    at: RecordPosition,
    count: {
      workspaceId: string;
      at: number;
      zone: string;
      ownerId: string;
      teamId: string;
      inc: Record<string, number>;
    },
  ): void {
    countInBuckets(tallies, at, {
      workspaceId: count.workspaceId,
      model: ROUTING_MODEL,
      at: count.at,
      zone: count.zone,
      dims: { ownerId: count.ownerId, teamId: count.teamId },
      inc: count.inc,
    });
  }

  /**
   * Upserts in one bulk. A refusal is a document that exists and fails the guard, or one another batch (another topic)
   * created at the same moment: the refused are tried once more, when the document surely exists. `staleRefused`: the
   * updates are guarded by event time, and a second refusal means the stored value is newer (or older, for first
   * touches) than this event's: nothing to do.
   */
  private async write(updates: GuardedUpdate[], options: { staleRefused?: boolean } = {}): Promise<void> {
    if (updates.length === 0) return;
    const collection = this.connection.collection(FUNNEL_CONTACTS_COLLECTION) as unknown as UpsertCollection;
    const refused = await guardedUpserts(collection, updates);
    if (refused.size === 0) return;
    const again = await guardedUpserts(
      collection,
      updates.filter((_, i) => refused.has(i)),
    );
    if (again.size > 0 && !options.staleRefused)
      throw new Error(`${again.size} funnel contact writes refused`);
  }
}

function position(positions: readonly RecordPosition[], i: number): RecordPosition {
  const at = positions[i];
  if (!at) throw new Error(`no position for record ${i}`);
  return at;
}

/** Sets `set` where the stored `field` is older than `at` (or absent): the newest event wins. */
function newer(
  _id: string,
  field: string,
  at: Date,
  set: Record<string, unknown>,
  identity: Record<string, unknown>,
): GuardedUpdate {
  return {
    filter: { _id, $or: [{ [field]: { $lt: at } }, { [field]: { $exists: false } }] },
    update: { $set: set, $setOnInsert: identity },
  };
}

/** Sets `set` where the stored `field` is newer than `at` (or absent): the oldest event wins. */
function older(
  _id: string,
  field: string,
  at: Date,
  set: Record<string, unknown>,
  identity: Record<string, unknown>,
): GuardedUpdate {
  return {
    filter: { _id, $or: [{ [field]: { $gt: at } }, { [field]: { $exists: false } }] },
    update: { $set: set, $setOnInsert: identity },
  };
}

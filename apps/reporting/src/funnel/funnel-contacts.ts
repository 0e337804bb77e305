import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { Connection } from 'mongoose';
import { Topics, type TopicName } from '@tributary/contracts';
import type { RecordPosition } from '@tributary/messaging';
import {
  STORE_CONNECTION,
  findByIds,
  guardedUpserts,
  type BatchCollection,
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

/**
 * A funnel contact as stored. Each "newest wins" or "oldest wins" value is one string led by its event time, so that
 * `$max` / `$min` keep the right one in a single unguarded upsert whatever the arrival order (a guarded write per value
 * was two store statements per lifecycle change, and the backlog's bottleneck); equal times fall to the value.
 */
export interface StoredFunnelContact {
  _id: string;
  workspaceId: string;
  contactId: string;
  root: string;
  reached?: Record<string, Date>;
  /** `timeKey(at, [stage])`, by `$max`. */
  latestStage?: string;
  /** `timeKey(at, [source, medium, campaign, channel])`, by `$min`. */
  firstTouchKey?: string;
  /** `timeKey(at, [ownerId, teamId])`, by `$max`. */
  latestOwner?: string;
}

/** What FunnelPeople reads of a stored contact. */
export const STORED_FUNNEL_PROJECTION = {
  contactId: 1,
  root: 1,
  reached: 1,
  latestStage: 1,
  firstTouchKey: 1,
  latestOwner: 1,
} as const;

/** Event time first, zero-padded, so that strings sort as the times do; then the values, as JSON. */
export function timeKey(at: number, values: readonly string[]): string {
  return `${String(at).padStart(15, '0')}|${JSON.stringify(values)}`;
}

function parseTimeKey(key: string | undefined): { at: Date; values: string[] } | undefined {
  if (key === undefined) return undefined;
  const bar = key.indexOf('|');
  return { at: new Date(Number(key.slice(0, bar))), values: JSON.parse(key.slice(bar + 1)) as string[] };
}

/** The read shape of a stored contact. */
export function contactOfStored(doc: StoredFunnelContact): FunnelContactDoc {
  const stage = parseTimeKey(doc.latestStage);
  const touch = parseTimeKey(doc.firstTouchKey);
  const owner = parseTimeKey(doc.latestOwner);
  return {
    _id: doc._id,
    workspaceId: doc.workspaceId,
    contactId: doc.contactId,
    root: doc.root,
    ...(doc.reached ? { reached: doc.reached } : {}),
    ...(stage ? { stage: stage.values[0] ?? '', stageAt: stage.at } : {}),
    ...(touch
      ? {
          firstTouch: {
            source: touch.values[0] ?? '',
            medium: touch.values[1] ?? '',
            campaign: touch.values[2] ?? '',
            channel: touch.values[3] ?? '',
            at: touch.at,
          },
        }
      : {}),
    ...(owner
      ? { owner: { ownerId: owner.values[0] ?? '', teamId: owner.values[1] ?? '', at: owner.at } }
      : {}),
  };
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
        const writes = new ContactWrites();
        for (const { metadata, contactId, to } of batch.events)
          writes.add(metadata.workspaceId, contactId, {
            min: { [`reached.${to}`]: new Date(metadata.occurredAt) },
            max: { latestStage: timeKey(metadata.occurredAt, [to]) },
          });
        await this.write(writes);
        return;
      }
      case Topics.ContactsMerged:
        await this.merge(
          batch.events.map(({ metadata, survivingContactId, mergedContactId }) => ({
            workspaceId: metadata.workspaceId,
            merged: mergedContactId,
            survivor: survivingContactId,
          })),
        );
        return;
      case Topics.LeadsAssigned: {
        const writes = new ContactWrites();
        batch.events.forEach(({ metadata, contactId, ownerId, teamId, assignedAt }, i) => {
          writes.add(metadata.workspaceId, contactId, {
            max: { latestOwner: timeKey(assignedAt, [ownerId, teamId]) },
          });
          this.countRouting(batch.tallies, position(batch.positions, i), {
            workspaceId: metadata.workspaceId,
            at: assignedAt,
            zone: zoneOf(metadata.workspaceId),
            ownerId,
            teamId,
            inc: { assigned: 1 },
          });
        });
        await this.write(writes);
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
        const writes = new ContactWrites();
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
          writes.add(event.metadata.workspaceId, contactId, {
            min: { firstTouchKey: timeKey(at, [touch.source, touch.medium, touch.campaign, touch.channel]) },
          });
        }
        await this.write(writes);
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
   * Each `merged` now counts as its `survivor`'s root: the survivor's own root if it was merged on, so chains end where
   * they end whatever order the merges arrive in; contacts that pointed at `merged` move along. A batch's merges are
   * one read of the survivors' roots and one ordered bulk (a chain, b into a then a into c, applies in order); the
   * roots this batch moves are followed in memory, as the bulk will leave them.
   */
  private async merge(
    merges: readonly { workspaceId: string; merged: string; survivor: string }[],
  ): Promise<void> {
    if (merges.length === 0) return;
    const contacts = this.connection.collection<FunnelContactDoc>(FUNNEL_CONTACTS_COLLECTION);
    const stored = await findByIds(
      contacts as unknown as BatchCollection<FunnelContactDoc>,
      merges.map(({ workspaceId, survivor }) => funnelContactId(workspaceId, survivor)),
      { root: 1 },
    );
    const rootOf = new Map([...stored].map(([id, doc]) => [id, doc.root]));
    const operations: Parameters<typeof contacts.bulkWrite>[0][number][] = [];
    for (const { workspaceId, merged, survivor } of merges) {
      const root = rootOf.get(funnelContactId(workspaceId, survivor)) ?? survivor;
      // A merge into a contact that was merged into the one now merged would make a cycle: the survivor stays root.
      const target = root === merged ? survivor : root;
      operations.push(
        {
          updateOne: {
            filter: { _id: funnelContactId(workspaceId, merged) },
            update: { $set: { root: target }, $setOnInsert: { workspaceId, contactId: merged } },
            upsert: true,
          },
        },
        { updateMany: { filter: { workspaceId, root: merged }, update: { $set: { root: target } } } },
      );
      for (const [id, held] of rootOf) if (held === merged) rootOf.set(id, target);
      rootOf.set(funnelContactId(workspaceId, merged), target);
    }
    await contacts.bulkWrite(operations, { ordered: true });
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
   * Upserts in one bulk. The only refusal is a document another batch (another topic) created at the same moment:
   * those are tried once more, when the document surely exists.
   */
  private async write(writes: ContactWrites): Promise<void> {
    const updates = writes.updates();
    if (updates.length === 0) return;
    const collection = this.connection.collection(FUNNEL_CONTACTS_COLLECTION) as unknown as UpsertCollection;
    const refused = await guardedUpserts(collection, updates);
    if (refused.size === 0) return;
    const again = await guardedUpserts(
      collection,
      updates.filter((_, i) => refused.has(i)),
    );
    if (again.size > 0) throw new Error(`${again.size} funnel contact writes refused`);
  }
}

/** A batch's changes to funnel contacts, one upsert per contact however many of its records the batch holds. */
class ContactWrites {
  private readonly byId = new Map<
    string,
    { identity: Record<string, string>; min: Record<string, Date | string>; max: Record<string, string> }
  >();

  add(
    workspaceId: string,
    contactId: string,
    change: { min?: Record<string, Date | string>; max?: Record<string, string> },
  ): void {
    const _id = funnelContactId(workspaceId, contactId);
    let write = this.byId.get(_id);
    if (!write) {
      write = { identity: { workspaceId, contactId, root: contactId }, min: {}, max: {} };
      this.byId.set(_id, write);
    }
    for (const [field, value] of Object.entries(change.min ?? {})) {
      const held = write.min[field];
      if (held === undefined || value < held) write.min[field] = value;
    }
    for (const [field, value] of Object.entries(change.max ?? {})) {
      const held = write.max[field];
      if (held === undefined || value > held) write.max[field] = value;
    }
  }

  updates(): GuardedUpdate[] {
    return [...this.byId].map(([_id, { identity, min, max }]) => ({
      filter: { _id },
      update: {
        $setOnInsert: identity,
        ...(Object.keys(min).length > 0 ? { $min: min } : {}),
        ...(Object.keys(max).length > 0 ? { $max: max } : {}),
      },
    }));
  }
}

function position(positions: readonly RecordPosition[], i: number): RecordPosition {
  const at = positions[i];
  if (!at) throw new Error(`no position for record ${i}`);
  return at;
}

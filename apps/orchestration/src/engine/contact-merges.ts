import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Model } from 'mongoose';
import type { ContactsMerged } from '@tributary/contracts';
import { SERVICE_CONFIG } from '@tributary/config';
import { EventPublisher } from '@tributary/messaging';
import { isDuplicateKey } from '@tributary/store';
import type { OrchestrationConfig } from '../config';
import { enrollmentIdOf } from './journey-intake.service';
import { stepRecorded } from './outcome-event';
import {
  CONTACT_PROFILE_MODEL,
  ENROLLMENT_MODEL,
  TIMER_MODEL,
  timerId,
  type ContactProfileDoc,
  type EnrollmentDoc,
  type TimerDoc,
} from './engine.models';

const LEASE_POLL_MS = 250;
const LEASE_GRACE_MS = 1_000;

/** Reason an enrollment ends with when its contact was merged into another. */
export const MERGED_REASON = 'merged';

/** Thrown when some of a merge's enrollments were leased by the runner: the consumer redelivers the merge later. */
export class MergeDeferredError extends Error {
  constructor(readonly enrollmentIds: readonly string[]) {
    super(`contact merge deferred: ${enrollmentIds.length} enrollment(s) leased by the journey runner`);
  }
}

/**
 * A merged contact (`contacts.merged`) continues as the survivor, with one enrollment per journey.
 *
 * Rule (the simplest one that never sends a step twice): a merged-away enrollment moves only when it is parked at a
 * wait (`waitingAt` set) and the survivor has no enrollment in that journey. Everything before a wait was sent and
 * recorded before the runner parked it there, and the moved copy keeps step, wait, seq, run and timer, so it resumes
 * past the wait and only sends later steps (under the new id's keys, never sent before). Any other active
 * enrollment (not started yet, retrying a send, or the survivor already in the journey) ends `exited`/`merged`:
 * moving one sitting at a send step could send that step again under the new id.
 *
 * Leases: each enrollment is taken with a merge lease (`merge:<eventId>`) only when the runner holds none, so the
 * runner cannot claim it while it moves; a redelivery of the same merge may take over its own lease (a crash
 * mid-move). Enrollments the runner holds are looked at again until its lease ends; only then is the merge thrown
 * back to the consumer to be redelivered.
 */
@Injectable()
export class ContactMerges {
  constructor(
    @Inject(ENROLLMENT_MODEL) private readonly enrollments: Model<EnrollmentDoc>,
    @Inject(CONTACT_PROFILE_MODEL) private readonly profiles: Model<ContactProfileDoc>,
    @Inject(TIMER_MODEL) private readonly timers: Model<TimerDoc>,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
    private readonly publisher: EventPublisher,
  ) {}

  async apply(merges: readonly ContactsMerged[]): Promise<void> {
    // In order: a chain (a into b, then b into c) lands on c.
    for (const merge of merges) {
      // The runner holds a lease for one wake-up (or, a replica killed mid-run, until the lease ends): look again
      // until then rather than spend the consumer's few retries, which would dead-letter the merge.
      const until = Date.now() + this.config.JOURNEY_TIMER_LEASE_MS + LEASE_GRACE_MS;
      let left = await this.applyOne(merge);
      while (left.length > 0 && Date.now() < until) {
        await sleep(LEASE_POLL_MS);
        left = await this.applyOne(merge);
      }
      if (left.length > 0) throw new MergeDeferredError(left);
    }
  }

  /** Applies one merge; returns the enrollments it had to leave because the runner held them. */
  private async applyOne(merge: ContactsMerged): Promise<string[]> {
    const { workspaceId } = merge.metadata;
    const { survivingContactId: survivor, mergedContactId: merged } = merge;
    if (survivor === merged) return [];
    await this.foldProfile(workspaceId, survivor, merged);

    const owner = `merge:${merge.metadata.eventId}`;
    const active = await this.enrollments.find({ workspaceId, contactId: merged, state: 'active' }).lean();
    const left: string[] = [];
    for (const old of active) {
      const now = new Date();
      const lease = await this.enrollments.findOneAndUpdate(
        {
          _id: old._id,
          workspaceId,
          state: 'active',
          $or: [{ leaseUntil: { $lte: now } }, { leaseOwner: owner }],
        },
        {
          $set: {
            leaseOwner: owner,
            leaseUntil: new Date(now.getTime() + this.config.JOURNEY_TIMER_LEASE_MS),
          },
        },
        { new: true, lean: true },
      );
      if (!lease) {
        left.push(old._id);
        continue;
      }
      if (lease.waitingAt !== null) await this.moveToSurvivor(lease, survivor, now);
      // Announced before the write, as the runner announces an end: a crash between the two redelivers the merge,
      // which announces it again under the same event id.
      await this.publisher.publishAll([stepRecorded(lease, '(end)', 'end', 'exited', MERGED_REASON)]);
      await this.enrollments.updateOne(
        { _id: lease._id, leaseOwner: owner },
        {
          $set: {
            state: 'exited',
            reason: MERGED_REASON,
            completedAt: now,
            updatedAt: now,
            leaseUntil: new Date(0),
            leaseOwner: null,
            waitingAt: null,
            awaitingEvent: null,
          },
          // Its timer entries are then stale: the claim finds no `wakeAt` and drops them.
          $unset: { wakeAt: 1 },
        },
      );
    }
    return left;
  }

  /** The merged-away contact's attributes fill the survivor's gaps; the survivor's own values win. */
  private async foldProfile(workspaceId: string, survivor: string, merged: string): Promise<void> {
    const from = await this.profiles.findOne({ _id: merged, workspaceId }).lean();
    if (!from) return;
    const to = await this.profiles.findOne({ _id: survivor, workspaceId }).lean();
    const now = new Date();
    if (!to) {
      try {
        await this.profiles.create({ ...from, _id: survivor, updatedAt: now });
        return;
      } catch (error) {
        // The survivor's profile arrived meanwhile: fold into it below.
        if (!isDuplicateKey(error)) throw error;
      }
    }
    const current = to ?? (await this.profiles.findOne({ _id: survivor, workspaceId }).lean());
    if (!current) return;
    const set: Record<string, string> = {};
    for (const [name, value] of Object.entries(from.attributes ?? {}))
      if (!(name in (current.attributes ?? {}))) set[`attributes.${name}`] = value;
    for (const [name, value] of Object.entries(from.journeyAttributes ?? {}))
      if (!(name in (current.journeyAttributes ?? {}))) set[`journeyAttributes.${name}`] = value;
    if (Object.keys(set).length === 0) return;
    await this.profiles.updateOne({ _id: survivor, workspaceId }, { $set: { ...set, updatedAt: now } });
  }

  /** The survivor's copy, where the old one stood; none when the survivor already has one in the journey. */
  private async moveToSurvivor(old: EnrollmentDoc, survivor: string, now: Date): Promise<void> {
    // Enrollments upserted by the intake may lack `key` altogether: absent is unkeyed.
    const key = old.key ?? null;
    const id = enrollmentIdOf(old.workspaceId, old.journeyId, survivor, key);
    const { _id: _old, ...rest } = old;
    // The timer entry first: a crash after it leaves at worst a spare wake-up, never a copy nothing wakes.
    if (old.wakeAt) await this.addTimer(timerId(old.wakeAt.getTime(), id));
    try {
      await this.enrollments.create({
        ...rest,
        _id: id,
        contactId: survivor,
        key,
        leaseUntil: new Date(0),
        leaseOwner: null,
        reason: null,
        updatedAt: now,
      });
    } catch (error) {
      // One enrollment per journey: the survivor's own (or this merge's copy, on a redelivery) stays.
      if (!isDuplicateKey(error)) throw error;
    }
  }

  private async addTimer(id: string): Promise<void> {
    try {
      await this.timers.create({ _id: id });
    } catch (error) {
      // An entry that exists already is the same entry.
      if (!isDuplicateKey(error)) throw error;
    }
  }
}

import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { IANAZone } from 'luxon';
import { Schema, type Model } from 'mongoose';
import { SERVICE_CONFIG } from '@tributary/config';
import { derivedEventId, originMetadata } from '@tributary/messaging';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import { PollLoop } from '@tributary/runtime';
import { isDuplicateKey, upsertRacing } from '@tributary/store';
import type { OrchestrationConfig } from '../config';
import { JourneyCatalog } from '../journeys/journey-catalog';
import type { JourneyEntry } from '../journeys/journey-definition';
import { allHold } from '../journeys/journey-path';
import { firstOccurrence, nextOccurrence } from '../journeys/journey-schedule';
import { AudienceGuards } from './audience-guards';
import { CONTACT_PROFILE_MODEL, modelProvider, type ContactProfileDoc } from './engine.models';
import { JourneyIntake } from './journey-intake.service';

type ScheduleEntry = Extract<JourneyEntry, { on: 'schedule' }>;

/**
 * A scheduled journey's state, `_id` `<workspaceId>:<journeyId>`: the occurrence due next (or running), claimed with
 * a lease like an enrollment; `cursor` is how far the running occurrence got through the workspace's contacts.
 */
export interface JourneyScheduleDoc {
  _id: string;
  workspaceId: string;
  journeyId: string;
  /** Null when nothing is left to run (a one-off that ran). */
  nextAt: Date | null;
  /** The last occurrence run to its end: a re-publish never runs it, or one before it, again. */
  lastRunAt: Date | null;
  /** The last profile `_id` the running occurrence handled (pages go in `_id` order); null between occurrences. */
  cursor: string | null;
  leaseOwner: string | null;
  leaseUntil: Date;
  updatedAt: Date;
}

const scheduleSchema = new Schema<JourneyScheduleDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    journeyId: { type: String, required: true },
    nextAt: { type: Date, default: null },
    lastRunAt: { type: Date, default: null },
    cursor: { type: String, default: null },
    leaseOwner: { type: String, default: null },
    leaseUntil: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'journey_schedules' },
);

/** Due index of schedules, `_id` `s|<due ms, 15 digits>|<scheduleId>`: due ones are an `_id` range (as journey_timers). */
interface ScheduleDueDoc {
  _id: string;
}

const scheduleDueSchema = new Schema<ScheduleDueDoc>(
  { _id: { type: String, required: true } },
  { versionKey: false, collection: 'journey_schedule_due' },
);

export const JOURNEY_SCHEDULE_MODEL = Symbol('JOURNEY_SCHEDULE_MODEL');
export const JOURNEY_SCHEDULE_DUE_MODEL = Symbol('JOURNEY_SCHEDULE_DUE_MODEL');

export const journeySchedulerModelProviders = [
  modelProvider(JOURNEY_SCHEDULE_MODEL, 'JourneySchedule', scheduleSchema),
  modelProvider(JOURNEY_SCHEDULE_DUE_MODEL, 'JourneyScheduleDue', scheduleDueSchema),
];

const pad = (ms: number): string => String(Math.max(0, Math.floor(ms))).padStart(15, '0');

export function scheduleDueId(dueMs: number, scheduleId: string): string {
  return `s|${pad(dueMs)}|${scheduleId}`;
}

function scheduleOfDue(id: string): string {
  return id.slice(id.indexOf('|', 2) + 1);
}

/** Profiles of a workspace: contact ids are `<workspaceId>:<id>` (apps/leads identity), so an `_id` range. */
export function workspaceProfiles(workspaceId: string, after: string | null): { $gt: string; $lt: string } {
  // ';' is the character after ':': the range holds every id that starts with `<workspaceId>:`.
  return { $gt: after ?? `${workspaceId}:`, $lt: `${workspaceId};` };
}

/** Profiles read, filtered and enrolled at a time. */
const SCAN_PAGE = 500;
/** Due schedules read per poll. */
const DUE_BATCH = 50;

/** Whether a profile is one the schedule enters: its stage (when named) and its attribute conditions. */
export function scheduleMatches(
  entry: ScheduleEntry,
  profile: Pick<ContactProfileDoc, '_id' | 'attributes' | 'stage' | 'score'>,
): boolean {
  if (entry.stage !== undefined && profile.stage !== entry.stage) return false;
  return allHold(entry.where, {
    contactId: profile._id,
    attributes: profile.attributes ?? {},
    stage: profile.stage ?? null,
    score: profile.score ?? 0,
    properties: {},
  });
}

/**
 * Runs scheduled journeys: each published schedule journey has a due entry at its next occurrence; at it, one
 * replica claims the schedule with a lease, pages through the workspace's profiles in `_id` order enrolling the
 * matching ones (through the intake, the occurrence as the cause), then writes the next occurrence. A rerun after a
 * crash resumes from the cursor and enters nobody twice (the intake refuses the same cause); an occurrence missed
 * while no replica ran runs once, and the next is counted from then.
 */
@Injectable()
export class JourneyScheduler implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly loop: PollLoop;

  constructor(
    @Inject(JOURNEY_SCHEDULE_MODEL) private readonly schedules: Model<JourneyScheduleDoc>,
    @Inject(JOURNEY_SCHEDULE_DUE_MODEL) private readonly due: Model<ScheduleDueDoc>,
    @Inject(CONTACT_PROFILE_MODEL) private readonly profiles: Model<ContactProfileDoc>,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    private readonly journeys: JourneyCatalog,
    private readonly intake: JourneyIntake,
    private readonly guards: AudienceGuards,
  ) {
    this.loop = new PollLoop(
      () => this.tick(),
      config.JOURNEY_SCHEDULE_POLL_MS,
      (error) => this.logger.error({ err: error }, 'journey schedule round failed'),
    );
  }

  onModuleInit(): void {
    this.journeys.onPublish((workspaceId, journeyId, version) => this.arm(workspaceId, journeyId, version));
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.reconcile().catch((error: unknown) =>
      this.logger.error({ err: error }, 'scheduled journeys not reconciled at start'),
    );
    this.loop.start();
  }

  /**
   * Arms the published schedule journeys that have no schedule: a crash between storing a publish and arming it
   * (or a store error then) would otherwise leave the journey unscheduled until it is published again.
   */
  async reconcile(): Promise<string[]> {
    const armed: string[] = [];
    for (const { workspaceId, journeyId, version } of await this.journeys.publishedJourneys()) {
      const entry = (await this.journeys.definitionOf(workspaceId, journeyId, version))?.entry;
      if (entry?.on !== 'schedule' || (await this.schedules.exists({ _id: `${workspaceId}:${journeyId}` })))
        continue;
      await this.arm(workspaceId, journeyId, version);
      armed.push(`${workspaceId}:${journeyId}`);
    }
    if (armed.length > 0)
      this.logger.warn({ journeys: armed }, 'armed scheduled journeys found without a schedule');
    return armed;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /**
   * A version was published: a schedule entry gets its first occurrence (a version entering otherwise removes the
   * schedule). One due or running now is left alone: it runs, then counts its next from the live version.
   */
  async arm(workspaceId: string, journeyId: string, version: number): Promise<void> {
    const id = `${workspaceId}:${journeyId}`;
    const entry = (await this.journeys.definitionOf(workspaceId, journeyId, version))?.entry;
    if (entry?.on !== 'schedule') {
      await this.schedules.deleteOne({ _id: id });
      return;
    }
    const now = new Date();
    const doc = await this.schedules.findById(id).lean();
    if (doc?.nextAt && doc.nextAt.getTime() <= now.getTime()) {
      // Its entry again, in case it was lost: a running one's claim is refused and the entry dropped.
      await this.addDue([scheduleDueId(doc.nextAt.getTime(), id)]);
      return;
    }
    const zone = await this.zoneOf(workspaceId, entry);
    const lastRunMs = doc?.lastRunAt ? doc.lastRunAt.getTime() : Number.NEGATIVE_INFINITY;
    let nextAt = firstOccurrence(entry, zone, new Date(Math.max(now.getTime(), lastRunMs)));
    // A one-off already run (a re-publish of the same instant) does not run again.
    if (nextAt && nextAt.getTime() <= lastRunMs) nextAt = null;
    await this.writeWithDueEntry(id, nextAt, () =>
      upsertRacing(() =>
        this.schedules.updateOne(
          { _id: id },
          {
            $set: { workspaceId, journeyId, nextAt, updatedAt: now },
            $setOnInsert: { lastRunAt: null, cursor: null, leaseOwner: null, leaseUntil: new Date(0) },
          },
          { upsert: true },
        ),
      ),
    );
  }

  /**
   * Writes a schedule's next occurrence with its due entry. The entry goes first: a crash between the two leaves a
   * spare look, not a schedule nothing wakes. One already due goes again after: a replica that read it before the
   * write found the schedule not due yet and dropped it.
   */
  private async writeWithDueEntry(
    id: string,
    nextAt: Date | null,
    write: () => Promise<unknown>,
  ): Promise<void> {
    if (nextAt) await this.addDue([scheduleDueId(nextAt.getTime(), id)]);
    await write();
    if (nextAt && nextAt.getTime() <= Date.now()) await this.addDue([scheduleDueId(nextAt.getTime(), id)]);
  }

  /** Claims and runs the schedules due now, one at a time (each is a scan of a workspace). */
  async tick(now = new Date()): Promise<void> {
    const found = await this.due
      .find({ _id: { $gte: 's|', $lt: `s|${pad(now.getTime() + 1)}|` } }, { _id: 1 })
      .limit(DUE_BATCH)
      .lean();
    const bySchedule = new Map<string, string[]>();
    for (const { _id } of found) {
      const id = scheduleOfDue(_id);
      bySchedule.set(id, [...(bySchedule.get(id) ?? []), _id]);
    }
    // Replicas read the same entries: a random order keeps them from queueing on the same schedule.
    const ids = [...bySchedule.keys()].sort(() => Math.random() - 0.5);
    for (const id of ids) {
      if (this.loop.stopped) return;
      await this.claimAndRun(id, bySchedule.get(id) ?? [], new Date());
    }
  }

  private async claimAndRun(id: string, dueEntries: readonly string[], now: Date): Promise<void> {
    const owner = randomUUID();
    const leaseUntil = new Date(now.getTime() + this.config.JOURNEY_TIMER_LEASE_MS);
    const leaseEntry = scheduleDueId(leaseUntil.getTime(), id);
    // Written before the lease: a replica killed while holding it leaves this entry to bring the schedule back.
    await this.addDue([leaseEntry]);
    await this.schedules.updateOne(
      { _id: id, nextAt: { $lte: now }, leaseUntil: { $lte: now } },
      { $set: { leaseOwner: owner, leaseUntil } },
    );
    // Read back rather than trust the write's answer: what this replica holds is what carries its token.
    const read = await this.schedules.findById(id).lean();
    const claimed = read?.leaseOwner === owner ? read : null;
    // The entries read are done with: claimed, its lease entry stands for them; else stale or another replica's.
    await this.due.deleteMany({ _id: { $in: [...dueEntries, ...(claimed ? [] : [leaseEntry])] } });
    if (!claimed?.nextAt) return;
    try {
      await this.runOccurrence(claimed, claimed.nextAt, owner, leaseUntil);
    } catch (error) {
      // Its lease ends and its lease entry brings it back, to resume from the cursor.
      this.logger.error({ err: error, scheduleId: id }, 'scheduled journey run failed');
    }
  }

  private async runOccurrence(
    schedule: JourneyScheduleDoc,
    occurrence: Date,
    owner: string,
    leaseUntil: Date,
  ): Promise<void> {
    const { _id: id, workspaceId, journeyId } = schedule;
    const live = (await this.journeys.liveJourneys(workspaceId)).find((j) => j.journeyId === journeyId);
    const entry = live?.definition.entry;
    if (!live || entry?.on !== 'schedule') {
      // Archived, never published, or published anew entering otherwise: nothing of it runs again.
      await this.schedules.deleteOne({ _id: id, leaseOwner: owner });
      await this.due.deleteOne({ _id: scheduleDueId(leaseUntil.getTime(), id) });
      return;
    }
    let lease = leaseUntil;
    if (live.status === 'active') {
      // The occurrence is the cause: every contact it enters carries it, and the intake never enters one twice for it.
      const cause = originMetadata({
        workspaceId,
        source: 'orchestration-schedule',
        eventId: derivedEventId(`schedule:${id}`, String(occurrence.getTime())),
        occurredAt: occurrence.getTime(),
      });
      let cursor = schedule.cursor;
      for (;;) {
        const page = await this.profiles
          .find(
            { _id: workspaceProfiles(workspaceId, cursor), workspaceId },
            { attributes: 1, stage: 1, score: 1 },
          )
          .sort({ _id: 1 })
          .limit(SCAN_PAGE)
          .lean();
        const last = page.at(-1);
        if (!last) break;
        const matching = page.filter((profile) => scheduleMatches(entry, profile)).map((p) => p._id);
        if (matching.length > 0) await this.intake.onSchedule(live, matching, cause);
        cursor = last._id;
        const extended = new Date(Date.now() + this.config.JOURNEY_TIMER_LEASE_MS);
        await this.addDue([scheduleDueId(extended.getTime(), id)]);
        const kept = await this.schedules.updateOne(
          { _id: id, leaseOwner: owner },
          { $set: { cursor, leaseUntil: extended, updatedAt: new Date() } },
        );
        // Lost the lease (it ran out): whoever holds it now resumes from the cursor it finds.
        if (kept.matchedCount === 0) return;
        await this.due.deleteOne({ _id: scheduleDueId(lease.getTime(), id) });
        lease = extended;
        if (page.length < SCAN_PAGE) break;
      }
    } else this.logger.info({ scheduleId: id, occurrence }, 'scheduled journey paused: occurrence skipped');
    // Counted from now, not from the occurrence: ticks missed while no replica ran are not run one by one.
    const zone = await this.zoneOf(workspaceId, entry);
    const nextAt = nextOccurrence(entry, zone, new Date(Math.max(Date.now(), occurrence.getTime())));
    await this.writeWithDueEntry(id, nextAt, () =>
      this.schedules.updateOne(
        { _id: id, leaseOwner: owner },
        {
          $set: {
            nextAt,
            lastRunAt: occurrence,
            cursor: null,
            leaseOwner: null,
            leaseUntil: new Date(0),
            updatedAt: new Date(),
          },
        },
      ),
    );
    await this.due.deleteOne({ _id: scheduleDueId(lease.getTime(), id) });
  }

  /** The schedule's own zone, else the workspace's (messaging settings), else UTC. */
  private async zoneOf(workspaceId: string, entry: ScheduleEntry): Promise<string> {
    if (entry.timezone) return entry.timezone;
    const zone = (await this.guards.settings(workspaceId)).timezone;
    return IANAZone.isValidZone(zone) ? zone : 'UTC';
  }

  private async addDue(ids: readonly string[]): Promise<void> {
    try {
      await this.due.insertMany(
        ids.map((_id) => ({ _id })),
        { ordered: false },
      );
    } catch (error) {
      // An entry that exists already is the same entry.
      if (!isDuplicateKey(error)) throw error;
    }
  }
}

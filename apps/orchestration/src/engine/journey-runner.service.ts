import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ROOT_CONTEXT, context, propagation } from '@opentelemetry/api';
import type { Model } from 'mongoose';
import { PollLoop } from '@tributary/runtime';
import pLimit from 'p-limit';
import { EventPublisher, type OutgoingEvent } from '@tributary/messaging';
import { SERVICE_CONFIG } from '@tributary/config';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import { groupedUpdates, isDuplicateKey, type GuardedUpdate } from '@tributary/store';
import type { AnyBulkWriteOperation } from 'mongoose';
import type { OrchestrationConfig } from '../config';
import {
  afterStep,
  afterWaitCondition,
  afterWaitEvent,
  nextAction,
  parseProperties,
  type PathContext,
} from '../journeys/journey-path';
import { JourneyCatalog } from '../journeys/journey-catalog';
import { Coalescer } from './coalescer';
import { ConditionWaits } from './condition-waits';
import { MessageSender, type ClaimFacts } from './message-sender';
import { StepEffects } from './step-effects';
import { messageKeyOf, outcomeEvent, stepRecorded } from './outcome-event';
import {
  CONTACT_PROFILE_MODEL,
  ENROLLMENT_MODEL,
  TIMER_MODEL,
  enrollmentOfTimer,
  syncEnrollmentIndexes,
  timerId,
  timersDueBy,
  type ContactProfileDoc,
  type EnrollmentDoc,
  type TimerDoc,
} from './engine.models';

/** Effects one enrollment may run in one wake-up: a journey of decisions and sends only, no wait, ends here. */
const MAX_EFFECTS_PER_WAKE = 50;
/** How long a write waits for the same write of other enrollments of the claim (provider answers come spread). */
const WRITE_WINDOW_MS = 10;
/** A claim reads this many batches' worth of due entries and takes one of them (see `claim`). */
const CLAIM_SPREAD = 4;

/** Now, to the second: enrollments stopping in the same second write equal updates, which the store groups. */
function thisSecond(): Date {
  return new Date(Math.floor(Date.now() / 1000) * 1000);
}

/** A wake-up time up to the next whole second (never earlier than asked), for the same reason. */
function wholeSecondAfter(at: Date): Date {
  return new Date(Math.ceil(at.getTime() / 1000) * 1000);
}

/**
 * The timer loop: claims due enrollments with a lease (so of two replicas one runs each wake-up, and a killed
 * replica's claims are taken over when the lease ends), runs each to its next wait or its end, and releases it.
 * Sends go through MessageSender, which keeps each message to one.
 */
@Injectable()
export class JourneyRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly loop: PollLoop;
  // Enrollments of a claim run at once; their single writes go to the store as one command each.
  private readonly enrollmentWrites = new Coalescer<GuardedUpdate, void>(
    async (updates) => {
      await this.enrollments.bulkWrite(groupedUpdates(updates) as AnyBulkWriteOperation<EnrollmentDoc>[], {
        ordered: false,
      });
      return updates.map(() => undefined);
    },
    { windowMs: WRITE_WINDOW_MS },
  );
  // A claimed enrollment that stops within its lease no longer needs the entry at the lease's end.
  private readonly leaseEntryDeletes = new Coalescer<string, void>(
    async (ids) => {
      await this.timers.deleteMany({ _id: { $in: ids } });
      return ids.map(() => undefined);
    },
    { windowMs: WRITE_WINDOW_MS },
  );
  private readonly timerAdds = new Coalescer<string, void>(
    async (ids) => {
      await this.insertTimers(ids);
      return ids.map(() => undefined);
    },
    { windowMs: WRITE_WINDOW_MS },
  );
  private readonly announcements = new Coalescer<OutgoingEvent[], void>(
    async (lists) => {
      await this.publisher.publishAll(lists.flat());
      return lists.map(() => undefined);
    },
    { windowMs: WRITE_WINDOW_MS },
  );

  constructor(
    @Inject(ENROLLMENT_MODEL) private readonly enrollments: Model<EnrollmentDoc>,
    @Inject(CONTACT_PROFILE_MODEL) private readonly profiles: Model<ContactProfileDoc>,
    @Inject(TIMER_MODEL) private readonly timers: Model<TimerDoc>,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    private readonly journeys: JourneyCatalog,
    private readonly publisher: EventPublisher,
    private readonly sender: MessageSender,
    private readonly effects: StepEffects,
    private readonly conditionWaits: ConditionWaits,
  ) {
    this.loop = new PollLoop(
      () => this.tick(),
      config.JOURNEY_TIMER_POLL_MS,
      (error) => this.logger.error({ err: error }, 'journey timer round failed'),
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    await syncEnrollmentIndexes(this.enrollments, this.logger);
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** New enrollments are due now: look without waiting for the next poll. */
  poke(): void {
    this.loop.poke();
  }

  /** Claims and runs due enrollments until none is due. */
  private async tick(): Promise<void> {
    // Claims run side by side, up to JOURNEY_CLAIMS_IN_FLIGHT: an enrollment's run is a chain of store and provider
    // round trips, and one claim at a time would leave the store idle between its links.
    const running = new Set<Promise<void>>();
    while (!this.loop.stopped) {
      const claimed = await this.claim();
      if (claimed.length === 0) break;
      const run: Promise<void> = this.runAll(claimed)
        // Its enrollments' leases end and a later round takes them again.
        .catch((error: unknown) => this.logger.error({ err: error }, 'claim could not run'))
        .finally(() => running.delete(run));
      running.add(run);
      while (running.size >= this.config.JOURNEY_CLAIMS_IN_FLIGHT) await Promise.race(running);
    }
    await Promise.all(running);
  }

  /** Adds timer entries (`timerId`): each says "look at this enrollment at that time". Duplicates are one entry. */
  async addTimers(ids: readonly string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.timerAdds.add(id)));
  }

  private async insertTimers(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    try {
      await this.timers.insertMany(
        ids.map((_id) => ({ _id })),
        { ordered: false },
      );
    } catch (error) {
      // An entry that exists already is the same entry.
      if (!isDuplicateKey(error)) throw error;
    }
  }

  /**
   * Claims up to a batch of due enrollments: due timer entries (an `_id` range), one conditional update of their
   * enrollments, then a read of what this claim got. Each candidate gets an entry at the lease's end before the
   * update, so an enrollment leased by a replica killed at any point is looked at again; then the due entries read
   * are dropped (the claimed ones are covered by their lease entry, the rest were stale or are another replica's,
   * which wrote its own), with the lease entries of candidates this claim did not get.
   */
  async claim(now = new Date()): Promise<EnrollmentDoc[]> {
    const batch = this.config.JOURNEY_TIMER_BATCH;
    const found = await this.timers
      // Any due entries, not the oldest first: with a sort FerretDB reads every due entry to sort them (2 s per
      // claim with 100,000 due at once, against 0.26 s unsorted); all of them are due, so the order is not owed.
      .find({ _id: timersDueBy(now.getTime()) }, { _id: 1 })
      .limit(batch * CLAIM_SPREAD)
      .lean();
    if (found.length === 0) return [];
    // Replicas read the same entries first: each takes a batch-sized window of them at random, not the first.
    const window = Math.floor(Math.random() * Math.ceil(found.length / batch));
    const due = found.slice(window * batch, (window + 1) * batch);
    const ids = [...new Set(due.map((d) => enrollmentOfTimer(d._id)))];
    const owner = randomUUID();
    const leaseUntil = new Date(now.getTime() + this.config.JOURNEY_TIMER_LEASE_MS);
    const leaseEntries = new Map(ids.map((id) => [id, timerId(leaseUntil.getTime(), id)]));
    await this.addTimers([...leaseEntries.values()]);
    const leased = await this.enrollments.updateMany(
      { _id: { $in: ids }, wakeAt: { $lte: now }, leaseUntil: { $lte: now } },
      { $set: { leaseOwner: owner, leaseUntil } },
    );
    // None leased (another replica took them, or the entries were stale): nothing to read.
    const claimed =
      leased.modifiedCount === 0
        ? []
        : (await this.enrollments.find({ _id: { $in: ids } }).lean()).filter((e) => e.leaseOwner === owner);
    for (const enrollment of claimed) leaseEntries.delete(enrollment._id);
    await this.timers.deleteMany({ _id: { $in: [...due.map((d) => d._id), ...leaseEntries.values()] } });
    return claimed;
  }

  private async runAll(claimed: EnrollmentDoc[]): Promise<void> {
    const profiles = new Map(
      (await this.profiles.find({ _id: { $in: [...new Set(claimed.map((e) => e.contactId))] } }).lean()).map(
        (p) => [p._id, p],
      ),
    );
    const facts = await this.sender.factsFor(claimed, profiles);
    const limit = pLimit(this.config.JOURNEY_RUN_CONCURRENCY);
    await Promise.all(
      claimed.map((enrollment) =>
        limit(() =>
          context
            .with(propagation.extract(ROOT_CONTEXT, enrollment.trace ?? {}), () =>
              this.advance(enrollment, profiles.get(enrollment.contactId), facts),
            )
            .catch((error: unknown) => {
              // Its lease ends and a later round retries it from its last recorded step.
              this.logger.error({ err: error, enrollmentId: enrollment._id }, 'enrollment could not advance');
            }),
        ),
      ),
    );
  }

  /** Runs one enrollment from its current step to its next wait or its end, recording each step as it goes. */
  async advance(
    enrollment: EnrollmentDoc,
    profile: ContactProfileDoc | undefined,
    facts: ClaimFacts,
  ): Promise<void> {
    const { workspaceId, journeyId, version } = enrollment;
    const journey = await this.journeys.definitionOf(workspaceId, journeyId, version);
    const status = await this.journeys.statusOf(workspaceId, journeyId);
    if (!journey || status === 'archived' || status === undefined) {
      await this.finish(enrollment, 'exited', journey ? 'journey-archived' : 'journey-missing', null);
      return;
    }
    // The intake saw the journey's goal, or a goal step ahead, reached: the contact leaves wherever it was.
    if (enrollment.goalReachedAt) {
      const at = enrollment.goalStepId ? { id: enrollment.goalStepId, type: 'goal' } : null;
      await this.finish(enrollment, 'converted', at ? 'goal-met' : 'goal', at);
      return;
    }
    const context: PathContext = {
      contactId: enrollment.contactId,
      attributes: profile?.attributes ?? {},
      zone: await this.effects.zoneFor(workspaceId, journey, profile?.attributes ?? {}),
      stage: profile?.stage ?? null,
      score: profile?.score ?? 0,
      properties: parseProperties(enrollment.propertiesJson),
    };
    // Decisions, passed waits and finished sends change the enrollment in memory only; it is written once, where
    // it stops (a wait, a retry, the end). A crash before that write reruns from the last written step: decisions
    // come out the same, and each send finds its message record, so nothing goes twice.
    let current = enrollment;
    const announce: OutgoingEvent[] = [];
    for (let effects = 0; effects < MAX_EFFECTS_PER_WAKE; effects += 1) {
      const now = Date.now();
      const action = nextAction(journey, current.stepId, context, `${workspaceId}:${journeyId}`, now);
      const at = current;
      announce.push(
        ...action.passed.map((stepId) =>
          // A goal step walked past was not met; branches and splits are decisions.
          journey.steps.find((s) => s.id === stepId)?.type === 'goal'
            ? stepRecorded(at, stepId, 'goal', 'advanced', 'goal-not-met')
            : stepRecorded(at, stepId, 'decision', 'advanced', null),
        ),
      );
      if (action.kind === 'completed' || action.kind === 'exit') {
        const exitStep = action.kind === 'exit' ? action.step : null;
        await this.finish(current, action.kind === 'exit' ? 'exited' : 'completed', null, exitStep, announce);
        return;
      }
      if (action.kind === 'goal') {
        await this.finish(
          { ...current, stepId: action.step.id },
          'converted',
          'goal-met',
          action.step,
          announce,
        );
        return;
      }
      if (action.kind === 'wait_condition') {
        const { step } = action;
        const woken = current.waitingAt === step.id;
        if (woken || action.met) {
          // Met now (on arrival, or at the timeout after a change the intake did not see in time), or marked by the
          // intake when the contact changed since.
          const met = action.met || (woken && current.eventArrived === true);
          announce.push(
            stepRecorded(current, step.id, step.type, 'advanced', met ? 'condition-met' : 'timed-out'),
          );
          current = {
            ...current,
            stepId: afterWaitCondition(journey, step.id, met),
            waitingAt: null,
            awaitingCondition: false,
            eventArrived: false,
          };
          continue;
        }
        current = {
          ...current,
          stepId: step.id,
          waitingAt: step.id,
          awaitingEvent: null,
          awaitingCondition: true,
          eventArrived: false,
        };
        announce.push(stepRecorded(current, step.id, step.type, 'waiting', null));
        await this.stopAt(current, new Date(action.untilMs), announce);
        return;
      }
      if (action.kind === 'wait' || action.kind === 'wait_event') {
        const { step } = action;
        if (current.waitingAt === step.id) {
          // Woken at the end of the wait, or (wait_event) by the event the intake marked.
          const arrived = step.type === 'wait_event' && current.eventArrived === true;
          const reason = step.type !== 'wait_event' ? null : arrived ? 'event-arrived' : 'timed-out';
          announce.push(stepRecorded(current, step.id, step.type, 'advanced', reason));
          const next =
            step.type !== 'wait_event'
              ? afterStep(journey, step.id)
              : afterWaitEvent(journey, step.id, arrived);
          current = { ...current, stepId: next, waitingAt: null, awaitingEvent: null, eventArrived: false };
          continue;
        }
        current = {
          ...current,
          stepId: step.id,
          waitingAt: step.id,
          awaitingEvent: step.type === 'wait_event' ? step.event : null,
          eventArrived: false,
        };
        announce.push(stepRecorded(current, step.id, step.type, 'waiting', null));
        await this.stopAt(current, new Date(action.untilMs), announce);
        return;
      }
      if (action.kind === 'effect') {
        // Audiences, webhooks, attribute updates (step-effects.ts): kept to once by the step's key, as sends are.
        const effect = await this.effects.run(current, action.step, context, status === 'paused');
        if ('retryAt' in effect) {
          current = { ...current, stepId: action.step.id };
          await this.stopAt(current, effect.retryAt, announce);
          return;
        }
        const { stepStatus, reason, events } = effect;
        announce.push(stepRecorded(current, action.step.id, action.step.type, stepStatus, reason), ...events);
        // The contact changed: its other enrollments waiting for a condition may now go on.
        if (action.step.type === 'update_attribute')
          await this.wakeConditionWaits([current.contactId], current._id);
        current = { ...current, stepId: afterStep(journey, action.step.id), seq: current.seq + 1 };
        continue;
      }
      const outcome = await this.sender.send(current, action.step, context, status === 'paused', facts);
      if ('retryAt' in outcome) {
        // Quiet hours, or the provider asked to wait (429, 5xx): the same step, the same message key, later.
        current = { ...current, stepId: action.step.id };
        if (outcome.waiting)
          announce.push(stepRecorded(current, action.step.id, action.step.type, 'waiting', outcome.waiting));
        await this.stopAt(current, outcome.retryAt, announce);
        return;
      }
      const stepStatus = outcome.status === 'sent' ? 'advanced' : 'skipped';
      announce.push(
        stepRecorded(current, action.step.id, action.step.type, stepStatus, outcome.reason),
        outcomeEvent(current, action.step, messageKeyOf(current, action.step.id), outcome),
      );
      current = { ...current, stepId: afterStep(journey, action.step.id), seq: current.seq + 1 };
    }
    // A journey of sends and decisions only, looping: look again next round rather than hold the lease forever.
    await this.stopAt(current, new Date(), announce);
  }

  /**
   * These contacts changed: their enrollments whose wait_condition now holds, or whose goal step ahead is now met,
   * are marked and woken. `except`: the enrollment whose own run changed the contact (it sees the change itself).
   */
  async wakeConditionWaits(contactIds: readonly string[], except?: string): Promise<void> {
    const now = new Date();
    await this.wakeNow(await this.conditionWaits.markMet(contactIds, now, except), now);
  }

  /** Enrollments made due at `now` (by an entry or a mark): a timer entry each, and a look without waiting. */
  async wakeNow(ids: readonly string[], now: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.addTimers([...new Set(ids)].map((id) => timerId(now.getTime(), id)));
    this.poke();
  }

  /**
   * Announces what the run did, then writes where the enrollment stopped (its step, effect count and wait), due at
   * `wakeAt`, if this runner still holds its lease; otherwise another replica has it and reruns from what was
   * written (announcing the same events again, with the same ids).
   */
  private async stopAt(enrollment: EnrollmentDoc, wakeAt: Date, announce: OutgoingEvent[]): Promise<void> {
    await this.announcements.add(announce);
    const { stepId, seq, waitingAt, awaitingEvent, eventArrived } = enrollment;
    const awaitingCondition = enrollment.awaitingCondition === true;
    const wakeUp = wholeSecondAfter(wakeAt);
    // The entry first: written after the enrollment, a crash between the two would leave a wait nothing wakes (its
    // lease entry, due sooner, finds it not due yet). Written first and the enrollment not, it is a spare wake-up.
    await this.addTimers([timerId(wakeUp.getTime(), enrollment._id)]);
    // Guarded by the lease: a replica that lost it writes nothing (its timer entry is then stale and dropped).
    await this.enrollmentWrites.add({
      filter: { _id: enrollment._id, leaseOwner: enrollment.leaseOwner },
      update: {
        $set: {
          stepId,
          seq,
          waitingAt,
          awaitingEvent,
          awaitingCondition,
          eventArrived,
          wakeAt: wakeUp,
          leaseUntil: new Date(0),
          leaseOwner: null,
          updatedAt: thisSecond(),
        },
      },
    });
    // (Unless the wake-up falls on the lease's end to the millisecond: then they are one entry.)
    if (wakeUp.getTime() !== enrollment.leaseUntil.getTime()) this.dropLeaseEntry(enrollment);
  }

  /** Not waited for: an entry left behind only wakes the enrollment once more, to find it not due. */
  private dropLeaseEntry(enrollment: EnrollmentDoc): void {
    if (enrollment.leaseOwner === null || enrollment.leaseUntil.getTime() <= 0) return;
    this.leaseEntryDeletes
      .add(timerId(enrollment.leaseUntil.getTime(), enrollment._id))
      .catch((error: unknown) => this.logger.warn({ err: error }, 'lease entry not dropped'));
  }

  /** `at`: the exit or goal step it left at; null when it ran past the end or left from wherever it was. */
  private async finish(
    enrollment: EnrollmentDoc,
    state: 'completed' | 'exited' | 'converted',
    reason: string | null,
    at: { id: string; type: string } | null,
    announce: OutgoingEvent[] = [],
  ): Promise<void> {
    await this.announcements.add([
      ...announce,
      stepRecorded(enrollment, at?.id ?? '(end)', at?.type ?? 'end', state, reason),
    ]);
    const now = thisSecond();
    await this.enrollmentWrites.add({
      filter: { _id: enrollment._id, leaseOwner: enrollment.leaseOwner },
      update: {
        $set: {
          state,
          reason,
          stepId: enrollment.stepId,
          seq: enrollment.seq,
          completedAt: now,
          updatedAt: now,
          leaseUntil: new Date(0),
          leaseOwner: null,
          waitingAt: null,
          awaitingEvent: null,
          awaitingCondition: false,
        },
        $unset: { wakeAt: 1 },
      },
    });
    this.dropLeaseEntry(enrollment);
  }
}

import { Inject, Injectable } from '@nestjs/common';
import { upsertRacing } from '@tributary/store';
import { context, propagation } from '@opentelemetry/api';
import type { AnyBulkWriteOperation, Model } from 'mongoose';
import type { EventMetadata, LeadScored, LifecycleChanged } from '@tributary/contracts';
import { durationMs, type JourneyDefinition } from '../journeys/journey-definition';
import {
  allHold,
  eventEnters,
  parseProperties,
  reachesGoal,
  valueAt,
  type PathContext,
} from '../journeys/journey-path';
import { JourneyCatalog, type LiveJourney } from '../journeys/journey-catalog';
import {
  CONTACT_PROFILE_MODEL,
  ENROLLMENT_MODEL,
  type ContactProfileDoc,
  type EnrollmentDoc,
} from './engine.models';
import { JourneyRunner } from './journey-runner.service';
import { CONDITION_CANDIDATES, CONDITION_FIELDS, ConditionWaits } from './condition-waits';

/** A contact entering a journey because of `cause`. */
interface Entry {
  journey: LiveJourney;
  contactId: string;
  key: string | null;
  propertiesJson: string;
  cause: EventMetadata;
}

export function enrollmentIdOf(
  workspaceId: string,
  journeyId: string,
  contactId: string,
  key: string | null,
): string {
  return `${workspaceId}:${journeyId}:${contactId}${key === null ? '' : `:${key}`}`;
}

function cooldownMs(definition: JourneyDefinition): number | null {
  const policy = definition.reentry;
  if (policy === 'never') return null;
  return policy === 'always' ? 0 : durationMs(policy.after);
}

/**
 * Keeps each contact's profile from the lead service's announcements and enrolls contacts whose event, score or
 * stage matches a live journey's entry. A fetch at a time: one profile read and write, one enrollment write per
 * batch. An enrollment is only written here; the runner takes it from there, so this consumer never waits on a
 * provider.
 */
@Injectable()
export class JourneyIntake {
  constructor(
    @Inject(CONTACT_PROFILE_MODEL) private readonly profiles: Model<ContactProfileDoc>,
    @Inject(ENROLLMENT_MODEL) private readonly enrollments: Model<EnrollmentDoc>,
    private readonly journeys: JourneyCatalog,
    private readonly runner: JourneyRunner,
    private readonly conditionWaits: ConditionWaits,
  ) {}

  async onLeadsScored(leads: readonly LeadScored[]): Promise<void> {
    const before = await this.keepProfiles(leads);
    const entries: Entry[] = [];
    for (const lead of leads) {
      const live = await this.journeys.liveJourneys(lead.metadata.workspaceId);
      const context: PathContext = {
        contactId: lead.contactId,
        attributes: lead.attributes,
        stage: lead.stage,
        score: lead.score,
        properties: {},
      };
      for (const journey of live) {
        if (journey.status !== 'active') continue;
        const entry = journey.definition.entry;
        if (entry.on === 'attribute' && allHold(entry.where, context)) {
          // Edge-triggered: a contact that met the conditions before this change (or a redelivery of it) is not new.
          const was = before.get(lead.contactId);
          const heldBefore =
            was !== undefined &&
            allHold(entry.where, {
              ...context,
              attributes: was.attributes ?? {},
              stage: was.stage ?? null,
              score: was.score ?? 0,
            });
          if (!heldBefore)
            entries.push({
              journey,
              contactId: lead.contactId,
              key: null,
              propertiesJson: '{}',
              cause: lead.metadata,
            });
        }
        if (entry.on === 'score' && lead.previousScore < entry.atLeast && lead.score >= entry.atLeast)
          entries.push({
            journey,
            contactId: lead.contactId,
            key: null,
            propertiesJson: '{}',
            cause: lead.metadata,
          });
        if (entry.on !== 'event') continue;
        for (const event of lead.events) {
          const properties = parseProperties(event.propertiesJson);
          const decision = eventEnters(
            entry,
            { callType: event.callType, name: event.name, properties },
            context,
          );
          if (decision.enters)
            entries.push({
              journey,
              contactId: lead.contactId,
              key: decision.key,
              propertiesJson: event.propertiesJson,
              // The event itself is the cause: its id keys the announcements, whichever score carried it.
              cause: { ...lead.metadata, eventId: event.eventId, causationId: lead.metadata.eventId },
            });
        }
      }
    }
    await this.enroll(entries);
    await this.decideForChanged(leads);
  }

  /**
   * What the batch's calls and changed profiles decide for the contacts' active enrollments, from one read of them
   * (`$in` on contactId is no index lookup on the Mongo-wire store: one pass over enrollments, not three): waits for
   * an event that came end, waits for a condition now met end, goals reached convert.
   */
  private async decideForChanged(leads: readonly LeadScored[]): Promise<void> {
    const names = new Set(
      leads.flatMap((lead) => lead.events.filter((e) => e.name).map((e) => e.name as string)),
    );
    const byName =
      names.size === 0 ? [] : [{ awaitingEvent: { $in: [...names] } }, { goalEvent: { $in: [...names] } }];
    const candidates = await this.enrollments
      .find(
        {
          contactId: { $in: [...new Set(leads.map((lead) => lead.contactId))] },
          state: 'active',
          $or: [...byName, ...CONDITION_CANDIDATES],
        },
        {
          ...CONDITION_FIELDS,
          key: 1,
          awaitingEvent: 1,
          goalEvent: 1,
          cause: 1,
          enteredAt: 1,
          updatedAt: 1,
        },
      )
      .lean();
    if (candidates.length === 0) return;
    const now = new Date();
    const woken = [
      ...(await this.endWaits(
        leads,
        candidates.filter((e) => e.awaitingEvent !== null && names.has(e.awaitingEvent)),
        now,
      )),
      ...(await this.conditionWaits.markAmong(candidates, now)),
      ...(await this.reachGoals(
        leads,
        candidates.filter((e) => typeof e.goalEvent === 'string' && names.has(e.goalEvent)),
        now,
      )),
    ];
    await this.runner.wakeNow(woken, now);
  }

  /**
   * Calls that reach a journey's goal, among the contacts' active enrollments whose version has that goal event: they
   * are marked and made due now, wherever they wait; the runner ends them as converted. The lease is taken from a
   * runner mid-run too, so its later write is dropped. Returns the enrollments to wake.
   */
  private async reachGoals(
    leads: readonly LeadScored[],
    candidates: readonly EnrollmentDoc[],
    now: Date,
  ): Promise<string[]> {
    const reached: string[] = [];
    for (const enrollment of candidates) {
      const goal = (
        await this.journeys.definitionOf(enrollment.workspaceId, enrollment.journeyId, enrollment.version)
      )?.goal;
      if (!goal) continue;
      const enteredAt = new Date(enrollment.enteredAt).getTime();
      const met = leads.some(
        (lead) =>
          lead.contactId === enrollment.contactId &&
          lead.metadata.workspaceId === enrollment.workspaceId &&
          lead.events.some(
            (event) =>
              // The call that enrolled it, or one from before (a late redelivery), is no conversion.
              event.eventId !== enrollment.cause.eventId &&
              event.occurredAt >= enteredAt - 1_000 &&
              reachesGoal(
                goal,
                {
                  callType: event.callType,
                  name: event.name,
                  properties: parseProperties(event.propertiesJson),
                },
                {
                  contactId: lead.contactId,
                  attributes: lead.attributes,
                  stage: lead.stage,
                  score: lead.score,
                  properties: {},
                },
              ),
          ),
      );
      if (met) reached.push(enrollment._id);
    }
    if (reached.length === 0) return [];
    await this.enrollments.updateMany(
      { _id: { $in: reached }, state: 'active', goalReachedAt: null },
      { $set: { goalReachedAt: now, wakeAt: now, leaseOwner: null, leaseUntil: new Date(0) } },
    );
    return reached;
  }

  /**
   * Calls that end a wait_event, among the contacts' enrollments waiting for one of the batch's event names (with
   * the same key, when the step matches on one): marked and made due now. Returns the enrollments to wake.
   */
  private async endWaits(
    leads: readonly LeadScored[],
    waiting: readonly EnrollmentDoc[],
    now: Date,
  ): Promise<string[]> {
    const ended: AnyBulkWriteOperation<EnrollmentDoc>[] = [];
    const endedIds: string[] = [];
    for (const enrollment of waiting) {
      const definition = await this.journeys.definitionOf(
        enrollment.workspaceId,
        enrollment.journeyId,
        enrollment.version,
      );
      const step = definition?.steps.find((s) => s.id === enrollment.waitingAt);
      if (step?.type !== 'wait_event') continue;
      const came = leads.some(
        (lead) =>
          lead.contactId === enrollment.contactId &&
          lead.metadata.workspaceId === enrollment.workspaceId &&
          lead.events.some(
            (event) =>
              event.name === step.event &&
              // A call from before the wait began (a late redelivery) does not end it.
              event.occurredAt >= new Date(enrollment.updatedAt).getTime() - 1_000 &&
              (step.match === undefined ||
                String(valueAt(parseProperties(event.propertiesJson), step.match) ?? '') === enrollment.key),
          ),
      );
      if (came) endedIds.push(enrollment._id);
      if (came)
        ended.push({
          updateOne: {
            filter: { _id: enrollment._id, waitingAt: step.id, state: 'active' },
            update: { $set: { eventArrived: true, wakeAt: now } },
          },
        });
    }
    if (ended.length === 0) return [];
    await this.enrollments.bulkWrite(ended, { ordered: false });
    return endedIds;
  }

  async onLifecycleChanged(changes: readonly LifecycleChanged[]): Promise<void> {
    if (changes.length === 0) return;
    const now = new Date();
    // A score and a stage move of a new contact race to insert its profile: the loser runs again (upsertRacing).
    await upsertRacing(() =>
      this.profiles.bulkWrite(
        changes.map((change) => ({
          updateOne: {
            filter: { _id: change.contactId },
            update: {
              $set: { stage: change.to, updatedAt: now },
              $setOnInsert: {
                workspaceId: change.metadata.workspaceId,
                attributes: {},
                score: change.score ?? 0,
                scoredAt: 0,
              },
            },
            upsert: true,
          },
        })),
        { ordered: true },
      ),
    );
    await this.runner.wakeConditionWaits(changes.map((change) => change.contactId));
    const entries: Entry[] = [];
    for (const change of changes) {
      for (const journey of await this.journeys.liveJourneys(change.metadata.workspaceId)) {
        const entry = journey.definition.entry;
        if (journey.status === 'active' && entry.on === 'lifecycle' && entry.stage === change.to)
          entries.push({
            journey,
            contactId: change.contactId,
            key: null,
            propertiesJson: '{}',
            cause: change.metadata,
          });
      }
    }
    await this.enroll(entries);
  }

  /**
   * Contacts entering on routing: a lead assigned (to any owner, or the entry's team or owner) or an SLA breached.
   * Never twice for one announcement (its eventId is the cause).
   */
  async onRouting(
    routed: readonly {
      kind: 'assigned' | 'sla_breached';
      metadata: EventMetadata;
      contactId: string;
      team: string;
      owner: string;
    }[],
  ): Promise<void> {
    const entries: Entry[] = [];
    for (const event of routed) {
      for (const journey of await this.journeys.liveJourneys(event.metadata.workspaceId)) {
        const entry = journey.definition.entry;
        if (journey.status !== 'active' || entry.on !== event.kind) continue;
        if (entry.team !== undefined && entry.team !== event.team) continue;
        if (entry.on === 'assigned' && entry.owner !== undefined && entry.owner !== event.owner) continue;
        entries.push({
          journey,
          contactId: event.contactId,
          key: null,
          propertiesJson: '{}',
          cause: event.metadata,
        });
      }
    }
    await this.enroll(entries);
  }

  /**
   * Contacts a scheduled journey's occurrence found matching. `cause` names the occurrence, so a rerun of it (a crash
   * mid-scan) enters nobody twice, while the re-entry policy still decides across occurrences.
   */
  async onSchedule(journey: LiveJourney, contactIds: readonly string[], cause: EventMetadata): Promise<void> {
    await this.enroll(
      contactIds.map((contactId) => ({ journey, contactId, key: null, propertiesJson: '{}', cause })),
    );
  }

  /**
   * The newest score per contact wins; an older one redelivered late leaves the profile as it is. Returns each
   * contact's profile as it was before this batch (attribute entries enter on a change, not on a state).
   */
  private async keepProfiles(
    leads: readonly LeadScored[],
  ): Promise<Map<string, Pick<ContactProfileDoc, 'attributes' | 'stage' | 'score'>>> {
    const newest = new Map<string, LeadScored>();
    for (const lead of leads) {
      const seen = newest.get(lead.contactId);
      if (!seen || seen.metadata.occurredAt <= lead.metadata.occurredAt) newest.set(lead.contactId, lead);
    }
    const stored = new Map(
      newest.size === 0
        ? []
        : (
            await this.profiles
              .find(
                { _id: { $in: [...newest.keys()] } },
                { scoredAt: 1, journeyAttributes: 1, attributes: 1, stage: 1, score: 1 },
              )
              .lean()
          ).map((p) => [p._id, p]),
    );
    const now = new Date();
    const writes: AnyBulkWriteOperation<ContactProfileDoc>[] = [];
    for (const [contactId, lead] of newest) {
      const profile = stored.get(contactId);
      if ((profile?.scoredAt ?? -1) > lead.metadata.occurredAt) continue;
      writes.push({
        updateOne: {
          filter: { _id: contactId },
          update: {
            $set: {
              workspaceId: lead.metadata.workspaceId,
              // What journeys set stays, under what the lead service knows (its value wins where it has one).
              attributes: { ...profile?.journeyAttributes, ...lead.attributes },
              score: lead.score,
              scoredAt: lead.metadata.occurredAt,
              updatedAt: now,
              // A score made before a stage move carries the old stage; lifecycle.changed sets the new one.
              ...(lead.stage ? { stage: lead.stage } : {}),
            },
          },
          upsert: true,
        },
      });
    }
    if (writes.length > 0) await upsertRacing(() => this.profiles.bulkWrite(writes, { ordered: false }));
    return stored;
  }

  /**
   * Writes new enrollments due now, one upsert each that only inserts; one that exists is entered again only as its
   * journey's re-entry policy allows, and never twice for the same cause (a redelivered event).
   */
  private async enroll(entries: readonly Entry[]): Promise<void> {
    if (entries.length === 0) return;
    const now = new Date();
    // The consumer's span: a send days later still belongs to the trace of the call that started it.
    const trace: Record<string, string> = {};
    propagation.inject(context.active(), trace);
    const docs = new Map<string, Entry>();
    for (const entry of entries) {
      const id = enrollmentIdOf(entry.cause.workspaceId, entry.journey.journeyId, entry.contactId, entry.key);
      if (!docs.has(id)) docs.set(id, entry);
    }
    const ids = [...docs.keys()];
    const result = await this.enrollments.bulkWrite(
      ids.map((id) => {
        const entry = docs.get(id) as Entry;
        return {
          updateOne: {
            filter: { _id: id },
            update: { $setOnInsert: this.freshEnrollment(id, entry, now, trace) },
            upsert: true,
          },
        };
      }),
      { ordered: false },
    );
    const inserted = new Set(Object.values(result.upsertedIds ?? {}).map(String));
    const reentries: AnyBulkWriteOperation<EnrollmentDoc>[] = [];
    for (const id of ids) {
      if (inserted.has(id)) continue;
      const entry = docs.get(id) as Entry;
      const cooldown = cooldownMs(entry.journey.definition);
      if (cooldown === null) continue;
      const { run: _run, _id, ...fresh } = this.freshEnrollment(id, entry, now, trace);
      reentries.push({
        updateOne: {
          filter: {
            _id: id,
            state: { $ne: 'active' },
            completedAt: { $lte: new Date(now.getTime() - cooldown) },
            'cause.eventId': { $ne: entry.cause.eventId },
          },
          update: { $set: fresh, $inc: { run: 1 } },
        },
      });
    }
    if (reentries.length > 0) await this.enrollments.bulkWrite(reentries, { ordered: false });
    // Every id of the batch: a new or re-entered enrollment is due now; for one that stayed as it was, the entry is
    // stale and the claim drops it.
    await this.runner.wakeNow(ids, now);
  }

  private freshEnrollment(id: string, entry: Entry, now: Date, trace: Record<string, string>): EnrollmentDoc {
    return {
      _id: id,
      workspaceId: entry.cause.workspaceId,
      journeyId: entry.journey.journeyId,
      version: entry.journey.version,
      contactId: entry.contactId,
      key: entry.key,
      run: 0,
      state: 'active',
      stepId: null,
      waitingAt: null,
      awaitingEvent: null,
      eventArrived: false,
      goalEvent: entry.journey.definition.goal?.event ?? null,
      goalSteps: entry.journey.definition.steps.some((step) => step.type === 'goal'),
      goalReachedAt: null,
      goalStepId: null,
      seq: 0,
      propertiesJson: entry.propertiesJson,
      cause: entry.cause,
      trace,
      wakeAt: now,
      leaseUntil: new Date(0),
      leaseOwner: null,
      reason: null,
      enteredAt: now,
      completedAt: null,
      updatedAt: now,
    };
  }
}

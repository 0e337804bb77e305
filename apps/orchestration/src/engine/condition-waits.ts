import { Inject, Injectable } from '@nestjs/common';
import type { AnyBulkWriteOperation, Model } from 'mongoose';
import { JourneyCatalog } from '../journeys/journey-catalog';
import { allHold, goalsAhead, type PathContext } from '../journeys/journey-path';
import {
  CONTACT_PROFILE_MODEL,
  ENROLLMENT_MODEL,
  type ContactProfileDoc,
  type EnrollmentDoc,
} from './engine.models';

/** The enrollments a contact's change may decide something for: waiting for a condition, or with goal steps. */
export const CONDITION_CANDIDATES = [{ awaitingCondition: true }, { goalSteps: true, goalReachedAt: null }];

/** What markAmong reads of an enrollment. */
export const CONDITION_FIELDS = {
  state: 1,
  workspaceId: 1,
  journeyId: 1,
  version: 1,
  contactId: 1,
  stepId: 1,
  waitingAt: 1,
  awaitingCondition: 1,
  goalSteps: 1,
  goalReachedAt: 1,
} as const;

function isConditionCandidate(enrollment: EnrollmentDoc): boolean {
  return (
    enrollment.state === 'active' &&
    (enrollment.awaitingCondition === true || (enrollment.goalSteps === true && !enrollment.goalReachedAt))
  );
}

/**
 * What a contact's change decides for its enrollments, against the profile as stored (so a redelivered or stale
 * change decides nothing new): a goal step ahead whose conditions now hold ends the enrollment as converted wherever
 * it waits (marked, its lease taken from a runner mid-run, as the journey goal's event does); else a wait_condition
 * step whose conditions now hold ends. Either way the enrollment is made due now. Two reads per call: the contacts'
 * active enrollments that wait for a condition or have goal steps, and their profiles by `_id`.
 */
@Injectable()
export class ConditionWaits {
  constructor(
    @Inject(ENROLLMENT_MODEL) private readonly enrollments: Model<EnrollmentDoc>,
    @Inject(CONTACT_PROFILE_MODEL) private readonly profiles: Model<ContactProfileDoc>,
    private readonly journeys: JourneyCatalog,
  ) {}

  /**
   * Marks the met waits and reached goals of these contacts; returns the enrollments to wake (their timer entries
   * are the caller's). `except`: the enrollment whose own run changed the contact (it sees the change itself).
   */
  async markMet(contactIds: readonly string[], now: Date, except?: string): Promise<string[]> {
    if (contactIds.length === 0) return [];
    const candidates = await this.enrollments
      .find(
        { contactId: { $in: [...new Set(contactIds)] }, state: 'active', $or: CONDITION_CANDIDATES },
        CONDITION_FIELDS,
      )
      .lean();
    return this.markAmong(
      candidates.filter((e) => e._id !== except),
      now,
    );
  }

  /**
   * markMet on enrollments the caller already read (active ones of the changed contacts, with CONDITION_FIELDS);
   * those neither waiting for a condition nor with a goal step ahead to reach are passed over.
   */
  async markAmong(candidates: readonly EnrollmentDoc[], now: Date): Promise<string[]> {
    const waiting = candidates.filter(isConditionCandidate);
    if (waiting.length === 0) return [];
    const profiles = new Map(
      (
        await this.profiles
          .find(
            { _id: { $in: [...new Set(waiting.map((e) => e.contactId))] } },
            { workspaceId: 1, attributes: 1, stage: 1, score: 1 },
          )
          .lean()
      ).map((p) => [p._id, p]),
    );
    const marks: AnyBulkWriteOperation<EnrollmentDoc>[] = [];
    const met: string[] = [];
    for (const enrollment of waiting) {
      const profile = profiles.get(enrollment.contactId);
      if (!profile || profile.workspaceId !== enrollment.workspaceId) continue;
      const definition = await this.journeys.definitionOf(
        enrollment.workspaceId,
        enrollment.journeyId,
        enrollment.version,
      );
      if (!definition) continue;
      const context: PathContext = {
        contactId: enrollment.contactId,
        attributes: profile.attributes ?? {},
        stage: profile.stage ?? null,
        score: profile.score ?? 0,
        properties: {},
      };
      const goal = enrollment.goalSteps
        ? goalsAhead(definition, enrollment.stepId).find((g) => allHold(g.where, context))
        : undefined;
      if (goal) {
        met.push(enrollment._id);
        marks.push({
          updateOne: {
            // Marked once: a second change (or a redelivery) marks nothing.
            filter: { _id: enrollment._id, state: 'active', goalReachedAt: null },
            update: {
              $set: {
                goalReachedAt: now,
                goalStepId: goal.id,
                wakeAt: now,
                leaseOwner: null,
                leaseUntil: new Date(0),
              },
            },
          },
        });
        continue;
      }
      const step = enrollment.awaitingCondition
        ? definition.steps.find((s) => s.id === enrollment.waitingAt)
        : undefined;
      if (step?.type !== 'wait_condition' || !allHold(step.where, context)) continue;
      met.push(enrollment._id);
      marks.push({
        updateOne: {
          // Only a wait still at this step and not marked yet: a second change (or a redelivery) marks nothing.
          filter: {
            _id: enrollment._id,
            waitingAt: step.id,
            awaitingCondition: true,
            eventArrived: false,
            state: 'active',
          },
          update: { $set: { eventArrived: true, wakeAt: now } },
        },
      });
    }
    if (marks.length > 0) await this.enrollments.bulkWrite(marks, { ordered: false });
    return met;
  }
}

import { Inject, Injectable } from '@nestjs/common';
import type { AnyBulkWriteOperation, Model } from 'mongoose';
import { JourneyCatalog } from '../journeys/journey-catalog';
import { allHold } from '../journeys/journey-path';
import {
  CONTACT_PROFILE_MODEL,
  ENROLLMENT_MODEL,
  type ContactProfileDoc,
  type EnrollmentDoc,
} from './engine.models';

/**
 * Ends wait_condition steps: after a contact's profile changed, its enrollments waiting for a condition that now
 * holds (against the profile as stored, so a redelivered or stale change decides nothing new) are marked and made
 * due now. Two reads per call, through the sparse `{contactId, awaitingCondition}` index and the profiles' `_id`.
 */
@Injectable()
export class ConditionWaits {
  constructor(
    @Inject(ENROLLMENT_MODEL) private readonly enrollments: Model<EnrollmentDoc>,
    @Inject(CONTACT_PROFILE_MODEL) private readonly profiles: Model<ContactProfileDoc>,
    private readonly journeys: JourneyCatalog,
  ) {}

  /** Marks the met waits of these contacts; returns the enrollments to wake (their timer entries are the caller's). */
  async markMet(contactIds: readonly string[], now: Date): Promise<string[]> {
    if (contactIds.length === 0) return [];
    const waiting = await this.enrollments
      .find(
        { contactId: { $in: [...new Set(contactIds)] }, awaitingCondition: true, state: 'active' },
        { workspaceId: 1, journeyId: 1, version: 1, contactId: 1, waitingAt: 1 },
      )
      .lean();
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
      const step = definition?.steps.find((s) => s.id === enrollment.waitingAt);
      if (step?.type !== 'wait_condition') continue;
      const holds = allHold(step.where, {
        contactId: enrollment.contactId,
        attributes: profile.attributes ?? {},
        stage: profile.stage ?? null,
        score: profile.score ?? 0,
        properties: {},
      });
      if (!holds) continue;
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

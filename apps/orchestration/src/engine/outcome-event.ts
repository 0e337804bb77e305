import { Topics } from '@tributary/contracts';
import { causedMetadata, type OutgoingEvent } from '@tributary/messaging';
import type { EnrollmentDoc } from './engine.models';
import type { Outcome } from './message-sender';

/** An effect's deterministic key: the enrollment, its run, the step and the effect count (`seq`). */
export function messageKeyOf(enrollment: Pick<EnrollmentDoc, '_id' | 'run' | 'seq'>, stepId: string): string {
  return `${enrollment._id}:${enrollment.run}:${stepId}:${enrollment.seq}`;
}

/**
 * The `messages.outcomes` record of a journey effect (an email, a text, an audience change, a webhook), its event id
 * derived from the effect's key: announced again after a rerun, it is the same event.
 */
export function outcomeEvent(
  enrollment: EnrollmentDoc,
  step: { id: string; type: string },
  messageKey: string,
  outcome: Outcome,
): OutgoingEvent<typeof Topics.MessagesOutcomes> {
  return {
    topic: Topics.MessagesOutcomes,
    key: enrollment._id,
    event: {
      metadata: causedMetadata(enrollment.cause, 'orchestration', `message/${messageKey}`),
      messageKey,
      enrollmentId: enrollment._id,
      journeyId: enrollment.journeyId,
      journeyVersion: enrollment.version,
      stepId: step.id,
      contactId: enrollment.contactId,
      channel: step.type,
      provider: outcome.provider,
      status: outcome.status,
      reason: outcome.reason,
      providerMessageId: outcome.providerMessageId,
      recipient: outcome.recipient,
      attempts: outcome.attempts,
    },
  };
}

/**
 * The `journey.steps` record of what an enrollment did at a step (advanced, waiting, skipped, or how it ended), its
 * event id derived from the enrollment, run, effect count, step and status: announced again after a rerun, it is
 * the same event.
 */
export function stepRecorded(
  enrollment: EnrollmentDoc,
  stepId: string,
  stepType: string,
  status: string,
  reason: string | null,
): OutgoingEvent<typeof Topics.JourneySteps> {
  return {
    topic: Topics.JourneySteps,
    key: enrollment._id,
    event: {
      metadata: causedMetadata(
        enrollment.cause,
        'orchestration',
        `journey/${enrollment._id}/${enrollment.run}/${enrollment.seq}/${stepId}/${status}`,
      ),
      enrollmentId: enrollment._id,
      journeyId: enrollment.journeyId,
      contactId: enrollment.contactId,
      step: stepId,
      journeyVersion: enrollment.version,
      stepType,
      status,
      reason,
      enrollmentKey: enrollment.key,
    },
  };
}

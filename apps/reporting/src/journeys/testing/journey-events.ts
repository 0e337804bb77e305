import { randomUUID } from 'node:crypto';
import type {
  EventMetadata,
  JourneyStepRecorded,
  MessageDelivery,
  MessageOutcome,
} from '@tributary/contracts';

/** Events as orchestration and the edge publish them, for the journey report's tests. */

function metadata(workspaceId: string, at: number, causationId: string | null): EventMetadata {
  const eventId = randomUUID();
  return {
    eventId,
    occurredAt: at,
    workspaceId,
    source: 'journey-spec',
    correlationId: causationId ?? eventId,
    causationId,
  };
}

/** A run of an enrollment: orchestration stamps every record of it with the event that started the run. */
export interface Run {
  workspaceId: string;
  journeyId: string;
  enrollmentId: string;
  cause: string;
}

export function runOf(workspaceId: string, journeyId: string, contactId: string, cause: string): Run {
  return { workspaceId, journeyId, enrollmentId: `${workspaceId}:${journeyId}:${contactId}`, cause };
}

export function stepOf(
  run: Run,
  step: string,
  status: string,
  at: number,
  reason: string | null = null,
): JourneyStepRecorded {
  return {
    metadata: metadata(run.workspaceId, at, run.cause),
    enrollmentId: run.enrollmentId,
    journeyId: run.journeyId,
    contactId: run.enrollmentId.split(':')[2] ?? '',
    step,
    journeyVersion: 1,
    stepType: status === 'converted' ? 'goal' : 'email',
    status,
    reason,
    enrollmentKey: null,
  };
}

export function outcomeOf(
  run: Run,
  stepId: string,
  channel: string,
  status: string,
  at: number,
  messageKey = `${run.enrollmentId}:${run.cause}:${stepId}:0`,
): MessageOutcome {
  return {
    metadata: metadata(run.workspaceId, at, run.cause),
    messageKey,
    enrollmentId: run.enrollmentId,
    journeyId: run.journeyId,
    journeyVersion: 1,
    stepId,
    contactId: run.enrollmentId.split(':')[2] ?? '',
    channel,
    provider: channel === 'sms' ? 'twilio' : 'sendgrid',
    status,
    reason: status === 'sent' ? null : 'no-consent',
    providerMessageId: status === 'sent' ? randomUUID() : null,
    recipient: null,
    attempts: 1,
  };
}

export function deliveryOf(
  workspaceId: string,
  message: { messageKey: string | null; channel: string; providerMessageId?: string | null },
  event: string,
  at: number,
): MessageDelivery {
  return {
    metadata: metadata(workspaceId, at, null),
    provider: message.channel === 'sms' ? 'twilio' : 'sendgrid',
    channel: message.channel,
    event,
    providerEvent: event,
    providerEventId: randomUUID(),
    providerMessageId: message.providerMessageId ?? null,
    messageKey: message.messageKey,
    address: 'someone@example.com',
    maskedAddress: 's***@example.com',
    reason: null,
    permanent: event === 'bounced',
    receivedAt: at,
  };
}

import type { TrackingEvent } from '@tributary/contracts';

/** A rule that gave points, as carried on `leads.scored`. */
export interface ScoreContribution {
  rule: string;
  points: number;
}

/**
 * Walking-skeleton engagement rules: a fixed table until scoring models become per-workspace data.
 * Pure, so redelivery and rescoring give the same answer.
 */
export function engagementPoints(event: TrackingEvent): ScoreContribution {
  if (event.callType === 'track' && event.event === 'Pricing Page Viewed')
    return { rule: 'pricing-page-viewed', points: 10 };
  if (event.callType === 'track' && event.event === 'Demo Requested')
    return { rule: 'demo-requested', points: 25 };
  if (event.callType === 'identify') return { rule: 'identified', points: 5 };
  return { rule: `${event.callType}-call`, points: 1 };
}

/** The contact an event is about within its workspace: userId when known, else the anonymous id. */
export function contactIdOf(event: TrackingEvent): string {
  const who = event.userId ?? event.anonymousId ?? event.messageId;
  return `${event.metadata.workspaceId}:${who}`;
}

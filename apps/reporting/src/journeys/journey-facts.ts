import type { JourneyStepRecorded, MessageDelivery, MessageOutcome } from '@tributary/contracts';
import type { GuardedUpdate } from '@tributary/store';
import { tallyId } from '../read-models/tallies';

/**
 * What the journey report keeps, one document per sent message and one per enrollment run. Every change below is a
 * `$min`, a `$max`, or a `$set`/`$setOnInsert` of values the document's key decides, so applying changes twice or in
 * any order leaves the same document: a delivery read before its message's outcome, a redelivered batch, and a
 * recompute from the topics all end where the live consumer did.
 */

/** What a provider's delivery event counts as on its message, once per message (Mautic's unique opens and clicks). */
export const DELIVERY_METRICS = [
  'delivered',
  'bounced',
  'dropped',
  'opened',
  'clicked',
  'unsubscribed',
  'complained',
] as const;
export type DeliveryMetric = (typeof DELIVERY_METRICS)[number];

const METRIC_OF_EVENT: Readonly<Record<string, DeliveryMetric>> = {
  delivered: 'delivered',
  sms_delivered: 'delivered',
  // A soft refusal (blocked) is a bounce for the marketer too: the message did not arrive.
  bounced: 'bounced',
  blocked: 'bounced',
  sms_undelivered: 'bounced',
  sms_failed: 'bounced',
  dropped: 'dropped',
  opened: 'opened',
  sms_read: 'opened',
  clicked: 'clicked',
  unsubscribed: 'unsubscribed',
  sms_stop: 'unsubscribed',
  spam_report: 'complained',
};

/** The metric a delivery event counts toward; null for those nobody reports on (processed, deferred, inbound texts). */
export function deliveryMetricOf(event: string): DeliveryMetric | null {
  return METRIC_OF_EVENT[event] ?? null;
}

/** One message: the outcome's journey, step and send time, and the first time of each delivery metric. */
export interface JourneyMessageDoc {
  _id: string;
  workspaceId: string;
  messageKey?: string;
  /** From the outcome (status sent): absent while (or if) only deliveries were seen, shown as `(unknown)`. */
  journeyId?: string;
  stepId?: string;
  channel?: string;
  sentAt?: Date;
  /** The enrollment run that sent it (enrollment and the run's cause), to read whether that run converted. */
  runKey?: string;
  /** The channel the provider named, for a message whose outcome is unknown. */
  deliveryChannel?: string;
  first?: Partial<Record<DeliveryMetric, Date>>;
  /** The earliest and latest time of anything seen about the message: what a range query narrows by. */
  firstSeenAt: Date;
  lastSeenAt: Date;
}

/** One run of an enrollment (a re-entry is another run): when it was first seen, and when it reached its goal. */
export interface JourneyRunDoc {
  _id: string;
  workspaceId: string;
  journeyId: string;
  enrollmentId: string;
  enteredAt: Date;
  convertedAt?: Date;
}

export const JOURNEY_MESSAGES_COLLECTION = 'report_journey_messages';
export const JOURNEY_RUNS_COLLECTION = 'report_journey_runs';
/** Skipped and failed messages per journey, step and channel: tallies, since no provider reports on them. */
export const JOURNEY_OUTCOMES_MODEL = 'journey-outcomes';
/** The outcome statuses counted as tallies rather than kept as messages. */
export const TALLIED_OUTCOMES = ['skipped', 'failed'] as const;

/**
 * A run of an enrollment: orchestration derives every record of a run from the event that started it (its
 * causationId), and a re-entry starts from another event.
 */
export function runKeyOf(enrollmentId: string, causationId: string | null): string {
  return tallyId([enrollmentId, causationId ?? '']);
}

export function runDocId(workspaceId: string, runKey: string): string {
  return tallyId([workspaceId, runKey]);
}

/**
 * The document of a delivery's message: by messageKey when the provider carried it back, else by the provider's
 * message id (still once per message), else the event alone.
 */
export function deliveryDocId(delivery: MessageDelivery): string {
  const { workspaceId, eventId } = delivery.metadata;
  if (delivery.messageKey !== null) return messageDocId(workspaceId, delivery.messageKey);
  if (delivery.providerMessageId !== null)
    return tallyId([workspaceId, 'provider', delivery.provider, delivery.providerMessageId]);
  return tallyId([workspaceId, 'event', eventId]);
}

export function messageDocId(workspaceId: string, messageKey: string): string {
  return tallyId([workspaceId, 'message', messageKey]);
}

/** Changes of one document gathered over a batch, written as one upsert. */
interface Gathered {
  setOnInsert: Record<string, unknown>;
  set: Record<string, unknown>;
  min: Record<string, Date | string>;
  max: Record<string, Date>;
}

class UpdateGathering {
  private readonly byId = new Map<string, Gathered>();

  change(id: string, change: Partial<Gathered>): void {
    let gathered = this.byId.get(id);
    if (!gathered) {
      gathered = { setOnInsert: {}, set: {}, min: {}, max: {} };
      this.byId.set(id, gathered);
    }
    Object.assign(gathered.setOnInsert, change.setOnInsert);
    Object.assign(gathered.set, change.set);
    for (const [field, value] of Object.entries(change.min ?? {})) {
      const held = gathered.min[field];
      if (held === undefined || value < held) gathered.min[field] = value;
    }
    for (const [field, value] of Object.entries(change.max ?? {})) {
      const held = gathered.max[field];
      if (held === undefined || value > held) gathered.max[field] = value;
    }
  }

  updates(): GuardedUpdate[] {
    return [...this.byId].map(([_id, { setOnInsert, set, min, max }]) => {
      const update: Record<string, unknown> = {};
      if (Object.keys(setOnInsert).length > 0) update['$setOnInsert'] = setOnInsert;
      if (Object.keys(set).length > 0) update['$set'] = set;
      if (Object.keys(min).length > 0) update['$min'] = min;
      if (Object.keys(max).length > 0) update['$max'] = max;
      return { filter: { _id }, update };
    });
  }
}

/**
 * The message documents of sent outcomes. Journey, step, channel and run are what the message key names (enrollment,
 * run, step and visit), so every outcome of one key sets the same values; the earliest send time wins.
 */
export function sentMessageUpdates(outcomes: readonly MessageOutcome[]): GuardedUpdate[] {
  const gathering = new UpdateGathering();
  for (const outcome of outcomes) {
    if (outcome.status !== 'sent') continue;
    const { workspaceId, occurredAt, causationId } = outcome.metadata;
    const at = new Date(occurredAt);
    gathering.change(messageDocId(workspaceId, outcome.messageKey), {
      setOnInsert: { workspaceId, messageKey: outcome.messageKey },
      set: {
        journeyId: outcome.journeyId,
        stepId: outcome.stepId,
        channel: outcome.channel,
        runKey: runKeyOf(outcome.enrollmentId, causationId),
      },
      min: { sentAt: at, firstSeenAt: at },
      max: { lastSeenAt: at },
    });
  }
  return gathering.updates();
}

/** The first time of each metric on its message's document (a second open of a message changes nothing). */
export function deliveryUpdates(deliveries: readonly MessageDelivery[]): GuardedUpdate[] {
  const gathering = new UpdateGathering();
  for (const delivery of deliveries) {
    const metric = deliveryMetricOf(delivery.event);
    if (metric === null) continue;
    const { workspaceId, occurredAt } = delivery.metadata;
    const at = new Date(occurredAt);
    gathering.change(deliveryDocId(delivery), {
      setOnInsert: {
        workspaceId,
        ...(delivery.messageKey === null ? {} : { messageKey: delivery.messageKey }),
      },
      // `$min` on a string: one value whichever delivery comes first (a message has one channel anyway).
      min: { [`first.${metric}`]: at, deliveryChannel: delivery.channel, firstSeenAt: at },
      max: { lastSeenAt: at },
    });
  }
  return gathering.updates();
}

/** A run's entry (its earliest step record) and conversion (its earliest `converted` record), per run of the batch. */
export interface RunChange {
  id: string;
  enteredAt: number;
  convertedAt: number | null;
  update: GuardedUpdate;
}

export function runChanges(steps: readonly JourneyStepRecorded[]): RunChange[] {
  const byId = new Map<
    string,
    { enteredAt: number; convertedAt: number | null; identity: JourneyRunIdentity }
  >();
  for (const step of steps) {
    const { workspaceId, occurredAt, causationId } = step.metadata;
    const id = runDocId(workspaceId, runKeyOf(step.enrollmentId, causationId));
    const converted = step.status === 'converted' ? occurredAt : null;
    const held = byId.get(id);
    if (!held) {
      byId.set(id, {
        enteredAt: occurredAt,
        convertedAt: converted,
        identity: { workspaceId, journeyId: step.journeyId, enrollmentId: step.enrollmentId },
      });
      continue;
    }
    held.enteredAt = Math.min(held.enteredAt, occurredAt);
    if (converted !== null) held.convertedAt = Math.min(held.convertedAt ?? converted, converted);
  }
  return [...byId].map(([id, { enteredAt, convertedAt, identity }]) => {
    const min: Record<string, Date> = { enteredAt: new Date(enteredAt) };
    if (convertedAt !== null) min['convertedAt'] = new Date(convertedAt);
    return {
      id,
      enteredAt,
      convertedAt,
      update: { filter: { _id: id }, update: { $setOnInsert: identity, $min: min } },
    };
  });
}

type JourneyRunIdentity = Pick<JourneyRunDoc, 'workspaceId' | 'journeyId' | 'enrollmentId'>;

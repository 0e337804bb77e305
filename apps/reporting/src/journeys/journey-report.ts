import { DateTime } from 'luxon';
import { bucketStart, type BucketGrain } from '../attribution/time-buckets';
import { DELIVERY_METRICS, type DeliveryMetric } from './journey-facts';

/** The journey of messages whose outcome never arrived (or whose delivery named no message). */
export const UNKNOWN = '(unknown)';

/** A message as the report reads it (times in epoch ms). */
export interface MessageFacts {
  journeyId: string | null;
  stepId: string | null;
  channel: string | null;
  sentAt: number | null;
  firstSeenAt: number;
  first: Partial<Record<DeliveryMetric, number>>;
  /** When the run that sent it converted; null if it has not. */
  runConvertedAt: number | null;
}

export interface RunFacts {
  journeyId: string;
  enteredAt: number;
  convertedAt: number | null;
}

/** Skipped and failed messages of one journey step and channel (or of one bucket, for a trend). */
export interface OutcomeCounts {
  journeyId: string;
  stepId: string;
  channel: string;
  skipped: number;
  failed: number;
}

export interface Range {
  /** Inclusive, epoch ms. */
  from: number;
  /** Exclusive. */
  to: number;
}

export interface JourneyFilter {
  journeyId?: string;
  channel?: string;
}

type MessageCounts = { sent: number; skipped: number; failed: number } & Record<DeliveryMetric, number>;

export interface Rates {
  /** delivered / sent */
  deliveryRate: number | null;
  /** opened / delivered (unique opens) */
  openRate: number | null;
  /** clicked / delivered (unique clicks) */
  clickRate: number | null;
  /** journey rows: converted / enrolled; step rows: converted / sent */
  conversionRate: number | null;
}

/**
 * One row of the journey report. A `journey` row sums its step rows and adds the runs entered in the range and how
 * many of them converted; a `step` row's `converted` counts its sent messages whose run went on to convert.
 */
export type JourneyRow = {
  level: 'journey' | 'step';
  journeyId: string;
  stepId: string | null;
  channel: string | null;
  /** Journey rows only (null on step rows). */
  enrolled: number | null;
  converted: number;
} & MessageCounts &
  Rates;

export const JOURNEY_COLUMNS: readonly (keyof JourneyRow)[] = [
  'level',
  'journeyId',
  'stepId',
  'channel',
  'enrolled',
  'converted',
  'sent',
  'skipped',
  'failed',
  ...DELIVERY_METRICS,
  'deliveryRate',
  'openRate',
  'clickRate',
  'conversionRate',
];

/** A ratio rounded to 4 decimals; null when there is nothing to divide by. */
export function rate(part: number, whole: number): number | null {
  if (whole <= 0) return null;
  return Math.round((part / whole) * 10_000) / 10_000;
}

/** The rates of a row's counts; `conversionBase` is what conversions are a share of (enrolled or sent). */
export function ratesOf(counts: MessageCounts & { converted: number }, conversionBase: number): Rates {
  return {
    deliveryRate: rate(counts.delivered, counts.sent),
    openRate: rate(counts.opened, counts.delivered),
    clickRate: rate(counts.clicked, counts.delivered),
    conversionRate: rate(counts.converted, conversionBase),
  };
}

const zeroCounts = (): MessageCounts & { converted: number } => ({
  converted: 0,
  sent: 0,
  skipped: 0,
  failed: 0,
  ...(Object.fromEntries(DELIVERY_METRICS.map((m) => [m, 0])) as Record<DeliveryMetric, number>),
});

const within = (at: number | null, range: Range): at is number =>
  at !== null && at >= range.from && at < range.to;

/** Where a message belongs: its outcome's journey and step, or `(unknown)` with the provider's channel. */
export function messagePlace(message: Pick<MessageFacts, 'journeyId' | 'stepId' | 'channel'>): {
  journeyId: string;
  stepId: string;
  channel: string;
} {
  return {
    journeyId: message.journeyId ?? UNKNOWN,
    stepId: message.stepId ?? UNKNOWN,
    channel: message.channel ?? UNKNOWN,
  };
}

/** The time a message is reported at: when it was sent, or when it was first heard of if its send is unknown. */
export function messageTime(message: Pick<MessageFacts, 'sentAt' | 'firstSeenAt'>): number {
  return message.sentAt ?? message.firstSeenAt;
}

/**
 * The report over a range: the messages sent in it with everything that became of them (whenever that was: rates are
 * shares of the same messages), the skipped and failed ones counted in it, and the runs entered in it with whether
 * they converted. Ordered by journey (`(unknown)` last), its journey row first, then its steps.
 */
export function journeyTable(
  messages: readonly MessageFacts[],
  runs: readonly RunFacts[],
  outcomes: readonly OutcomeCounts[],
  range: Range,
  filter: JourneyFilter = {},
): JourneyRow[] {
  const steps = new Map<
    string,
    { place: ReturnType<typeof messagePlace>; counts: ReturnType<typeof zeroCounts> }
  >();
  const stepOf = (place: ReturnType<typeof messagePlace>) => {
    const key = JSON.stringify([place.journeyId, place.stepId, place.channel]);
    let step = steps.get(key);
    if (!step) {
      step = { place, counts: zeroCounts() };
      steps.set(key, step);
    }
    return step.counts;
  };
  const wanted = (place: { journeyId: string; channel: string }) =>
    (filter.journeyId === undefined || place.journeyId === filter.journeyId) &&
    (filter.channel === undefined || place.channel === filter.channel);

  for (const message of messages) {
    if (!within(messageTime(message), range)) continue;
    const place = messagePlace(message);
    if (!wanted(place)) continue;
    const counts = stepOf(place);
    if (message.sentAt !== null) counts.sent += 1;
    for (const metric of DELIVERY_METRICS) if (message.first[metric] !== undefined) counts[metric] += 1;
    if (
      message.sentAt !== null &&
      message.runConvertedAt !== null &&
      message.runConvertedAt >= message.sentAt
    )
      counts.converted += 1;
  }
  for (const outcome of outcomes) {
    if (!wanted(outcome)) continue;
    const counts = stepOf({ journeyId: outcome.journeyId, stepId: outcome.stepId, channel: outcome.channel });
    counts.skipped += outcome.skipped;
    counts.failed += outcome.failed;
  }

  const journeys = new Map<
    string,
    { counts: ReturnType<typeof zeroCounts>; enrolled: number; steps: JourneyRow[] }
  >();
  const journeyOf = (journeyId: string) => {
    let journey = journeys.get(journeyId);
    if (!journey) {
      journey = { counts: zeroCounts(), enrolled: 0, steps: [] };
      journeys.set(journeyId, journey);
    }
    return journey;
  };
  for (const { place, counts } of steps.values()) {
    const journey = journeyOf(place.journeyId);
    for (const name of ['sent', 'skipped', 'failed', ...DELIVERY_METRICS] as const)
      journey.counts[name] += counts[name];
    journey.steps.push({
      level: 'step',
      ...place,
      enrolled: null,
      ...counts,
      ...ratesOf(counts, counts.sent),
    });
  }
  // A channel filter keeps the journeys with steps on that channel; their runs are counted whole.
  for (const run of runs) {
    if (!within(run.enteredAt, range)) continue;
    if (filter.journeyId !== undefined && run.journeyId !== filter.journeyId) continue;
    if (filter.channel !== undefined && !journeys.has(run.journeyId)) continue;
    const journey = journeyOf(run.journeyId);
    journey.enrolled += 1;
    if (run.convertedAt !== null) journey.counts.converted += 1;
  }

  const order = (a: string, b: string) => Number(a === UNKNOWN) - Number(b === UNKNOWN) || a.localeCompare(b);
  return [...journeys.keys()].sort(order).flatMap((journeyId) => {
    const journey = journeys.get(journeyId) as NonNullable<ReturnType<typeof journeys.get>>;
    const total: JourneyRow = {
      level: 'journey',
      journeyId,
      stepId: null,
      channel: null,
      enrolled: journey.enrolled,
      ...journey.counts,
      ...ratesOf(journey.counts, journey.enrolled),
    };
    const stepRows = journey.steps.sort(
      (a, b) => order(a.stepId ?? '', b.stepId ?? '') || order(a.channel ?? '', b.channel ?? ''),
    );
    return [total, ...stepRows];
  });
}

/** What happened in one bucket, each at its own time: runs entered and converted, messages sent, first opens, ... */
export type TrendRow = { bucket: string; enrolled: number; converted: number } & MessageCounts;

/** Skipped and failed messages of one bucket (the tallies' rows). */
export interface BucketOutcomes {
  bucket: string;
  skipped: number;
  failed: number;
}

/**
 * Counts per bucket of the workspace's zone, every event in the bucket of its own time (a message sent on Monday and
 * opened on Tuesday is in Monday's `sent` and Tuesday's `opened`). Buckets with nothing are left out.
 */
export function journeyTrend(
  messages: readonly MessageFacts[],
  runs: readonly RunFacts[],
  outcomes: readonly BucketOutcomes[],
  range: Range & { grain: BucketGrain },
  zone: string,
  filter: JourneyFilter = {},
): TrendRow[] {
  const rows = new Map<string, TrendRow>();
  const bump = (bucket: string, name: keyof Omit<TrendRow, 'bucket'>, by: number) => {
    let row = rows.get(bucket);
    if (!row) {
      row = { bucket, enrolled: 0, ...zeroCounts() };
      rows.set(bucket, row);
    }
    row[name] += by;
  };
  const add = (at: number | null | undefined, name: keyof Omit<TrendRow, 'bucket'>) => {
    if (at !== undefined && within(at, range)) bump(bucketStart(at, range.grain, zone), name, 1);
  };
  for (const message of messages) {
    const place = messagePlace(message);
    if (filter.journeyId !== undefined && place.journeyId !== filter.journeyId) continue;
    if (filter.channel !== undefined && place.channel !== filter.channel) continue;
    add(message.sentAt, 'sent');
    for (const metric of DELIVERY_METRICS) add(message.first[metric], metric);
  }
  for (const run of runs) {
    if (filter.journeyId !== undefined && run.journeyId !== filter.journeyId) continue;
    add(run.enteredAt, 'enrolled');
    add(run.convertedAt, 'converted');
  }
  // Already cut to the range and the grain by the tallies' query.
  for (const outcome of outcomes) {
    if (outcome.skipped > 0) bump(outcome.bucket, 'skipped', outcome.skipped);
    if (outcome.failed > 0) bump(outcome.bucket, 'failed', outcome.failed);
  }
  return [...rows.values()].sort(
    (a, b) =>
      DateTime.fromISO(a.bucket, { setZone: true }).toMillis() -
      DateTime.fromISO(b.bucket, { setZone: true }).toMillis(),
  );
}

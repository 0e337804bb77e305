import { Inject, Injectable } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION, findByIds, type BatchCollection } from '@tributary/store';
import type { BucketGrain } from '../attribution/time-buckets';
import { queryTallies } from '../read-models/bucketed-counts';
import {
  DELIVERY_METRICS,
  JOURNEY_MESSAGES_COLLECTION,
  JOURNEY_OUTCOMES_MODEL,
  JOURNEY_RUNS_COLLECTION,
  runDocId,
  type DeliveryMetric,
  type JourneyMessageDoc,
  type JourneyRunDoc,
} from './journey-facts';
import {
  UNKNOWN,
  journeyTable,
  journeyTrend,
  type BucketOutcomes,
  type JourneyFilter,
  type JourneyRow,
  type MessageFacts,
  type OutcomeCounts,
  type Range,
  type RunFacts,
  type TrendRow,
} from './journey-report';

/** Reads the journey documents and tallies of one workspace and hands them to the report's pure functions. */
@Injectable()
export class JourneyReports {
  constructor(@Inject(STORE_CONNECTION) private readonly connection: Connection) {}

  async table(workspaceId: string, range: Range, zone: string, filter: JourneyFilter): Promise<JourneyRow[]> {
    const inRange = { $gte: new Date(range.from), $lt: new Date(range.to) };
    const unheardSend = { sentAt: { $exists: false }, firstSeenAt: inRange };
    const messageFilter =
      filter.journeyId === undefined
        ? { workspaceId, $or: [{ sentAt: inRange }, unheardSend] }
        : filter.journeyId === UNKNOWN
          ? { workspaceId, ...unheardSend }
          : { workspaceId, journeyId: filter.journeyId, sentAt: inRange };
    const [messages, runs, outcomes] = await Promise.all([
      this.messages(workspaceId, messageFilter),
      this.runs({ workspaceId, enteredAt: inRange, ...journeyOnly(filter) }),
      this.outcomeCounts(workspaceId, range, zone, filter),
    ]);
    return journeyTable(messages, runs, outcomes, range, filter);
  }

  async trend(
    workspaceId: string,
    range: Range & { grain: BucketGrain },
    zone: string,
    filter: JourneyFilter,
  ): Promise<TrendRow[]> {
    const inRange = { $gte: new Date(range.from), $lt: new Date(range.to) };
    const messageFilter: Record<string, unknown> = {
      workspaceId,
      firstSeenAt: { $lt: new Date(range.to) },
      lastSeenAt: { $gte: new Date(range.from) },
    };
    if (filter.journeyId === UNKNOWN) messageFilter['sentAt'] = { $exists: false };
    else if (filter.journeyId !== undefined) messageFilter['journeyId'] = filter.journeyId;
    const [messages, runs, outcomes] = await Promise.all([
      this.messages(workspaceId, messageFilter, { withConversions: false }),
      this.runs({
        workspaceId,
        $or: [{ enteredAt: inRange }, { convertedAt: inRange }],
        ...journeyOnly(filter),
      }),
      this.outcomeBuckets(workspaceId, range, zone, filter),
    ]);
    return journeyTrend(messages, runs, outcomes, range, zone, filter);
  }

  /** The messages matching `filter`, each with when its run converted (read by the runs' ids). */
  private async messages(
    workspaceId: string,
    filter: Record<string, unknown>,
    { withConversions = true } = {},
  ): Promise<MessageFacts[]> {
    const docs = (await this.connection
      .collection(JOURNEY_MESSAGES_COLLECTION)
      .find(filter, {
        projection: {
          journeyId: 1,
          stepId: 1,
          channel: 1,
          deliveryChannel: 1,
          sentAt: 1,
          runKey: 1,
          first: 1,
          firstSeenAt: 1,
        },
      })
      .toArray()) as unknown as JourneyMessageDoc[];
    const conversions = withConversions
      ? await findByIds(
          this.connection.collection(JOURNEY_RUNS_COLLECTION) as unknown as BatchCollection<JourneyRunDoc>,
          docs.flatMap((doc) => (doc.runKey === undefined ? [] : [runDocId(workspaceId, doc.runKey)])),
          { convertedAt: 1 },
        )
      : new Map<string, JourneyRunDoc>();
    return docs.map((doc) => {
      const first: Partial<Record<DeliveryMetric, number>> = {};
      for (const metric of DELIVERY_METRICS) {
        const at = doc.first?.[metric];
        if (at !== undefined) first[metric] = at.getTime();
      }
      const run = doc.runKey === undefined ? undefined : conversions.get(runDocId(workspaceId, doc.runKey));
      return {
        journeyId: doc.journeyId ?? null,
        stepId: doc.stepId ?? null,
        channel: doc.channel ?? doc.deliveryChannel ?? null,
        sentAt: doc.sentAt?.getTime() ?? null,
        firstSeenAt: doc.firstSeenAt.getTime(),
        first,
        runConvertedAt: run?.convertedAt?.getTime() ?? null,
      };
    });
  }

  private async runs(filter: Record<string, unknown>): Promise<RunFacts[]> {
    const docs = (await this.connection
      .collection(JOURNEY_RUNS_COLLECTION)
      .find(filter, { projection: { journeyId: 1, enteredAt: 1, convertedAt: 1 } })
      .toArray()) as unknown as JourneyRunDoc[];
    return docs.map((doc) => ({
      journeyId: doc.journeyId,
      enteredAt: doc.enteredAt.getTime(),
      convertedAt: doc.convertedAt?.getTime() ?? null,
    }));
  }

  /** Skipped and failed per journey, step and channel over the range (hour tallies: ranges need not be whole days). */
  private async outcomeCounts(
    workspaceId: string,
    range: Range,
    zone: string,
    filter: JourneyFilter,
  ): Promise<OutcomeCounts[]> {
    const rows = await queryTallies(this.connection, {
      workspaceId,
      model: JOURNEY_OUTCOMES_MODEL,
      grain: 'hour',
      from: range.from,
      to: range.to,
      zone,
      where: dimsOf(filter),
      by: ['journeyId', 'stepId', 'channel'],
    });
    return rows.map((row) => ({
      journeyId: row.dims['journeyId'] ?? '',
      stepId: row.dims['stepId'] ?? '',
      channel: row.dims['channel'] ?? '',
      skipped: row.n['skipped'] ?? 0,
      failed: row.n['failed'] ?? 0,
    }));
  }

  private async outcomeBuckets(
    workspaceId: string,
    range: Range & { grain: BucketGrain },
    zone: string,
    filter: JourneyFilter,
  ): Promise<BucketOutcomes[]> {
    const rows = await queryTallies(this.connection, {
      workspaceId,
      model: JOURNEY_OUTCOMES_MODEL,
      grain: range.grain,
      from: range.from,
      to: range.to,
      zone,
      where: dimsOf(filter),
    });
    return rows.map((row) => ({
      bucket: row.bucket,
      skipped: row.n['skipped'] ?? 0,
      failed: row.n['failed'] ?? 0,
    }));
  }
}

function journeyOnly(filter: JourneyFilter): Record<string, string> {
  return filter.journeyId === undefined ? {} : { journeyId: filter.journeyId };
}

function dimsOf(filter: JourneyFilter): Record<string, string> {
  const dims: Record<string, string> = {};
  if (filter.journeyId !== undefined) dims['journeyId'] = filter.journeyId;
  if (filter.channel !== undefined) dims['channel'] = filter.channel;
  return dims;
}

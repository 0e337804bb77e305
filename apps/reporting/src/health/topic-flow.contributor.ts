import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { Topics, type DeadLetter, type TopicName } from '@tributary/contracts';
import type { RecordPosition } from '@tributary/messaging';
import { STORE_CONNECTION, expireDocuments, type ExpiringCollection } from '@tributary/store';
import { reportingTopics } from '../intake/reporting-topics';
import type { AnyIntakeBatch, ReportContributor } from '../intake/report-contributor';
import { countInBuckets } from '../read-models/bucketed-counts';
import { tallyId } from '../read-models/tallies';
import { ReportSettingsStore } from '../settings/report-settings';
import { DeadLetterOrigins } from './dead-letter-origins';
import { PLATFORM_WORKSPACE } from './integration-health';
import { latencyBucket, latencyField } from './latency-histogram';

/** Per workspace, topic and hour/day bucket: `events` and the latency histogram (`lat<k>`). */
export const TOPIC_FLOW_MODEL = 'health.topic-flow';
/** Per workspace, source topic, consumer group and error type: `deadLetters`. */
export const DEAD_LETTERS_MODEL = 'health.dead-letters';
/** One document per workspace and topic: the newest accepted-at time seen (`newestEventAt`, epoch ms). */
export const TOPIC_LATEST_COLLECTION = 'report_topic_latest';
/** Per workspace, topic and minute: `events`, kept two hours for the recent per-minute view. */
export const TOPIC_MINUTES_COLLECTION = 'report_topic_minutes';
export const MINUTES_KEPT_MS = 2 * 3_600_000;

const MINUTE_MS = 60_000;
const DEAD_LETTER_TOPICS: ReadonlySet<string> = new Set([
  Topics.DlqLeads,
  Topics.DlqOrchestration,
  Topics.DlqSync,
  Topics.DlqReporting,
]);

/** Where one record of a batch counts: its workspace (the platform's for an unreadable dead letter) and its time. */
interface Arrival {
  workspaceId: string;
  /** When the platform accepted the record (epoch ms). */
  at: number;
  letter?: DeadLetter;
}

/**
 * How each topic flows for each workspace: events per hour and day, the latency histogram from acceptance to reporting,
 * the newest event time (freshness) and a per-minute count of the last hours; for dead-letter topics, the letters per
 * source topic, consumer group and error type. Every count goes through the batch's tallies, so a redelivered record
 * counts once.
 */
@Injectable()
export class TopicFlowContributor implements ReportContributor, OnModuleInit, OnModuleDestroy {
  readonly topics: readonly TopicName[] = reportingTopics();
  private expiry: { stop(): void } | undefined;

  constructor(
    @Inject(STORE_CONNECTION) private readonly connection: Connection,
    private readonly origins: DeadLetterOrigins,
    private readonly settings: ReportSettingsStore,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.connection.collection(TOPIC_LATEST_COLLECTION).createIndex({ workspaceId: 1 });
    const minutes = this.connection.collection(TOPIC_MINUTES_COLLECTION);
    await minutes.createIndex({ workspaceId: 1, minuteAt: 1 });
    this.expiry = await expireDocuments(
      minutes as unknown as ExpiringCollection,
      'minuteAt',
      MINUTES_KEPT_MS,
      5 * MINUTE_MS,
    );
  }

  onModuleDestroy(): void {
    this.expiry?.stop();
  }

  async collect(batch: AnyIntakeBatch): Promise<void> {
    const arrivals = await this.arrivalsOf(batch);
    const zones = await this.zonesOf(batch, arrivals);
    arrivals.forEach((arrival, i) => {
      const position = batch.positions[i];
      if (!position) throw new Error(`${batch.topic}: no position for record ${i}`);
      this.count(batch, position, arrival, zones.get(arrival.workspaceId) ?? 'UTC');
    });
  }

  private count(batch: AnyIntakeBatch, position: RecordPosition, arrival: Arrival, zone: string): void {
    const { workspaceId, at } = arrival;
    const topic = batch.topic;
    countInBuckets(batch.tallies, position, {
      workspaceId,
      model: TOPIC_FLOW_MODEL,
      at,
      zone,
      dims: { topic },
      inc: { events: 1, [latencyField(latencyBucket(batch.takenAt - at))]: 1 },
    });
    batch.tallies.add(
      TOPIC_LATEST_COLLECTION,
      tallyId([workspaceId, topic]),
      { workspaceId, topic },
      position,
      { max: { newestEventAt: at } },
    );
    const minute = Math.floor(at / MINUTE_MS) * MINUTE_MS;
    // A minute the sweep would drop at once (a backlog's, a recompute's history) is not written: the per-minute view
    // shows the last hours only, and such writes were most of a backlog batch's documents.
    if (minute < batch.takenAt - MINUTES_KEPT_MS) return this.countLetter(batch, position, arrival, zone);
    batch.tallies.add(
      TOPIC_MINUTES_COLLECTION,
      tallyId([workspaceId, topic, minute]),
      { workspaceId, topic, minuteAt: new Date(minute) },
      position,
      { inc: { events: 1 } },
    );
    this.countLetter(batch, position, arrival, zone);
  }

  private countLetter(batch: AnyIntakeBatch, position: RecordPosition, arrival: Arrival, zone: string): void {
    const { workspaceId, at } = arrival;
    if (arrival.letter)
      countInBuckets(batch.tallies, position, {
        workspaceId,
        model: DEAD_LETTERS_MODEL,
        at,
        zone,
        dims: {
          sourceTopic: arrival.letter.sourceTopic,
          consumerGroup: arrival.letter.consumerGroup,
          errorType: arrival.letter.errorType,
        },
        inc: { deadLetters: 1 },
      });
  }

  /** Each record's workspace and accepted-at time: a tracking call's `receivedAt`, a letter's `failedAt`. */
  private async arrivalsOf(batch: AnyIntakeBatch): Promise<Arrival[]> {
    if (DEAD_LETTER_TOPICS.has(batch.topic)) {
      const letters = batch.events as readonly DeadLetter[];
      return Promise.all(
        letters.map(async (letter) => ({
          workspaceId: (await this.origins.workspaceOf(letter)) ?? PLATFORM_WORKSPACE,
          at: letter.failedAt,
          letter,
        })),
      );
    }
    if (batch.topic === Topics.TrackingEvents)
      return batch.events.map((event) => ({ workspaceId: event.metadata.workspaceId, at: event.receivedAt }));
    return (batch.events as readonly { metadata: { workspaceId: string; occurredAt: number } }[]).map(
      ({ metadata }) => ({ workspaceId: metadata.workspaceId, at: metadata.occurredAt }),
    );
  }

  /** The zone of every workspace counted: the batch has those its events name; dead letters name theirs only inside. */
  private async zonesOf(batch: AnyIntakeBatch, arrivals: readonly Arrival[]): Promise<Map<string, string>> {
    const zones = new Map([...batch.settings].map(([id, settings]) => [id, settings.timeZone]));
    const missing = new Set(
      arrivals
        .map((arrival) => arrival.workspaceId)
        .filter((id) => id !== PLATFORM_WORKSPACE && !zones.has(id)),
    );
    if (missing.size > 0)
      for (const [id, settings] of await this.settings.forWorkspaces(missing))
        zones.set(id, settings.timeZone);
    return zones;
  }
}

import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { Topics, type IngestionRejected, type TrackingEvent } from '@tributary/contracts';
import { AvroSchemaRegistry, EventPublisher, KAFKA_ADMIN, KAFKA_CLIENT } from '@tributary/messaging';
import { currentRequestId, type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { SERVICE_CONFIG } from '@tributary/config';
import type { Principal } from '@tributary/access';
import type { IngestionConfig } from '../config';
import type { FieldProblem } from '../leads/field-problem';
import { MessageIdLedger } from './message-id-ledger';
import { ProduceGate } from './produce-gate';
import type { SegmentCall } from './segment-calls';
import { contactKeyOf, toTrackingEvent, trackingEventId, type IdentifiedCall } from './tracking-events';

/** Where a set of calls came from: what the rejected-topic record needs to keep the original. */
export interface IntakeRequest {
  route: string;
  contentType: string;
  /** The request body as received (inflated): kept for single calls that fail encoding. */
  raw: Buffer;
  receivedAt: number;
}

/** A call (or batch item) that could not be accepted, with the original item for `ingestion.rejected`. */
export interface UnacceptedItem {
  index: number | null;
  item: unknown;
  problems: FieldProblem[];
}

/** What happened to a request's calls. */
export interface IntakeOutcome {
  /** eventIds of the accepted calls in input order (duplicates included: they were stored earlier). */
  eventIds: string[];
  stored: number;
  duplicates: number;
  /** Items that went to `ingestion.rejected` instead of `tracking.events`. */
  rejected: { index: number | null; problems: FieldProblem[] }[];
}

/**
 * Turns accepted Segment calls into `tracking.events` records, keyed by the contact so one person's calls stay in
 * order. A call is answered only after Kafka acknowledged it (acks=all): a 200 always means stored.
 *
 * Per request: messageIds are assigned (client's, else a new UUID), repeats inside the request collapse, the dedupe
 * ledger (in memory, no I/O) drops ids stored within the window, the rest is Avro-encoded one by one (a record Avro
 * refuses goes to `ingestion.rejected` with the reason, never silently away), and everything is produced in one
 * request per topic through the in-flight gate; the stored ids are announced to the other replicas after the answer.
 */
/** Stored ids not yet announced beyond which a request waits for its own announcement (Kafka is falling behind). */
const MAX_UNANNOUNCED_IDS = 100_000;

@Injectable()
export class TrackingIntake implements OnModuleInit, OnApplicationShutdown {
  private readonly ledger: MessageIdLedger;
  private readonly gate: ProduceGate;
  private encodeEvent?: (event: TrackingEvent) => Buffer;
  private encodeRejected?: (record: IngestionRejected) => Buffer;

  constructor(
    private readonly publisher: EventPublisher,
    private readonly registry: AvroSchemaRegistry,
    @Inject(KAFKA_CLIENT) kafka: Kafka,
    @Inject(KAFKA_ADMIN) admin: Admin,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {
    this.ledger = new MessageIdLedger({
      kafka,
      admin,
      registry,
      publisher,
      logger,
      windowMs: config.TRACKING_DEDUPE_WINDOW_HOURS * 3_600_000,
      maxIds: config.TRACKING_DEDUPE_MAX_IDS,
      replicationFactor: config.TOPIC_REPLICATION_FACTOR,
    });
    this.gate = new ProduceGate(
      config.TRACKING_MAX_IN_FLIGHT,
      config.TRACKING_PRODUCE_TIMEOUT_MS,
      config.TRACKING_WORKSPACE_IN_FLIGHT_SHARE,
    );
  }

  async onModuleInit(): Promise<void> {
    // HTTP opens only with the whole window read back: a restart must not forget what was stored before it.
    const readBack = await this.ledger
      .start(this.config.TRACKING_DEDUPE_READ_BACK_TIMEOUT_MS)
      .catch(async (error: unknown) => {
        await this.ledger.stop();
        throw error;
      });
    this.logger.info(
      { ...readBack, windowHours: this.config.TRACKING_DEDUPE_WINDOW_HOURS },
      'messageId dedupe window read back',
    );
    this.encodeEvent = this.registry.encoderFor(Topics.TrackingEvents);
    this.encodeRejected = this.registry.encoderFor(Topics.IngestionRejected);
  }

  async onApplicationShutdown(): Promise<void> {
    // Announcements still in flight are the dedupe window of what was just acknowledged: out before the process goes.
    await this.ledger.flush();
    await this.ledger.stop();
  }

  /** Accepts validated calls and records unaccepted ones; throws TrackingUnavailableError when Kafka did not ack. */
  async accept(
    principal: Principal,
    calls: readonly { index: number | null; call: SegmentCall }[],
    unaccepted: readonly UnacceptedItem[],
    request: IntakeRequest,
  ): Promise<IntakeOutcome> {
    const workspaceId = principal.workspaceId;
    const requestId = currentRequestId() ?? null;
    const identified = calls.map(({ index, call }) => ({
      index,
      call: { ...call, messageId: call.messageId ?? randomUUID() } as IdentifiedCall,
    }));
    // A messageId repeated inside one request is one event.
    const firstById = new Map<string, (typeof identified)[number]>();
    for (const entry of identified) {
      if (!firstById.has(entry.call.messageId)) firstById.set(entry.call.messageId, entry);
    }
    const unique = [...firstById.values()];
    const eventIds = new Map<string, string>();
    for (const { call } of unique) eventIds.set(call.messageId, trackingEventId(workspaceId, call.messageId));
    const decisions = this.ledger.decide([...eventIds.values()]);
    const fresh = unique.filter((_, i) => decisions[i] !== 'duplicate');

    const events: { key: string; value: Buffer; eventId: string }[] = [];
    const rejected: UnacceptedItem[] = [...unaccepted];
    const failedIds = new Set<string>();
    for (const { index, call } of fresh) {
      const event = toTrackingEvent(
        workspaceId,
        call,
        request.receivedAt,
        requestId ?? undefined,
        this.config.MAX_FUTURE_SKEW_SECONDS * 1000,
        eventIds.get(call.messageId),
      );
      try {
        events.push({ key: contactKeyOf(call), value: this.encode(event), eventId: event.metadata.eventId });
      } catch (error) {
        failedIds.add(call.messageId);
        const item = index === null ? undefined : call;
        rejected.push({
          index,
          item,
          problems: [{ field: '(event)', reason: `Avro encoding failed: ${(error as Error).message}` }],
        });
      }
    }
    const rejectedRecords = rejected.map((r) => ({
      key: workspaceId,
      value: this.encodeRejectedRecord(principal, r, request, requestId),
    }));

    await this.gate.run(workspaceId, events.length + rejectedRecords.length, async () => {
      await Promise.all([
        this.publisher.publishEncoded(Topics.TrackingEvents, events),
        this.publisher.publishEncoded(Topics.IngestionRejected, rejectedRecords),
      ]);
    });
    // This replica knows them now; the others learn after the answer, unless announcements fall far behind.
    const announced = this.recordStored(
      workspaceId,
      events.map((e) => e.eventId),
    );
    if (this.ledger.backlog > MAX_UNANNOUNCED_IDS) await announced;

    return {
      eventIds: identified
        .filter((e) => !failedIds.has(e.call.messageId))
        .map((e) => eventIds.get(e.call.messageId) ?? trackingEventId(workspaceId, e.call.messageId)),
      stored: events.length,
      duplicates: identified.length - events.length - failedIds.size,
      rejected: rejected.map((r) => ({ index: r.index, problems: r.problems })),
    };
  }

  private encode(event: TrackingEvent): Buffer {
    if (!this.encodeEvent) throw new Error('tracking intake used before init');
    return this.encodeEvent(event);
  }

  private encodeRejectedRecord(
    principal: Principal,
    item: UnacceptedItem,
    request: IntakeRequest,
    requestId: string | null,
  ): Buffer {
    if (!this.encodeRejected) throw new Error('tracking intake used before init');
    const eventId = randomUUID();
    const body = item.index === null ? request.raw : (itemBytes(item.item) ?? request.raw);
    return this.encodeRejected({
      metadata: {
        eventId,
        occurredAt: request.receivedAt,
        workspaceId: principal.workspaceId,
        source: 'ingestion',
        correlationId: requestId ?? eventId,
        causationId: null,
      },
      route: request.route,
      itemIndex: item.index,
      contentType: request.contentType,
      body,
      reason: item.problems.map((p) => `${p.field}: ${p.reason}`).join('; '),
      problems: item.problems,
      requestId,
      credentialId: principal.credentialId,
      receivedAt: request.receivedAt,
    });
  }

  private async recordStored(workspaceId: string, eventIds: string[]): Promise<void> {
    try {
      await this.ledger.recordStored(workspaceId, eventIds);
    } catch (error) {
      this.logger.warn(
        { err: error, ids: eventIds.length },
        'stored ids not announced: a retry reaching another replica may be produced again (consumers dedupe by eventId)',
      );
    }
  }
}

/** A batch item as JSON; undefined when it cannot be serialised (nested too deep), so the whole request is kept. */
function itemBytes(item: unknown): Buffer | undefined {
  try {
    return Buffer.from(JSON.stringify(item) ?? 'null', 'utf8');
  } catch {
    return undefined;
  }
}

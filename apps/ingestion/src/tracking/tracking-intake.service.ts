import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Connection } from 'mongoose';
import { Topics, type IngestionRejected, type TrackingEvent } from '@tributary/contracts';
import { AvroSchemaRegistry, clientEventId, EventPublisher } from '@tributary/messaging';
import { STORE_CONNECTION } from '@tributary/store';
import { currentRequestId, type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { SERVICE_CONFIG } from '@tributary/config';
import type { Principal } from '@tributary/access';
import type { IngestionConfig } from '../config';
import type { FieldProblem } from '../leads/field-problem';
import { MessageIdLedger } from './message-id-ledger';
import { ProduceGate } from './produce-gate';
import type { SegmentCall } from './segment-calls';
import { contactKeyOf, toTrackingEvent, type IdentifiedCall } from './tracking-events';

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
 * ledger drops ids stored within the window, the rest is Avro-encoded one by one (a record Avro refuses goes to
 * `ingestion.rejected` with the reason, never silently away), and everything is produced in one request per topic
 * through the in-flight gate; the dedupe marks are written after the answer.
 */
/** Unwritten dedupe marks beyond which a request waits for its own (the store is falling behind). */
const MAX_UNWRITTEN_MARKS = 100_000;

@Injectable()
export class TrackingIntake implements OnModuleInit, OnApplicationShutdown {
  private readonly ledger: MessageIdLedger;
  private readonly gate: ProduceGate;
  private encodeEvent?: (event: TrackingEvent) => Buffer;
  private encodeRejected?: (record: IngestionRejected) => Buffer;

  constructor(
    private readonly publisher: EventPublisher,
    private readonly registry: AvroSchemaRegistry,
    @Inject(STORE_CONNECTION) store: Connection,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {
    this.ledger = new MessageIdLedger(store, config.TRACKING_DEDUPE_WINDOW_HOURS * 3_600_000);
    this.gate = new ProduceGate(
      config.TRACKING_MAX_IN_FLIGHT,
      config.TRACKING_PRODUCE_TIMEOUT_MS,
      config.TRACKING_WORKSPACE_IN_FLIGHT_SHARE,
    );
  }

  async onModuleInit(): Promise<void> {
    await this.ledger.init();
    this.encodeEvent = this.registry.encoderFor(Topics.TrackingEvents);
    this.encodeRejected = this.registry.encoderFor(Topics.IngestionRejected);
  }

  async onApplicationShutdown(): Promise<void> {
    // Marks still queued are the dedupe window of what was just acknowledged: written before the process goes.
    await this.ledger.flush();
    this.ledger.stop();
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
    const decisions = await this.decide(
      workspaceId,
      unique.map((e) => e.call.messageId),
    );
    const fresh = unique.filter((_, i) => decisions[i] !== 'duplicate');

    const events: { key: string; value: Buffer; messageId: string }[] = [];
    const rejected: UnacceptedItem[] = [...unaccepted];
    const failedIds = new Set<string>();
    const eventIds = new Map<string, string>();
    for (const { index, call } of fresh) {
      const event = toTrackingEvent(
        workspaceId,
        call,
        request.receivedAt,
        requestId ?? undefined,
        this.config.MAX_FUTURE_SKEW_SECONDS * 1000,
      );
      eventIds.set(call.messageId, event.metadata.eventId);
      try {
        events.push({ key: contactKeyOf(call), value: this.encode(event), messageId: call.messageId });
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
    // The marks are written after the answer; only a store falling far behind makes requests wait for them.
    const marked = this.markDone(
      workspaceId,
      events.map((e) => e.messageId),
    );
    if (this.ledger.backlog > MAX_UNWRITTEN_MARKS) await marked;

    return {
      eventIds: identified
        .filter((e) => !failedIds.has(e.call.messageId))
        .map(
          (e) => eventIds.get(e.call.messageId) ?? clientEventId(workspaceId, 'tracking', e.call.messageId),
        ),
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

  // The store is a dedupe aid, not the record: when it is down we accept and let eventId dedupe absorb repeats.
  private async decide(workspaceId: string, ids: string[]): Promise<('new' | 'duplicate')[]> {
    try {
      return await this.ledger.decide(workspaceId, ids);
    } catch (error) {
      this.logger.warn({ err: error }, 'dedupe store unavailable: accepting without messageId dedupe');
      return ids.map(() => 'new');
    }
  }

  private async markDone(workspaceId: string, ids: string[]): Promise<void> {
    try {
      await this.ledger.markDone(workspaceId, ids);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not record messageIds as stored: a retry may produce again');
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

import { Inject, Injectable } from '@nestjs/common';
import { Topics, type RecordChanged } from '@tributary/contracts';
import { derivedEventId, EventPublisher, originMetadata } from '@tributary/messaging';
import { ProcessedEvents } from '@tributary/store';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { SERVICE_CONFIG } from '@tributary/config';
import { unstorableParts } from '@tributary/runtime';
import type { IngestionConfig } from '../config';
import type { FieldProblem } from '../leads/field-problem';
import { LeadCapture } from '../leads/lead-capture.service';
import { applyMapping, type MappedLead, type MappedRecord } from './mapping/event-mapping';
import type { SignedRequest } from './signatures/signature';
import { webhookSources, type WebhookEvent, type WebhookSource } from './webhook-sources';
import type { WebhookSourceName } from './webhooks.config';

/** What happened to one event of a delivery. */
export interface WebhookEventOutcome {
  deliveryId: string;
  eventType: string;
  outcome: 'published' | 'duplicate' | 'ignored';
  eventId?: string;
  reason?: string;
}

/** The answer to a delivery, by HTTP status: 2xx accepted (published, replayed or ignored), 4xx refused. */
export type WebhookReceipt =
  | { status: 200 | 202; body: WebhookAccepted }
  | { status: 401; body: { error: 'unauthorized'; reason: string; problems: FieldProblem[] } }
  | {
      status: 400 | 422;
      body: { error: 'invalid_request' | 'unprocessable_payload'; problems: FieldProblem[] };
    };

/** 2xx body; `ignored: true` (202) when no event of the delivery is mapped, with the reason. */
export interface WebhookAccepted {
  accepted: number;
  duplicates: number;
  ignored: boolean;
  reason?: string;
  events: WebhookEventOutcome[];
}

type Mapped = { event: WebhookEvent; value: MappedLead | MappedRecord };

/**
 * Signed inbound webhooks: verify over the raw bytes, split into events, map each declaratively, publish each once.
 * Dedupe is durable (ProcessedEvents in ingestion's store) and event ids derive from the delivery, so a replay that
 * slips past the marker (two concurrent retries) still carries the same id and downstream dedupe absorbs it.
 * Delivery ids and event types come from signed bytes only, and deliveries whose signature holds no time are refused
 * past WEBHOOK_MAX_AGE_HOURS: an old signed body cannot be made new, or made to mean something else, by headers.
 */
@Injectable()
export class WebhookIntake {
  constructor(
    private readonly publisher: EventPublisher,
    private readonly processed: ProcessedEvents,
    private readonly leads: LeadCapture,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  async receive(
    source: WebhookSourceName,
    workspaceId: string,
    request: SignedRequest,
    now = Date.now(),
  ): Promise<WebhookReceipt> {
    const definition = webhookSources[source];
    const secrets = this.config.WEBHOOK_SECRETS.filter(
      (s) => s.workspaceId === workspaceId && s.source === source,
    ).map((s) => s.secret);
    if (secrets.length === 0) {
      return unauthorized(`${source} webhooks are not enabled for this workspace`);
    }
    const verification = definition.verifier.verify(request, secrets, now);
    if (!verification.ok) return unauthorized(verification.reason);

    // Parsed only once the bytes are known to come from the sender.
    let body: unknown;
    try {
      body = JSON.parse(request.rawBody.toString('utf8'));
    } catch {
      return {
        status: 400,
        body: { error: 'invalid_request', problems: [{ field: '(body)', reason: 'must be JSON' }] },
      };
    }
    // The platform's rule for text no store can hold (NUL, nesting past 64 levels): refused, never stripped.
    const unstorable = unstorableParts(body);
    if (unstorable.length > 0)
      return { status: 400, body: { error: 'invalid_request', problems: unstorable } };
    const envelope = definition.events(body, request);
    if (!envelope.ok) return { status: 400, body: { error: 'invalid_request', problems: envelope.problems } };
    // Only a delivery with an effect is dated: an ignored topic's body need not be stamped at its event.
    if (envelope.events.some((event) => definition.mappings[event.eventType])) {
      const stale = this.refuseStale(definition, body, request, now);
      if (stale) return stale;
    }

    // Map every event before publishing any, so a delivery is either refused whole or accepted whole.
    const outcomes: WebhookEventOutcome[] = [];
    const mapped: Mapped[] = [];
    const problems: FieldProblem[] = [];
    for (const event of envelope.events) {
      const mapping = definition.mappings[event.eventType];
      if (!mapping) {
        const reason = `no mapping for ${source} event type ${event.eventType}`;
        // The ignored log: operators see which event types senders push that we do not map (yet).
        this.logger.info(
          { event: 'webhook_ignored', source, workspaceId, eventType: event.eventType },
          reason,
        );
        outcomes.push({
          deliveryId: event.deliveryId,
          eventType: event.eventType,
          outcome: 'ignored',
          reason,
        });
        continue;
      }
      const result = applyMapping(mapping, event.payload);
      if (result.ok) mapped.push({ event, value: result.value });
      else problems.push(...result.problems);
    }
    if (problems.length > 0) return { status: 422, body: { error: 'unprocessable_payload', problems } };

    for (const item of mapped) outcomes.push(await this.publishOnce(source, workspaceId, item, now));
    const count = (o: WebhookEventOutcome['outcome']) => outcomes.filter((e) => e.outcome === o).length;
    const accepted = count('published');
    const duplicates = count('duplicate');
    if (accepted + duplicates > 0) {
      return { status: 200, body: { accepted, duplicates, ignored: false, events: outcomes } };
    }
    const reason = [...new Set(outcomes.map((o) => o.reason))].join('; ');
    return { status: 202, body: { accepted, duplicates, ignored: true, reason, events: outcomes } };
  }

  /**
   * Signed bytes sent again later must not take effect again: a sender that signs no time is held to its content's
   * time. The window never exceeds the dedupe memory, so every replay inside it is still recognised.
   */
  private refuseStale(
    definition: WebhookSource,
    body: unknown,
    request: SignedRequest,
    now: number,
  ): WebhookReceipt | undefined {
    const time = definition.contentTime?.(body, request);
    if (!time) return undefined;
    if (!time.ok) return { status: 400, body: { error: 'invalid_request', problems: [time.problem] } };
    const hours = Math.min(this.config.WEBHOOK_MAX_AGE_HOURS, this.config.DEDUPE_TTL_HOURS);
    if (now - time.at > hours * 3_600_000) {
      return unauthorized(`delivery is older than ${hours} hours`, {
        field: time.field,
        reason: `is older than ${hours} hours: a replay, or a delivery past the sender’s retries`,
      });
    }
    // A future stamp would keep the bytes "fresh" for longer than the window.
    const aheadSeconds = this.config.MAX_FUTURE_SKEW_SECONDS;
    if (time.at - now > aheadSeconds * 1000) {
      return unauthorized('delivery is dated in the future', {
        field: time.field,
        reason: `is more than ${aheadSeconds} seconds in the future`,
      });
    }
    return undefined;
  }

  private async publishOnce(
    source: WebhookSourceName,
    workspaceId: string,
    { event, value }: Mapped,
    now: number,
  ): Promise<WebhookEventOutcome> {
    const topic = value.kind === 'lead' ? Topics.LeadsCaptured : Topics.RecordsChanged;
    const eventId = derivedEventId(`webhook:${source}:${workspaceId}:${event.deliveryId}`, topic);
    const once = { scope: `webhook:${source}`, deliveryId: `${workspaceId}:${event.deliveryId}` };
    let duplicate: boolean;
    if (value.kind === 'lead') {
      const result = await this.leads.capture(
        workspaceId,
        {
          email: value.email,
          firstName: value.firstName,
          lastName: value.lastName,
          company: value.company,
          consents: value.consents,
          source,
          externalId: value.externalId,
          formId: null,
          rawFields: event.payload,
          occurredAt: value.occurredAt ?? now,
        },
        { eventId, ...once },
      );
      duplicate = result.duplicate;
    } else {
      const record: RecordChanged = {
        metadata: originMetadata({
          workspaceId,
          source: `ingestion:${source}`,
          occurredAt: value.changedAt ?? now,
          eventId,
        }),
        system: source,
        objectType: value.objectType,
        externalId: value.externalId,
        operation: value.operation,
        fieldsJson: JSON.stringify(value.fields),
        changedAt: value.changedAt ?? now,
      };
      const key = `${source}:${value.objectType}:${value.externalId}`;
      const outcome = await this.processed.once(once.scope, once.deliveryId, () =>
        this.publisher.publish({ topic: Topics.RecordsChanged, key, event: record }),
      );
      duplicate = !outcome.applied;
    }
    return {
      deliveryId: event.deliveryId,
      eventType: event.eventType,
      outcome: duplicate ? 'duplicate' : 'published',
      eventId,
    };
  }
}

function unauthorized(
  reason: string,
  problem: FieldProblem = { field: '(request)', reason },
): WebhookReceipt {
  return { status: 401, body: { error: 'unauthorized', reason, problems: [problem] } };
}

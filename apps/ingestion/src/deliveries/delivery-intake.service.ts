import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Topics, type IngestionRejected, type MessageDelivery } from '@tributary/contracts';
import { clientEventId, EventPublisher, type OutgoingEvent } from '@tributary/messaging';
import { ProcessedEventBatches } from '@tributary/store';
import { currentRequestId, type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { SERVICE_CONFIG } from '@tributary/config';
import type { IngestionConfig } from '../config';
import type { FieldProblem } from '../leads/field-problem';
import type { SignedRequest } from '../webhooks/signatures/signature';
import type { DeliveryWebhookSourceName } from '../webhooks/webhooks.config';
import {
  maskAddress,
  sendGridDeliveries,
  TWILIO_MESSAGE_KEY_PARAM,
  twilioInboundDelivery,
  twilioStatusDelivery,
  type DeliveryFact,
  type MappedDelivery,
} from './delivery-events';
import { SendGridEventVerifier } from './sendgrid-event-verifier';
import { formParams, TwilioRequestVerifier } from './twilio-request-verifier';

/** Which provider webhook a request is: SendGrid's event batch, a Twilio status callback or an inbound text. */
export type DeliveryWebhook = 'sendgrid-events' | 'twilio-status' | 'twilio-inbound';

/** The 200 answer: what became of the webhook's events. */
export interface DeliveriesAccepted {
  accepted: number;
  duplicates: number;
  ignored: number;
  /** Events refused on their own (kept on `ingestion.rejected`); the others were taken. */
  rejected: { index: number | null; field: string; reason: string }[];
}

export type DeliveryReceipt =
  | { status: 200; body: DeliveriesAccepted }
  | { status: 401; body: { error: 'unauthorized'; reason: string; problems: FieldProblem[] } }
  | { status: 400; body: { error: 'invalid_request'; problems: FieldProblem[] } };

const SOURCE_OF: Record<DeliveryWebhook, DeliveryWebhookSourceName> = {
  'sendgrid-events': 'sendgrid',
  'twilio-status': 'twilio',
  'twilio-inbound': 'twilio',
};

/** The partition key of a recipient's feedback: their STOP and START stay in order; no address in the key. */
export function deliveryKey(workspaceId: string, fact: Pick<DeliveryFact, 'channel' | 'address'>): string {
  return createHash('sha256').update(`${workspaceId}:${fact.channel}:${fact.address}`).digest('hex');
}

/**
 * Delivery feedback from message providers: verify the signature over the raw bytes, map each event, publish each
 * new one on `messages.deliveries` once. Dedupe is durable (processed-event markers in ingestion's store, one read
 * and one write per webhook) and event ids derive from the provider's event ids, so a retry that slips past the
 * markers (two at once) carries the same ids and consumers absorb it. A signed event the edge cannot map is kept on
 * `ingestion.rejected` with its bytes and reasons, and the rest of its batch is taken: a provider retries a refused
 * batch whole, for hours.
 */
@Injectable()
export class DeliveryIntake {
  private readonly sendGrid = new SendGridEventVerifier();
  private readonly twilio = new TwilioRequestVerifier();

  constructor(
    private readonly publisher: EventPublisher,
    private readonly processed: ProcessedEventBatches,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  async receive(
    webhook: DeliveryWebhook,
    workspaceId: string,
    request: SignedRequest & { route: string },
    now = Date.now(),
  ): Promise<DeliveryReceipt> {
    const source = SOURCE_OF[webhook];
    const secrets = this.config.WEBHOOK_SECRETS.filter(
      (s) => s.workspaceId === workspaceId && s.source === source,
    ).map((s) => s.secret);
    if (secrets.length === 0) return unauthorized(`${source} webhooks are not enabled for this workspace`);
    const verification =
      source === 'sendgrid'
        ? this.sendGrid.verify(request, secrets, now, {
            // SendGrid retries for 24 hours; the window never outlasts the dedupe memory.
            maxAgeMs: Math.min(this.config.WEBHOOK_MAX_AGE_HOURS, this.config.DEDUPE_TTL_HOURS) * 3_600_000,
            maxAheadMs: this.config.MAX_FUTURE_SKEW_SECONDS * 1000,
          })
        : this.twilio.verify(request, secrets);
    if (!verification.ok) {
      this.logger.warn({
        event: 'delivery_webhook_refused',
        source,
        workspaceId,
        reason: verification.reason,
      });
      return unauthorized(verification.reason);
    }

    // Parsed only once the bytes are known to come from the provider.
    const mapped = this.map(webhook, workspaceId, request, now);
    if (!mapped.ok) {
      await this.keepRejected(workspaceId, request, now, [
        { index: null, outcome: 'rejected', item: undefined, problems: mapped.problems },
      ]);
      return { status: 400, body: { error: 'invalid_request', problems: mapped.problems } };
    }
    return { status: 200, body: await this.publish(source, workspaceId, request, mapped.items, now) };
  }

  private map(
    webhook: DeliveryWebhook,
    workspaceId: string,
    request: SignedRequest,
    now: number,
  ): { ok: true; items: MappedDelivery[] } | { ok: false; problems: FieldProblem[] } {
    if (webhook === 'sendgrid-events') {
      let body: unknown;
      try {
        body = JSON.parse(request.rawBody.toString('utf8'));
      } catch {
        return { ok: false, problems: [{ field: '(body)', reason: 'must be JSON' }] };
      }
      return sendGridDeliveries(body, workspaceId);
    }
    const params = formParams(request.rawBody);
    if (webhook === 'twilio-inbound') return { ok: true, items: [twilioInboundDelivery(params, now)] };
    const messageKey = new URL(request.url).searchParams.get(TWILIO_MESSAGE_KEY_PARAM);
    return { ok: true, items: [twilioStatusDelivery(params, messageKey || null, now)] };
  }

  private async publish(
    source: DeliveryWebhookSourceName,
    workspaceId: string,
    request: SignedRequest & { route: string },
    items: readonly MappedDelivery[],
    now: number,
  ): Promise<DeliveriesAccepted> {
    const facts = items.flatMap((item) => (item.outcome === 'mapped' ? [item.fact] : []));
    // A provider event repeated inside one webhook is one event.
    const byId = new Map(facts.map((fact) => [fact.providerEventId, fact]));
    const scope = `delivery:${source}:${workspaceId}`;
    const fresh = await this.processed.unprocessed(scope, [...byId.keys()]);
    const outgoing: OutgoingEvent<typeof Topics.MessagesDeliveries>[] = [...fresh].map((id) => {
      const fact = byId.get(id) as DeliveryFact;
      return {
        topic: Topics.MessagesDeliveries,
        key: deliveryKey(workspaceId, fact),
        event: toEvent(workspaceId, fact, now),
      };
    });
    const rejected = items.filter((item) => item.outcome === 'rejected');
    await Promise.all([
      this.publisher.publishAll(outgoing),
      rejected.length > 0 ? this.keepRejected(workspaceId, request, now, rejected) : Promise.resolve(),
    ]);
    await this.processed.markProcessed(scope, fresh);
    const ignored = items.filter((item) => item.outcome === 'ignored').length;
    this.logger.info(
      {
        event: 'delivery_webhook',
        source,
        workspaceId,
        accepted: outgoing.length,
        duplicates: facts.length - outgoing.length,
        ignored,
        rejected: rejected.length,
        // Which recipients, only as logs may name them.
        recipients: [...new Set(facts.map((f) => maskAddress(f.address)))].slice(0, 20),
      },
      'delivery feedback received',
    );
    return {
      accepted: outgoing.length,
      duplicates: facts.length - outgoing.length,
      ignored,
      rejected: rejected.flatMap((item) => item.problems.map((p) => ({ index: item.index, ...p }))),
    };
  }

  /** Signed events the edge could not map, kept with their bytes on `ingestion.rejected`; stable ids across retries. */
  private async keepRejected(
    workspaceId: string,
    request: SignedRequest & { route: string },
    now: number,
    items: readonly Extract<MappedDelivery, { outcome: 'rejected' }>[],
  ): Promise<void> {
    const digest = createHash('sha256').update(request.rawBody).digest('base64url');
    const requestId = currentRequestId() ?? null;
    const contentType = String(request.headers['content-type'] ?? '');
    const records: OutgoingEvent<typeof Topics.IngestionRejected>[] = items.map((item) => {
      const eventId = clientEventId(
        workspaceId,
        `rejected:${request.route}`,
        `${digest}:${item.index ?? '-'}`,
      );
      const body: IngestionRejected['body'] =
        item.index === null ? request.rawBody : Buffer.from(JSON.stringify(item.item) ?? 'null', 'utf8');
      return {
        topic: Topics.IngestionRejected,
        key: workspaceId,
        event: {
          metadata: {
            eventId,
            occurredAt: now,
            workspaceId,
            source: 'ingestion',
            correlationId: requestId ?? eventId,
            causationId: null,
          },
          route: request.route,
          itemIndex: item.index,
          contentType,
          body,
          reason: item.problems.map((p) => `${p.field}: ${p.reason}`).join('; '),
          problems: item.problems,
          requestId,
          credentialId: null,
          receivedAt: now,
        },
      };
    });
    await this.publisher.publishAll(records);
    this.logger.warn(
      {
        event: 'delivery_webhook_rejected',
        route: request.route,
        workspaceId,
        fields: items.flatMap((i) => i.problems.map((p) => p.field)),
      },
      'delivery feedback kept on ingestion.rejected',
    );
  }
}

function toEvent(workspaceId: string, fact: DeliveryFact, receivedAt: number): MessageDelivery {
  const eventId = clientEventId(workspaceId, `delivery:${fact.provider}`, fact.providerEventId);
  return {
    metadata: {
      eventId,
      occurredAt: fact.occurredAt,
      workspaceId,
      source: `ingestion:${fact.provider}`,
      correlationId: fact.messageKey ?? eventId,
      causationId: null,
    },
    provider: fact.provider,
    channel: fact.channel,
    event: fact.event,
    providerEvent: fact.providerEvent,
    providerEventId: fact.providerEventId,
    providerMessageId: fact.providerMessageId,
    messageKey: fact.messageKey,
    address: fact.address,
    maskedAddress: maskAddress(fact.address),
    reason: fact.reason,
    permanent: fact.permanent,
    receivedAt,
  };
}

function unauthorized(reason: string): DeliveryReceipt {
  return {
    status: 401,
    body: { error: 'unauthorized', reason, problems: [{ field: '(request)', reason }] },
  };
}

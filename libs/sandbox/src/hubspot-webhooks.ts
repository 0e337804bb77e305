import { createHmac } from 'node:crypto';

/** A HubSpot app's webhook subscription as its settings page holds it: where to, signed with which client secret. */
export interface HubSpotWebhookOptions {
  targetUrl: string;
  /** The app's client secret: HubSpot signs each request with it (X-HubSpot-Signature-v3). */
  clientSecret: string;
  appId?: number;
  /** Subscription types sent (`contact.propertyChange`, `company.creation`, …); unset: all of them. */
  subscriptions?: readonly string[];
  /** How long events gather before a request (HubSpot sends up to 100 a request, soon after the change). */
  batchMs?: number;
  /** Tries a request gets when the target does not answer 2xx (HubSpot tries up to 10 times over 24 hours). */
  attempts?: number;
  /** The first retry's delay, doubled each time. */
  retryMs?: number;
}

/** One webhook event as HubSpot's v3 webhooks API sends it. */
export interface HubSpotWebhookEvent {
  eventId: number;
  subscriptionId: number;
  portalId: number;
  appId: number;
  occurredAt: number;
  subscriptionType: string;
  attemptNumber: number;
  objectId: number;
  changeSource: string;
  sourceId?: string;
  propertyName?: string;
  propertyValue?: string;
}

/** What the sender did with one request: the target's status (0: no answer) per attempt. */
export interface HubSpotWebhookDelivery {
  events: HubSpotWebhookEvent[];
  statuses: number[];
}

const MAX_EVENTS = 100;

/** HubSpot's v3 signature: base64 HMAC-SHA256 over method, URI, body and timestamp with the client secret. */
export function hubSpotSignatureV3(secret: string, url: string, body: string, timestamp: string): string {
  return createHmac('sha256', secret).update(`POST${url}${body}${timestamp}`).digest('base64');
}

/**
 * The webhooks a HubSpot app subscribed to: events gathered for `batchMs`, posted up to 100 a request with the v3
 * signature headers, and retried with backoff while the target answers anything but 2xx (each retry's events carry
 * their attemptNumber). Events of one object keep their order within a request, not across retries, as HubSpot's.
 */
export class HubSpotWebhookSender {
  readonly deliveries: HubSpotWebhookDelivery[] = [];
  private queue: Omit<HubSpotWebhookEvent, 'eventId' | 'attemptNumber' | 'subscriptionId' | 'appId'>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** From the clock: a receiver that dedupes by event id must not take a restarted fake's events for old ones. */
  private nextEventId = Date.now() * 100;
  private stopped = false;
  /** Off: changes are not sent (an app whose subscription is paused). */
  enabled = true;

  constructor(private readonly options: HubSpotWebhookOptions) {}

  /** Queues an event of a subscription type the app subscribed to. */
  notify(event: Omit<HubSpotWebhookEvent, 'eventId' | 'attemptNumber' | 'subscriptionId' | 'appId'>): void {
    const { subscriptions } = this.options;
    if (this.stopped || !this.enabled) return;
    if (subscriptions && !subscriptions.includes(event.subscriptionType)) return;
    this.queue.push(event);
    this.timer ??= setTimeout(() => this.flush(), this.options.batchMs ?? 50);
  }

  /** Stops sending: what is queued is dropped, requests under way are waited for. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.queue = [];
    await Promise.allSettled([...this.inFlight]);
  }

  private flush(): void {
    this.timer = undefined;
    const queued = this.queue;
    this.queue = [];
    for (let i = 0; i < queued.length; i += MAX_EVENTS) {
      const events = queued.slice(i, i + MAX_EVENTS).map((event) => ({
        ...event,
        eventId: this.nextEventId++,
        subscriptionId: subscriptionIdOf(event.subscriptionType),
        appId: this.options.appId ?? 1160452,
        attemptNumber: 0,
      }));
      const sending = this.send(events).finally(() => this.inFlight.delete(sending));
      this.inFlight.add(sending);
    }
  }

  private async send(events: HubSpotWebhookEvent[]): Promise<void> {
    const delivery: HubSpotWebhookDelivery = { events, statuses: [] };
    this.deliveries.push(delivery);
    const attempts = this.options.attempts ?? 5;
    for (let attempt = 0; attempt < attempts && !this.stopped; attempt += 1) {
      const body = JSON.stringify(events.map((event) => ({ ...event, attemptNumber: attempt })));
      const timestamp = String(Date.now());
      const status = await fetch(this.options.targetUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-hubspot-signature-version': 'v3',
          'x-hubspot-request-timestamp': timestamp,
          'x-hubspot-signature-v3': hubSpotSignatureV3(
            this.options.clientSecret,
            this.options.targetUrl,
            body,
            timestamp,
          ),
        },
        body,
        signal: AbortSignal.timeout(5_000),
      }).then(
        async (res) => {
          await res.arrayBuffer();
          return res.status;
        },
        () => 0,
      );
      delivery.statuses.push(status);
      if (status >= 200 && status < 300) return;
      await new Promise((resolve) => setTimeout(resolve, (this.options.retryMs ?? 1_000) * 2 ** attempt));
    }
  }
}

/** A stable subscription id per type, as an app's subscriptions each have one. */
function subscriptionIdOf(type: string): number {
  let hash = 0;
  for (const char of type) hash = (hash * 31 + char.charCodeAt(0)) % 1_000_000;
  return hash;
}

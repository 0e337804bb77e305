import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import {
  FakeHttpApi,
  jsonReply,
  postWebhook,
  type Exchange,
  type FakeHttpApiOptions,
  type RateLimitState,
  type Reply,
  type WebhookDelivery,
} from './fake-http';
import { acceptedMessage, isRecord, mailSendErrors, type Json } from './sendgrid-mail-request';

export interface FakeSendGridOptions extends FakeHttpApiOptions {
  /** The Bearer key mail send requires; unset = any non-empty key is taken (the `npm start` sandbox). */
  apiKey?: string;
  /**
   * The account's Event Webhook URL: set, the fake posts signed batches about every accepted email there by itself
   * (processed + delivered, or what `feedbackFor` says for a recipient), as SendGrid does. Also `setEventWebhook`.
   */
  eventWebhookUrl?: string;
  /** How long events gather before a batch is posted (SendGrid batches for up to 30 s); default 100 ms. */
  eventBatchMs?: number;
  /** Posts of one batch before it is given up (SendGrid retries a non-2xx answer for 24 h); default 3, 1 s apart. */
  eventWebhookAttempts?: number;
  eventWebhookRetryMs?: number;
  /** Email Activity API requests allowed a minute (SendGrid's documented limit is 6); beyond it, 429 + Retry-After. */
  activityRequestsPerMinute?: number;
  /** How long an accepted email takes to show in the Email Activity API; default 0. */
  activityDelayMs?: number;
}

/** One email as the Email Activity API lists it (`GET /v3/messages`). */
export interface ActivityMessage {
  from_email: string;
  msg_id: string;
  subject: string;
  to_email: string;
  status: 'processed' | 'delivered' | 'not_delivered';
  opens_count: number;
  clicks_count: number;
  last_event_time: string;
}

/** A batch the fake's Event Webhook posted by itself, with the receiver's answer to its last attempt. */
export interface PostedEventBatch {
  events: SendGridEvent[];
  delivery: WebhookDelivery | { url: string; status: 0; body: string };
  attempts: number;
}

export interface SendGridAddress {
  email: string;
  name?: string;
}

/** One accepted email as SendGrid would send it: a personalization merged with the message-level fields. */
export interface FakeSendGridMessage {
  /** The request's `X-Message-Id`, shared by every personalization of one send. */
  messageId: string;
  /** The id events carry (`sg_message_id`): the X-Message-Id, then a per-personalization suffix, as SendGrid's. */
  sgMessageId: string;
  to: SendGridAddress[];
  cc: SendGridAddress[];
  bcc: SendGridAddress[];
  from: SendGridAddress;
  replyTo?: SendGridAddress;
  subject?: string;
  text?: string;
  html?: string;
  templateId?: string;
  dynamicTemplateData?: Record<string, unknown>;
  /** Message headers (e.g. List-Unsubscribe), the personalization's over the message's. */
  headers: Record<string, string>;
  /** `custom_args`, the personalization's over the message's; events carry them back. */
  customArgs: Record<string, string>;
  categories: string[];
  /** `send_at`, unix seconds. */
  sendAt?: number;
  /** ISO time the fake accepted it. */
  receivedAt: string;
}

export type SendGridEventType =
  | 'processed'
  | 'dropped'
  | 'deferred'
  | 'delivered'
  | 'bounce'
  | 'open'
  | 'click'
  | 'spamreport'
  | 'unsubscribe'
  | 'group_unsubscribe'
  | 'group_resubscribe';

/** One Event Webhook event; a message's custom args sit at the top level beside SendGrid's fields. */
export interface SendGridEvent {
  email: string;
  timestamp: number;
  event: SendGridEventType;
  sg_event_id: string;
  sg_message_id: string;
  [field: string]: unknown;
}

const MAIL_SEND = '/v3/mail/send';
const ACTIVITY = '/v3/messages';
/** `unique_args['k']="v"`, `to_email="x"`, `subject="…"`, `msg_id="…"`, `from_email="…"`, joined by AND. */
const ACTIVITY_TERM =
  /^\s*(unique_args\['([^']+)'\]|to_email|subject|msg_id|from_email)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/;

/** Fields each event type carries besides the common ones, as SendGrid's samples show them. */
const EVENT_FIELDS: Partial<Record<SendGridEventType, Record<string, unknown>>> = {
  delivered: { response: '250 OK', tls: 1 },
  deferred: { response: '400 try again later', attempt: '1' },
  dropped: { reason: 'Bounced Address', status: '5.0.0' },
  bounce: {
    reason: '550 5.1.1 The email account that you tried to reach does not exist.',
    status: '5.1.1',
    type: 'bounce',
    bounce_classification: 'Invalid Address',
  },
  open: { useragent: 'Mozilla/5.0', ip: '203.0.113.7', sg_machine_open: false },
  click: { url: 'https://example.com/', useragent: 'Mozilla/5.0', ip: '203.0.113.7' },
  group_unsubscribe: { asm_group_id: 1, useragent: 'Mozilla/5.0', ip: '203.0.113.7' },
  group_resubscribe: { asm_group_id: 1, useragent: 'Mozilla/5.0', ip: '203.0.113.7' },
};

const randomId = (): string => randomBytes(16).toString('base64url');

/**
 * A local fake of SendGrid's v3 Mail Send API (`POST /v3/mail/send`) that answers like the real one: Bearer key
 * (401), SendGrid's validation with its field names (400), a request budget with X-RateLimit-* headers (429 +
 * Retry-After), 202 with `X-Message-Id`. It keeps every accepted email, lists them at `GET /sandbox/messages?to=`
 * (sandbox-only, no key) and can post signed Event Webhook batches about them.
 *
 * Point the official SDK at it with `sendGridMailFor(fake.baseUrl, apiKey)` (sdk-clients.ts).
 */
export class FakeSendGrid extends FakeHttpApi {
  private readonly stored: FakeSendGridMessage[] = [];
  private readonly signingKey: KeyObject;
  private eventWebhookUrl: string | undefined;
  private readonly feedback = new Map<string, SendGridEventType[]>();
  private pendingEvents: SendGridEvent[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly activityRequests: number[] = [];
  /** Every batch the Event Webhook posted by itself, oldest first. */
  readonly postedBatches: PostedEventBatch[] = [];
  /** The Event Webhook verification key as SendGrid's settings page shows it: base64 of the DER (SPKI) key. */
  readonly eventWebhookPublicKey: string;

  constructor(private readonly options: FakeSendGridOptions = {}) {
    super(options);
    // A fresh P-256 pair per fake, as SendGrid makes one when signing is turned on.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    this.signingKey = privateKey;
    this.eventWebhookPublicKey = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    this.eventWebhookUrl = options.eventWebhookUrl;
  }

  /** Points the account's Event Webhook at `url` (undefined: no webhook, as with signing off). */
  setEventWebhook(url: string | undefined): void {
    this.eventWebhookUrl = url;
  }

  /**
   * What SendGrid will report about emails to `email` from now on: `bounce` or `dropped` instead of `delivered`,
   * or after it `open`, `click`, `spamreport`, `unsubscribe` (in the order given). Others get processed + delivered.
   */
  feedbackFor(email: string, events: SendGridEventType[]): void {
    this.feedback.set(email.toLowerCase(), events);
  }

  /** Posts the events gathered so far now, and waits until every batch posted so far was answered. */
  async flushEvents(): Promise<void> {
    this.postPending();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  override async stop(): Promise<void> {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.pendingEvents = [];
    await Promise.all([...this.inFlight]);
    await super.stop();
  }

  /** Every accepted email (one per personalization), oldest first. */
  get messages(): readonly FakeSendGridMessage[] {
    return [...this.stored];
  }

  /** The emails accepted after the first `start`, oldest first: a poller reads only what is new (no copy of all). */
  messagesSince(start: number): readonly FakeSendGridMessage[] {
    return this.stored.slice(start);
  }

  /** The accepted emails with `email` among their to, cc or bcc (case-insensitive). */
  messagesTo(email: string): FakeSendGridMessage[] {
    const wanted = email.toLowerCase();
    return this.stored.filter((m) =>
      [...m.to, ...m.cc, ...m.bcc].some((a) => a.email.toLowerCase() === wanted),
    );
  }

  override reset(): void {
    super.reset();
    this.stored.length = 0;
    this.feedback.clear();
    this.postedBatches.length = 0;
  }

  /**
   * An Event Webhook event about `message` as SendGrid would post it: its sg_message_id, its custom args at the top
   * level, its categories, and the type's usual fields; `fields` adds or overrides any (e.g. `{ url }` for a click).
   * `email` defaults to the first `to`.
   */
  eventFor(message: FakeSendGridMessage, event: SendGridEventType, fields: Json = {}): SendGridEvent {
    const categories = message.categories;
    return {
      ...message.customArgs,
      email: message.to[0]?.email ?? '',
      timestamp: Math.floor(this.now() / 1000),
      event,
      sg_event_id: randomId(),
      sg_message_id: message.sgMessageId,
      'smtp-id': `<${message.messageId}@sandbox.sendgrid.local>`,
      // One category comes as a string, several as an array.
      ...(categories.length === 0 ? {} : { category: categories.length === 1 ? categories[0] : categories }),
      ...EVENT_FIELDS[event],
      ...fields,
    };
  }

  /**
   * POSTs `events` to `url` as SendGrid's signed Event Webhook does: `X-Twilio-Email-Event-Webhook-Timestamp` and
   * `X-Twilio-Email-Event-Webhook-Signature` (ECDSA P-256 / SHA-256 over timestamp + raw body, base64 DER), to be
   * checked with `eventWebhookPublicKey`. The body is laid out as SendGrid's (events separated by ",\r\n", a trailing
   * "\r\n"), so a receiver that re-serializes the parsed JSON instead of verifying the raw bytes fails, as it would live.
   */
  async postEvents(url: string, events: SendGridEvent[]): Promise<WebhookDelivery> {
    return this.postSigned(url, `[${events.map((e) => JSON.stringify(e)).join(',\r\n')}]\r\n`);
  }

  /** POSTs `payload` as is, signed as the Event Webhook signs: for bodies SendGrid would never send (a receiver's 400). */
  async postSigned(url: string, payload: string): Promise<WebhookDelivery> {
    const timestamp = String(Math.floor(this.now() / 1000));
    const signature = sign('sha256', Buffer.from(timestamp + payload), this.signingKey).toString('base64');
    return postWebhook(url, payload, {
      'content-type': 'application/json;charset=utf-8',
      'user-agent': 'SendGrid Event API',
      'x-twilio-email-event-webhook-signature': signature,
      'x-twilio-email-event-webhook-timestamp': timestamp,
    });
  }

  protected sandboxMessages(to: string | undefined): readonly unknown[] {
    return to === undefined ? this.messages : this.messagesTo(to);
  }

  protected authenticate(exchange: Exchange): Reply | undefined {
    const header = exchange.headers.authorization ?? '';
    const key = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    const known = this.options.apiKey === undefined ? key.length > 0 : key === this.options.apiKey;
    if (known) return undefined;
    return this.error(401, 'The provided authorization grant is invalid, expired, or revoked');
  }

  protected error(status: number, message: string, headers: Record<string, string> = {}): Reply {
    return jsonReply(status, { errors: [{ message, field: null, help: null }] }, headers);
  }

  protected override rateLimitHeaders(state: RateLimitState): Record<string, string> {
    return {
      'x-ratelimit-limit': String(state.limit),
      'x-ratelimit-remaining': String(state.remaining),
      'x-ratelimit-reset': String(Math.ceil(state.resetAtMs / 1000)),
    };
  }

  protected route(exchange: Exchange): Reply {
    if (exchange.url.pathname === ACTIVITY) return this.activity(exchange);
    if (exchange.url.pathname !== MAIL_SEND) return this.error(404, 'resource not found');
    if (exchange.method !== 'POST') return this.error(405, 'method not allowed');
    let body: unknown;
    try {
      body = JSON.parse(exchange.body.toString('utf8'));
    } catch {
      return this.error(400, 'Bad Request');
    }
    if (!isRecord(body)) return this.error(400, 'Bad Request');
    const errors = mailSendErrors(body, exchange.at);
    if (errors.length > 0) return jsonReply(400, { errors });

    const messageId = randomId();
    const receivedAt = new Date(exchange.at).toISOString();
    (body['personalizations'] as Json[]).forEach((p, i) => {
      const message = acceptedMessage(body as Json, p, {
        messageId,
        sgMessageId: sgId(messageId, i),
        receivedAt,
      });
      this.stored.push(message);
      this.queueFeedback(message);
    });
    return { status: 202, headers: { 'x-message-id': messageId } };
  }

  /**
   * The Email Activity API's message filter: `query` in SendGrid's query language (the terms above, AND-ed), `limit`
   * 1–1000 (default 10), newest first, 6 requests a minute. Lists each accepted personalization's first recipient.
   */
  private activity(exchange: Exchange): Reply {
    if (exchange.method !== 'GET') return this.error(405, 'method not allowed');
    const perMinute = this.options.activityRequestsPerMinute ?? 6;
    while ((this.activityRequests[0] ?? Infinity) <= exchange.at - 60_000) this.activityRequests.shift();
    if (this.activityRequests.length >= perMinute) {
      const wait = Math.max(
        1,
        Math.ceil(((this.activityRequests[0] ?? exchange.at) + 60_000 - exchange.at) / 1000),
      );
      return this.error(429, 'too many requests', { 'retry-after': String(wait) });
    }
    this.activityRequests.push(exchange.at);
    const limitText = exchange.url.searchParams.get('limit') ?? '10';
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      return jsonReply(400, { errors: [{ field: 'limit', message: 'limit must be between 1 and 1000' }] });
    const terms: { field: string; arg?: string; value: string }[] = [];
    for (const part of (exchange.url.searchParams.get('query') ?? '').split(/\s+AND\s+/)) {
      if (part.trim() === '') continue;
      const match = ACTIVITY_TERM.exec(part);
      if (!match) return jsonReply(400, { errors: [{ field: 'query', message: `invalid query: ${part}` }] });
      const field = match[2] === undefined ? (match[1] as string) : 'unique_args';
      terms.push({ field, arg: match[2], value: (match[3] as string).replace(/\\(.)/g, '$1') });
    }
    const visibleBy = exchange.at - (this.options.activityDelayMs ?? 0);
    const messages = this.stored
      .filter((m) => Date.parse(m.receivedAt) <= visibleBy)
      .filter((m) =>
        terms.every((t) => {
          switch (t.field) {
            case 'unique_args':
              return m.customArgs[t.arg as string] === t.value;
            case 'to_email':
              return m.to.some((a) => a.email.toLowerCase() === t.value.toLowerCase());
            case 'subject':
              return m.subject === t.value;
            case 'msg_id':
              return m.sgMessageId === t.value;
            default:
              return m.from.email.toLowerCase() === t.value.toLowerCase();
          }
        }),
      )
      .reverse()
      .slice(0, limit)
      .map((m): ActivityMessage => ({
        from_email: m.from.email,
        msg_id: m.sgMessageId,
        subject: m.subject ?? '',
        to_email: m.to[0]?.email ?? '',
        status: 'delivered',
        opens_count: 0,
        clicks_count: 0,
        last_event_time: m.receivedAt,
      }));
    return jsonReply(200, { messages });
  }

  /** The events SendGrid would report about an accepted email, one set per recipient, gathered into the next batch. */
  private queueFeedback(message: FakeSendGridMessage): void {
    if (this.eventWebhookUrl === undefined) return;
    for (const { email } of [...message.to, ...message.cc, ...message.bcc]) {
      const configured = this.feedback.get(email.toLowerCase()) ?? [];
      const refused = configured.find((e) => e === 'bounce' || e === 'dropped');
      const types: SendGridEventType[] = refused
        ? ['processed', refused]
        : ['processed', 'delivered', ...configured.filter((e) => e !== 'processed' && e !== 'delivered')];
      this.pendingEvents.push(...types.map((type) => this.eventFor(message, type, { email })));
    }
    this.batchTimer ??= setTimeout(() => this.postPending(), this.options.eventBatchMs ?? 100);
  }

  private postPending(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    const url = this.eventWebhookUrl;
    if (this.pendingEvents.length === 0 || url === undefined) return;
    const events = this.pendingEvents;
    this.pendingEvents = [];
    const posting = this.postBatch(url, events).finally(() => this.inFlight.delete(posting));
    this.inFlight.add(posting);
  }

  /** One batch, retried while the receiver answers other than 2xx (each attempt freshly signed). */
  private async postBatch(url: string, events: SendGridEvent[]): Promise<void> {
    const attempts = this.options.eventWebhookAttempts ?? 3;
    let delivery: PostedEventBatch['delivery'] = { url, status: 0, body: '' };
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        delivery = await this.postEvents(url, events);
      } catch (error) {
        delivery = { url, status: 0, body: (error as Error).message };
      }
      if ((delivery.status >= 200 && delivery.status < 300) || attempt === attempts) {
        this.postedBatches.push({ events, delivery, attempts: attempt });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, this.options.eventWebhookRetryMs ?? 1_000));
    }
  }

  /** SendGrid's checks, each failure named by its field as SendGrid names it; all of them, not just the first. */
}

const sgId = (messageId: string, index: number): string => `${messageId}.filterdrecv-sandbox-${index}.0`;

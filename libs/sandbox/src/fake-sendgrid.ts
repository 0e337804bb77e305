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
const HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';
// SendGrid's address check is loose; this refuses what it refuses in practice (no @, spaces, no dot in the domain).
const EMAIL = /^[^\s@"<>(),;:]+@[^\s@"<>(),;:]+\.[^\s@"<>(),;:]+$/;
const MAX_PERSONALIZATIONS = 1000;
const MAX_RECIPIENTS = 1000;
const MAX_SEND_AT_AHEAD_SECONDS = 72 * 3600;

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

interface FieldError {
  message: string;
  field: string | null;
  help: string | null;
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
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
    const errors = this.validate(body, exchange.at);
    if (errors.length > 0) return jsonReply(400, { errors });

    const messageId = randomId();
    const receivedAt = new Date(exchange.at).toISOString();
    (body['personalizations'] as Json[]).forEach((p, i) => {
      const message = this.accepted(body as Json, p, {
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
  private validate(body: Json, at: number): FieldError[] {
    const errors: FieldError[] = [];
    const fail: Fail = (field, message, help = null) => {
      errors.push({ message, field, help });
    };
    const templated = nonEmptyString(body['template_id']);

    const personalizations = body['personalizations'];
    if (!Array.isArray(personalizations) || personalizations.length === 0) {
      fail(
        'personalizations',
        'The personalizations field is required and must have at least one personalization.',
        `${HELP}#-Personalizations-Errors`,
      );
    } else if (personalizations.length > MAX_PERSONALIZATIONS) {
      fail(
        'personalizations',
        `The personalizations field is limited to ${MAX_PERSONALIZATIONS} personalization objects`,
        `${HELP}#-Personalizations-Errors`,
      );
    } else {
      let recipients = 0;
      personalizations.forEach((p: unknown, i) => {
        const path = `personalizations.${i}`;
        const personalization = isRecord(p) ? p : {};
        const to = personalization['to'];
        if (!Array.isArray(to) || to.length === 0)
          fail(
            `${path}.to`,
            'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
            `${HELP}#message.personalizations.to`,
          );
        const seen = new Set<string>();
        for (const kind of ['to', 'cc', 'bcc'] as const) {
          const list = personalization[kind];
          if (list === undefined) continue;
          if (!Array.isArray(list)) {
            fail(`${path}.${kind}`, `Invalid type. Expected: array, given: ${typeof list}.`);
            continue;
          }
          list.forEach((address: unknown, j) => {
            const email = isRecord(address) ? address['email'] : undefined;
            if (typeof email !== 'string' || !EMAIL.test(email)) {
              fail(
                `${path}.${kind}.${j}.email`,
                'Does not contain a valid address.',
                `${HELP}#message.personalizations.${kind}`,
              );
              return;
            }
            recipients += 1;
            const key = email.toLowerCase();
            if (seen.has(key))
              fail(
                `${path}.${kind}`,
                `Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [${email}] in the ${path}.${kind} field.`,
                `${HELP}#message.recipient_errors`,
              );
            seen.add(key);
          });
        }
        checkCustomArgs(personalization['custom_args'], `${path}.custom_args`, fail);
        checkSendAt(personalization['send_at'], `${path}.send_at`, at, fail);
      });
      if (recipients > MAX_RECIPIENTS)
        fail(
          'personalizations',
          `The total number of recipients must be no more than ${MAX_RECIPIENTS}. This includes all recipients defined within the to, cc, and bcc parameters, across each object that you include in the personalizations array.`,
          `${HELP}#-Personalizations-Errors`,
        );
    }

    const from = body['from'];
    const fromEmail = isRecord(from) ? from['email'] : undefined;
    if (!nonEmptyString(fromEmail))
      fail(
        'from.email',
        'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.',
        `${HELP}#message.from`,
      );
    else if (!EMAIL.test(fromEmail))
      fail('from.email', 'The from email does not contain a valid address.', `${HELP}#message.from`);

    const everyPersonalizationHasSubject =
      Array.isArray(personalizations) &&
      personalizations.length > 0 &&
      personalizations.every((p: unknown) => isRecord(p) && nonEmptyString(p['subject']));
    if (!templated && !nonEmptyString(body['subject']) && !everyPersonalizationHasSubject)
      fail(
        'subject',
        'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
        `${HELP}#message.subject`,
      );

    const content = body['content'];
    const blocks = Array.isArray(content) ? content.filter(isRecord) : [];
    const hasBody = blocks.some((b) => b['type'] === 'text/plain' || b['type'] === 'text/html');
    if (!templated && !hasBody)
      fail(
        'content',
        'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
        `${HELP}#message.content`,
      );
    blocks.forEach((block, k) => {
      if (!nonEmptyString(block['value']))
        fail(
          `content.${k}.value`,
          'The content value must be a string at least one character in length.',
          `${HELP}#message.content.value`,
        );
    });
    const types = blocks.map((b) => b['type']);
    const plain = types.indexOf('text/plain');
    const html = types.indexOf('text/html');
    // text/plain first when present, then text/html, then anything else.
    if (plain > 0 || (html >= 0 && html !== (plain === 0 ? 1 : 0)))
      fail(
        'content',
        'If present, text/plain content must be first, followed by text/html, followed by any other content.',
        `${HELP}#message.content.type`,
      );

    checkCustomArgs(body['custom_args'], 'custom_args', fail);
    checkSendAt(body['send_at'], 'send_at', at, fail);
    return errors;
  }

  private accepted(
    body: Json,
    p: Json,
    ids: { messageId: string; sgMessageId: string; receivedAt: string },
  ): FakeSendGridMessage {
    const blocks = (Array.isArray(body['content']) ? body['content'] : []).filter(isRecord);
    const valueOf = (type: string) => {
      const value = blocks.find((b) => b['type'] === type)?.['value'];
      return typeof value === 'string' ? value : undefined;
    };
    const subject = nonEmptyString(p['subject']) ? p['subject'] : body['subject'];
    const sendAt = p['send_at'] ?? body['send_at'];
    const templateData = p['dynamic_template_data'];
    return {
      ...ids,
      to: addresses(p['to']),
      cc: addresses(p['cc']),
      bcc: addresses(p['bcc']),
      from: address(body['from']) ?? { email: '' },
      ...optional('replyTo', address(body['reply_to'])),
      ...optional('subject', typeof subject === 'string' ? subject : undefined),
      ...optional('text', valueOf('text/plain')),
      ...optional('html', valueOf('text/html')),
      ...optional('templateId', nonEmptyString(body['template_id']) ? body['template_id'] : undefined),
      ...optional('dynamicTemplateData', isRecord(templateData) ? templateData : undefined),
      headers: { ...strings(body['headers']), ...strings(p['headers']) },
      customArgs: { ...strings(body['custom_args']), ...strings(p['custom_args']) },
      categories: Array.isArray(body['categories'])
        ? body['categories'].filter((c): c is string => typeof c === 'string')
        : [],
      ...optional('sendAt', typeof sendAt === 'number' ? sendAt : undefined),
    };
  }
}

const sgId = (messageId: string, index: number): string => `${messageId}.filterdrecv-sandbox-${index}.0`;

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Partial<Record<K, V>>);
}

function address(value: unknown): SendGridAddress | undefined {
  if (!isRecord(value) || typeof value['email'] !== 'string') return undefined;
  return nonEmptyString(value['name'])
    ? { email: value['email'], name: value['name'] }
    : { email: value['email'] };
}

function addresses(value: unknown): SendGridAddress[] {
  return Array.isArray(value) ? value.map(address).filter((a): a is SendGridAddress => a !== undefined) : [];
}

function strings(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

type Fail = (field: string | null, message: string, help?: string | null) => void;

/** Custom args travel back in events as strings, so SendGrid refuses any other type. */
function checkCustomArgs(value: unknown, field: string, fail: Fail): void {
  if (value === undefined) return;
  if (!isRecord(value)) return fail(field, `Invalid type. Expected: object, given: ${jsonType(value)}.`);
  for (const [key, arg] of Object.entries(value))
    if (typeof arg !== 'string')
      fail(`${field}.${key}`, `Invalid type. Expected: string, given: ${jsonType(arg)}.`);
}

function checkSendAt(value: unknown, field: string, at: number, fail: Fail): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value > at / 1000 + MAX_SEND_AT_AHEAD_SECONDS)
    fail(
      field,
      'The send_at parameter must be a unix timestamp no more than 72 hours in the future.',
      `${HELP}#message.send_at`,
    );
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

import { createHmac, randomBytes } from 'node:crypto';
import {
  FakeHttpApi,
  jsonReply,
  postWebhook,
  type Exchange,
  type FakeHttpApiOptions,
  type Reply,
  type WebhookDelivery,
} from './fake-http';

export interface FakeTwilioOptions extends FakeHttpApiOptions {
  /** The account the fake serves ("AC" + 32 hex); the Basic auth user and the `{AccountSid}` in every path. */
  accountSid: string;
  /** The Basic auth password; also the key status callbacks are signed with. */
  authToken: string;
  /**
   * Whether a repeated `I-Twilio-Idempotency-Token` on create returns the first message (default true). Twilio puts
   * that header on the webhooks it sends; its Messages API does not document deduplicating on it, so a client whose
   * safety rests on it should also be tested with this off (what live Twilio guarantees).
   */
  idempotencyTokens?: boolean;
  /**
   * Set, the fake moves every message created with a StatusCallback to `sent` and then `delivered` (or what
   * `failDeliveryTo` says for its number) by itself, posting each signed callback this long after the last.
   */
  statusCallbackDelayMs?: number;
  /** The account's number that `receiveSms` texts arrive at; default +15005550006 (Twilio's test number). */
  phoneNumber?: string;
  /** The number's "a message comes in" webhook URL (Twilio's SmsUrl); also `setSmsUrl`. */
  smsUrl?: string;
}

export type TwilioMessageStatus =
  | 'accepted'
  | 'scheduled'
  | 'queued'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'undelivered'
  | 'failed'
  | 'read'
  | 'canceled';

/** One created message, flat; served in Twilio's Message resource shape. */
export interface FakeTwilioMessage {
  sid: string;
  accountSid: string;
  to: string;
  /** Null when sent through a Messaging Service without a From. */
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  mediaUrls: string[];
  statusCallback: string | null;
  status: TwilioMessageStatus;
  numSegments: number;
  errorCode: number | null;
  idempotencyToken: string | null;
  /** ISO time the fake created it. */
  receivedAt: string;
  /** ISO time of the last status change. */
  updatedAt: string;
  /** ISO time it went out (`sent`/`delivered`), null before. */
  sentAt: string | null;
}

const API_VERSION = '2010-04-01';
const CREATE = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;
const FETCH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\/(SM[0-9a-f]{32})\.json$/;
/** A list page holds at most this many messages (Twilio's PageSize limit); 50 unless asked. */
const MAX_PAGE_SIZE = 1000;
const E164 = /^\+[1-9]\d{1,14}$/;
/** An alphanumeric sender id (1-11 letters, digits, spaces, at least one letter) or a short code. */
const SENDER_ID = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$|^\d{3,6}$/;
const MAX_BODY_CHARS = 1600;
// Twilio's default opt-out, opt-in and help keywords (Advanced Opt-Out names the matched one in OptOutType).
const OPT_OUT_WORDS = new Set([
  'STOP',
  'STOPALL',
  'UNSUBSCRIBE',
  'CANCEL',
  'END',
  'QUIT',
  'OPTOUT',
  'REVOKE',
]);
const OPT_IN_WORDS = new Set(['START', 'UNSTOP', 'YES']);
const HELP_WORDS = new Set(['HELP', 'INFO']);
const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

// GSM 03.38: a body in these characters goes 160 per segment (153 when split); the extension ones cost two.
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM_EXTENDED = new Set('\f^{}\\[~]|€');

/** Segments the way carriers count them: GSM-7 when every character allows it, UCS-2 (UTF-16 units) otherwise. */
export function smsSegments(body: string): number {
  const chars = [...body];
  if (chars.every((c) => GSM_BASIC.has(c) || GSM_EXTENDED.has(c))) {
    const units = chars.reduce((n, c) => n + (GSM_EXTENDED.has(c) ? 2 : 1), 0);
    return units <= 160 ? 1 : Math.ceil(units / 153);
  }
  return body.length <= 70 ? 1 : Math.ceil(body.length / 67);
}

/** RFC 2822 in UTC, as Twilio writes `date_created`. */
const rfc2822 = (iso: string): string => new Date(iso).toUTCString().replace(/GMT$/, '+0000');

/** Twilio's request signature: HMAC-SHA1 of the URL followed by each POST parameter (sorted) name and value. */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf-8')).digest('base64');
}

/**
 * A local fake of Twilio's Programmable Messaging API that answers like the real one: HTTP Basic auth with the account
 * SID and auth token (401, code 20003), Twilio's validation errors (21211, 21212, 21602, 21603, 21604, 21610, 21617),
 * a request budget (429, code 20429, Retry-After), 201 with a Message resource. It keeps every message, lists them at
 * `GET /sandbox/messages?to=` (sandbox-only, no auth) and posts signed status callbacks (`deliver`).
 *
 * Point the official SDK at it with `twilioClientFor(fake.baseUrl, accountSid, authToken)` (sdk-clients.ts).
 */
export class FakeTwilio extends FakeHttpApi {
  private readonly stored: FakeTwilioMessage[] = [];
  private readonly idempotency = new Map<string, { sid: string; at: number }>();
  private readonly optedOut = new Set<string>();
  private readonly deliveryFailures = new Map<
    string,
    { status: 'undelivered' | 'failed'; errorCode?: number }
  >();
  private readonly inFlight = new Set<Promise<void>>();
  private smsUrl: string | undefined;
  /** Every status callback the fake posted by itself (statusCallbackDelayMs), oldest first. */
  readonly postedCallbacks: WebhookDelivery[] = [];

  constructor(private readonly options: FakeTwilioOptions) {
    super(options);
    this.smsUrl = options.smsUrl;
  }

  /** Points the number's incoming-message webhook at `url`. */
  setSmsUrl(url: string | undefined): void {
    this.smsUrl = url;
  }

  /** Texts to `phone` end `undelivered` (30003 unless `errorCode`) or `failed` (30008) instead of `delivered`. */
  failDeliveryTo(phone: string, status: 'undelivered' | 'failed', errorCode?: number): void {
    this.deliveryFailures.set(phone, { status, ...(errorCode === undefined ? {} : { errorCode }) });
  }

  /** Waits until every status callback the fake is posting by itself was answered. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  override async stop(): Promise<void> {
    await this.settled();
    await super.stop();
  }

  /**
   * `from` texts `body` to the account's number: POSTs Twilio's incoming-message webhook to the SmsUrl, form-encoded
   * and signed. STOP (and Twilio's other opt-out words) opts `from` out as Twilio's default opt-out handling does
   * (later sends to it get 21610, and the webhook carries `OptOutType`); START opts back in.
   */
  async receiveSms(from: string, body: string, options: { to?: string } = {}): Promise<WebhookDelivery> {
    const url = this.smsUrl;
    if (!url) throw new Error('FakeTwilio: no SmsUrl configured for the number');
    const word = body.trim().toUpperCase();
    const optOutType = OPT_OUT_WORDS.has(word)
      ? 'STOP'
      : OPT_IN_WORDS.has(word)
        ? 'START'
        : HELP_WORDS.has(word)
          ? 'HELP'
          : undefined;
    if (optOutType === 'STOP') this.optedOut.add(from);
    if (optOutType === 'START') this.optedOut.delete(from);
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const params: Record<string, string> = {
      ToCountry: 'US',
      ToState: 'CA',
      SmsMessageSid: sid,
      NumMedia: '0',
      ToCity: '',
      FromZip: '',
      SmsSid: sid,
      FromState: '',
      SmsStatus: 'received',
      FromCity: '',
      Body: body,
      FromCountry: '',
      To: options.to ?? this.options.phoneNumber ?? '+15005550006',
      ToZip: '',
      NumSegments: String(smsSegments(body)),
      MessageSid: sid,
      AccountSid: this.options.accountSid,
      From: from,
      ApiVersion: API_VERSION,
      ...(optOutType === undefined ? {} : { OptOutType: optOutType }),
    };
    return postWebhook(url, new URLSearchParams(params).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      'user-agent': 'TwilioProxy/1.1',
      'x-twilio-signature': twilioSignature(this.options.authToken, url, params),
      'i-twilio-idempotency-token': randomBytes(16).toString('hex'),
    });
  }

  /** sent, then delivered (or the configured failure), each callback `statusCallbackDelayMs` after the last. */
  private scheduleCallbacks(message: FakeTwilioMessage): void {
    const delay = this.options.statusCallbackDelayMs;
    if (delay === undefined || !message.statusCallback) return;
    const failure = this.deliveryFailures.get(message.to);
    const run = async () => {
      // A text the carrier refuses outright goes straight to failed; an undelivered one was sent first.
      const statuses: TwilioMessageStatus[] =
        failure?.status === 'failed' ? ['failed'] : ['sent', failure?.status ?? 'delivered'];
      for (const status of statuses) {
        await new Promise((resolve) => setTimeout(resolve, delay));
        try {
          this.postedCallbacks.push(
            await this.deliver(
              message.sid,
              status,
              failure?.errorCode === undefined ? {} : { errorCode: failure.errorCode },
            ),
          );
        } catch (error) {
          this.postedCallbacks.push({
            url: message.statusCallback ?? '',
            status: 0,
            body: (error as Error).message,
          });
        }
      }
    };
    const posting = run().finally(() => this.inFlight.delete(posting));
    this.inFlight.add(posting);
  }

  /** Every created message, oldest first. */
  get messages(): readonly FakeTwilioMessage[] {
    return [...this.stored];
  }

  messagesTo(to: string): FakeTwilioMessage[] {
    return this.stored.filter((m) => m.to === to);
  }

  /** The recipient replied STOP: sends to it get 400 with code 21610 from now on. */
  optOut(phone: string): void {
    this.optedOut.add(phone);
  }

  override reset(): void {
    super.reset();
    this.stored.length = 0;
    this.idempotency.clear();
    this.optedOut.clear();
    this.deliveryFailures.clear();
    this.postedCallbacks.length = 0;
  }

  /**
   * Moves message `sid` to `status` and POSTs Twilio's status callback to its StatusCallback URL, form-encoded and
   * signed (`X-Twilio-Signature`, see `twilioSignature`), with a fresh `I-Twilio-Idempotency-Token` as Twilio's
   * webhooks carry. `undelivered`/`failed` carry an ErrorCode (30003/30008 unless `errorCode` is given).
   */
  async deliver(
    sid: string,
    status: TwilioMessageStatus,
    options: { errorCode?: number } = {},
  ): Promise<WebhookDelivery> {
    const message = this.stored.find((m) => m.sid === sid);
    if (!message) throw new Error(`FakeTwilio: no message ${sid}`);
    if (!message.statusCallback)
      throw new Error(`FakeTwilio: message ${sid} was created without a StatusCallback`);
    const now = new Date(this.now()).toISOString();
    message.status = status;
    message.updatedAt = now;
    if ((status === 'sent' || status === 'delivered') && message.sentAt === null) message.sentAt = now;
    const failed = status === 'undelivered' || status === 'failed';
    message.errorCode = failed ? (options.errorCode ?? (status === 'undelivered' ? 30003 : 30008)) : null;

    const params: Record<string, string> = {
      AccountSid: message.accountSid,
      ApiVersion: API_VERSION,
      MessageSid: message.sid,
      MessageStatus: status,
      SmsSid: message.sid,
      SmsStatus: status,
      To: message.to,
      ...(message.from === null ? {} : { From: message.from }),
      ...(message.messagingServiceSid === null ? {} : { MessagingServiceSid: message.messagingServiceSid }),
      ...(message.errorCode === null ? {} : { ErrorCode: String(message.errorCode) }),
    };
    return postWebhook(message.statusCallback, new URLSearchParams(params).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      'user-agent': 'TwilioProxy/1.1',
      'x-twilio-signature': twilioSignature(this.options.authToken, message.statusCallback, params),
      'i-twilio-idempotency-token': randomBytes(16).toString('hex'),
    });
  }

  /**
   * `POST /sandbox/inbound` (form or JSON `From`, `Body`): a text from `From` arrives at the number, as `receiveSms`
   * (the `npm start` sandbox's way to send a STOP). Answers what the SmsUrl answered.
   */
  protected override sandboxRoute(exchange: Exchange): Promise<Reply> | undefined {
    if (exchange.url.pathname !== '/sandbox/inbound') return undefined;
    if (exchange.method !== 'POST') return Promise.resolve(this.error(405, 'Method not allowed'));
    const raw = exchange.body.toString('utf8');
    let fields: Record<string, unknown>;
    try {
      fields = raw.trimStart().startsWith('{')
        ? (JSON.parse(raw) as Record<string, unknown>)
        : Object.fromEntries(new URLSearchParams(raw));
    } catch {
      return Promise.resolve(twilioError(400, 21602, 'Body must be a form or JSON with From and Body.'));
    }
    const from = typeof fields['From'] === 'string' ? fields['From'] : '';
    const body = typeof fields['Body'] === 'string' ? fields['Body'] : '';
    if (!E164.test(from))
      return Promise.resolve(twilioError(400, 21211, `Invalid 'From' Phone Number: ${from}`));
    if (!this.smsUrl) return Promise.resolve(this.error(409, 'No SmsUrl is configured for the number'));
    return this.receiveSms(from, body).then(
      (delivery) => jsonReply(200, { smsUrl: delivery.url, status: delivery.status, answer: delivery.body }),
      (error: unknown) => this.error(502, `SmsUrl did not answer: ${(error as Error).message}`),
    );
  }

  protected sandboxMessages(to: string | undefined): readonly unknown[] {
    return to === undefined ? this.messages : this.messagesTo(to);
  }

  protected authenticate(exchange: Exchange): Reply | undefined {
    const header = exchange.headers.authorization ?? '';
    const expected = Buffer.from(`${this.options.accountSid}:${this.options.authToken}`).toString('base64');
    if (header === `Basic ${expected}`) return undefined;
    return this.error(401, 'Authenticate', { 'www-authenticate': 'Basic realm="Twilio API"' });
  }

  /** Twilio's error body; its 20xxx codes mirror the HTTP status (20404, 20429, 20500, 20503), but 401 is 20003. */
  protected error(status: number, message: string, headers: Record<string, string> = {}): Reply {
    return twilioError(status, status === 401 ? 20003 : 20000 + status, message, headers);
  }

  protected route(exchange: Exchange): Reply {
    const { pathname } = exchange.url;
    const create = CREATE.exec(pathname);
    const fetched = FETCH.exec(pathname);
    const account = create?.[1] ?? fetched?.[1];
    if (account !== this.options.accountSid)
      return this.error(404, `The requested resource ${pathname} was not found`);
    if (create && exchange.method === 'POST') return this.create(exchange);
    if (create && exchange.method === 'GET') return this.list(exchange);
    if (fetched && exchange.method === 'GET') {
      const message = this.stored.find((m) => m.sid === fetched[2]);
      return message
        ? jsonReply(200, resource(message))
        : this.error(404, `The requested resource ${pathname} was not found`);
    }
    return this.error(405, 'Method not allowed');
  }

  /**
   * Messages, newest first, as Twilio's read: `To` and `From` filters, `DateSent` / `DateSent<` / `DateSent>` on the
   * time it went out (a message not sent yet has none, so it is not matched), `PageSize` (1-1000, default 50) and
   * `Page` with the `PageToken` of the `next_page_uri` the previous page gave.
   */
  private list(exchange: Exchange): Reply {
    const query = exchange.url.searchParams;
    const pageSize = Number(query.get('PageSize') ?? 50);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE)
      return twilioError(400, 20001, `PageSize must be between 1 and ${MAX_PAGE_SIZE}`);
    const page = Number(query.get('Page') ?? 0);
    if (!Number.isInteger(page) || page < 0) return twilioError(400, 20001, 'Page must be a whole number');
    const time = (name: string): number | undefined | null => {
      const text = query.get(name);
      if (text === null) return undefined;
      const at = Date.parse(text);
      return Number.isNaN(at) ? null : at;
    };
    const on = time('DateSent');
    const before = time('DateSent<');
    const after = time('DateSent>');
    if (on === null || before === null || after === null)
      return twilioError(400, 20001, 'DateSent must be an ISO 8601 date or date-time');
    const to = query.get('To');
    const from = query.get('From');
    const matching = this.stored
      .filter((m) => (to === null || m.to === to) && (from === null || m.from === from))
      .filter((m) => {
        if (on === undefined && before === undefined && after === undefined) return true;
        if (m.sentAt === null) return false;
        const sent = Date.parse(m.sentAt);
        const day = new Date(sent).toISOString().slice(0, 10);
        return (
          (on === undefined || day === new Date(on).toISOString().slice(0, 10)) &&
          (before === undefined || sent <= before) &&
          (after === undefined || sent >= after)
        );
      })
      .reverse();
    const messages = matching.slice(page * pageSize, (page + 1) * pageSize);
    const base = `/${API_VERSION}/Accounts/${this.options.accountSid}/Messages.json`;
    const pageUri = (n: number, token?: string): string => {
      const params = new URLSearchParams(query);
      params.set('PageSize', String(pageSize));
      params.set('Page', String(n));
      if (token) params.set('PageToken', token);
      else params.delete('PageToken');
      return `${base}?${params.toString()}`;
    };
    const last = messages.at(-1);
    const more = (page + 1) * pageSize < matching.length;
    return jsonReply(200, {
      messages: messages.map(resource),
      start: page * pageSize,
      end: page * pageSize + Math.max(messages.length - 1, 0),
      page,
      page_size: pageSize,
      uri: pageUri(page, query.get('PageToken') ?? undefined),
      first_page_uri: pageUri(0),
      next_page_uri: more && last ? pageUri(page + 1, `PA${last.sid}`) : null,
      previous_page_uri: page > 0 ? pageUri(page - 1) : null,
    });
  }

  private create(exchange: Exchange): Reply {
    const form = new URLSearchParams(exchange.body.toString('utf8'));
    const to = form.get('To') ?? '';
    const from = form.get('From') ?? '';
    const service = form.get('MessagingServiceSid') ?? '';
    const body = form.get('Body') ?? '';
    const mediaUrls = form.getAll('MediaUrl');
    const statusCallback = form.get('StatusCallback') ?? '';

    const header = exchange.headers['i-twilio-idempotency-token'];
    const token = (Array.isArray(header) ? header[0] : header) ?? '';
    if (token && this.options.idempotencyTokens !== false) {
      const seen = this.idempotency.get(token);
      const original =
        seen && exchange.at - seen.at < IDEMPOTENCY_TTL_MS && this.stored.find((m) => m.sid === seen.sid);
      if (original) return jsonReply(201, resource(original));
    }

    if (!to) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!E164.test(to.replace(/^whatsapp:/, '')))
      return twilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`);
    if (!from && !service) return twilioError(400, 21603, "A 'From' phone number is required.");
    if (from && !E164.test(from.replace(/^whatsapp:/, '')) && !SENDER_ID.test(from))
      return twilioError(400, 21212, `Invalid From Number (caller ID): ${from}`);
    if (!body && mediaUrls.length === 0 && !form.get('ContentSid'))
      return twilioError(400, 21602, 'Message body is required.');
    if (body.length > MAX_BODY_CHARS)
      return twilioError(
        400,
        21617,
        `The concatenated message body exceeds the ${MAX_BODY_CHARS} character limit.`,
      );
    if (statusCallback && !/^https?:\/\/[^/]/.test(statusCallback))
      return twilioError(400, 21609, `Invalid StatusCallback url: ${statusCallback}`);
    if (this.optedOut.has(to)) return twilioError(400, 21610, 'Attempt to send to unsubscribed recipient');

    const at = new Date(exchange.at).toISOString();
    const message: FakeTwilioMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      accountSid: this.options.accountSid,
      to,
      from: from || null,
      messagingServiceSid: service || null,
      body,
      mediaUrls,
      statusCallback: statusCallback || null,
      // A Messaging Service takes the message first and picks the sender later.
      status: from ? 'queued' : 'accepted',
      numSegments: smsSegments(body),
      errorCode: null,
      idempotencyToken: token || null,
      receivedAt: at,
      updatedAt: at,
      sentAt: null,
    };
    this.stored.push(message);
    if (token) this.idempotency.set(token, { sid: message.sid, at: exchange.at });
    this.scheduleCallbacks(message);
    return jsonReply(201, resource(message));
  }
}

function twilioError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): Reply {
  return jsonReply(
    status,
    { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
    headers,
  );
}

/** The Message resource as Twilio serves it (snake case, dates in RFC 2822, counts as strings). */
function resource(m: FakeTwilioMessage): Record<string, unknown> {
  const uri = `/${API_VERSION}/Accounts/${m.accountSid}/Messages/${m.sid}`;
  return {
    account_sid: m.accountSid,
    api_version: API_VERSION,
    body: m.body,
    date_created: rfc2822(m.receivedAt),
    date_sent: m.sentAt === null ? null : rfc2822(m.sentAt),
    date_updated: rfc2822(m.updatedAt),
    direction: 'outbound-api',
    error_code: m.errorCode,
    error_message: null,
    from: m.from,
    messaging_service_sid: m.messagingServiceSid,
    num_media: String(m.mediaUrls.length),
    num_segments: String(m.numSegments),
    price: null,
    price_unit: 'USD',
    sid: m.sid,
    status: m.status,
    subresource_uris: { media: `${uri}/Media.json`, feedback: `${uri}/Feedback.json` },
    to: m.to,
    uri: `${uri}.json`,
  };
}

import type { FieldProblem } from '../leads/field-problem';

/**
 * Provider webhooks as delivery facts: SendGrid's Event Webhook events and Twilio's status callbacks and inbound
 * texts, each mapped to one `messages.deliveries` event name (or ignored, or refused with the fields at fault). Pure:
 * the intake verifies, dedupes and publishes.
 */

export type DeliveryProvider = 'sendgrid' | 'twilio';
export type DeliveryChannel = 'email' | 'sms';

/** What a delivery fact says happened, as orchestration and reporting read it. */
export type DeliveryEventName =
  | 'processed'
  | 'delivered'
  | 'deferred'
  | 'bounced'
  | 'blocked'
  | 'dropped'
  | 'opened'
  | 'clicked'
  | 'spam_report'
  | 'unsubscribed'
  | 'sms_sent'
  | 'sms_delivered'
  | 'sms_undelivered'
  | 'sms_failed'
  | 'sms_read'
  | 'sms_stop'
  | 'sms_start'
  | 'sms_help'
  | 'sms_received';

/** One provider event, mapped; `messages.deliveries` adds the envelope. */
export interface DeliveryFact {
  provider: DeliveryProvider;
  channel: DeliveryChannel;
  event: DeliveryEventName;
  providerEvent: string;
  providerEventId: string;
  providerMessageId: string | null;
  messageKey: string | null;
  /** Lower-case email or E.164 phone: never logged (see maskAddress). */
  address: string;
  reason: string | null;
  permanent: boolean;
  /** The provider's time of the event, epoch ms (an inbound text's: when it reached us). */
  occurredAt: number;
}

/** What became of one event of a webhook: mapped, ignored (a type nobody acts on), or refused with its problems. */
export type MappedDelivery =
  | { index: number | null; outcome: 'mapped'; fact: DeliveryFact }
  | { index: number | null; outcome: 'ignored'; providerEvent: string; reason: string }
  | { index: number | null; outcome: 'rejected'; item: unknown; problems: FieldProblem[] };

/** The message key and workspace orchestration puts in SendGrid's custom_args (events carry them at the top level). */
export const SENDGRID_MESSAGE_KEY_ARG = 'tributary_message_key';
export const SENDGRID_WORKSPACE_ARG = 'workspace_id';
/** The query parameter of a text's StatusCallback URL that carries the message key back. */
export const TWILIO_MESSAGE_KEY_PARAM = 'messageKey';

/** SendGrid posts batches of up to a few thousand events; more in one request is not SendGrid. */
export const SENDGRID_MAX_EVENTS = 5_000;
const MAX_REASON_CHARS = 500;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
const E164 = /^\+[1-9]\d{1,14}$/;
const TWILIO_SID = /^(SM|MM)[0-9a-f]{32}$/;

/** `a***@example.com`, `+49***78`: enough to recognise an address in a log, never the address itself. */
export function maskAddress(address: string): string {
  const at = address.indexOf('@');
  if (at > 0) return `${address[0] ?? ''}***${address.slice(at)}`;
  return address.length > 6 ? `${address.slice(0, 3)}***${address.slice(-2)}` : '***';
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const text = (value: unknown): string | null =>
  typeof value === 'string' && value.length > 0 ? value : null;
const reasonText = (value: unknown): string | null => {
  const reason = typeof value === 'number' ? String(value) : text(value);
  return reason === null ? null : reason.slice(0, MAX_REASON_CHARS);
};

/** SendGrid's drop reasons that name the address itself: it will be dropped again, so it is suppressed. */
const PERMANENT_DROPS = ['bounced address', 'invalid', 'spam reporting address', 'unsubscribed address'];

/** SendGrid event → our name; `bounce` splits on its `type` (a `blocked` bounce is a soft, temporary refusal). */
function sendGridEventName(
  event: string,
  payload: Json,
): { event: DeliveryEventName; permanent: boolean } | null {
  switch (event) {
    case 'processed':
      return { event: 'processed', permanent: false };
    case 'delivered':
      return { event: 'delivered', permanent: false };
    case 'deferred':
      return { event: 'deferred', permanent: false };
    case 'bounce':
      return payload['type'] === 'blocked'
        ? { event: 'blocked', permanent: false }
        : { event: 'bounced', permanent: true };
    case 'dropped': {
      const reason = (text(payload['reason']) ?? '').toLowerCase();
      return { event: 'dropped', permanent: PERMANENT_DROPS.some((r) => reason.startsWith(r)) };
    }
    case 'open':
      return { event: 'opened', permanent: false };
    case 'click':
      return { event: 'clicked', permanent: false };
    case 'spamreport':
      return { event: 'spam_report', permanent: false };
    // Journeys send no ASM groups: leaving any group of ours is leaving our marketing.
    case 'unsubscribe':
    case 'group_unsubscribe':
      return { event: 'unsubscribed', permanent: false };
    default:
      return null;
  }
}

/** One Event Webhook event: its identity, recipient and time are required; SendGrid always sends them. */
function sendGridDelivery(payload: unknown, index: number, workspaceId: string): MappedDelivery {
  const at = `[${index}]`;
  if (!isObject(payload))
    return {
      index,
      outcome: 'rejected',
      item: payload,
      problems: [{ field: at, reason: 'must be an object' }],
    };
  const problems: FieldProblem[] = [];
  const event = text(payload['event']);
  const eventId = text(payload['sg_event_id']);
  const email = text(payload['email'])?.trim().toLowerCase() ?? null;
  const timestamp = payload['timestamp'];
  if (!event) problems.push({ field: `${at}.event`, reason: 'must be a non-empty string' });
  if (!eventId || eventId.length > 200)
    problems.push({
      field: `${at}.sg_event_id`,
      reason: 'must be a non-empty string of at most 200 characters',
    });
  if (!email || !EMAIL.test(email) || email.length > 320)
    problems.push({ field: `${at}.email`, reason: 'must be an email address' });
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp <= 0 || timestamp > 1e11)
    problems.push({ field: `${at}.timestamp`, reason: 'must be unix seconds' });
  const workspace = payload[SENDGRID_WORKSPACE_ARG];
  // The path's workspace is the one whose key verified the batch: an event naming another is not its to report.
  if (workspace !== undefined && workspace !== workspaceId)
    problems.push({
      field: `${at}.${SENDGRID_WORKSPACE_ARG}`,
      reason: 'names another workspace than the webhook URL',
    });
  if (problems.length > 0 || !event || !eventId || !email || typeof timestamp !== 'number')
    return { index, outcome: 'rejected', item: payload, problems };
  const mapped = sendGridEventName(event, payload);
  if (!mapped)
    return {
      index,
      outcome: 'ignored',
      providerEvent: event,
      reason: `no mapping for sendgrid event ${event}`,
    };
  const messageKey = text(payload[SENDGRID_MESSAGE_KEY_ARG]);
  return {
    index,
    outcome: 'mapped',
    fact: {
      provider: 'sendgrid',
      channel: 'email',
      event: mapped.event,
      providerEvent: event,
      providerEventId: eventId,
      providerMessageId: text(payload['sg_message_id']),
      messageKey,
      address: email,
      reason: reasonText(payload['reason'] ?? payload['response']),
      permanent: mapped.permanent,
      occurredAt: timestamp * 1000,
    },
  };
}

/** A verified Event Webhook body: a JSON array of events, each mapped on its own (one bad event refuses only itself). */
export function sendGridDeliveries(
  body: unknown,
  workspaceId: string,
): { ok: true; items: MappedDelivery[] } | { ok: false; problems: FieldProblem[] } {
  if (!Array.isArray(body) || body.length === 0 || body.length > SENDGRID_MAX_EVENTS)
    return {
      ok: false,
      problems: [{ field: '(body)', reason: `must be a JSON array of 1 to ${SENDGRID_MAX_EVENTS} events` }],
    };
  return { ok: true, items: body.map((payload: unknown, i) => sendGridDelivery(payload, i, workspaceId)) };
}

const TWILIO_STATUSES: Partial<Record<string, DeliveryEventName>> = {
  sent: 'sms_sent',
  delivered: 'sms_delivered',
  undelivered: 'sms_undelivered',
  failed: 'sms_failed',
  read: 'sms_read',
};

/** Twilio error codes that say the number will never take a text: unknown (30005), landline (30006), opted out (21610). */
const PERMANENT_SMS_ERRORS = new Set(['30005', '30006', '21610']);

/** A status callback: MessageSid, MessageStatus, To; the message key from the callback URL Twilio was given. */
export function twilioStatusDelivery(
  params: Readonly<Record<string, string>>,
  messageKey: string | null,
  receivedAt: number,
): MappedDelivery {
  const problems: FieldProblem[] = [];
  const sid = params['MessageSid'] ?? params['SmsSid'] ?? '';
  const status = params['MessageStatus'] ?? params['SmsStatus'] ?? '';
  const to = params['To'] ?? '';
  if (!TWILIO_SID.test(sid))
    problems.push({ field: 'MessageSid', reason: 'must be a Twilio message SID (SM…)' });
  if (!/^[a-z_]{1,30}$/.test(status))
    problems.push({ field: 'MessageStatus', reason: 'must be a message status' });
  if (!E164.test(to)) problems.push({ field: 'To', reason: 'must be an E.164 phone number' });
  if (problems.length > 0) return { index: null, outcome: 'rejected', item: params, problems };
  const event = TWILIO_STATUSES[status];
  // queued, accepted, sending, scheduled, canceled: steps on the way, nothing to act on.
  if (!event)
    return {
      index: null,
      outcome: 'ignored',
      providerEvent: status,
      reason: `no mapping for twilio status ${status}`,
    };
  const errorCode = params['ErrorCode'] ?? null;
  return {
    index: null,
    outcome: 'mapped',
    fact: {
      provider: 'twilio',
      channel: 'sms',
      event,
      providerEvent: status,
      providerEventId: `${sid}:${status}`,
      providerMessageId: sid,
      messageKey,
      address: to,
      reason: errorCode ? reasonText(`twilio error ${errorCode}`) : null,
      permanent: errorCode !== null && PERMANENT_SMS_ERRORS.has(errorCode),
      occurredAt: receivedAt,
    },
  };
}

// Twilio's default opt-out, opt-in and help keywords (and the FCC's 2025 additions to opt-out).
const STOP_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE']);
const START_WORDS = new Set(['START', 'UNSTOP', 'YES']);
const HELP_WORDS = new Set(['HELP', 'INFO']);

/** The keyword a reply is, as carriers and Twilio read one: the whole text, any case, trailing punctuation aside. */
export function smsKeyword(body: string): 'sms_stop' | 'sms_start' | 'sms_help' | null {
  const word = body
    .trim()
    .replace(/[.!?]+$/, '')
    .toUpperCase();
  if (STOP_WORDS.has(word)) return 'sms_stop';
  if (START_WORDS.has(word)) return 'sms_start';
  if (HELP_WORDS.has(word)) return 'sms_help';
  return null;
}

const OPT_OUT_TYPES: Partial<Record<string, DeliveryEventName>> = {
  STOP: 'sms_stop',
  START: 'sms_start',
  HELP: 'sms_help',
};

/**
 * An inbound text: STOP and its kin opt the sender out, START opts back in, HELP asks; anything else is a reply
 * (its body is not kept: it is the contact's words, not a delivery fact). Twilio's Advanced Opt-Out names the
 * keyword it matched in `OptOutType`, which then decides.
 */
export function twilioInboundDelivery(
  params: Readonly<Record<string, string>>,
  receivedAt: number,
): MappedDelivery {
  const problems: FieldProblem[] = [];
  const sid = params['MessageSid'] ?? params['SmsMessageSid'] ?? '';
  const from = params['From'] ?? '';
  if (!TWILIO_SID.test(sid))
    problems.push({ field: 'MessageSid', reason: 'must be a Twilio message SID (SM…)' });
  if (!E164.test(from)) problems.push({ field: 'From', reason: 'must be an E.164 phone number' });
  if (problems.length > 0) return { index: null, outcome: 'rejected', item: params, problems };
  const optOutType = (params['OptOutType'] ?? '').toUpperCase();
  const event = OPT_OUT_TYPES[optOutType] ?? smsKeyword(params['Body'] ?? '') ?? 'sms_received';
  const keyword = event === 'sms_received' ? 'inbound' : event.slice('sms_'.length).toUpperCase();
  return {
    index: null,
    outcome: 'mapped',
    fact: {
      provider: 'twilio',
      channel: 'sms',
      event,
      providerEvent: keyword,
      providerEventId: sid,
      providerMessageId: sid,
      messageKey: null,
      address: from,
      reason: null,
      permanent: false,
      occurredAt: receivedAt,
    },
  };
}

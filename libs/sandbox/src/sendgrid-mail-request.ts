/**
 * SendGrid's v3 Mail Send request as the fake reads it: the validation with SendGrid's field names and messages
 * (what a 400 lists), and the accepted email the fake keeps.
 */
import type { FakeSendGridMessage, SendGridAddress } from './fake-sendgrid';

const HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';
// SendGrid's address check is loose; this refuses what it refuses in practice (no @, spaces, no dot in the domain).
const EMAIL = /^[^\s@"<>(),;:]+@[^\s@"<>(),;:]+\.[^\s@"<>(),;:]+$/;
const MAX_PERSONALIZATIONS = 1000;
const MAX_RECIPIENTS = 1000;
const MAX_SEND_AT_AHEAD_SECONDS = 72 * 3600;

export interface FieldError {
  message: string;
  field: string | null;
  help: string | null;
}

export type Json = Record<string, unknown>;
export const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/** SendGrid's field errors for a mail send body (at `at`, epoch ms, for send_at); none when it is accepted. */
export function mailSendErrors(body: Json, at: number): FieldError[] {
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

/** The email the fake keeps for one personalization `p` of an accepted body. */
export function acceptedMessage(
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

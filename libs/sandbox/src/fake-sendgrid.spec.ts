// Drives FakeSendGrid through the official SDK (@sendgrid/mail) over local HTTP on 127.0.0.1, as the services will.
import { verify } from 'node:crypto';
import { Client } from '@sendgrid/client';
import type { MailDataRequired, MailService, ResponseError } from '@sendgrid/mail';
import { FakeSendGrid, type FakeSendGridOptions } from './fake-sendgrid';
import { sendGridMailFor } from './sdk-clients';
import { WebhookReceiver } from './testing/webhook-receiver';

const KEY = 'SG.sandbox-test-key';
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);

const email = (overrides: Partial<MailDataRequired> = {}): MailDataRequired => ({
  to: 'ada@example.com',
  from: { email: 'marketing@tributary.example', name: 'Tributary' },
  subject: 'Welcome',
  text: 'Hello Ada',
  html: '<p>Hello Ada</p>',
  ...overrides,
});

/** The one item a step must have produced; fails the test when there is none. */
function first<T>(items: readonly T[]): T {
  const [item] = items;
  if (item === undefined) throw new Error('expected at least one item');
  return item;
}

/** The SDK's rejection; fails the test if the send went through. */
async function rejection(promise: Promise<unknown>): Promise<ResponseError> {
  return promise.then(
    () => {
      throw new Error('expected the send to be refused');
    },
    (error: unknown) => error as ResponseError,
  );
}

const fieldsOf = (error: ResponseError): (string | null)[] =>
  (error.response.body as unknown as { errors: { field: string | null }[] }).errors.map((e) => e.field);

describe('FakeSendGrid through @sendgrid/mail', () => {
  let now: number;
  let fake: FakeSendGrid;
  let mail: MailService;

  async function startFake(options: FakeSendGridOptions = {}): Promise<void> {
    fake = new FakeSendGrid({ apiKey: KEY, clock: () => now, ...options });
    mail = sendGridMailFor(await fake.start(), KEY);
  }

  beforeEach(async () => {
    now = T0;
    await startFake();
  });
  afterEach(() => fake.stop());

  it('accepts a send with 202 and X-Message-Id, and keeps what was sent', async () => {
    const [response] = await mail.send(
      email({
        headers: {
          'List-Unsubscribe': '<https://tributary.example/u/abc>',
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        },
        customArgs: { messageKey: 'enr-1:welcome:0', workspaceId: 'ws-demo' },
        categories: ['journey', 'welcome'],
        sendAt: Math.floor(T0 / 1000) + 3600,
      }),
    );

    expect(response.statusCode).toBe(202);
    const messageId = response.headers['x-message-id'] as string;
    expect(messageId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(fake.messages).toEqual([
      {
        messageId,
        sgMessageId: `${messageId}.filterdrecv-sandbox-0.0`,
        to: [{ email: 'ada@example.com' }],
        cc: [],
        bcc: [],
        from: { email: 'marketing@tributary.example', name: 'Tributary' },
        subject: 'Welcome',
        text: 'Hello Ada',
        html: '<p>Hello Ada</p>',
        headers: {
          'List-Unsubscribe': '<https://tributary.example/u/abc>',
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        },
        customArgs: { messageKey: 'enr-1:welcome:0', workspaceId: 'ws-demo' },
        categories: ['journey', 'welcome'],
        sendAt: Math.floor(T0 / 1000) + 3600,
        receivedAt: new Date(T0).toISOString(),
      },
    ]);
    expect(fake.messagesTo('ADA@example.com')).toHaveLength(1);
    expect(fake.messagesTo('grace@example.com')).toHaveLength(0);
    expect(fake.count('/v3/mail/send')).toBe(1);
  });

  it('keeps one message per personalization, sharing the X-Message-Id', async () => {
    const [response] = await mail.sendMultiple(email({ to: ['ada@example.com', 'grace@example.com'] }));

    const messageId = response.headers['x-message-id'] as string;
    expect(fake.messages.map((m) => [m.to[0]?.email, m.messageId, m.sgMessageId])).toEqual([
      ['ada@example.com', messageId, `${messageId}.filterdrecv-sandbox-0.0`],
      ['grace@example.com', messageId, `${messageId}.filterdrecv-sandbox-1.0`],
    ]);
  });

  it('lists what was sent at GET /sandbox/messages?to= without a key', async () => {
    await mail.send(email());
    await mail.send(email({ to: 'grace@example.com', subject: 'Hi Grace' }));

    const response = await fetch(
      `${fake.baseUrl}/sandbox/messages?to=${encodeURIComponent('grace@example.com')}`,
    );

    expect(response.status).toBe(200);
    const listed = (await response.json()) as { subject: string; to: { email: string }[] }[];
    expect(listed.map((m) => [m.to[0]?.email, m.subject])).toEqual([['grace@example.com', 'Hi Grace']]);
  });

  it('refuses a wrong API key with 401 and SendGrid’s error body, and keeps nothing', async () => {
    const error = await rejection(sendGridMailFor(fake.baseUrl, 'SG.wrong').send(email()));

    expect(error.code).toBe(401);
    expect(error.response.body).toEqual({
      errors: [
        {
          message: 'The provided authorization grant is invalid, expired, or revoked',
          field: null,
          help: null,
        },
      ],
    });
    expect(fake.messages).toHaveLength(0);
  });

  it('names the invalid field as SendGrid does', async () => {
    const badTo = await rejection(mail.send(email({ to: 'not-an-address' })));
    expect(badTo.code).toBe(400);
    expect(fieldsOf(badTo)).toEqual(['personalizations.0.to.0.email']);

    const noTo = await rejection(mail.send(email({ to: undefined, cc: 'grace@example.com' })));
    expect(fieldsOf(noTo)).toEqual(['personalizations.0.to']);

    const badFrom = await rejection(mail.send(email({ from: 'marketing at tributary' })));
    expect(fieldsOf(badFrom)).toEqual(['from.email']);

    const emptyText = await rejection(mail.send(email({ html: undefined, text: '' })));
    expect(fieldsOf(emptyText)).toEqual(['content.0.value']);

    const numericArg = await rejection(
      mail.send(email({ customArgs: { attempt: 2 } as unknown as Record<string, string> })),
    );
    expect(numericArg.response.body).toEqual({
      errors: [
        {
          message: 'Invalid type. Expected: string, given: integer.',
          field: 'custom_args.attempt',
          help: null,
        },
      ],
    });
    expect(fake.messages).toHaveLength(0);
  });

  it('reports every failed check at once: no subject, no content, invalid from', async () => {
    const error = await rejection(
      mail.send({ to: 'ada@example.com', from: 'nobody' } as unknown as MailDataRequired),
    );

    expect(error.code).toBe(400);
    expect(fieldsOf(error)).toEqual(['from.email', 'subject', 'content']);
  });

  it('lets a template stand in for subject and content', async () => {
    const [response] = await mail.send({
      to: 'ada@example.com',
      from: 'marketing@tributary.example',
      templateId: 'd-0123456789abcdef',
      dynamicTemplateData: { firstName: 'Ada' },
    });

    expect(response.statusCode).toBe(202);
    expect(fake.messages[0]).toMatchObject({
      templateId: 'd-0123456789abcdef',
      dynamicTemplateData: { firstName: 'Ada' },
    });
    expect(fake.messages[0]?.subject).toBeUndefined();
  });

  it('refuses more than 1000 recipients in one send', async () => {
    const to = Array.from({ length: 1001 }, (_, i) => `r${i}@example.com`);

    const error = await rejection(mail.send(email({ to })));

    expect(fieldsOf(error)).toEqual(['personalizations']);
  });

  it('spends a request budget per window: 429 with Retry-After and X-RateLimit-* the SDK error carries', async () => {
    await fake.stop();
    await startFake({ rateLimit: { requests: 2, windowMs: 60_000 } });
    const resetAt = String(Math.ceil((T0 + 60_000) / 1000));

    const [first] = await mail.send(email());
    expect(first.headers['x-ratelimit-remaining']).toBe('1');
    now = T0 + 20_000;
    const [second] = await mail.send(email());
    expect(second.headers['x-ratelimit-remaining']).toBe('0');
    const refused = await rejection(mail.send(email()));

    expect(refused.code).toBe(429);
    expect(refused.response.headers).toMatchObject({
      'retry-after': '40',
      'x-ratelimit-limit': '2',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': resetAt,
    });
    expect(fieldsOf(refused)).toEqual([null]);
    expect(fake.messages).toHaveLength(2);

    now = T0 + 60_000;
    const [next] = await mail.send(email());
    expect(next.statusCode).toBe(202);
  });

  it('answers injected 500 and 503 (with Retry-After) once each, then sends again', async () => {
    fake.failNext(1, { status: 500 });
    fake.failNext(1, { status: 503, retryAfterSeconds: 7 });

    const serverError = await rejection(mail.send(email()));
    const unavailable = await rejection(mail.send(email()));
    const [ok] = await mail.send(email());

    expect(serverError.code).toBe(500);
    expect(serverError.response.body).toEqual({
      errors: [{ message: 'Internal Server Error', field: null, help: null }],
    });
    expect(unavailable.code).toBe(503);
    expect(unavailable.response.headers['retry-after']).toBe('7');
    expect(ok.statusCode).toBe(202);
    expect(fake.messages).toHaveLength(1);
  });

  it('answers 503 to every send during an outage, but the sandbox read-back still works', async () => {
    fake.outage(true);

    const error = await rejection(mail.send(email()));
    const listed = await fetch(`${fake.baseUrl}/sandbox/messages`);
    fake.outage(false);
    const [ok] = await mail.send(email());

    expect(error.code).toBe(503);
    expect(listed.status).toBe(200);
    expect(ok.statusCode).toBe(202);
  });

  it('a garbage 200 goes through the SDK as a success without an X-Message-Id, and nothing is sent', async () => {
    fake.failNext(1, { malformed: 'garbage' });

    const [response, body] = await mail.send(email());

    expect(response.statusCode).toBe(200);
    expect(typeof body).toBe('string');
    expect(response.headers['x-message-id']).toBeUndefined();
    expect(fake.messages).toHaveLength(0);
  });

  it('a truncated answer fails in the SDK although SendGrid took the message', async () => {
    fake.failNext(1, { malformed: 'truncated' });

    const error = await rejection(mail.send(email()));

    // Not SendGrid's ResponseError (no numeric status): axios' own error for a body cut short.
    expect({ code: error.code as unknown, message: error.message }).toEqual({
      code: 'ERR_BAD_RESPONSE',
      message: 'stream has been aborted',
    });
    expect(fake.messages).toHaveLength(1);
  });

  describe('signed Event Webhook', () => {
    let receiver: WebhookReceiver;
    beforeEach(async () => {
      receiver = await new WebhookReceiver().start();
    });
    afterEach(() => receiver.stop());

    const verifies = (publicKey: string, timestamp: string, payload: string, signature: string): boolean =>
      verify(
        'sha256',
        Buffer.from(timestamp + payload),
        { key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' },
        Buffer.from(signature, 'base64'),
      );

    it('posts a batch of events about a message, signed with ECDSA over timestamp + raw body', async () => {
      await mail.send(email({ customArgs: { messageKey: 'enr-1:welcome:0' }, categories: ['welcome'] }));
      const message = first(fake.messages);
      const types = ['delivered', 'open', 'click', 'bounce', 'unsubscribe', 'spamreport'] as const;
      const events = types.map((t) => fake.eventFor(message, t));

      const delivery = await fake.postEvents(receiver.url('/webhooks/sendgrid'), events);

      expect(delivery.status).toBe(204);
      const posted = first(receiver.received);
      const timestamp = posted.headers['x-twilio-email-event-webhook-timestamp'] as string;
      const signature = posted.headers['x-twilio-email-event-webhook-signature'] as string;
      expect(timestamp).toBe(String(Math.floor(T0 / 1000)));
      expect(posted.body).toContain('},\r\n{');
      expect(verifies(fake.eventWebhookPublicKey, timestamp, posted.body, signature)).toBe(true);
      const parsed = JSON.parse(posted.body) as Record<string, unknown>[];
      expect(parsed.map((e) => e['event'])).toEqual([...types]);
      for (const event of parsed)
        expect(event).toMatchObject({
          email: 'ada@example.com',
          sg_message_id: message.sgMessageId,
          messageKey: 'enr-1:welcome:0',
          category: 'welcome',
          timestamp: Math.floor(T0 / 1000),
        });
      expect(message.sgMessageId.startsWith(`${message.messageId}.`)).toBe(true);
    });

    it('a tampered body, another timestamp or another key does not verify', async () => {
      await mail.send(email());
      await fake.postEvents(receiver.url('/webhooks/sendgrid'), [
        fake.eventFor(first(fake.messages), 'delivered'),
      ]);
      const posted = first(receiver.received);
      const timestamp = posted.headers['x-twilio-email-event-webhook-timestamp'] as string;
      const signature = posted.headers['x-twilio-email-event-webhook-signature'] as string;
      const otherKey = new FakeSendGrid().eventWebhookPublicKey;

      expect(verifies(fake.eventWebhookPublicKey, timestamp, posted.body, signature)).toBe(true);
      expect(
        verifies(
          fake.eventWebhookPublicKey,
          timestamp,
          posted.body.replace('delivered', 'bounce'),
          signature,
        ),
      ).toBe(false);
      expect(
        verifies(fake.eventWebhookPublicKey, String(Number(timestamp) + 1), posted.body, signature),
      ).toBe(false);
      expect(verifies(otherKey, timestamp, posted.body, signature)).toBe(false);
    });
  });

  describe('Email Activity API (GET /v3/messages) through @sendgrid/client', () => {
    const activity = (query: string, limit = 1000) => {
      const client = new Client();
      client.setApiKey(KEY);
      client.setDefaultRequest('baseUrl', fake.baseUrl);
      return client.request({ method: 'GET', url: '/v3/messages', qs: { query, limit } });
    };

    it('filters accepted emails by a custom arg and recipient, newest first', async () => {
      await mail.send(email({ to: 'ada@example.com', customArgs: { claim: 'b-1' } }));
      await mail.send(email({ to: 'bo@example.com', subject: 'Cart', customArgs: { claim: 'b-1' } }));
      await mail.send(email({ to: 'cy@example.com', customArgs: { claim: 'b-2' } }));

      const [all] = await activity(`unique_args['claim']="b-1"`);
      const [one] = await activity(`unique_args['claim']="b-1" AND to_email="BO@example.com"`);

      const listed = (all.body as { messages: { to_email: string; subject: string }[] }).messages;
      expect(listed.map((m) => [m.to_email, m.subject])).toEqual([
        ['bo@example.com', 'Cart'],
        ['ada@example.com', 'Welcome'],
      ]);
      expect((one.body as { messages: { msg_id: string }[] }).messages).toEqual([
        expect.objectContaining({ msg_id: fake.messagesTo('bo@example.com')[0]?.sgMessageId }),
      ]);
    });

    it('answers 429 with Retry-After past 6 requests a minute, and 400 for a query it cannot read', async () => {
      for (let i = 0; i < 5; i += 1) await activity(`to_email="ada@example.com"`);
      const refusedQuery = await rejection(activity(`to_email=ada`));
      const throttled = await rejection(activity(`to_email="ada@example.com"`));
      now += 60_000;
      const [again] = await activity(`to_email="ada@example.com"`);

      expect(refusedQuery.code).toBe(400);
      expect(fieldsOf(refusedQuery)).toEqual(['query']);
      expect(throttled.code).toBe(429);
      expect(Number(throttled.response.headers['retry-after'])).toBeGreaterThan(0);
      expect(again.statusCode).toBe(200);
    });

    it('shows an email only once its activity delay has passed', async () => {
      await fake.stop();
      await startFake({ activityDelayMs: 5_000 });
      await mail.send(email({ customArgs: { claim: 'b-3' } }));
      const [before] = await activity(`unique_args['claim']="b-3"`);
      now += 5_000;
      const [after] = await activity(`unique_args['claim']="b-3"`);
      expect((before.body as { messages: unknown[] }).messages).toHaveLength(0);
      expect((after.body as { messages: unknown[] }).messages).toHaveLength(1);
    });
  });
});

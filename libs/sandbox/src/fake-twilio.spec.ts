// Drives FakeTwilio through the official `twilio` SDK over local HTTP on 127.0.0.1, as the services will.
import twilio from 'twilio';
import { FakeTwilio, smsSegments, type FakeTwilioOptions } from './fake-twilio';
import { twilioClientFor } from './sdk-clients';
import { WebhookReceiver } from './testing/webhook-receiver';

const ACCOUNT = `AC${'0123456789abcdef'.repeat(2)}`;
const TOKEN = 'sandbox-auth-token';
const FROM = '+15005550006';
const TO = '+14155550123';
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);

/** The one item a step must have produced; fails the test when there is none. */
function first<T>(items: readonly T[]): T {
  const [item] = items;
  if (item === undefined) throw new Error('expected at least one item');
  return item;
}

/** The SDK's rejection; fails the test if the call went through. */
async function rejection(promise: Promise<unknown>): Promise<twilio.RestException> {
  return promise.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (error: unknown) => error as twilio.RestException,
  );
}

describe('FakeTwilio through the twilio SDK', () => {
  let now: number;
  let fake: FakeTwilio;
  let client: twilio.Twilio;

  async function startFake(options: Partial<FakeTwilioOptions> = {}): Promise<void> {
    fake = new FakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN, clock: () => now, ...options });
    client = twilioClientFor(await fake.start(), ACCOUNT, TOKEN);
  }

  beforeEach(async () => {
    now = T0;
    await startFake();
  });
  afterEach(() => fake.stop());

  it('creates a message: 201 with the Message resource, kept by the fake and fetchable', async () => {
    const created = await client.messages.create({
      to: TO,
      from: FROM,
      body: 'Your demo is booked',
      statusCallback: 'https://tributary.example/webhooks/twilio/status',
    });

    expect(created.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(created).toMatchObject({
      accountSid: ACCOUNT,
      to: TO,
      from: FROM,
      body: 'Your demo is booked',
      status: 'queued',
      numSegments: '1',
      direction: 'outbound-api',
      apiVersion: '2010-04-01',
      uri: `/2010-04-01/Accounts/${ACCOUNT}/Messages/${created.sid}.json`,
    });
    expect(created.dateCreated.getTime()).toBe(T0);
    expect(fake.messages).toHaveLength(1);
    expect(fake.messagesTo(TO)[0]).toMatchObject({
      sid: created.sid,
      statusCallback: 'https://tributary.example/webhooks/twilio/status',
    });
    const fetched = await client.messages(created.sid).fetch();
    expect(fetched.sid).toBe(created.sid);
  });

  it('takes a Messaging Service instead of From: accepted, from null', async () => {
    const created = await client.messages.create({
      to: TO,
      messagingServiceSid: `MG${'a'.repeat(32)}`,
      body: 'Hi',
    });

    expect(created.status).toBe('accepted');
    expect(created.from).toBeNull();
  });

  it('counts segments as carriers do (GSM-7 160/153, UCS-2 70/67)', () => {
    expect(smsSegments('a'.repeat(160))).toBe(1);
    expect(smsSegments('a'.repeat(161))).toBe(2);
    expect(smsSegments('€'.repeat(80))).toBe(1);
    expect(smsSegments('€'.repeat(81))).toBe(2);
    expect(smsSegments('ö'.repeat(160))).toBe(1);
    expect(smsSegments('ő'.repeat(70))).toBe(1);
    expect(smsSegments('ő'.repeat(71))).toBe(2);
  });

  it('lists what was sent at GET /sandbox/messages?to= without credentials', async () => {
    await client.messages.create({ to: TO, from: FROM, body: 'one' });
    await client.messages.create({ to: '+14155550999', from: FROM, body: 'two' });

    const response = await fetch(`${fake.baseUrl}/sandbox/messages?to=${encodeURIComponent(TO)}`);

    expect(response.status).toBe(200);
    expect(((await response.json()) as { body: string }[]).map((m) => m.body)).toEqual(['one']);
  });

  it('refuses a wrong auth token with 401 and code 20003', async () => {
    const error = await rejection(
      twilioClientFor(fake.baseUrl, ACCOUNT, 'wrong').messages.create({ to: TO, from: FROM, body: 'x' }),
    );

    expect(error).toBeInstanceOf(twilio.RestException);
    expect(error).toMatchObject({
      status: 401,
      code: 20003,
      message: 'Authenticate',
      moreInfo: 'https://www.twilio.com/docs/errors/20003',
    });
    expect(fake.messages).toHaveLength(0);
  });

  it('answers 404 (20404) for another account’s path', async () => {
    const error = await rejection(
      client.api.v2010.accounts(`AC${'f'.repeat(32)}`).messages.create({ to: TO, from: FROM, body: 'x' }),
    );

    expect({ status: error.status, code: error.code }).toEqual({ status: 404, code: 20404 });
  });

  it('refuses what Twilio refuses, with its error codes', async () => {
    const cases: [Parameters<typeof client.messages.create>[0], number, string][] = [
      [{ to: '415-555-0123', from: FROM, body: 'x' }, 21211, "Invalid 'To' Phone Number: 415-555-0123"],
      [{ to: TO, body: 'x' }, 21603, "A 'From' phone number is required."],
      [{ to: TO, from: 'not a sender!', body: 'x' }, 21212, 'Invalid From Number (caller ID): not a sender!'],
      [{ to: TO, from: FROM }, 21602, 'Message body is required.'],
      [
        { to: TO, from: FROM, body: 'x'.repeat(1601) },
        21617,
        'The concatenated message body exceeds the 1600 character limit.',
      ],
    ];
    for (const [params, code, message] of cases) {
      const error = await rejection(client.messages.create(params));
      expect({ status: error.status, code: error.code, message: error.message }).toEqual({
        status: 400,
        code,
        message,
      });
    }
    fake.optOut(TO);
    const stopped = await rejection(client.messages.create({ to: TO, from: FROM, body: 'x' }));
    expect(stopped.code).toBe(21610);
    expect(fake.messages).toHaveLength(0);
  });

  it('spends a request budget per window: 429 with code 20429 and Retry-After', async () => {
    await fake.stop();
    await startFake({ rateLimit: { requests: 1, windowMs: 60_000 } });

    await client.messages.create({ to: TO, from: FROM, body: 'first' });
    now = T0 + 15_000;
    const error = await rejection(client.messages.create({ to: TO, from: FROM, body: 'second' }));

    expect({ status: error.status, code: error.code, message: error.message }).toEqual({
      status: 429,
      code: 20429,
      message: 'Too Many Requests',
    });
    // RestException keeps no headers; the SDK's HTTP client keeps the last response's.
    expect(client.httpClient.lastResponse?.headers['retry-after']).toBe('45');
    expect(fake.messages).toHaveLength(1);
    now = T0 + 60_000;
    await expect(client.messages.create({ to: TO, from: FROM, body: 'third' })).resolves.toMatchObject({
      body: 'third',
    });
  });

  it('answers an injected 500 once, then creates again', async () => {
    fake.failNext(1, { status: 500 });

    const error = await rejection(client.messages.create({ to: TO, from: FROM, body: 'x' }));
    const created = await client.messages.create({ to: TO, from: FROM, body: 'x' });

    expect({ status: error.status, code: error.code }).toEqual({ status: 500, code: 20500 });
    expect(created.status).toBe('queued');
    expect(fake.messages).toHaveLength(1);
  });

  it('a garbage 200 makes the SDK throw a SyntaxError, and nothing is sent', async () => {
    fake.failNext(1, { malformed: 'garbage' });

    const error = await rejection(client.messages.create({ to: TO, from: FROM, body: 'x' }));

    expect(error).toBeInstanceOf(SyntaxError);
    expect(fake.messages).toHaveLength(0);
  });

  it('lists messages newest first through the SDK: To and From filters, pages of PageSize, next_page_uri', async () => {
    for (let i = 0; i < 5; i += 1) {
      now = T0 + i * 1_000;
      await client.messages.create({ to: TO, from: FROM, body: `reminder ${i}` });
    }
    await client.messages.create({ to: '+14155550999', from: FROM, body: 'someone else' });

    const first = await client.messages.page({ to: TO, from: FROM, pageSize: 2 });
    expect(first.instances.map((m) => m.body)).toEqual(['reminder 4', 'reminder 3']);
    expect(first.instances[0]?.dateCreated).toEqual(new Date(T0 + 4_000));
    const second = await first.nextPage();
    expect(second?.instances.map((m) => m.body)).toEqual(['reminder 2', 'reminder 1']);
    const third = await second?.nextPage();
    expect(third?.instances.map((m) => m.body)).toEqual(['reminder 0']);
    expect(await third?.nextPage()).toBeUndefined();
    // The SDK's list follows the pages itself.
    expect((await client.messages.list({ to: TO, pageSize: 2 })).length).toBe(5);
  });

  it('filters the list on the time a message went out: one not sent yet has none', async () => {
    await fake.stop();
    await startFake({ statusCallbackDelayMs: 1 });
    const receiver = await new WebhookReceiver().start();
    const url = receiver.url('/status');
    try {
      const sent = await client.messages.create({
        to: TO,
        from: FROM,
        body: 'went out',
        statusCallback: url,
      });
      await client.messages.create({ to: TO, from: FROM, body: 'still queued' });
      await fake.settled();
      const listed = await client.messages.list({ to: TO, dateSentAfter: new Date(T0 - 60_000) });
      expect(listed.map((m) => m.sid)).toEqual([sent.sid]);
      expect(await client.messages.list({ to: TO, dateSentAfter: new Date(T0 + 60_000) })).toEqual([]);
    } finally {
      await receiver.stop();
    }
  });

  it('refuses a PageSize over 1000 with 400', async () => {
    const refused = await rejection(client.messages.page({ to: TO, pageSize: 1001 }));
    expect(refused.status).toBe(400);
  });

  describe('I-Twilio-Idempotency-Token', () => {
    const withToken = (token: string) =>
      twilioClientFor(fake.baseUrl, ACCOUNT, TOKEN, { headers: { 'I-Twilio-Idempotency-Token': token } });

    it('a repeated token returns the first message and creates no other', async () => {
      const first = await withToken('enr-1:step-2').messages.create({ to: TO, from: FROM, body: 'x' });
      const again = await withToken('enr-1:step-2').messages.create({ to: TO, from: FROM, body: 'x' });
      const other = await withToken('enr-1:step-3').messages.create({ to: TO, from: FROM, body: 'x' });

      expect(again.sid).toBe(first.sid);
      expect(other.sid).not.toBe(first.sid);
      expect(fake.messages.map((m) => m.sid)).toEqual([first.sid, other.sid]);
    });

    it('a retry after a dropped answer gets the message the vendor took', async () => {
      fake.failNext(1, { malformed: 'truncated' });

      const dropped = await rejection(withToken('enr-9').messages.create({ to: TO, from: FROM, body: 'x' }));
      const retried = await withToken('enr-9').messages.create({ to: TO, from: FROM, body: 'x' });

      expect(dropped).toBeInstanceOf(Error);
      expect(fake.messages.map((m) => m.sid)).toEqual([retried.sid]);
    });

    it('expires after 24 hours', async () => {
      const first = await withToken('enr-1').messages.create({ to: TO, from: FROM, body: 'x' });
      now = T0 + 24 * 3600 * 1000;
      const later = await withToken('enr-1').messages.create({ to: TO, from: FROM, body: 'x' });

      expect(later.sid).not.toBe(first.sid);
      expect(fake.messages).toHaveLength(2);
    });

    it('with idempotencyTokens: false, a repeated token sends twice (what live Twilio documents)', async () => {
      await fake.stop();
      await startFake({ idempotencyTokens: false });

      const first = await withToken('enr-1').messages.create({ to: TO, from: FROM, body: 'x' });
      const again = await withToken('enr-1').messages.create({ to: TO, from: FROM, body: 'x' });

      expect(again.sid).not.toBe(first.sid);
      expect(fake.messages).toHaveLength(2);
    });
  });

  describe('status callbacks', () => {
    let receiver: WebhookReceiver;
    beforeEach(async () => {
      receiver = await new WebhookReceiver().start();
    });
    afterEach(() => receiver.stop());

    it('posts a signed status callback that twilio.validateRequest accepts, and updates the message', async () => {
      const callback = receiver.url('/webhooks/twilio/status?workspace=ws-demo');
      const created = await client.messages.create({
        to: TO,
        from: FROM,
        body: 'x',
        statusCallback: callback,
      });
      now = T0 + 5_000;

      const delivery = await fake.deliver(created.sid, 'delivered');

      expect(delivery.status).toBe(204);
      const posted = first(receiver.received);
      const params = Object.fromEntries(new URLSearchParams(posted.body));
      expect(params).toEqual({
        AccountSid: ACCOUNT,
        ApiVersion: '2010-04-01',
        From: FROM,
        MessageSid: created.sid,
        MessageStatus: 'delivered',
        SmsSid: created.sid,
        SmsStatus: 'delivered',
        To: TO,
      });
      const signature = posted.headers['x-twilio-signature'] as string;
      expect(twilio.validateRequest(TOKEN, signature, callback, params)).toBe(true);
      expect(signature).toBe(twilio.getExpectedTwilioSignature(TOKEN, callback, params));
      expect(posted.headers['i-twilio-idempotency-token']).toMatch(/^[0-9a-f]{32}$/);
      const fetched = await client.messages(created.sid).fetch();
      expect(fetched.status).toBe('delivered');
      expect(fetched.dateSent?.getTime()).toBe(T0 + 5_000);
    });

    it('a tampered parameter, another URL or another token does not validate', async () => {
      const callback = receiver.url('/webhooks/twilio/status');
      const created = await client.messages.create({
        to: TO,
        from: FROM,
        body: 'x',
        statusCallback: callback,
      });

      await fake.deliver(created.sid, 'undelivered');

      const posted = first(receiver.received);
      const params = Object.fromEntries(new URLSearchParams(posted.body));
      const signature = posted.headers['x-twilio-signature'] as string;
      expect(params['ErrorCode']).toBe('30003');
      expect(twilio.validateRequest(TOKEN, signature, callback, params)).toBe(true);
      expect(
        twilio.validateRequest(TOKEN, signature, callback, { ...params, MessageStatus: 'delivered' }),
      ).toBe(false);
      expect(twilio.validateRequest(TOKEN, signature, `${callback}?x=1`, params)).toBe(false);
      expect(twilio.validateRequest('other-token', signature, callback, params)).toBe(false);
    });

    it('refuses to deliver a message created without a StatusCallback', async () => {
      const created = await client.messages.create({ to: TO, from: FROM, body: 'x' });

      await expect(fake.deliver(created.sid, 'delivered')).rejects.toThrow(/without a StatusCallback/);
      expect(receiver.received).toHaveLength(0);
    });
  });
});

// FakeTwilio posting by itself: status callbacks for each text with a StatusCallback, and inbound texts (STOP, START).
import twilio from 'twilio';
import { FakeTwilio } from './fake-twilio';
import { twilioClientFor } from './sdk-clients';
import { WebhookReceiver } from './testing/webhook-receiver';

const ACCOUNT = `AC${'f'.repeat(32)}`;
const TOKEN = 'feedback-auth-token';
const FROM = '+15005550006';

describe('FakeTwilio feedback', () => {
  let fake: FakeTwilio;
  let client: twilio.Twilio;
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    receiver = await new WebhookReceiver().start();
    fake = new FakeTwilio({
      accountSid: ACCOUNT,
      authToken: TOKEN,
      statusCallbackDelayMs: 5,
      smsUrl: receiver.url('/twilio/inbound'),
    });
    client = twilioClientFor(await fake.start(), ACCOUNT, TOKEN);
  });
  afterEach(async () => {
    await fake.stop();
    await receiver.stop();
  });

  const paramsOf = (body: string) => Object.fromEntries(new URLSearchParams(body));

  it('posts signed sent and delivered callbacks to each text’s StatusCallback, query string kept', async () => {
    const callback = receiver.url('/twilio/status?messageKey=enr-1%3A0%3Ahello%3A1');
    const created = await client.messages.create({
      to: '+4915112345678',
      from: FROM,
      body: 'Hi',
      statusCallback: callback,
    });
    await client.messages.create({ to: '+4915100000000', from: FROM, body: 'No callback wanted' });
    await fake.settled();

    expect(receiver.received.map((r) => [r.path, paramsOf(r.body)['MessageStatus']])).toEqual([
      ['/twilio/status?messageKey=enr-1%3A0%3Ahello%3A1', 'sent'],
      ['/twilio/status?messageKey=enr-1%3A0%3Ahello%3A1', 'delivered'],
    ]);
    for (const posted of receiver.received)
      expect(
        twilio.validateRequest(
          TOKEN,
          String(posted.headers['x-twilio-signature']),
          callback,
          paramsOf(posted.body),
        ),
      ).toBe(true);
    expect((await client.messages(created.sid).fetch()).status).toBe('delivered');
  });

  it('ends a text to a number configured to fail undelivered (after sent) or failed (alone), with the error code', async () => {
    fake.failDeliveryTo('+4915111111111', 'undelivered');
    fake.failDeliveryTo('+4915122222222', 'failed', 30006);
    const callback = receiver.url('/twilio/status');
    await client.messages.create({ to: '+4915111111111', from: FROM, body: 'x', statusCallback: callback });
    await fake.settled();
    await client.messages.create({ to: '+4915122222222', from: FROM, body: 'x', statusCallback: callback });
    await fake.settled();

    expect(
      receiver.received
        .map((r) => paramsOf(r.body))
        .map((p) => [p['To'], p['MessageStatus'], p['ErrorCode']]),
    ).toEqual([
      ['+4915111111111', 'sent', undefined],
      ['+4915111111111', 'undelivered', '30003'],
      ['+4915122222222', 'failed', '30006'],
    ]);
  });

  it('posts an inbound STOP to the SmsUrl, signed, and refuses texts to that number until START', async () => {
    const phone = '+4915133333333';
    const stop = await fake.receiveSms(phone, 'Stop');
    expect(stop.status).toBe(204);
    const [posted] = receiver.received;
    const params = paramsOf(posted?.body ?? '');
    expect(params).toMatchObject({
      From: phone,
      To: FROM,
      Body: 'Stop',
      OptOutType: 'STOP',
      SmsStatus: 'received',
    });
    expect(params['MessageSid']).toMatch(/^SM[0-9a-f]{32}$/);
    expect(
      twilio.validateRequest(
        TOKEN,
        String(posted?.headers['x-twilio-signature']),
        receiver.url('/twilio/inbound'),
        params,
      ),
    ).toBe(true);
    await expect(client.messages.create({ to: phone, from: FROM, body: 'promo' })).rejects.toMatchObject({
      status: 400,
      code: 21610,
    });

    await fake.receiveSms(phone, 'START');
    expect(paramsOf(receiver.received[1]?.body ?? '')['OptOutType']).toBe('START');
    await expect(
      client.messages.create({ to: phone, from: FROM, body: 'welcome back' }),
    ).resolves.toMatchObject({
      status: 'queued',
    });
  });

  it('takes a simulated text at POST /sandbox/inbound (form or JSON), no credentials, as the npm start sandbox does', async () => {
    const res = await fetch(`${fake.baseUrl}/sandbox/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'From=%2B4915155555555&Body=STOP',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 204, smsUrl: receiver.url('/twilio/inbound') });
    expect(paramsOf(receiver.received[0]?.body ?? '')).toMatchObject({
      From: '+4915155555555',
      OptOutType: 'STOP',
    });
    const json = await fetch(`${fake.baseUrl}/sandbox/inbound`, {
      method: 'POST',
      body: JSON.stringify({ From: 'nobody', Body: 'hi' }),
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ code: 21211 });
  });

  it('an ordinary reply carries no OptOutType and changes nothing', async () => {
    await fake.receiveSms('+4915144444444', 'see you at 5');
    expect(paramsOf(receiver.received[0]?.body ?? '')['OptOutType']).toBeUndefined();
  });
});

/**
 * Delivery webhooks against the real stack, ingestion started in-process, the SendGrid and Twilio fakes posting
 * signed feedback the way the providers do: what lands on `messages.deliveries`, what is refused (401) and what is
 * kept on `ingestion.rejected` while the rest of its batch is taken.
 */
import type { Kafka } from 'kafkajs';
import { Topics, type IngestionRejected, type MessageDelivery } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { createLogger } from '@tributary/observability';
import { FakeSendGrid, FakeTwilio, twilioSignature, type SendGridEvent } from '@tributary/sandbox';
import { readTopicUntil, testServiceEnv, uniqueId } from '@tributary/testing';
import { IngestionModule } from '../app.module';
import { loadIngestionConfig } from '../config';

const run = uniqueId('deliveries');
const workspace = `ws_${run}`;
const twilioToken = `token-${run}`;
const twilioSid = `AC${'2'.repeat(32)}`;
let clock = Date.now();
const sendgrid = new FakeSendGrid({ clock: () => clock });
const config = loadIngestionConfig(
  testServiceEnv('ingestion', run, {
    WEBHOOK_SECRETS: `${workspace}:sendgrid:${sendgrid.eventWebhookPublicKey},${workspace}:twilio:${twilioToken}`,
  }),
);
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;

beforeAll(async () => {
  service = await startService(IngestionModule.forRoot(config), config);
  kafka = createKafka(`deliveries-${run}`, config.KAFKA_BROKERS, createLogger('deliveries-test', 'fatal'));
  registry = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
});

afterAll(async () => {
  await service?.close();
});

beforeEach(() => {
  clock = Date.now();
});

const eventsUrl = (ws = workspace) => `${service.url}/v1/webhooks/sendgrid/${ws}/events`;

/** An Event Webhook event as SendGrid posts it; `id` keeps this run's events apart on the shared topic. */
const sendGridEvent = (
  id: string,
  event: string,
  email: string,
  fields: Record<string, unknown> = {},
): SendGridEvent =>
  ({
    email,
    timestamp: Math.floor(clock / 1000),
    event,
    sg_event_id: `${run}-${id}`,
    sg_message_id: `msg-${run}.filter0001.0`,
    tributary_message_key: `${workspace}:welcome:c1:0:hello:1`,
    workspace_id: workspace,
    ...fields,
  }) as SendGridEvent;

/** This run's records on a topic, decoded, read until `done` holds. */
async function recordsOn<T extends { metadata: { workspaceId: string } }>(
  topic: string,
  done: (records: T[]) => boolean,
): Promise<T[]> {
  const mine: T[] = [];
  let decoded = 0;
  await readTopicUntil(kafka, topic, async (records) => {
    for (const record of records.slice(decoded)) {
      decoded += 1;
      const event = (await registry.decode(record.value)) as T;
      if (event.metadata.workspaceId === workspace) mine.push(event);
    }
    return done(mine);
  });
  return mine;
}

describe('SendGrid Event Webhook', () => {
  it('publishes each event of a signed batch, keeps a malformed one on ingestion.rejected and takes the rest', async () => {
    const email = `ada.${run}@example.com`;
    const batch = [
      sendGridEvent('delivered', 'delivered', email),
      { event: 'bounce', email: 'not-an-address', sg_event_id: `${run}-bad` } as unknown as SendGridEvent,
      sendGridEvent('bounce', 'bounce', email.toUpperCase(), {
        type: 'bounce',
        reason: '550 5.1.1 unknown user',
      }),
      sendGridEvent('resubscribe', 'group_resubscribe', email),
    ];
    const answer = await sendgrid.postEvents(eventsUrl(), batch);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({
      accepted: 2,
      duplicates: 0,
      ignored: 1,
      rejected: [
        { index: 1, field: '[1].email', reason: 'must be an email address' },
        { index: 1, field: '[1].timestamp', reason: 'must be unix seconds' },
      ],
    });

    const published = await recordsOn<MessageDelivery>(Topics.MessagesDeliveries, (ds) =>
      ds.some((d) => d.providerEventId === `${run}-bounce`),
    );
    expect(published.map((d) => [d.event, d.address, d.permanent])).toEqual([
      ['delivered', email, false],
      ['bounced', email, true],
    ]);
    expect(published[1]).toMatchObject({
      provider: 'sendgrid',
      channel: 'email',
      maskedAddress: 'a***@example.com',
      messageKey: `${workspace}:welcome:c1:0:hello:1`,
      reason: '550 5.1.1 unknown user',
      metadata: {
        workspaceId: workspace,
        source: 'ingestion:sendgrid',
        occurredAt: Math.floor(clock / 1000) * 1000,
      },
    });
    const [rejected] = await recordsOn<IngestionRejected>(Topics.IngestionRejected, (rs) =>
      rs.some((r) => r.route === '/v1/webhooks/sendgrid/:workspaceId/events'),
    );
    expect(rejected).toMatchObject({ itemIndex: 1, credentialId: null });
    expect(JSON.parse(rejected?.body.toString() ?? '')).toEqual(batch[1]);
  });

  it('takes a batch SendGrid sends again once: duplicates, nothing published twice', async () => {
    const email = `bo.${run}@example.com`;
    const batch = [sendGridEvent('open-1', 'open', email), sendGridEvent('click-1', 'click', email)];
    expect(JSON.parse((await sendgrid.postEvents(eventsUrl(), batch)).body)).toMatchObject({ accepted: 2 });
    const again = await sendgrid.postEvents(eventsUrl(), batch);
    expect(JSON.parse(again.body)).toMatchObject({ accepted: 0, duplicates: 2 });
    // A later event of the same recipient shares the partition: once it is read, so is any duplicate.
    await sendgrid.postEvents(eventsUrl(), [sendGridEvent('marker-1', 'delivered', email)]);
    const published = await recordsOn<MessageDelivery>(Topics.MessagesDeliveries, (ds) =>
      ds.some((d) => d.providerEventId === `${run}-marker-1`),
    );
    expect(published.filter((d) => d.address === email).map((d) => d.event)).toEqual([
      'opened',
      'clicked',
      'delivered',
    ]);
  });

  it('refuses a stale or future signature, a batch for a workspace without SendGrid, and unsigned bytes with 401', async () => {
    const event = sendGridEvent('late', 'delivered', `cy.${run}@example.com`);
    clock = Date.now() - 25 * 3_600_000;
    const stale = await sendgrid.postEvents(eventsUrl(), [event]);
    expect({ status: stale.status, body: JSON.parse(stale.body) as unknown }).toEqual({
      status: 401,
      body: {
        error: 'unauthorized',
        reason: 'signature timestamp is older than 24 hours',
        problems: [{ field: '(request)', reason: 'signature timestamp is older than 24 hours' }],
      },
    });
    clock = Date.now() + 3_600_000;
    expect((await sendgrid.postEvents(eventsUrl(), [event])).status).toBe(401);
    clock = Date.now();
    const elsewhere = await sendgrid.postEvents(eventsUrl(`ws_other_${run}`), [event]);
    expect(JSON.parse(elsewhere.body)).toMatchObject({
      reason: 'sendgrid webhooks are not enabled for this workspace',
    });
    const unsigned = await fetch(eventsUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([event]),
    });
    expect(unsigned.status).toBe(401);
  });

  it('answers 400 to signed bytes that are not a JSON array, and keeps them on ingestion.rejected', async () => {
    // Signed with the workspace's key, so the edge reads them: a provider bug, not a forgery.
    const body = `{"not":"a batch","run":"${run}"}`;
    const res = await sendgrid.postSigned(eventsUrl(), body);
    expect({ status: res.status, body: JSON.parse(res.body) as unknown }).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        problems: [{ field: '(body)', reason: 'must be a JSON array of 1 to 5000 events' }],
      },
    });
    const kept = await recordsOn<IngestionRejected>(Topics.IngestionRejected, (rs) =>
      rs.some((r) => r.body.toString() === body),
    );
    expect(kept.find((r) => r.body.toString() === body)).toMatchObject({
      itemIndex: null,
      contentType: 'application/json;charset=utf-8',
    });
  });
});

describe('Twilio status callbacks and inbound texts', () => {
  const statusUrl = () =>
    `${service.url}/v1/webhooks/twilio/${workspace}/status?messageKey=${encodeURIComponent(`${workspace}:k:1`)}`;
  const sid = `SM${'ab'.repeat(16)}`;

  async function postForm(url: string, params: Record<string, string>, token = twilioToken) {
    return fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilioSignature(token, url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
  }

  it('publishes a signed status callback once per message and status, with the key from its URL', async () => {
    const phone = '+4915177770001';
    const params = {
      AccountSid: twilioSid,
      MessageSid: sid,
      MessageStatus: 'delivered',
      To: phone,
      From: '+15005550006',
    };
    const first = await postForm(statusUrl(), params);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ accepted: 1, duplicates: 0, ignored: 0, rejected: [] });
    expect(await (await postForm(statusUrl(), params)).json()).toMatchObject({ accepted: 0, duplicates: 1 });
    expect((await postForm(statusUrl(), params, 'wrong-token')).status).toBe(401);
    const published = await recordsOn<MessageDelivery>(Topics.MessagesDeliveries, (ds) =>
      ds.some((d) => d.providerEventId === `${sid}:delivered`),
    );
    expect(published.filter((d) => d.address === phone)).toEqual([
      expect.objectContaining({
        event: 'sms_delivered',
        messageKey: `${workspace}:k:1`,
        maskedAddress: '+49***01',
      }),
    ]);
  });

  it('turns an inbound STOP from the fake into sms_stop, answered with empty TwiML', async () => {
    const phone = '+4915177770002';
    const twilioFake = new FakeTwilio({
      accountSid: twilioSid,
      authToken: twilioToken,
      smsUrl: `${service.url}/v1/webhooks/twilio/${workspace}/inbound`,
    });
    const answer = await twilioFake.receiveSms(phone, 'stop');
    expect(answer).toMatchObject({
      status: 200,
      body: '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
    });
    const published = await recordsOn<MessageDelivery>(Topics.MessagesDeliveries, (ds) =>
      ds.some((d) => d.address === phone),
    );
    expect(published.filter((d) => d.address === phone).map((d) => [d.event, d.providerEvent])).toEqual([
      ['sms_stop', 'STOP'],
    ]);
  });

  it('keeps a signed callback it cannot read on ingestion.rejected and answers 200 (Twilio does not retry)', async () => {
    const params = {
      AccountSid: twilioSid,
      MessageSid: 'not-a-sid',
      MessageStatus: 'delivered',
      To: `+1${run.length}`,
    };
    const res = await postForm(statusUrl(), params);
    expect(await res.json()).toMatchObject({
      accepted: 0,
      rejected: [{ index: null, field: 'MessageSid', reason: 'must be a Twilio message SID (SM…)' }],
    });
    const kept = await recordsOn<IngestionRejected>(Topics.IngestionRejected, (rs) =>
      rs.some((r) => r.route === '/v1/webhooks/twilio/:workspaceId/status'),
    );
    expect(
      new URLSearchParams(kept.find((r) => r.route.includes('twilio'))?.body.toString()).get('MessageSid'),
    ).toBe('not-a-sid');
  });
});

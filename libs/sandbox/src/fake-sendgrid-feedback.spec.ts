// FakeSendGrid's Event Webhook posting by itself: what SendGrid reports about each accepted email, signed, in batches.
import { EventWebhook } from '@sendgrid/eventwebhook';
import type { MailDataRequired, MailService } from '@sendgrid/mail';
import { FakeSendGrid } from './fake-sendgrid';
import { sendGridMailFor } from './sdk-clients';
import { WebhookReceiver } from './testing/webhook-receiver';

const KEY = 'SG.feedback-test-key';

const email = (to: string | string[], overrides: Partial<MailDataRequired> = {}): MailDataRequired => ({
  to,
  from: 'marketing@tributary.example',
  subject: 'Welcome',
  html: '<p>Hello</p>',
  customArgs: { tributary_message_key: 'enr-1:0:welcome:1', workspace_id: 'ws_demo' },
  ...overrides,
});

type Posted = Record<string, unknown> & { event: string; email: string };

describe('FakeSendGrid Event Webhook feed', () => {
  let fake: FakeSendGrid;
  let mail: MailService;
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    receiver = await new WebhookReceiver().start();
    fake = new FakeSendGrid({
      apiKey: KEY,
      eventWebhookUrl: receiver.url('/sendgrid/events'),
      // Every test flushes: a window no busy machine outlasts keeps the sends of one test in one batch (20 ms split
      // the first test's two sends into two batches on a loaded CI run).
      eventBatchMs: 60_000,
    });
    mail = sendGridMailFor(await fake.start(), KEY);
  });
  afterEach(async () => {
    await fake.stop();
    await receiver.stop();
  });

  const postedEvents = (): Posted[] => receiver.received.flatMap((r) => JSON.parse(r.body) as Posted[]);

  it('reports processed and delivered for every recipient of every accepted email, in one signed batch', async () => {
    await mail.send(email(['ada@example.com', 'bo@example.com']));
    await mail.send(email('cy@example.com'));
    await fake.flushEvents();

    expect(receiver.received).toHaveLength(1);
    const [batch] = receiver.received;
    const webhook = new EventWebhook();
    const verified = webhook.verifySignature(
      webhook.convertPublicKeyToECDSA(fake.eventWebhookPublicKey),
      batch?.body ?? '',
      String(batch?.headers['x-twilio-email-event-webhook-signature']),
      String(batch?.headers['x-twilio-email-event-webhook-timestamp']),
    );
    // SendGrid's own verification helper accepts what the fake signed.
    expect(verified).toBe(true);
    expect(postedEvents().map((e) => [e.email, e.event])).toEqual([
      ['ada@example.com', 'processed'],
      ['ada@example.com', 'delivered'],
      ['bo@example.com', 'processed'],
      ['bo@example.com', 'delivered'],
      ['cy@example.com', 'processed'],
      ['cy@example.com', 'delivered'],
    ]);
    // Custom args come back at the top level of each event, as SendGrid's do; event ids are unique.
    expect(postedEvents().every((e) => e['tributary_message_key'] === 'enr-1:0:welcome:1')).toBe(true);
    expect(new Set(postedEvents().map((e) => e['sg_event_id'])).size).toBe(6);
    expect(fake.postedBatches.map((b) => [b.delivery.status, b.attempts])).toEqual([[204, 1]]);
  });

  it('reports what was configured for a recipient: a bounce instead of delivered, or opens and clicks after it', async () => {
    fake.feedbackFor('Bounce@Example.com', ['bounce']);
    fake.feedbackFor('fan@example.com', ['open', 'click', 'spamreport']);
    await mail.send(email('bounce@example.com'));
    await mail.send(email('fan@example.com'));
    await fake.flushEvents();

    expect(postedEvents().map((e) => [e.email, e.event])).toEqual([
      ['bounce@example.com', 'processed'],
      ['bounce@example.com', 'bounce'],
      ['fan@example.com', 'processed'],
      ['fan@example.com', 'delivered'],
      ['fan@example.com', 'open'],
      ['fan@example.com', 'click'],
      ['fan@example.com', 'spamreport'],
    ]);
    expect(postedEvents()[1]).toMatchObject({ type: 'bounce', status: '5.1.1' });
  });

  it('posts a batch again while the receiver answers other than 2xx, then gives up and says so', async () => {
    const refusing = new FakeSendGrid({
      apiKey: KEY,
      eventWebhookUrl: 'http://127.0.0.1:9/closed',
      eventBatchMs: 10,
      eventWebhookAttempts: 2,
      eventWebhookRetryMs: 10,
    });
    const refusingMail = sendGridMailFor(await refusing.start(), KEY);
    try {
      await refusingMail.send(email('ada@example.com'));
      await refusing.flushEvents();
      expect(refusing.postedBatches.map((b) => [b.delivery.status, b.attempts])).toEqual([[0, 2]]);
    } finally {
      await refusing.stop();
    }
  });

  it('posts nothing without a webhook URL', async () => {
    fake.setEventWebhook(undefined);
    await mail.send(email('ada@example.com'));
    await fake.flushEvents();
    expect(receiver.received).toEqual([]);
  });
});

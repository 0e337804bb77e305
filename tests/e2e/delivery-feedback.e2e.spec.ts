/**
 * Delivery feedback through the edge, on the real stack: ingestion, orchestration and reporting in this process, email
 * and SMS through the official SDKs to the SendGrid and Twilio fakes, which post their signed feedback (Event Webhook
 * batches, status callbacks, inbound STOP / START) to ingestion. Feedback lands on `messages.deliveries`, puts
 * addresses on the workspace's suppression list, moves message records on and is counted once by reporting.
 */
import { createHash } from 'node:crypto';
import mongoose, { type Connection } from 'mongoose';
import { Topics, type LeadScored, type MessageDelivery } from '@tributary/contracts';
import { stopTelemetry } from '@tributary/observability';
import { startService, type RunningService } from '@tributary/runtime';
import { FakeSendGrid, FakeTwilio, type SendGridEvent } from '@tributary/sandbox';
import {
  connectTestPublisher,
  publishLeadsScored,
  readTopicUntil,
  testServiceEnv,
  uniqueId,
  waitFor,
  type TestPublisher,
  leadScoredAfterEvent,
} from '@tributary/testing';
import { IngestionModule, loadIngestionConfig } from '@tributary/ingestion';
import { OrchestrationModule, loadOrchestrationConfig } from '@tributary/orchestration';
import { ReportingModule, loadReportingConfig } from '@tributary/reporting';

const run = uniqueId('feedback');
const workspace = `ws_feedback_${run}`;
const writeKey = `key-${run}`;
const sendGridKey = `SG.${run}`;
const twilioSid = `AC${'1'.repeat(32)}`;
const twilioToken = `token-${run}`;
const sendgrid = new FakeSendGrid({ apiKey: sendGridKey, eventBatchMs: 50 });
const twilioFake = new FakeTwilio({
  accountSid: twilioSid,
  authToken: twilioToken,
  statusCallbackDelayMs: 20,
});
const services: Record<string, RunningService> = {};
let test: TestPublisher;
let orchestrationStore: Connection;

const env = (service: string, overrides: Record<string, string> = {}) =>
  testServiceEnv(service, run, { WRITE_KEYS: `${writeKey}:${workspace}`, ...overrides });
const basic = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
const url = (service: string, path: string) => `${services[service]?.url ?? ''}${path}`;
const sendGridWebhook = () => url('ingestion', `/v1/webhooks/sendgrid/${workspace}/events`);

beforeAll(async () => {
  await sendgrid.start();
  await twilioFake.start();
  const ingestion = loadIngestionConfig(
    env('ingestion', {
      WEBHOOK_SECRETS: `${workspace}:sendgrid:${sendgrid.eventWebhookPublicKey},${workspace}:twilio:${twilioToken}`,
    }),
  );
  // The edge first: orchestration gives each text a StatusCallback at its URL. It produces nothing until a provider posts.
  services['ingestion'] = await startService(IngestionModule.forRoot(ingestion), ingestion);
  sendgrid.setEventWebhook(sendGridWebhook());
  twilioFake.setSmsUrl(url('ingestion', `/v1/webhooks/twilio/${workspace}/inbound`));
  const orchestration = loadOrchestrationConfig(
    env('orchestration', {
      SENDGRID_API_KEY: sendGridKey,
      SENDGRID_BASE_URL: sendgrid.baseUrl,
      TWILIO_ACCOUNT_SID: twilioSid,
      TWILIO_AUTH_TOKEN: twilioToken,
      TWILIO_BASE_URL: twilioFake.baseUrl,
      TWILIO_STATUS_CALLBACK_BASE_URL: services['ingestion'].url,
      JOURNEY_TIMER_POLL_MS: '100',
      JOURNEY_CACHE_TTL_MS: '0',
    }),
  );
  const reporting = loadReportingConfig(env('reporting'));
  const [orchestrationService, reportingService] = await Promise.all([
    startService(OrchestrationModule.forRoot(orchestration), orchestration),
    startService(ReportingModule.forRoot(reporting), reporting),
  ]);
  services['orchestration'] = orchestrationService;
  services['reporting'] = reportingService;
  test = await connectTestPublisher(`feedback-${run}`, orchestration, [
    Topics.LeadsScored,
    Topics.MessagesDeliveries,
  ]);
  orchestrationStore = await mongoose
    .createConnection(orchestration.MONGO_URL, { dbName: orchestration.MONGO_DB })
    .asPromise();
}, 180_000);

afterAll(async () => {
  await test?.publisher.disconnect();
  await orchestrationStore?.close();
  await Promise.all(Object.values(services).map((s) => s.close()));
  await sendgrid.stop();
  await twilioFake.stop();
  await stopTelemetry();
});

async function api(service: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url(service, path), {
    ...init,
    headers: { authorization: basic, 'content-type': 'application/json', ...init.headers },
  });
}

async function publishJourney(id: string, document: unknown): Promise<void> {
  const written = await api('orchestration', `/v1/journeys/${id}`, {
    method: 'PUT',
    body: JSON.stringify(document),
  });
  expect(written.status).toBe(200);
  const published = await api('orchestration', `/v1/journeys/${id}/publish`, { method: 'POST' });
  expect(published.status).toBe(200);
}

/** A contact who did `event`, as the lead service announces it. */
const didEvent = (contact: string, event: string, attributes: Record<string, string>): LeadScored =>
  leadScoredAfterEvent(workspace, contact, event, attributes);

interface StoredMessage {
  _id: string;
  stepId: string;
  status: string;
  reason: string | null;
  delivery?: { status: string; rank: number };
  feedback?: Record<string, Date>;
}

/** The message record of a journey's step for a contact, once it is no longer being sent. */
function messageOf(journeyId: string, contact: string): Promise<StoredMessage> {
  return waitFor(`the ${journeyId} message to ${contact}`, async () => {
    const doc = (await orchestrationStore
      .collection('messages')
      .findOne({ enrollmentId: `${workspace}:${journeyId}:${contact}` })) as StoredMessage | null;
    return doc && doc.status !== 'sending' ? doc : undefined;
  });
}

async function suppressions(channel: 'email' | 'sms'): Promise<{ address: string; reason: string }[]> {
  const res = await api('orchestration', `/v1/suppressions?channel=${channel}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { suppressions: { address: string; reason: string }[] }).suppressions;
}

async function deliveryCounts(): Promise<Record<string, number>> {
  const res = await api('reporting', '/v1/reports/event-counts');
  expect(res.status).toBe(200);
  const { counts } = (await res.json()) as { counts: Record<string, number> };
  return Object.fromEntries(
    Object.entries(counts).filter(([type]) => type.startsWith(Topics.MessagesDeliveries)),
  );
}

/** SendGrid's event names as messages.deliveries names them. */
const EVENT_NAMES: Record<string, string> = {
  bounce: 'bounced',
  open: 'opened',
  click: 'clicked',
  spamreport: 'spam_report',
};
const sorted = (counts: Record<string, number>) =>
  Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));

const consenting = (email: string): Record<string, string> => ({
  email,
  firstName: 'Ada',
  emailMarketingConsent: 'true',
});

describe('delivery feedback through the edge', () => {
  const bouncer = `${run}-bouncer`;
  const bouncerEmail = `${bouncer}@example.com`;
  const reader = `${run}-reader`;
  const readerEmail = `${reader}@example.com`;

  it('a bounce from SendGrid’s signed webhook suppresses the address: the next marketing email to it is skipped', async () => {
    sendgrid.feedbackFor(bouncerEmail, ['bounce']);
    sendgrid.feedbackFor(readerEmail, ['open']);
    await publishJourney('welcome', {
      name: 'Welcome',
      entry: { on: 'event', event: 'Signed Up' },
      steps: [{ id: 'hello', type: 'email', subject: 'Welcome', html: '<p>hi</p>' }],
    });
    await publishJourney('promo', {
      name: 'Promo',
      entry: { on: 'event', event: 'Sale Viewed' },
      steps: [{ id: 'offer', type: 'email', subject: 'Offer', html: '<p>offer</p>' }],
    });
    await publishLeadsScored(test.publisher, [
      didEvent(bouncer, 'Signed Up', consenting(bouncerEmail)),
      didEvent(reader, 'Signed Up', consenting(readerEmail)),
    ]);

    // SendGrid reports the bounce through ingestion; orchestration puts the address on the list.
    const listed = await waitFor('the bounced address on the suppression list', async () => {
      const list = await suppressions('email');
      return list.find((s) => s.address === bouncerEmail);
    });
    expect(listed.reason).toBe('bounce');
    const bounced = await waitFor('the bounce on the message record', async () => {
      const message = await messageOf('welcome', bouncer);
      return message.delivery?.status === 'bounced' ? message : undefined;
    });
    expect(bounced.status).toBe('sent');
    const read = await waitFor('the open on the other message record', async () => {
      const message = await messageOf('welcome', reader);
      return message.feedback?.['opened'] ? message : undefined;
    });
    expect(read.delivery?.status).toBe('delivered');
    expect((await suppressions('email')).map((s) => s.address)).not.toContain(readerEmail);
    // Every batch the fake posted was taken.
    expect(sendgrid.postedBatches.map((b) => b.delivery.status)).toEqual(
      sendgrid.postedBatches.map(() => 200),
    );

    await publishLeadsScored(test.publisher, [
      didEvent(bouncer, 'Sale Viewed', consenting(bouncerEmail)),
      didEvent(reader, 'Sale Viewed', consenting(readerEmail)),
    ]);
    const skipped = await messageOf('promo', bouncer);
    expect(skipped).toMatchObject({ status: 'skipped', reason: 'suppressed: bounce' });
    expect((await messageOf('promo', reader)).status).toBe('sent');
    expect(sendgrid.messagesTo(bouncerEmail).map((m) => m.subject)).toEqual(['Welcome']);
    expect(sendgrid.messagesTo(readerEmail).map((m) => m.subject)).toEqual(['Welcome', 'Offer']);
  }, 90_000);

  it('reporting counts feedback per channel and event, and a redelivered webhook or record once', async () => {
    // Everything the fake reported so far (both journeys' emails), counted exactly.
    await sendgrid.flushEvents();
    const expected: Record<string, number> = {};
    for (const event of sendgrid.postedBatches.flatMap((b) => b.events)) {
      const type = `messages.deliveries:email:${EVENT_NAMES[event.event] ?? event.event}`;
      expected[type] = (expected[type] ?? 0) + 1;
    }
    expect(expected).toMatchObject({
      'messages.deliveries:email:bounced': 1,
      'messages.deliveries:email:opened': 2,
    });
    await waitFor('every posted event counted', async () => {
      const counts = await deliveryCounts();
      return JSON.stringify(sorted(counts)) === JSON.stringify(sorted(expected)) ? counts : undefined;
    });

    // SendGrid posts the bounce's batch again (a retry after a lost answer): freshly signed, the same events.
    const bounceBatch = sendgrid.postedBatches.find((b) => b.events.some((e) => e.event === 'bounce'));
    const bounce = bounceBatch?.events.find((e) => e.event === 'bounce') as SendGridEvent;
    const again = await sendgrid.postEvents(sendGridWebhook(), bounceBatch?.events ?? []);
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body)).toMatchObject({ accepted: 0, duplicates: bounceBatch?.events.length });

    // The same record on the topic again (a consumer's redelivery), then a marker on the same key (same partition).
    const bounceRecord = (await decodedDeliveries((d) => d.providerEventId === bounce.sg_event_id)).find(
      (d) => d.providerEventId === bounce.sg_event_id,
    );
    if (!bounceRecord) throw new Error('the bounce was not on messages.deliveries');
    const marker: MessageDelivery = {
      ...bounceRecord,
      metadata: { ...bounceRecord.metadata, eventId: `${run}-marker` },
      event: 'clicked',
      providerEvent: 'click',
      providerEventId: `${run}-marker`,
    };
    // The edge's key: SHA-256 of workspace:channel:address, so a recipient's feedback shares a partition.
    const key = createHash('sha256').update(`${workspace}:email:${bounceRecord.address}`).digest('hex');
    await test.publisher.publishAll([
      { topic: Topics.MessagesDeliveries, key, event: bounceRecord },
      { topic: Topics.MessagesDeliveries, key, event: marker },
    ]);
    const after = await waitFor('the marker counted', async () => {
      const counts = await deliveryCounts();
      return counts['messages.deliveries:email:clicked'] === 1 ? counts : undefined;
    });
    expect(after).toEqual({ ...expected, 'messages.deliveries:email:clicked': 1 });
    // The list still holds the one suppression, with its first reason.
    expect((await suppressions('email')).filter((s) => s.address === bouncerEmail)).toEqual([
      expect.objectContaining({ reason: 'bounce' }),
    ]);
  }, 90_000);

  it('a forged SendGrid signature is refused with 401 and nothing is published', async () => {
    const [message] = sendgrid.messagesTo(readerEmail);
    if (!message) throw new Error('no message to the reader');
    const forger = new FakeSendGrid();
    const forged = { ...sendgrid.eventFor(message, 'spamreport'), sg_event_id: `${run}-forged` };
    const refused = await forger.postEvents(sendGridWebhook(), [forged]);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({
      error: 'unauthorized',
      reason: 'signature does not match',
    });
    const unsigned = await fetch(sendGridWebhook(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([forged]),
    });
    expect(unsigned.status).toBe(401);

    // A genuine event about the same recipient (same partition) after it: once it is on the topic, the forged one
    // would have been before it.
    const genuine = { ...sendgrid.eventFor(message, 'open'), sg_event_id: `${run}-genuine` };
    expect((await sendgrid.postEvents(sendGridWebhook(), [genuine])).status).toBe(200);
    const seen = await decodedDeliveries((d) => d.providerEventId === `${run}-genuine`);
    expect(seen.filter((d) => d.providerEventId === `${run}-forged`)).toEqual([]);
    expect(seen.filter((d) => d.providerEventId === `${run}-genuine`)).toHaveLength(1);
    expect((await suppressions('email')).map((s) => s.address)).not.toContain(readerEmail);
  }, 60_000);

  it('Twilio: status callbacks mark the text delivered; STOP suppresses SMS, START lifts it', async () => {
    const texter = `${run}-texter`;
    const phone = '+4915199990001';
    const attributes = { firstName: 'Ada', phone, smsMarketingConsent: 'true' };
    await publishJourney('sms-welcome', {
      name: 'SMS welcome',
      entry: { on: 'event', event: 'App Installed' },
      steps: [{ id: 'hi', type: 'sms', body: 'Hi {{ contact.firstName }}' }],
    });
    await publishJourney('sms-promo', {
      name: 'SMS promo',
      entry: { on: 'event', event: 'Cart Viewed' },
      reentry: 'always',
      steps: [{ id: 'deal', type: 'sms', body: 'A deal for you' }],
    });
    await publishLeadsScored(test.publisher, [didEvent(texter, 'App Installed', attributes)]);
    const delivered = await waitFor('the text delivered', async () => {
      const message = await messageOf('sms-welcome', texter);
      return message.delivery?.status === 'sms_delivered' ? message : undefined;
    });
    expect(Object.keys(delivered.feedback ?? {}).sort()).toEqual(['sms_delivered', 'sms_sent']);
    expect(twilioFake.postedCallbacks.map((c) => c.status)).toEqual([200, 200]);

    // The contact replies STOP to the workspace's number.
    const stop = await twilioFake.receiveSms(phone, 'STOP');
    expect(stop.status).toBe(200);
    expect(stop.body).toContain('<Response>');
    await waitFor('the phone on the SMS suppression list', async () => {
      const list = await suppressions('sms');
      return list.find((s) => s.address === phone && s.reason === 'sms-stop');
    });
    await publishLeadsScored(test.publisher, [didEvent(texter, 'Cart Viewed', attributes)]);
    expect(await messageOf('sms-promo', texter)).toMatchObject({
      status: 'skipped',
      reason: 'suppressed: sms-stop',
    });

    const start = await twilioFake.receiveSms(phone, 'START');
    expect(start.status).toBe(200);
    await waitFor('the STOP lifted', async () => {
      const list = await suppressions('sms');
      return list.every((s) => s.address !== phone) ? list : undefined;
    });
    expect(twilioFake.messagesTo(phone).map((m) => m.body)).toEqual(['Hi Ada']);
  }, 90_000);

  it('a forged Twilio callback is refused with 401', async () => {
    const forger = new FakeTwilio({
      accountSid: twilioSid,
      authToken: 'not-the-token',
      smsUrl: url('ingestion', `/v1/webhooks/twilio/${workspace}/inbound`),
    });
    const forged = await forger.receiveSms('+4915199990002', 'STOP');
    expect(forged.status).toBe(401);
    expect(JSON.parse(forged.body)).toMatchObject({
      error: 'unauthorized',
      reason: 'signature does not match',
    });
  });
});

/** The workspace's records on messages.deliveries, read until one matches `until` (records of this file's run only). */
async function decodedDeliveries(until: (delivery: MessageDelivery) => boolean): Promise<MessageDelivery[]> {
  const found: MessageDelivery[] = [];
  let decoded = 0;
  await readTopicUntil(test.kafka, Topics.MessagesDeliveries, async (records) => {
    for (const record of records.slice(decoded)) {
      decoded += 1;
      const delivery = (await test.registry.decode(record.value)) as MessageDelivery;
      if (delivery.metadata.workspaceId === workspace) found.push(delivery);
    }
    return found.some(until);
  });
  return found;
}

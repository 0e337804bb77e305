/**
 * Orchestration applying `messages.deliveries` on the real stack: suppressions and message delivery states, in order
 * per recipient, unchanged by redelivery, and never across workspaces. Records are published as the edge publishes
 * them; each check first waits for a marker published last on the same key (the same partition), so everything before
 * it has been applied.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Model } from 'mongoose';
import { Topics, type MessageDelivery } from '@tributary/contracts';
import type { EventPublisher } from '@tributary/messaging';
import { uniqueId, waitFor } from '@tributary/testing';
import { AudienceGuards } from './audience-guards';
import { type MessageDoc } from './engine.models';
import { OrchestrationHarness } from './testing/orchestration-harness';

const run = uniqueId('feedback');
const workspace = `ws_feedback_${run}`;
let harness: OrchestrationHarness;
let publisher: EventPublisher;
let messages: Model<MessageDoc>;
let guards: AudienceGuards;

beforeAll(async () => {
  harness = await OrchestrationHarness.start({ run, name: 'feedback', topics: [Topics.MessagesDeliveries] });
  ({ publisher, messages } = harness);
  guards = harness.get(AudienceGuards);
}, 120_000);

afterAll(async () => {
  await harness?.close();
});

/** A journey message as MessageSender records it once sent. */
async function sentMessage(key: string, channel: 'email' | 'sms', ws = workspace): Promise<void> {
  const now = new Date();
  await messages.create({
    _id: key,
    workspaceId: ws,
    enrollmentId: `${ws}:j:${key}`,
    journeyId: 'j',
    stepId: 's',
    contactId: `c-${key}`,
    channel,
    provider: channel === 'email' ? 'sendgrid' : 'twilio',
    status: 'sent',
    reason: null,
    providerMessageId: null,
    recipient: null,
    attempts: 1,
    createdAt: now,
    updatedAt: now,
  });
}

let clock = Date.now();
/** A record as the edge publishes it; occurredAt advances so each is later than the one before. */
function delivery(
  address: string,
  event: string,
  fields: Partial<MessageDelivery> & { workspaceId?: string } = {},
): MessageDelivery {
  const { workspaceId = workspace, ...rest } = fields;
  const channel = address.includes('@') ? 'email' : 'sms';
  clock += 1000;
  return {
    metadata: {
      eventId: randomUUID(),
      occurredAt: clock,
      workspaceId,
      source: 'ingestion:test',
      correlationId: 'c',
      causationId: null,
    },
    provider: channel === 'email' ? 'sendgrid' : 'twilio',
    channel,
    event,
    providerEvent: event,
    providerEventId: randomUUID(),
    providerMessageId: null,
    messageKey: null,
    address,
    maskedAddress: '***',
    reason: null,
    permanent: false,
    receivedAt: clock,
    ...rest,
  };
}

async function publish(deliveries: MessageDelivery[]): Promise<void> {
  await publisher.publishAll(
    deliveries.map((event) => ({
      topic: Topics.MessagesDeliveries,
      key: createHash('sha256')
        .update(`${event.metadata.workspaceId}:${event.channel}:${event.address}`)
        .digest('hex'),
      event,
    })),
  );
}

/** The message once the provider's report `event` has been applied to it. */
const seen = (key: string, event: string) =>
  waitFor(`${event} on ${key}`, async () => {
    const doc = await messages.findById(key).lean();
    return doc?.feedback?.[event] ? doc : undefined;
  });

describe('delivery feedback in orchestration', () => {
  it('moves a message’s delivery state up only, keeps first times, and is unchanged by the same records again', async () => {
    const key = `${run}-email-1`;
    const address = `${run}-one@example.com`;
    await sentMessage(key, 'email');
    const processed = delivery(address, 'processed', { messageKey: key });
    const delivered = delivery(address, 'delivered', { messageKey: key });
    const lateDeferral = delivery(address, 'deferred', { messageKey: key });
    const opened = delivery(address, 'opened', { messageKey: key });
    await publish([processed, delivered, lateDeferral, opened]);
    const first = await seen(key, 'opened');
    expect(first.delivery).toMatchObject({ status: 'delivered', rank: 3 });
    expect(first.feedback?.['delivered']).toEqual(new Date(delivered.metadata.occurredAt));

    // Redelivered, then a marker: nothing moves, a later bounce does.
    const marker = delivery(address, 'clicked', { messageKey: key });
    await publish([processed, delivered, lateDeferral, opened, marker]);
    const again = await seen(key, 'clicked');
    expect({ ...again, feedback: { ...again.feedback, clicked: undefined } }).toEqual({
      ...first,
      feedback: { ...first.feedback, clicked: undefined },
    });
    expect(await guards.isSuppressed(workspace, 'email', address)).toBeNull();

    await publish([delivery(address, 'bounced', { messageKey: key, permanent: true, reason: '550 5.1.1' })]);
    const bounced = await seen(key, 'bounced');
    expect(bounced.delivery).toMatchObject({ status: 'bounced', reason: '550 5.1.1' });
    expect(await guards.isSuppressed(workspace, 'email', address)).toMatchObject({ reason: 'bounce' });
  }, 60_000);

  it('applies a number’s STOP and START in the order they came; START lifts only a STOP', async () => {
    const key = `${run}-sms-1`;
    const phone = '+4915188880001';
    await sentMessage(key, 'sms');
    await publish([
      delivery(phone, 'sms_stop'),
      delivery(phone, 'sms_start'),
      delivery(phone, 'sms_stop'),
      delivery(phone, 'sms_read', { messageKey: key }),
    ]);
    await seen(key, 'sms_read');
    expect(await guards.isSuppressed(workspace, 'sms', phone)).toMatchObject({ reason: 'sms-stop' });

    // An admin's suppression is not lifted by a START.
    const other = '+4915188880002';
    await guards.suppress(workspace, 'sms', other, 'admin');
    const otherKey = `${run}-sms-2`;
    await sentMessage(otherKey, 'sms');
    await publish([delivery(other, 'sms_start'), delivery(other, 'sms_delivered', { messageKey: otherKey })]);
    await seen(otherKey, 'sms_delivered');
    expect(await guards.isSuppressed(workspace, 'sms', other)).toMatchObject({ reason: 'admin' });
  }, 60_000);

  it('never touches another workspace’s message or list', async () => {
    const key = `${run}-email-2`;
    const address = `${run}-two@example.com`;
    await sentMessage(key, 'email');
    const intruder = `ws_intruder_${run}`;
    // Feedback verified for another workspace names this workspace's message key.
    await publish([
      delivery(address, 'bounced', { messageKey: key, permanent: true, workspaceId: intruder }),
      delivery(address, 'delivered', { messageKey: key }),
    ]);
    // The intruder's record was applied (to its own list: its workspace's feedback, its list) …
    await waitFor('the intruder’s own suppression', () =>
      guards.isSuppressed(intruder, 'email', address).then((d) => d ?? undefined),
    );
    const doc = await seen(key, 'delivered');
    // … and this workspace's message and list did not move.
    expect(doc.delivery?.status).toBe('delivered');
    expect(doc.feedback?.['bounced']).toBeUndefined();
    expect(await guards.isSuppressed(workspace, 'email', address)).toBeNull();
  }, 60_000);
});

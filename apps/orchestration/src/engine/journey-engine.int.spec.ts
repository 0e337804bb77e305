/**
 * The journey engine on the real stack (Kafka, registry, Mongo-wire store), two orchestration instances in this
 * process sharing one consumer group and one store, email through SendGrid's official SDK against the local fake:
 * contacts enter from the lead service's scores, wait on durable timers, branch, and get each email once.
 */
import type { Model } from 'mongoose';
import { Topics, type LeadScored } from '@tributary/contracts';
import type { EventPublisher } from '@tributary/messaging';
import { type RunningService } from '@tributary/runtime';
import { FakeSendGrid, FakeTwilio } from '@tributary/sandbox';
import { publishLeadsScored, uniqueId, waitFor, leadScoredAfterEvent } from '@tributary/testing';
import { AudienceGuards } from './audience-guards';
import { type EnrollmentDoc, type MessageDoc } from './engine.models';
import { quietUntil } from './send-policy';
import { OrchestrationHarness } from './testing/orchestration-harness';

const run = uniqueId('journeys');
const workspace = `ws_journeys_${run}`;
const apiKey = `SG.${run}`;
const sendgrid = new FakeSendGrid({ apiKey });
const twilioSid = `AC${'0'.repeat(32)}`;
// As live Twilio: a repeated idempotency token on create is not deduplicated, so only the engine keeps a text to one.
const twilioFake = new FakeTwilio({
  accountSid: twilioSid,
  authToken: `token-${run}`,
  idempotencyTokens: false,
});
let harness: OrchestrationHarness;
let publisher: EventPublisher;
let enrollments: Model<EnrollmentDoc>;
let messages: Model<MessageDoc>;
let guards: AudienceGuards;

beforeAll(async () => {
  await sendgrid.start();
  await twilioFake.start();
  // Two replicas: every wake-up must run on one of them only.
  harness = await OrchestrationHarness.start({
    run,
    name: 'journeys',
    replicas: 2,
    env: {
      SENDGRID_API_KEY: apiKey,
      SENDGRID_BASE_URL: sendgrid.baseUrl,
      TWILIO_ACCOUNT_SID: twilioSid,
      TWILIO_AUTH_TOKEN: `token-${run}`,
      TWILIO_BASE_URL: twilioFake.baseUrl,
      JOURNEY_TIMER_LEASE_MS: '5000',
    },
    topics: [Topics.LeadsScored, Topics.LifecycleChanged],
  });
  ({ publisher, enrollments, messages } = harness);
  guards = harness.get(AudienceGuards);
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await sendgrid.stop();
  await twilioFake.stop();
});

async function publishJourney(journeyId: string, document: unknown, ws = workspace): Promise<void> {
  await harness.publishJourney(ws, journeyId, document);
}

/** A contact who did `event` (with `properties`), as the lead service announces it. */
const didEvent = (
  contact: string,
  event: string,
  attributes: Record<string, string>,
  properties: Record<string, unknown> = {},
  ws = workspace,
): LeadScored => leadScoredAfterEvent(ws, contact, event, attributes, properties);

const consenting = (email: string, extra: Record<string, string> = {}): Record<string, string> => ({
  email,
  firstName: 'Ada',
  emailMarketingConsent: 'true',
  ...extra,
});

/** The enrollment once it has finished (completed or exited). */
function finished(id: string, timeoutMs = 30_000): Promise<EnrollmentDoc> {
  return harness.finished(id, timeoutMs);
}

/** When the fake received a message (NaN when there is none, which fails any comparison). */
const at = (message: { receivedAt: string } | undefined): number => Date.parse(message?.receivedAt ?? '');

const enrollmentOf = (journeyId: string, contact: string, key?: string, ws = workspace): string =>
  `${ws}:${journeyId}:${contact}${key ? `:${key}` : ''}`;

describe('journeys run on durable timers and send each email once', () => {
  it('sends the welcome email, waits, then branches on the contact’s attributes', async () => {
    await publishJourney('trial-onboarding', {
      name: 'Trial onboarding',
      entry: { on: 'event', event: 'Trial Started' },
      steps: [
        {
          id: 'welcome',
          type: 'email',
          subject: 'Welcome, {{ contact.firstName }}',
          html: '<p>Hi {{ contact.firstName }}</p>',
        },
        { id: 'pause', type: 'wait', duration: '2s' },
        {
          id: 'by-size',
          type: 'branch',
          branches: [{ when: [{ attribute: 'companySize', op: 'gte', value: 500 }], next: 'enterprise' }],
          otherwise: 'starter',
        },
        {
          id: 'enterprise',
          type: 'email',
          subject: 'Talk to sales',
          html: '<p>Enterprise</p>',
          next: 'done',
        },
        { id: 'starter', type: 'email', subject: 'Starter tips', html: '<p>Starter</p>' },
        { id: 'done', type: 'exit' },
      ],
    });
    const big = `${run}-big@example.com`;
    const small = `${run}-small@example.com`;
    await publishLeadsScored(publisher, [
      didEvent(
        `${run}-big`,
        'Trial Started',
        consenting(big, { companySize: '1200', firstName: '<b>Ada</b>' }),
      ),
      didEvent(`${run}-small`, 'Trial Started', consenting(small, { companySize: '40' })),
    ]);

    await finished(enrollmentOf('trial-onboarding', `${run}-big`));
    await finished(enrollmentOf('trial-onboarding', `${run}-small`));
    const toBig = sendgrid.messagesTo(big);
    const toSmall = sendgrid.messagesTo(small);
    expect(toBig.map((m) => m.subject)).toEqual(['Welcome, <b>Ada</b>', 'Talk to sales']);
    expect(toSmall.map((m) => m.subject)).toEqual(['Welcome, Ada', 'Starter tips']);
    // HTML bodies escape what the contact typed; the subject is plain text.
    expect(toBig[0]?.html).toBe('<p>Hi &lt;b&gt;Ada&lt;/b&gt;</p>');
    // Never early: the second email only after the 2 s wait.
    const [welcome, second] = toBig;
    expect(at(second) - at(welcome)).toBeGreaterThanOrEqual(2_000);
    const recorded = await messages
      .find({ enrollmentId: enrollmentOf('trial-onboarding', `${run}-big`) })
      .lean();
    expect(recorded.map((m) => [m.stepId, m.status]).sort()).toEqual([
      ['enterprise', 'sent'],
      ['welcome', 'sent'],
    ]);
    expect(new Set(recorded.map((m) => m.providerMessageId))).toEqual(new Set(toBig.map((m) => m.messageId)));
  }, 60_000);

  it('does not send again when the same score is delivered again, even where re-entry is allowed', async () => {
    await publishJourney('price-alert', {
      name: 'Price alert',
      entry: { on: 'event', event: 'Price Alert Set' },
      reentry: 'always',
      steps: [{ id: 'confirm', type: 'email', subject: 'Alert set', html: '<p>ok</p>' }],
    });
    await publishJourney('sentinel', {
      name: 'Sentinel',
      entry: { on: 'event', event: 'Sentinel' },
      steps: [{ id: 'ping', type: 'email', subject: 'Sentinel', html: '<p>s</p>' }],
    });
    const contact = `${run}-again`;
    const address = `${contact}@example.com`;
    const alert = didEvent(contact, 'Price Alert Set', consenting(address));
    await publishLeadsScored(publisher, [alert]);
    await finished(enrollmentOf('price-alert', contact));

    // The same record again, then a sentinel on the same contact (same partition, so read after it).
    await publishLeadsScored(publisher, [alert, didEvent(contact, 'Sentinel', consenting(address))]);
    await finished(enrollmentOf('sentinel', contact));
    expect(sendgrid.messagesTo(address).map((m) => m.subject)).toEqual(['Alert set', 'Sentinel']);
  }, 60_000);

  it('records a marketing email to a contact without consent as skipped, and sends nothing', async () => {
    await publishJourney('newsletter', {
      name: 'Newsletter',
      entry: { on: 'event', event: 'Newsletter Viewed' },
      steps: [
        { id: 'digest', type: 'email', subject: 'Digest', html: '<p>d</p>' },
        { id: 'receipt', type: 'email', subject: 'Receipt', html: '<p>r</p>', category: 'transactional' },
      ],
    });
    const contact = `${run}-noconsent`;
    const address = `${contact}@example.com`;
    await publishLeadsScored(publisher, [didEvent(contact, 'Newsletter Viewed', { email: address })]);
    await finished(enrollmentOf('newsletter', contact));
    const recorded = await messages.find({ enrollmentId: enrollmentOf('newsletter', contact) }).lean();
    expect(recorded.map((m) => [m.stepId, m.status, m.reason]).sort()).toEqual([
      ['digest', 'skipped', 'no-consent'],
      ['receipt', 'sent', null],
    ]);
    // Transactional mail does not need marketing consent; the digest never reached the provider.
    expect(sendgrid.messagesTo(address).map((m) => m.subject)).toEqual(['Receipt']);
  }, 60_000);

  it('honours 429 Retry-After and 5xx from the provider, and still sends once', async () => {
    await publishJourney('cart-reminder', {
      name: 'Cart reminder',
      entry: { on: 'event', event: 'Cart Abandoned', key: 'cart.id' },
      steps: [{ id: 'remind', type: 'email', subject: 'Your cart {{ event.cart.id }}', html: '<p>c</p>' }],
    });
    const contact = `${run}-busy`;
    const address = `${contact}@example.com`;
    sendgrid.failNext(1, { status: 429, retryAfterSeconds: 2 });
    sendgrid.failNext(1, { status: 503 });
    const started = Date.now();
    await publishLeadsScored(publisher, [
      didEvent(contact, 'Cart Abandoned', consenting(address), { cart: { id: 'c-1' } }),
    ]);
    await finished(enrollmentOf('cart-reminder', contact, 'c-1'));
    const sent = sendgrid.messagesTo(address);
    expect(sent.map((m) => m.subject)).toEqual(['Your cart c-1']);
    expect(at(sent[0]) - started).toBeGreaterThanOrEqual(2_000);
    const [message] = await messages
      .find({ enrollmentId: enrollmentOf('cart-reminder', contact, 'c-1') })
      .lean();
    expect(message?.attempts).toBe(3);
    expect(message?.status).toBe('sent');
  }, 60_000);

  it('runs each of 60 timers once across two replicas', async () => {
    await publishJourney('two-step', {
      name: 'Two step',
      entry: { on: 'event', event: 'Demo Booked' },
      steps: [
        { id: 'wait', type: 'wait', duration: '1s' },
        { id: 'first', type: 'email', subject: 'First', html: '<p>1</p>' },
        { id: 'again', type: 'wait', duration: '1s' },
        { id: 'second', type: 'email', subject: 'Second', html: '<p>2</p>' },
      ],
    });
    const contacts = Array.from({ length: 60 }, (_, i) => `${run}-many-${i}`);
    await publishLeadsScored(
      publisher,
      contacts.map((c) => didEvent(c, 'Demo Booked', consenting(`${c}@example.com`))),
    );
    for (const c of contacts) await finished(enrollmentOf('two-step', c));
    const subjects = contacts.map((c) => sendgrid.messagesTo(`${c}@example.com`).map((m) => m.subject));
    expect(subjects).toEqual(contacts.map(() => ['First', 'Second']));
  }, 90_000);

  it('caps marketing across ten journeys reaching one contact at once, on two replicas', async () => {
    const ws = `${workspace}_caps`;
    await guards.writeSettings(ws, {
      timezone: 'Europe/Berlin',
      frequencyCaps: [{ channel: 'email', limit: 3, per: '7d' }],
      quietHours: {},
    });
    const ids = Array.from({ length: 10 }, (_, i) => `promo-${i}`);
    for (const id of ids)
      await publishJourney(
        id,
        {
          name: id,
          entry: { on: 'event', event: 'Sale Viewed' },
          steps: [{ id: 'offer', type: 'email', subject: id, html: '<p>offer</p>' }],
        },
        ws,
      );
    const contact = `${run}-capped`;
    const address = `${contact}@example.com`;
    await publishLeadsScored(publisher, [didEvent(contact, 'Sale Viewed', consenting(address), {}, ws)]);
    for (const id of ids) await finished(enrollmentOf(id, contact, undefined, ws));

    expect(sendgrid.messagesTo(address)).toHaveLength(3);
    const recorded = await messages.find({ workspaceId: ws, contactId: contact }).lean();
    expect(recorded.filter((m) => m.status === 'sent')).toHaveLength(3);
    expect(recorded.filter((m) => m.status === 'skipped').map((m) => m.reason)).toEqual(
      Array.from({ length: 7 }, () => 'frequency-cap: 3 per 7d'),
    );
  }, 60_000);

  it('stops marketing once the contact unsubscribes by the one-click link, even in the middle of a wait', async () => {
    await publishJourney('drip', {
      name: 'Drip',
      entry: { on: 'event', event: 'Guide Downloaded' },
      steps: [
        {
          id: 'guide',
          type: 'email',
          subject: 'Your guide',
          html: '<a href="{{ unsubscribe_url }}">stop</a>',
        },
        { id: 'later', type: 'wait', duration: '3s' },
        { id: 'follow-up', type: 'email', subject: 'Did it help?', html: '<p>f</p>' },
        { id: 'receipt', type: 'email', subject: 'Receipt', html: '<p>r</p>', category: 'transactional' },
      ],
    });
    const contact = `${run}-unsub`;
    const address = `${contact}@example.com`;
    await publishLeadsScored(publisher, [didEvent(contact, 'Guide Downloaded', consenting(address))]);
    const [guide] = await waitFor('the first email', async () => {
      const sent = sendgrid.messagesTo(address);
      return sent.length > 0 ? sent : undefined;
    });
    // RFC 8058: a link in List-Unsubscribe, and the header that says one POST is enough.
    expect(guide?.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    const link = /^<(.+)>$/.exec(guide?.headers['List-Unsubscribe'] ?? '')?.[1] ?? '';
    const path = new URL(link).pathname;
    expect(guide?.html).toContain(path);
    const service = harness.services[0] as RunningService;
    // A GET (a link scanner) changes nothing; the mailbox provider's POST unsubscribes.
    expect((await fetch(`${service.url}${path}`)).status).toBe(200);
    expect(await guards.isSuppressed(workspace, 'email', address)).toBeNull();
    const posted = await fetch(`${service.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(posted.status).toBe(200);
    const forged = await fetch(`${service.url}${path.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))}`, {
      method: 'POST',
    });
    expect(forged.status).toBe(400);

    await finished(enrollmentOf('drip', contact));
    expect(sendgrid.messagesTo(address).map((m) => m.subject)).toEqual(['Your guide', 'Receipt']);
    const followUp = await messages
      .findOne({ enrollmentId: enrollmentOf('drip', contact), stepId: 'follow-up' })
      .lean();
    expect(followUp).toMatchObject({ status: 'skipped', reason: 'suppressed: unsubscribe' });
  }, 60_000);

  it('holds marketing in quiet hours until the window opens in the contact’s zone', async () => {
    const ws = `${workspace}_quiet`;
    // A window around now in Tokyo: whenever the test runs, the contact is in it.
    const tokyo = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Asia/Tokyo',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    const at = (offsetMinutes: number): string => tokyo.format(new Date(Date.now() + offsetMinutes * 60_000));
    const window = { start: at(-60), end: at(120) };
    await guards.writeSettings(ws, { timezone: 'UTC', frequencyCaps: [], quietHours: { email: window } });
    await publishJourney(
      'night-owl',
      {
        name: 'Night owl',
        entry: { on: 'event', event: 'Late Visit' },
        steps: [
          { id: 'promo', type: 'email', subject: 'Promo', html: '<p>p</p>' },
          { id: 'receipt', type: 'email', subject: 'Receipt', html: '<p>r</p>', category: 'transactional' },
        ],
      },
      ws,
    );
    const contact = `${run}-night`;
    const address = `${contact}@example.com`;
    const entered = new Date();
    await publishLeadsScored(publisher, [
      didEvent(contact, 'Late Visit', consenting(address, { timezone: 'Asia/Tokyo' }), {}, ws),
    ]);
    const waiting = await waitFor('the promo held', async () => {
      const doc = await enrollments.findById(enrollmentOf('night-owl', contact, undefined, ws)).lean();
      return doc?.stepId === 'promo' && doc.wakeAt && doc.wakeAt > new Date() ? doc : undefined;
    });
    const opens = quietUntil(entered, 'Asia/Tokyo', window);
    expect(Math.abs((waiting.wakeAt?.getTime() ?? 0) - (opens?.getTime() ?? NaN))).toBeLessThan(60_000);
    expect(waiting.state).toBe('active');
    // Nothing sent meanwhile, and the transactional step behind it waits too: order is kept.
    expect(sendgrid.messagesTo(address)).toEqual([]);
    expect(await messages.countDocuments({ enrollmentId: waiting._id })).toBe(0);
  }, 60_000);

  it('recovers an abandoned cart: the order for that cart ends the wait, another cart’s does not', async () => {
    await publishJourney('cart-recovery', {
      name: 'Cart recovery',
      entry: { on: 'event', event: 'Checkout Abandoned', key: 'cart.id' },
      steps: [
        {
          id: 'await-order',
          type: 'wait_event',
          event: 'Order Completed',
          match: 'cart.id',
          timeout: '3s',
          onEvent: 'thanks',
        },
        {
          id: 'reminder',
          type: 'email',
          subject: 'Your cart {{ event.cart.id }}',
          html: '<p>r</p>',
          next: 'done',
        },
        { id: 'thanks', type: 'email', subject: 'Thanks for your order', html: '<p>t</p>' },
        { id: 'done', type: 'exit' },
      ],
    });
    const buyer = `${run}-buyer`;
    const other = `${run}-other-cart`;
    const leaver = `${run}-leaver`;
    const abandon = (contact: string, cart: string) =>
      didEvent(contact, 'Checkout Abandoned', consenting(`${contact}@example.com`), { cart: { id: cart } });
    await publishLeadsScored(publisher, [
      abandon(buyer, 'c-1'),
      abandon(other, 'c-2'),
      abandon(leaver, 'c-3'),
    ]);
    for (const [contact, cart] of [
      [buyer, 'c-1'],
      [other, 'c-2'],
    ] as const)
      await waitFor(`${contact} waiting for the order`, async () => {
        const doc = await enrollments.findById(enrollmentOf('cart-recovery', contact, cart)).lean();
        return doc?.awaitingEvent === 'Order Completed' ? doc : undefined;
      });
    const order = (contact: string, cart: string) =>
      didEvent(contact, 'Order Completed', consenting(`${contact}@example.com`), { cart: { id: cart } });
    await publishLeadsScored(publisher, [order(buyer, 'c-1'), order(other, 'c-9')]);

    await finished(enrollmentOf('cart-recovery', buyer, 'c-1'));
    await finished(enrollmentOf('cart-recovery', other, 'c-2'));
    await finished(enrollmentOf('cart-recovery', leaver, 'c-3'));
    expect(sendgrid.messagesTo(`${buyer}@example.com`).map((m) => m.subject)).toEqual([
      'Thanks for your order',
    ]);
    expect(sendgrid.messagesTo(`${other}@example.com`).map((m) => m.subject)).toEqual(['Your cart c-2']);
    expect(sendgrid.messagesTo(`${leaver}@example.com`).map((m) => m.subject)).toEqual(['Your cart c-3']);
  }, 60_000);

  it('an answer lost after SendGrid took the message: the Email Activity API shows it went, so it does not go twice', async () => {
    await publishJourney('lost-answer', {
      name: 'Lost answer',
      entry: { on: 'event', event: 'Webinar Joined' },
      steps: [{ id: 'recording', type: 'email', subject: 'The recording', html: '<p>r</p>' }],
    });
    const contact = `${run}-lost-answer`;
    const address = `${contact}@example.com`;
    // SendGrid stores the message, then the connection drops mid-answer: the engine cannot tell it was sent.
    sendgrid.failNext(1, { malformed: 'truncated' });
    await publishLeadsScored(publisher, [didEvent(contact, 'Webinar Joined', consenting(address))]);
    await finished(enrollmentOf('lost-answer', contact));
    // SendGrid's mail send has no idempotency key: before trying again the engine asks the Email Activity API about
    // the claim the first attempt went out under, finds the email, and records it sent.
    const [sent] = sendgrid.messagesTo(address);
    expect(sendgrid.messagesTo(address).map((m) => m.subject)).toEqual(['The recording']);
    const [message] = await messages.find({ enrollmentId: enrollmentOf('lost-answer', contact) }).lean();
    expect(message).toMatchObject({ status: 'sent', attempts: 1, providerMessageId: sent?.messageId });
  }, 60_000);

  it('an SMS answer lost after Twilio took the text: the Messages list shows it went, so it does not go twice', async () => {
    await publishJourney('lost-text', {
      name: 'Lost text',
      entry: { on: 'event', event: 'Table Booked' },
      steps: [{ id: 'confirm', type: 'sms', body: 'See you at {{ event.time }}', category: 'transactional' }],
    });
    const contact = `${run}-lost-text`;
    const phone = '+4915112340001';
    // Twilio creates the message, then the connection drops mid-answer: the engine cannot tell it was sent.
    twilioFake.failNext(1, { malformed: 'truncated' });
    await publishLeadsScored(publisher, [didEvent(contact, 'Table Booked', { phone }, { time: '19:30' })]);
    await finished(enrollmentOf('lost-text', contact));
    // Before texting again the engine reads the number's texts since the first attempt and finds this one.
    const [sent] = twilioFake.messagesTo(phone);
    expect(twilioFake.messagesTo(phone).map((m) => m.body)).toEqual(['See you at 19:30']);
    const [message] = await messages.find({ enrollmentId: enrollmentOf('lost-text', contact) }).lean();
    expect(message).toMatchObject({ status: 'sent', attempts: 1, providerMessageId: sent?.sid });
  }, 60_000);

  it('texts through Twilio’s SDK once, with SMS consent; without it the text is skipped', async () => {
    await publishJourney('sms-welcome', {
      name: 'SMS welcome',
      entry: { on: 'event', event: 'App Installed' },
      steps: [{ id: 'hello', type: 'sms', body: 'Hi {{ contact.firstName }}, welcome aboard' }],
    });
    const texted = `${run}-texted`;
    const silent = `${run}-silent`;
    const phone = '+4915112345678';
    await publishLeadsScored(publisher, [
      didEvent(texted, 'App Installed', { firstName: 'Ada', phone, smsMarketingConsent: 'true' }),
      didEvent(silent, 'App Installed', { firstName: 'Bo', phone: '+4915187654321' }),
    ]);
    await finished(enrollmentOf('sms-welcome', texted));
    await finished(enrollmentOf('sms-welcome', silent));
    expect(twilioFake.messagesTo(phone).map((m) => m.body)).toEqual(['Hi Ada, welcome aboard']);
    expect(twilioFake.messagesTo('+4915187654321')).toEqual([]);
    const [sent] = await messages.find({ enrollmentId: enrollmentOf('sms-welcome', texted) }).lean();
    expect(sent).toMatchObject({ channel: 'sms', provider: 'twilio', status: 'sent', recipient: '+49***78' });
    expect(sent?.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    const [skipped] = await messages.find({ enrollmentId: enrollmentOf('sms-welcome', silent) }).lean();
    expect(skipped).toMatchObject({ channel: 'sms', status: 'skipped', reason: 'no-consent' });
  }, 60_000);
});

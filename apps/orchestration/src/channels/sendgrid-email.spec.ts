// SendGridEmail through @sendgrid/mail against the local SendGrid fake: emails of one body go as one request.
import { FakeSendGrid } from '@tributary/sandbox';
import { SendGridEmail, type OutgoingEmail, type ProviderResult } from './email-provider';

const KEY = 'SG.sendgrid-email-spec';
const MAIL_SEND = '/v3/mail/send';

function email(to: string, overrides: Partial<OutgoingEmail> = {}): OutgoingEmail {
  return {
    to,
    from: 'news@tributary.example',
    subject: `Hello ${to}`,
    html: '<p>Our spring catalogue is out</p>',
    headers: {
      'List-Unsubscribe': `<https://tributary.example/v1/unsubscribe/${to}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    customArgs: { tributary_message_key: `key-${to}` },
    categories: ['marketing'],
    ...overrides,
  };
}

describe('SendGridEmail', () => {
  const fake = new FakeSendGrid({ apiKey: KEY });
  let provider: SendGridEmail;

  beforeAll(async () => {
    provider = new SendGridEmail({ apiKey: KEY, baseUrl: await fake.start(), timeoutMs: 5_000 });
  });
  beforeEach(() => fake.reset());
  afterAll(() => fake.stop());

  it('sends emails of one body together: one request, a personalization each with its own subject, headers and args', async () => {
    const addresses = ['ada@example.com', 'bo@example.com', 'cy@example.com'];
    const results = await Promise.all(addresses.map((to) => provider.send(email(to))));

    expect(fake.count(MAIL_SEND)).toBe(1);
    const messageId = fake.messages[0]?.messageId;
    expect(results).toEqual(addresses.map(() => ({ ok: true, providerMessageId: messageId })));
    expect(
      fake.messages.map((m) => ({
        to: m.to.map((a) => a.email),
        subject: m.subject,
        html: m.html,
        unsubscribe: m.headers['List-Unsubscribe'],
        key: m.customArgs['tributary_message_key'],
      })),
    ).toEqual(
      addresses.map((to) => ({
        to: [to],
        subject: `Hello ${to}`,
        html: '<p>Our spring catalogue is out</p>',
        unsubscribe: `<https://tributary.example/v1/unsubscribe/${to}>`,
        key: `key-${to}`,
      })),
    );
  });

  it('sends different bodies as requests of their own', async () => {
    await Promise.all([
      provider.send(email('ada@example.com')),
      provider.send(email('bo@example.com', { html: '<p>Your cart is waiting</p>' })),
      provider.send(email('cy@example.com')),
    ]);
    expect(fake.count(MAIL_SEND)).toBe(2);
    expect(fake.messagesTo('bo@example.com').map((m) => m.html)).toEqual(['<p>Your cart is waiting</p>']);
    expect(fake.messages).toHaveLength(3);
  });

  it('a request refused for one bad address goes again one email at a time: only that email is refused', async () => {
    const results = await Promise.all(
      ['ada@example.com', 'not-an-address', 'cy@example.com'].map((to) => provider.send(email(to))),
    );
    // The request of three, then each on its own.
    expect(fake.count(MAIL_SEND)).toBe(4);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    expect(results[1]).toMatchObject({ ok: false, retryable: false });
    expect((results[1] as Extract<ProviderResult, { ok: false }>).reason).toMatch(
      /^sendgrid 400: personalizations/,
    );
    expect(fake.messages.map((m) => m.to[0]?.email)).toEqual(['ada@example.com', 'cy@example.com']);
  });

  it('gives every email of a rate-limited request the answer: retry after what Retry-After says', async () => {
    fake.failNext(1, { status: 429, retryAfterSeconds: 7 });
    const results = await Promise.all(
      ['ada@example.com', 'bo@example.com'].map((to) => provider.send(email(to))),
    );
    expect(fake.count(MAIL_SEND)).toBe(1);
    expect(results).toEqual([
      expect.objectContaining({ ok: false, retryable: true, rateLimited: true, retryAfterMs: 7_000 }),
      expect.objectContaining({ ok: false, retryable: true, rateLimited: true, retryAfterMs: 7_000 }),
    ]);
    expect(fake.messages).toEqual([]);
  });
});

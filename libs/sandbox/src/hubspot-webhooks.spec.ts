/**
 * The HubSpot fake's webhook subscription: a UI edit and an app's write each posted as property changes with who made
 * them, signed as HubSpot's v3 validation guide says, gathered up to 100 a request, and retried with the attempt
 * number while the target fails.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeHubSpot } from './fake-hubspot';
import type { HubSpotWebhookEvent } from './hubspot-webhooks';
import { hubSpotClientFor } from './sdk-clients';

const SECRET = 'client-secret-of-the-app';
const TOKEN = 'pat-na1-webhooks';
let target: Server;
let received: { headers: Record<string, string | string[] | undefined>; body: string }[];
let answers: number[];
let fake: FakeHubSpot;

beforeEach(async () => {
  received = [];
  answers = [];
  target = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(answers.shift() ?? 204).end();
    });
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
});

afterEach(async () => {
  await fake.stop();
  await new Promise((resolve) => target.close(resolve));
});

async function startFake(subscriptions?: string[]): Promise<string> {
  const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/v1/webhooks/hubspot/ws_demo`;
  fake = new FakeHubSpot({
    accessTokens: { [TOKEN]: '4242' },
    webhooks: { targetUrl, clientSecret: SECRET, subscriptions, retryMs: 20 },
  });
  await fake.start();
  return targetUrl;
}

const until = async (done: () => boolean) => {
  for (let i = 0; i < 200 && !done(); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!done()) throw new Error('timed out waiting for webhooks');
};
const eventsOf = (body: string) => JSON.parse(body) as HubSpotWebhookEvent[];

describe('FakeHubSpot webhooks', () => {
  it('posts a UI edit and an app’s write as property changes, signed with the client secret', async () => {
    const url = await startFake(['contact.propertyChange']);
    const [id = ''] = fake.seed('contacts', [{ email: 'ada@example.com' }]);
    fake.edit('contacts', id, { firstname: 'Ada' });
    await until(() => received.length === 1);
    await hubSpotClientFor(fake.baseUrl, TOKEN).crm.contacts.basicApi.update(id, {
      properties: { lastname: 'Lovelace' },
    });
    await until(() => received.length === 2);

    const events = received.flatMap((r) => eventsOf(r.body));
    expect(events).toEqual([
      expect.objectContaining({
        subscriptionType: 'contact.propertyChange',
        objectId: Number(id),
        propertyName: 'firstname',
        propertyValue: 'Ada',
        changeSource: 'CRM_UI',
        attemptNumber: 0,
        portalId: fake.portalId,
      }),
      expect.objectContaining({
        propertyName: 'lastname',
        propertyValue: 'Lovelace',
        changeSource: 'INTEGRATION',
        sourceId: '4242',
      }),
    ]);
    for (const { headers, body } of received) {
      const timestamp = String(headers['x-hubspot-request-timestamp']);
      const expected = createHmac('sha256', SECRET).update(`POST${url}${body}${timestamp}`).digest('base64');
      expect(headers['x-hubspot-signature-v3']).toBe(expected);
      expect(Math.abs(Date.now() - Number(timestamp))).toBeLessThan(5_000);
    }
  });

  it('gathers events up to 100 a request, and sends only the subscribed types', async () => {
    await startFake(['contact.propertyChange']);
    const ids = fake.seed(
      'contacts',
      Array.from({ length: 150 }, (_, i) => ({ email: `p${i}@example.com` })),
    );
    for (const id of ids) fake.edit('contacts', id, { lastname: 'Edited' });
    await until(() => received.flatMap((r) => eventsOf(r.body)).length === 150);
    expect(received.map((r) => eventsOf(r.body).length)).toEqual([100, 50]);
    expect(new Set(received.flatMap((r) => eventsOf(r.body).map((e) => e.subscriptionType)))).toEqual(
      new Set(['contact.propertyChange']),
    );
  });

  it('tries a request again while the target fails, counting attempts', async () => {
    await startFake();
    answers = [503, 500];
    fake.seed('contacts', [{ email: 'retry@example.com' }]);
    // The sender records a status once the answer is in, after the target saw the request.
    await until(() => fake.webhooks?.deliveries[0]?.statuses.length === 3);
    expect(received.map((r) => eventsOf(r.body)[0]?.attemptNumber)).toEqual([0, 1, 2]);
    expect(eventsOf(received[2]?.body ?? '[]')[0]).toMatchObject({
      subscriptionType: 'contact.creation',
      changeSource: 'IMPORT',
    });
    expect(fake.webhooks?.deliveries.map((d) => d.statuses)).toEqual([[503, 500, 204]]);
  });
});

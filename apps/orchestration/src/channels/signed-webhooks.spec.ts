import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignedWebhooks, isPrivateAddress, webhookSignature } from './signed-webhooks';

const SECRET = 'whsec_0123456789abcdef';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver answering from a script of statuses (then 200), keeping every request. */
async function receiver(answers: { status: number; headers?: Record<string, string> }[] = []) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const answer = answers.shift() ?? { status: 200 };
      res.writeHead(answer.status, answer.headers ?? {}).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/journey`;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { received, url, stop };
}

const webhook = (url: string, attempt = 1) => ({
  url,
  body: '{"contact":{"id":"c-1"}}',
  secret: SECRET,
  key: 'ws:j:c-1:0:crm:2',
  attempt,
});

describe('signed webhooks', () => {
  it('signs timestamp.body with HMAC-SHA256 as the receiver can check it', async () => {
    const hook = await receiver();
    try {
      const poster = new SignedWebhooks({
        timeoutMs: 2_000,
        allowPrivateNetworks: true,
        now: () => 1_767_225_600_000,
      });
      expect(await poster.post(webhook(hook.url))).toEqual({ ok: true, status: 200 });
      const [request] = hook.received;
      expect(request?.headers['content-type']).toBe('application/json');
      expect(request?.headers['idempotency-key']).toBe('ws:j:c-1:0:crm:2');
      // The receiver's own check, written out as a receiver would: t and v1 from the header, HMAC over "t.body".
      const header = String(request?.headers['tributary-signature']);
      const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
      expect(parts['t']).toBe('1767225600');
      const expected = createHmac('sha256', SECRET)
        .update(`${parts['t']}.${request?.body ?? ''}`)
        .digest('hex');
      expect(parts['v1']).toBe(expected);
      expect(header).toBe(webhookSignature(SECRET, 1_767_225_600, request?.body ?? ''));
      // A different secret does not produce it.
      expect(webhookSignature('another-secret-value', 1_767_225_600, request?.body ?? '')).not.toBe(header);
    } finally {
      await hook.stop();
    }
  });

  it('says which answers may pass: 429 with its Retry-After and 5xx, not 4xx or a redirect', async () => {
    const hook = await receiver([
      { status: 429, headers: { 'retry-after': '7' } },
      { status: 502 },
      { status: 410 },
      { status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data' } },
    ]);
    try {
      const poster = new SignedWebhooks({ timeoutMs: 2_000, allowPrivateNetworks: true });
      expect(await poster.post(webhook(hook.url))).toEqual({
        ok: false,
        retryable: true,
        retryAfterMs: 7_000,
        reason: 'webhook 429',
      });
      expect(await poster.post(webhook(hook.url))).toMatchObject({
        ok: false,
        retryable: true,
        reason: 'webhook 502',
      });
      expect(await poster.post(webhook(hook.url))).toEqual({
        ok: false,
        retryable: false,
        reason: 'webhook 410',
      });
      expect(await poster.post(webhook(hook.url))).toEqual({
        ok: false,
        retryable: false,
        reason: 'webhook 302',
      });
      expect(hook.received).toHaveLength(4);
    } finally {
      await hook.stop();
    }
  });

  it('refuses loopback, private and metadata addresses unless allowed, by literal and by name', async () => {
    const hook = await receiver();
    try {
      const guarded = new SignedWebhooks({ timeoutMs: 2_000, allowPrivateNetworks: false });
      expect(await guarded.post(webhook(hook.url))).toEqual({
        ok: false,
        retryable: false,
        reason: 'private-address: 127.0.0.1',
      });
      // A name resolving to loopback is refused when the connection is made.
      const byName = hook.url.replace('127.0.0.1', 'localhost');
      expect(await guarded.post(webhook(byName))).toEqual({
        ok: false,
        retryable: false,
        reason: 'private-address: localhost',
      });
      expect(hook.received).toHaveLength(0);
    } finally {
      await hook.stop();
    }
    expect(
      ['10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fd00::1', '::ffff:127.0.0.1'].map(
        isPrivateAddress,
      ),
    ).toEqual([true, true, true, true, true, true, true]);
    expect(['93.184.216.34', '2606:2800:220:1::'].map(isPrivateAddress)).toEqual([false, false]);
  });

  it('counts a receiver that does not answer as retryable', async () => {
    const poster = new SignedWebhooks({ timeoutMs: 500, allowPrivateNetworks: true });
    // Nothing listens on port 9 (discard) here: the connection is refused.
    expect(await poster.post(webhook('http://127.0.0.1:9/hook'))).toMatchObject({
      ok: false,
      retryable: true,
      reason: expect.stringMatching(/^no-answer: /) as unknown as string,
    });
  });
});

import express, { type Request } from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { WorkspaceRateLimits, StaticWorkspaceKeys, type AuthFailureThrottle } from '@tributary/access';
import { refuseThrottledEarly, trackingBodyReader, type TrackingRequest } from './tracking-body';

/** A tracking route behind the early refusal, counting the bodies its reader got to. */
function trackingServer(limiter: WorkspaceRateLimits, failures?: AuthFailureThrottle) {
  const read: unknown[] = [];
  const app = express();
  app.use(
    '/v1/batch',
    refuseThrottledEarly(new StaticWorkspaceKeys('key-a:ws_a,key-b:ws_b'), limiter, failures),
    trackingBodyReader,
  );
  app.post('/v1/batch', (req, res) => {
    read.push((req as TrackingRequest).trackingBody);
    res.json({ success: true });
  });
  return { app, read };
}

async function withServer<T>(app: express.Express, run: (url: string) => Promise<T>): Promise<T> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    return await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const batch = JSON.stringify({
  batch: Array.from({ length: 2_000 }, (_, i) => ({ type: 'track', userId: `u${i}`, event: 'E' })),
});
const post = (url: string, key: string) =>
  fetch(`${url}/v1/batch`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: batch,
  });

describe('refuseThrottledEarly (before the tracking body is read)', () => {
  it('answers a workspace in debt 429 without reading its body, and lets another workspace through', async () => {
    const limiter = new WorkspaceRateLimits(
      {
        credentialRequests: { perSecond: 100, burst: 100 },
        workspaceRequests: { perSecond: 100, burst: 100 },
        workspaceEvents: { perSecond: 1, burst: 1_000 },
      },
      () => ({ events: 2_000, bytes: 0 }),
      () => 0,
    );
    // The first oversized batch is admitted from a full bucket and leaves workspace A in debt.
    const principalA = { workspaceId: 'ws_a', scopes: ['*'], credentialId: 'static:ws_a' };
    expect(limiter.take(principalA, {} as Request).allowed).toBe(true);
    const { app, read } = trackingServer(limiter);
    await withServer(app, async (url) => {
      const refused = await post(url, 'key-a');
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await refused.json()).toMatchObject({ error: 'rate_limited', allowance: 'workspace-events' });
      expect(read).toHaveLength(0);

      const other = await post(url, 'key-b');
      expect(other.status).toBe(200);
      expect(read).toHaveLength(1);
    });
  });

  it('answers an address throttled for failed authentication 429 without reading the body', async () => {
    const limiter = new WorkspaceRateLimits({
      credentialRequests: { perSecond: 100, burst: 100 },
      workspaceRequests: { perSecond: 100, burst: 100 },
    });
    const failures: AuthFailureThrottle = { retryAfterSeconds: () => 30, failed: () => undefined };
    const { app, read } = trackingServer(limiter, failures);
    await withServer(app, async (url) => {
      const refused = await post(url, 'key-a');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('30');
      expect(read).toHaveLength(0);
    });
  });
});

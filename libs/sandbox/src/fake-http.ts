import {
  STATUS_CODES,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as a fake saw it; `at` is the fake's clock on arrival, so tests can check a client's waits. */
export interface FakeRequest {
  method: string;
  /** Path with query, e.g. `/sandbox/messages?to=ada%40example.com`. */
  path: string;
  /** Path without query, e.g. `/v3/mail/send`. */
  pathname: string;
  status: number;
  at: number;
}

/**
 * What the next vendor request gets instead of its normal answer (checked after the credentials).
 * - `{ status, retryAfterSeconds?, body? }`: that status with the vendor's error body (or `body` verbatim), not
 *   processed.
 * - `{ malformed: 'garbage' }`: 200 labelled JSON whose body is not JSON (a proxy's page), not processed.
 * - `{ malformed: 'truncated' }`: processed as usual (the message IS stored), then the connection drops halfway
 *   through the answer: the client sees an error although the vendor took the request.
 */
export type InjectedFailure =
  { status: number; retryAfterSeconds?: number; body?: string } | { malformed: 'garbage' | 'truncated' };

/** A vendor's request budget: `requests` per fixed window of `windowMs`, then 429 until the window ends. */
export interface RateLimit {
  requests: number;
  windowMs: number;
}

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** When the current window ends, epoch ms. */
  resetAtMs: number;
}

/** What a fake's vendor POSTed to a webhook (Twilio status callback, SendGrid event batch) and what came back. */
export interface WebhookDelivery {
  url: string;
  status: number;
  body: string;
}

export interface FakeHttpApiOptions {
  rateLimit?: RateLimit;
  /** The fake's clock (epoch ms) for the rate-limit window, timestamps and idempotency expiry. */
  clock?: () => number;
}

export interface Exchange {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

export interface Reply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

export const jsonReply = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
});

/** What an upstream proxy answers when it has a bad moment: a 200 whose "JSON" is an HTML page. */
const GARBAGE = '<html><body><h1>502 Bad Gateway</h1></body></html>\n\u0000\u00ff';
/** Both vendors accept far larger bodies than any test sends; the cap only keeps a runaway client in check. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** Reads the whole body, or `undefined` once it passes `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** POSTs a webhook the way a vendor does: one try, no redirects, the answer recorded whatever it is. */
export async function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<WebhookDelivery> {
  // A receiver that hangs must fail the delivery, not the test that awaits it.
  const response = await fetch(url, {
    method: 'POST',
    body,
    headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(10_000),
  });
  return { url, status: response.status, body: await response.text() };
}

/**
 * The plumbing every vendor fake shares: a `node:http` server on an ephemeral port, a request log, the vendor's rate
 * limit, injected failures and an outage switch, and the sandbox read-back (`GET /sandbox/messages?to=`). A vendor
 * subclass says how credentials are checked, what its error bodies look like, and answers its own routes.
 */
export abstract class FakeHttpApi {
  /** Every request answered, in arrival order. */
  readonly requests: FakeRequest[] = [];
  protected readonly now: () => number;
  private readonly failures: InjectedFailure[] = [];
  private down = false;
  private window = { startedAt: Number.NEGATIVE_INFINITY, used: 0 };
  private server: Server | undefined;
  private url: string | undefined;

  protected constructor(private readonly httpOptions: FakeHttpApiOptions) {
    this.now = httpOptions.clock ?? Date.now;
  }

  /** Where the fake listens, e.g. `http://127.0.0.1:40123`; throws before `start()`. */
  get baseUrl(): string {
    if (this.url === undefined) throw new Error(`${this.constructor.name} is not started`);
    return this.url;
  }

  /** Listens on `port` (0 = an ephemeral one) and returns `baseUrl`. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.server) throw new Error(`${this.constructor.name} is already started`);
    const server = createServer((req, res) => {
      const at = this.now();
      void this.handle(req, at)
        .catch((error: unknown) => ({ reply: this.error(500, (error as Error).message), truncate: false }))
        .then(({ reply, truncate }) => {
          // Logged before the answer leaves, so a client that has its answer also finds it in the log.
          const url = new URL(req.url ?? '/', 'http://fake');
          this.requests.push({
            method: req.method ?? 'GET',
            path: url.pathname + url.search,
            pathname: url.pathname,
            status: reply.status,
            at,
          });
          this.write(res, reply, truncate);
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.url = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `count` vendor requests (after the credential check) get `failure`, e.g. `{ status: 500 }`. */
  failNext(count: number, failure: InjectedFailure = { status: 503 }): void {
    for (let i = 0; i < count; i += 1) this.failures.push(failure);
  }

  /** While on, every vendor request (after the credential check) gets 503 with Retry-After: 1. */
  outage(on: boolean): void {
    this.down = on;
  }

  /** How many requests reached `pathname`, whatever their answer. */
  count(pathname: string): number {
    return this.requests.filter((r) => r.pathname === pathname).length;
  }

  /** Forgets the log, pending failures, the outage and the rate-limit window; subclasses also forget what they kept. */
  reset(): void {
    this.requests.length = 0;
    this.failures.length = 0;
    this.down = false;
    this.window = { startedAt: Number.NEGATIVE_INFINITY, used: 0 };
  }

  /** What `GET /sandbox/messages?to=` lists: the stored messages, to `to` when given. */
  protected abstract sandboxMessages(to: string | undefined): readonly unknown[];
  /** The vendor's answer to missing or wrong credentials, or `undefined` to let the request through. */
  protected abstract authenticate(exchange: Exchange): Reply | undefined;
  /** The vendor's error body for `status`. */
  protected abstract error(status: number, message: string, headers?: Record<string, string>): Reply;
  /**
   * The vendor's own routes, reached once credentials, failures and the rate limit let the request through; a promise
   * where answering takes time (Mailchimp's limit on simultaneous connections needs requests that overlap).
   */
  protected abstract route(exchange: Exchange): Reply | Promise<Reply>;

  /** Headers the vendor adds to every metered answer (SendGrid's X-RateLimit-*); none by default. */
  protected rateLimitHeaders(_state: RateLimitState): Record<string, string> {
    return {};
  }

  private async handle(req: IncomingMessage, at: number): Promise<{ reply: Reply; truncate: boolean }> {
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === undefined) return { reply: this.error(413, 'Payload Too Large'), truncate: false };
    const exchange: Exchange = {
      method: req.method ?? 'GET',
      url: new URL(req.url ?? '/', 'http://fake'),
      headers: req.headers,
      body,
      at,
    };
    // Sandbox-only read-back: no credentials, and never failed, throttled or counted against the budget.
    if (exchange.url.pathname.startsWith('/sandbox/'))
      return { reply: await this.sandbox(exchange), truncate: false };

    const denied = this.authenticate(exchange);
    if (denied) return { reply: denied, truncate: false };
    if (this.down)
      return { reply: this.error(503, 'Service Unavailable', { 'retry-after': '1' }), truncate: false };
    const failure = this.failures.shift();
    if (failure && 'status' in failure) {
      const retryAfter: Record<string, string> =
        failure.retryAfterSeconds === undefined ? {} : { 'retry-after': String(failure.retryAfterSeconds) };
      const reply =
        failure.body === undefined
          ? this.error(failure.status, STATUS_CODES[failure.status] ?? 'Injected failure', retryAfter)
          : {
              status: failure.status,
              body: failure.body,
              headers: { 'content-type': 'application/json', ...retryAfter },
            };
      return { reply, truncate: false };
    }
    if (failure?.malformed === 'garbage')
      return {
        reply: { status: 200, body: GARBAGE, headers: { 'content-type': 'application/json' } },
        truncate: false,
      };

    const metered = this.meter(at);
    if (metered.refused) return { reply: metered.refused, truncate: false };
    const reply = await this.route(exchange);
    return {
      reply: { ...reply, headers: { ...reply.headers, ...metered.headers } },
      truncate: failure?.malformed === 'truncated',
    };
  }

  /** Takes one request from the current window: the vendor's rate-limit headers, or its 429 once spent. */
  private meter(at: number): { headers: Record<string, string>; refused?: Reply } {
    const limit = this.httpOptions.rateLimit;
    if (!limit) return { headers: {} };
    if (at - this.window.startedAt >= limit.windowMs) this.window = { startedAt: at, used: 0 };
    const resetAtMs = this.window.startedAt + limit.windowMs;
    if (this.window.used >= limit.requests) {
      const headers = this.rateLimitHeaders({ limit: limit.requests, remaining: 0, resetAtMs });
      const retryAfter = Math.max(1, Math.ceil((resetAtMs - at) / 1000));
      return {
        headers,
        refused: this.error(429, 'Too Many Requests', { ...headers, 'retry-after': String(retryAfter) }),
      };
    }
    this.window.used += 1;
    return {
      headers: this.rateLimitHeaders({
        limit: limit.requests,
        remaining: limit.requests - this.window.used,
        resetAtMs,
      }),
    };
  }

  /** Sandbox-only routes a vendor fake adds besides the read-back (a simulated inbound text); undefined = not one. */
  protected sandboxRoute(_exchange: Exchange): Promise<Reply> | undefined {
    return undefined;
  }

  private async sandbox(exchange: Exchange): Promise<Reply> {
    const extra = this.sandboxRoute(exchange);
    if (extra) return extra;
    if (exchange.url.pathname !== '/sandbox/messages') return this.error(404, 'Not Found');
    if (exchange.method !== 'GET') return this.error(405, 'Method Not Allowed');
    return jsonReply(200, this.sandboxMessages(exchange.url.searchParams.get('to') ?? undefined));
  }

  private write(res: ServerResponse, reply: Reply, truncate: boolean): void {
    const body = Buffer.from(reply.body ?? '');
    if (!truncate) {
      res.writeHead(reply.status, { ...reply.headers, 'content-length': String(body.length) });
      res.end(body);
      return;
    }
    // Promise the whole body, send half (none of an empty one), then drop the connection mid-answer.
    res.writeHead(reply.status, { ...reply.headers, 'content-length': String(Math.max(body.length, 1)) });
    res.flushHeaders();
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
  }
}

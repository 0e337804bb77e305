import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { BlockList, isIP } from 'node:net';
import axios, { isAxiosError, type AxiosInstance } from 'axios';
import { retryAfterMs } from './email-provider';

/** One delivery attempt of a webhook step. */
export interface OutgoingWebhook {
  url: string;
  /** The JSON body, exactly as signed. */
  body: string;
  secret: string;
  /** The step's deterministic key: the Idempotency-Key header, so a receiver can drop a repeat. */
  key: string;
  attempt: number;
}

export type WebhookResult =
  { ok: true; status: number } | { ok: false; retryable: boolean; retryAfterMs?: number; reason: string };

export interface WebhookPoster {
  readonly name: string;
  post(webhook: OutgoingWebhook): Promise<WebhookResult>;
}

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the Tributary-Signature header. A receiver recomputes it
 * over the raw body and refuses an old `t` (a replayed delivery).
 */
export function webhookSignature(secret: string, timestampSeconds: number, body: string): string {
  const digest = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${timestampSeconds},v1=${digest}`;
}

// Where a marketer's URL must not lead: this host, the private networks around it, cloud metadata endpoints.
const PRIVATE = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(network, prefix, 'ipv6');

/** Whether an address is loopback, private, link-local, shared or multicast (IPv4-mapped IPv6 as its IPv4). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return PRIVATE.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** dns.lookup that answers only public addresses: checked at connect time, so a DNS rebinding cannot slip past. */
function publicLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) {
      callback(error, '');
      return;
    }
    const allowed = addresses.filter((a) => !isPrivateAddress(a.address));
    if (allowed.length === 0) {
      const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to a private address`);
      refused.code = 'EPRIVATEADDRESS';
      callback(refused, '');
      return;
    }
    const [first] = allowed as [LookupAddress];
    if (options.all) callback(null, allowed);
    else callback(null, first.address, first.family);
  });
}

/**
 * Signed JSON POSTs (axios): HMAC-SHA256 over `timestamp.body` in `Tributary-Signature`, the step's key in
 * `Idempotency-Key`, no redirects followed (a redirect could lead anywhere), and unless allowed, no connection to a
 * private or loopback address. One attempt per call: the engine keeps retries durable, on the enrollment's timer.
 */
export class SignedWebhooks implements WebhookPoster {
  readonly name = 'webhook';
  private readonly http: AxiosInstance;

  constructor(
    private readonly options: { timeoutMs: number; allowPrivateNetworks: boolean; now?: () => number },
  ) {
    const lookup = options.allowPrivateNetworks ? undefined : publicLookup;
    this.http = axios.create({
      timeout: options.timeoutMs,
      maxRedirects: 0,
      // The receiver's answer is only read for its status: a big body is not ours to hold.
      maxContentLength: 64 * 1024,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
      httpAgent: new HttpAgent({ keepAlive: true, ...(lookup ? { lookup } : {}) }),
      httpsAgent: new HttpsAgent({ keepAlive: true, ...(lookup ? { lookup } : {}) }),
    });
  }

  async post(webhook: OutgoingWebhook): Promise<WebhookResult> {
    const host = new URL(webhook.url).hostname.replace(/^\[|\]$/g, '');
    // An address literal never reaches the lookup, so it is checked here.
    if (!this.options.allowPrivateNetworks && isIP(host) !== 0 && isPrivateAddress(host))
      return { ok: false, retryable: false, reason: `private-address: ${host}` };
    const timestamp = Math.floor((this.options.now ?? Date.now)() / 1000);
    try {
      const response = await this.http.post<string>(webhook.url, webhook.body, {
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tributary-Webhooks/1.0',
          'tributary-signature': webhookSignature(webhook.secret, timestamp, webhook.body),
          'idempotency-key': webhook.key,
          'tributary-attempt': String(webhook.attempt),
        },
      });
      const { status } = response;
      if (status >= 200 && status < 300) return { ok: true, status };
      const reason = `webhook ${status}`;
      if (status === 408 || status === 429 || status >= 500)
        return {
          ok: false,
          retryable: true,
          retryAfterMs: retryAfterMs(response.headers['retry-after'] as string | undefined),
          reason,
        };
      // 3xx (not followed) and other 4xx: the receiver will answer the same again.
      return { ok: false, retryable: false, reason };
    } catch (error) {
      const code = isAxiosError(error)
        ? ((error.cause as NodeJS.ErrnoException | undefined)?.code ?? error.code)
        : undefined;
      if (code === 'EPRIVATEADDRESS')
        return { ok: false, retryable: false, reason: `private-address: ${host}` };
      // Timeouts, refused connections, resets: the receiver may be back later.
      return { ok: false, retryable: true, reason: `no-answer: ${code ?? (error as Error).message}` };
    }
  }
}

/**
 * Demo traffic: a steady stream of Segment-style track calls from a handful of prospects into the ingestion API,
 * so the flow is visible in the reporting API. `npm run demo -- --rate 5 --duration 60`
 */
import { Command, InvalidArgumentError } from 'commander';

const EVENTS = [
  'Page Viewed',
  'Pricing Page Viewed',
  'Email Clicked',
  'Demo Requested',
  'Webinar Registered',
];
const WEIGHTS = [0.5, 0.2, 0.15, 0.05, 0.1];

function pickEvent(random: () => number): string {
  let r = random();
  for (const [i, weight] of WEIGHTS.entries()) {
    if ((r -= weight) <= 0) return EVENTS[i] ?? 'Page Viewed';
  }
  return 'Page Viewed';
}

export interface DemoTrafficOptions {
  ingestionUrl: string;
  writeKey: string;
  ratePerSecond: number;
  /** Stop after this many seconds (0 = until stopped). */
  durationSeconds: number;
  signal?: AbortSignal;
  onSent?: (sent: number, failed: number) => void;
}

/** Sends track calls at the given rate until the duration elapses or the signal aborts. */
export async function sendDemoTraffic(
  options: DemoTrafficOptions,
): Promise<{ sent: number; failed: number }> {
  const auth = `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`;
  const stopAt =
    options.durationSeconds > 0 ? Date.now() + options.durationSeconds * 1000 : Number.POSITIVE_INFINITY;
  let sent = 0;
  let failed = 0;
  const interval = 1000 / options.ratePerSecond;
  while (Date.now() < stopAt && !options.signal?.aborted) {
    const prospect = `prospect-${1 + Math.floor(Math.random() * 25)}`;
    const body = { userId: prospect, event: pickEvent(Math.random), properties: { source: 'demo' } };
    const ok = await fetch(`${options.ingestionUrl}/v1/track`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    })
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) sent += 1;
    else failed += 1;
    options.onSent?.(sent, failed);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  return { sent, failed };
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a non-negative number');
  return n;
}

if (require.main === module) {
  const opts = new Command('demo')
    .option('--url <url>', 'ingestion base URL', 'http://127.0.0.1:3000')
    .option('--key <key>', 'write key', 'demo-write-key')
    .option('--rate <n>', 'track calls per second', positive, 5)
    .option('--duration <s>', 'seconds to run (0 = until Ctrl-C)', positive, 30)
    .parse()
    .opts<{ url: string; key: string; rate: number; duration: number }>();
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  sendDemoTraffic({
    ingestionUrl: opts.url,
    writeKey: opts.key,
    ratePerSecond: opts.rate,
    durationSeconds: opts.duration,
    signal: controller.signal,
    onSent: (sent, failed) => {
      if ((sent + failed) % 25 === 0) console.log(`demo traffic: ${sent} sent, ${failed} failed`);
    },
  }).then(({ sent, failed }) => console.log(`demo traffic done: ${sent} sent, ${failed} failed`));
}

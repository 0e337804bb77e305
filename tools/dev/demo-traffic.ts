/**
 * Demo traffic: Segment-style track calls from a cast of prospects into the ingestion API, an identify call the
 * first time each prospect shows up (their email links tracking to leads), and now and then a lead-form submission
 * from one of them, so the flow is visible in reporting and the lead pipeline (score, stage, owner) in leads. Page
 * views carry UTM campaigns (Segment's `context.campaign`) or a referrer, orders carry revenue and, given the lead
 * service's URL, owners accept some leads: the dashboard's funnel, attribution and source cuts then have something
 * to show.
 * `npm run demo -- --rate 5 --duration 60 --lead-every 4`
 */
import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import { DEMO_WRITE_KEY } from './demo-workspace';

const EVENTS = [
  'Page Viewed',
  'Pricing Page Viewed',
  'Email Clicked',
  'Demo Requested',
  'Webinar Registered',
  'Cart Abandoned',
];
const WEIGHTS = [0.45, 0.2, 0.15, 0.05, 0.1, 0.05];

/** Where page views come from: UTM-tagged campaigns (as Segment's `context.campaign`), a referring site, or direct. */
interface Arrival {
  campaign?: { source: string; medium: string; name: string };
  referrer?: string;
}
const ARRIVALS: readonly Arrival[] = [
  { campaign: { source: 'google', medium: 'cpc', name: 'spring-launch' } },
  { campaign: { source: 'linkedin', medium: 'paid-social', name: 'abm-q4' } },
  { campaign: { source: 'newsletter', medium: 'email', name: 'monthly-digest' } },
  { referrer: 'https://news.ycombinator.com/item?id=4242' },
  { campaign: { source: 'g2', medium: 'review', name: 'category-leader' } },
  {},
];
const SITE = 'https://www.tributary.example';
const PAGES = ['/', '/pricing', '/blog/lead-scoring-101', '/customers', '/integrations/hubspot'];

/** Form ids of the demo site; `contact-sales` is the rare, valuable one. */
const FORMS = ['whitepaper-download', 'webinar-signup', 'newsletter', 'contact-sales'];
const FORM_WEIGHTS = [0.4, 0.3, 0.2, 0.1];

function pick<T>(values: readonly T[], weights: readonly number[], random: () => number): T {
  let r = random();
  for (const [i, weight] of weights.entries()) {
    if ((r -= weight) <= 0) return values[i] ?? (values[0] as T);
  }
  return values[0] as T;
}

/** A demo prospect: one person, known by a user id to tracking and by an email to lead forms. */
export interface DemoProspect {
  userId: string;
  email: string;
  firstName: string;
  lastName: string;
  title: string;
  company: string;
  /** ISO 3166-1 alpha-2, as the form sends it; routing's territory rule reads it. */
  country: string;
}

const person = (
  n: number,
  firstName: string,
  lastName: string,
  title: string,
  company: string,
  domain: string,
  country: string,
): DemoProspect => ({
  userId: `prospect-${n}`,
  email: `${firstName}.${lastName}@${domain}`.toLowerCase(),
  firstName,
  lastName,
  title,
  company,
  country,
});

/**
 * The cast. Company domains come from the lead service's bundled company table (apps/leads/src/enrichment/data/
 * companies.json), so offline enrichment adds size, industry and region without any provider; one free-mail
 * address shows the penalty for that.
 */
export const DEMO_PROSPECTS: readonly DemoProspect[] = [
  person(1, 'Ada', 'Lovelace', 'VP Marketing', 'Brightlane Analytics', 'brightlane.example', 'DE'),
  person(2, 'Ben', 'Okafor', 'Head of Growth', 'Helio Payments', 'heliopay.example', 'GB'),
  person(3, 'Chloe', 'Martin', 'Marketing Manager', 'Fernway Retail Group', 'fernway.example', 'FR'),
  person(4, 'Daan', 'Visser', 'Director of Operations', 'Quarry Logistics', 'quarrylogistics.example', 'NL'),
  person(5, 'Elena', 'Garcia', 'CMO', 'Lumen Grid Energy', 'lumengrid.example', 'ES'),
  person(6, 'Finn', 'Murphy', 'Software Engineer', 'Parcelwise', 'parcelwise.example', 'IE'),
  person(7, 'Greta', 'Lindqvist', 'Head of Digital', 'Orbitwave', 'orbitwave.example', 'SE'),
  person(8, 'Hana', 'Keller', 'Chief Data Officer', 'Northstar Bio', 'northstarbio.example', 'CH'),
  person(9, 'Grace', 'Hopper', 'VP Engineering', 'Copperleaf', 'copperleaf.example', 'CA'),
  person(10, 'Marcus', 'Reed', 'Director of Demand Generation', 'Redwood HR', 'redwoodhr.example', 'US'),
  person(11, 'Priya', 'Nair', 'Marketing Operations Lead', 'Tidewater Capital', 'tidewatercap.example', 'US'),
  person(12, 'Tom', 'Becker', 'Procurement Manager', 'Cobalt Ridge', 'cobaltridge.example', 'US'),
  person(13, 'Olivia', 'Chen', 'Head of Marketing', 'Vantage Loop', 'vantageloop.example', 'US'),
  person(14, 'Sam', 'Patel', 'Data Analyst', 'Tandem Health Systems', 'tandemhealth.example', 'US'),
  person(15, 'Ken', 'Sato', 'Director of IT', 'Sakura Robotics', 'sakurarobotics.example', 'JP'),
  person(16, 'Jo', 'Miller', 'Student', 'Freelance', 'gmail.com', 'US'),
];

/**
 * A page view by `prospect`: mostly from the campaign that first brought them (so the funnel's source cuts stay
 * stable), now and then from another (so attribution has several touches to share credit between).
 */
export function pageViewOf(prospect: DemoProspect, random: () => number): Record<string, unknown> {
  const own = Number(prospect.userId.replace(/\D/g, '')) % ARRIVALS.length;
  const arrival = ARRIVALS[random() < 0.7 ? own : Math.floor(random() * ARRIVALS.length)] ?? {};
  const path = PAGES[Math.floor(random() * PAGES.length)] ?? '/';
  const utm = arrival.campaign
    ? `?utm_source=${arrival.campaign.source}&utm_medium=${arrival.campaign.medium}&utm_campaign=${arrival.campaign.name}`
    : '';
  const page = { path, url: `${SITE}${path}${utm}`, referrer: arrival.referrer ?? '' };
  return {
    userId: prospect.userId,
    name: path,
    properties: page,
    context: { page, ...(arrival.campaign ? { campaign: arrival.campaign } : {}) },
  };
}

/** Consents the demo forms collect (npm start requires privacy_policy for ws_demo). */
const FORM_CONSENTS = { email_marketing: true, privacy_policy: true };

export interface DemoTrafficOptions {
  ingestionUrl: string;
  writeKey: string;
  /** The lead service: when given, owners accept about one lead form in three a little later (the lead turns SQL). */
  leadsUrl?: string;
  ratePerSecond: number;
  /** Stop after this many seconds (0 = until stopped). */
  durationSeconds: number;
  /** A lead-form submission every this many seconds (0 = none); default 4. */
  leadEverySeconds?: number;
  signal?: AbortSignal;
  onSent?: (sent: number, failed: number) => void;
  /** A call that was refused or failed, e.g. to show why on the console. */
  onFailure?: (path: string, reason: string) => void;
}

export interface DemoTrafficResult {
  /** Calls accepted (track, identify and lead forms). */
  sent: number;
  failed: number;
  /** Lead-form submissions accepted. */
  leads: number;
}

/** The body of a lead-form submission by `prospect` (the form's own fields at the top level, as a site posts them). */
export function leadFormOf(prospect: DemoProspect, formId: string): Record<string, unknown> {
  return {
    email: prospect.email,
    firstName: prospect.firstName,
    lastName: prospect.lastName,
    company: prospect.company,
    consents: FORM_CONSENTS,
    formId,
    submissionId: randomUUID(),
    title: prospect.title,
    country: prospect.country,
  };
}

/** The identify call that tells tracking who `prospect` is (Segment traits). */
export function identifyOf(prospect: DemoProspect): Record<string, unknown> {
  return {
    userId: prospect.userId,
    traits: {
      email: prospect.email,
      firstName: prospect.firstName,
      lastName: prospect.lastName,
      title: prospect.title,
      company: { name: prospect.company },
    },
  };
}

/**
 * Sends traffic at the given rate until the duration elapses or the signal aborts: track calls, an identify before
 * a prospect's first track call, and a lead form every `leadEverySeconds` in place of a track call.
 */
export async function sendDemoTraffic(options: DemoTrafficOptions): Promise<DemoTrafficResult> {
  const auth = `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`;
  const stopAt =
    options.durationSeconds > 0 ? Date.now() + options.durationSeconds * 1000 : Number.POSITIVE_INFINITY;
  const leadEveryMs = (options.leadEverySeconds ?? 4) * 1000;
  const result: DemoTrafficResult = { sent: 0, failed: 0, leads: 0 };
  const identified = new Set<string>();
  const post = async (path: string, body: unknown): Promise<boolean> => {
    const outcome = await fetch(`${options.ingestionUrl}${path}`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    })
      .then(async (r) => (r.ok ? null : `${r.status} ${(await r.text()).slice(0, 300)}`))
      .catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
    if (outcome === null) result.sent += 1;
    else {
      result.failed += 1;
      options.onFailure?.(path, outcome);
    }
    options.onSent?.(result.sent, result.failed);
    return outcome === null;
  };
  const interval = 1000 / options.ratePerSecond;
  let nextLeadAt = leadEveryMs > 0 ? Date.now() : Number.POSITIVE_INFINITY;
  while (Date.now() < stopAt && !options.signal?.aborted) {
    const prospect =
      DEMO_PROSPECTS[Math.floor(Math.random() * DEMO_PROSPECTS.length)] ??
      (DEMO_PROSPECTS[0] as DemoProspect);
    if (Date.now() >= nextLeadAt) {
      // From now, not from the due time: a slow stretch must not end in a burst of forms.
      nextLeadAt = Date.now() + leadEveryMs;
      const formId = pick(FORMS, FORM_WEIGHTS, Math.random);
      if (await post('/v1/leads', leadFormOf(prospect, formId))) {
        result.leads += 1;
        if (options.leadsUrl && Math.random() < 1 / 3) acceptLater(options.leadsUrl, auth, prospect.userId);
      }
    } else if (!identified.has(prospect.userId)) {
      if (await post('/v1/identify', identifyOf(prospect))) identified.add(prospect.userId);
    } else if (Math.random() < 0.3) {
      await post('/v1/page', pageViewOf(prospect, Math.random));
    } else {
      const event = pick(EVENTS, WEIGHTS, Math.random);
      // A cart has an id: the demo's abandoned-cart journey keeps one enrollment per cart.
      const cart =
        event === 'Cart Abandoned'
          ? { id: `cart-${randomUUID().slice(0, 8)}`, total: 49 + Math.round(Math.random() * 400) }
          : undefined;
      const properties = cart ? { source: 'demo', cart } : { source: 'demo' };
      await post('/v1/track', { userId: prospect.userId, event, properties });
      // Every other abandoned cart is bought a little later: the demo's cart journey then thanks instead of reminding.
      if (cart && Math.random() < 0.5) {
        // Segment's ecommerce spec: the order's revenue, which attribution shares out per channel.
        const order = {
          userId: prospect.userId,
          event: 'Order Completed',
          properties: { ...properties, revenue: cart.total },
        };
        const later = setTimeout(() => void post('/v1/track', order), 10_000);
        later.unref();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  return result;
}

/** The lead's owner accepts it once routing has had time to assign it; a lead without an owner yet is left alone. */
function acceptLater(leadsUrl: string, auth: string, userId: string): void {
  const later = setTimeout(() => {
    void fetch(`${leadsUrl}/v1/leads/${encodeURIComponent(userId)}/accept`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(5_000),
    }).catch(() => undefined);
  }, 20_000);
  later.unref();
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a non-negative number');
  return n;
}

if (require.main === module) {
  const opts = new Command('demo')
    .option('--url <url>', 'ingestion base URL', 'http://127.0.0.1:3000')
    .option('--key <key>', 'write key', DEMO_WRITE_KEY)
    .option('--rate <n>', 'calls per second', positive, 5)
    .option('--duration <s>', 'seconds to run (0 = until Ctrl-C)', positive, 30)
    .option('--lead-every <s>', 'a lead-form submission every this many seconds (0 = none)', positive, 4)
    .parse()
    .opts<{ url: string; key: string; rate: number; duration: number; leadEvery: number }>();
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  sendDemoTraffic({
    ingestionUrl: opts.url,
    writeKey: opts.key,
    ratePerSecond: opts.rate,
    durationSeconds: opts.duration,
    leadEverySeconds: opts.leadEvery,
    signal: controller.signal,
    onSent: (sent, failed) => {
      if ((sent + failed) % 25 === 0) console.log(`demo traffic: ${sent} sent, ${failed} failed`);
    },
    onFailure: (path, reason) => console.warn(`demo traffic: ${path} failed: ${reason}`),
  }).then(({ sent, failed, leads }) =>
    console.log(`demo traffic done: ${sent} sent (${leads} lead forms), ${failed} failed`),
  );
}

/**
 * The reporting dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core) against the
 * real stack: a hand-computed fixture goes through the real topics into reporting (started in this process), then the
 * browser signs in and reads each page. A wrong key is refused in words; every number a page shows equals the API's
 * JSON for the same query (the test fetches it too) and the hand-computed values; changing a filter changes the page
 * to the API's answer for the new query; a stalled sync connection and a stale topic are marked stalled, in red;
 * workspace B's key shows B's numbers, none of A's. A full-page screenshot of each page goes to artifacts/dashboard/.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  Topics,
  type ConnectorHealth,
  type LeadAccepted,
  type LeadAssigned,
  type LifecycleChanged,
} from '@tributary/contracts';
import { type EventPublisher, type OutgoingEvent, originMetadata } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import {
  connectTestPublisher,
  testServiceEnv,
  trackingEventFixture,
  uniqueId,
  waitFor,
} from '@tributary/testing';
import { ReportingModule } from '../app.module';
import type { AttributionReport } from '../attribution/attribution.controller';
import { loadReportingConfig } from '../config';
import type { FunnelReport, RoutingRow } from '../funnel/funnel.controller';
import type { IntegrationHealthReport } from '../health/health-reports';
import type { JourneyRow } from '../journeys/journey-report';
import type { JourneyReport } from '../journeys/journeys.controller';
import { deliveryOf, outcomeOf, runOf, stepOf } from '../journeys/testing/journey-events';
import type { Page as ApiPage } from '../api/report-query';
import { chromiumPath } from './testing/chromium';

const run = uniqueId('dash');
const wsA = `ws_dash_a_${run}`;
const wsB = `ws_dash_b_${run}`;
const keyA = `dash-key-a-${run}`;
const keyB = `dash-key-b-${run}`;
const TOPICS = [
  Topics.LifecycleChanged,
  Topics.LeadsAssigned,
  Topics.LeadsAccepted,
  Topics.TrackingEvents,
  Topics.JourneySteps,
  Topics.MessagesOutcomes,
  Topics.MessagesDeliveries,
  Topics.SyncConnectorHealth,
];
/** At the repository root, for a person to open after the run (git-ignored). */
const SCREENSHOTS = resolve(__dirname, '..', '..', '..', '..', 'artifacts', 'dashboard');

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const now0 = Date.now();
/** Hours after 2026-11-02T00:00Z (the workspaces' zone is UTC). */
const D1 = Date.parse('2026-11-02T00:00:00Z');
const h = (hours: number) => D1 + hours * HOUR;

let service: RunningService;
let publisher: EventPublisher;
let browser: Browser;
let page: Page;
/** Script errors and CSP refusals the page reported: any is a broken dashboard. */
const pageProblems: string[] = [];

// ---- the fixture ----------------------------------------------------------------------------------------------

const contact = (ws: string, id: string) => `${ws}:${id}`;

function lifecycle(ws: string, id: string, to: string, at: number): OutgoingEvent {
  const event: LifecycleChanged = {
    metadata: originMetadata({ workspaceId: ws, source: 'leads', occurredAt: at }),
    contactId: contact(ws, id),
    from: null,
    to,
    reason: 'test',
    score: null,
  };
  return { topic: Topics.LifecycleChanged, key: event.contactId, event };
}

function assigned(id: string, ownerId: string, at: number): OutgoingEvent {
  const event: LeadAssigned = {
    metadata: originMetadata({ workspaceId: wsA, source: 'leads', occurredAt: at }),
    contactId: contact(wsA, id),
    ownerId,
    teamId: 't1',
    ruleId: 'r1',
    reason: 'round-robin',
    previousOwnerId: null,
    assignedAt: at,
    acceptDueAt: at + HOUR,
  };
  return { topic: Topics.LeadsAssigned, key: event.contactId, event };
}

function accepted(id: string, ownerId: string, assignedAt: number, acceptedAt: number): OutgoingEvent {
  const event: LeadAccepted = {
    metadata: originMetadata({ workspaceId: wsA, source: 'leads', occurredAt: acceptedAt }),
    contactId: contact(wsA, id),
    ownerId,
    teamId: 't1',
    assignedAt,
    acceptedAt,
  };
  return { topic: Topics.LeadsAccepted, key: event.contactId, event };
}

/** A page view, accepted when it happened (not now: health's last 24 hours must not see it). */
function visit(ws: string, userId: string, at: number, url: string, referrer = ''): OutgoingEvent {
  const event = trackingEventFixture({
    metadata: { workspaceId: ws, occurredAt: at },
    callType: 'page',
    userId,
    timestamp: at,
    receivedAt: at,
    contextJson: JSON.stringify({ page: { url, referrer } }),
  });
  return { topic: Topics.TrackingEvents, key: userId, event };
}

function order(userId: string, at: number, revenue: number): OutgoingEvent {
  const event = trackingEventFixture({
    metadata: { workspaceId: wsA, occurredAt: at },
    callType: 'track',
    event: 'Order Completed',
    userId,
    timestamp: at,
    receivedAt: at,
    propertiesJson: JSON.stringify({ revenue, currency: 'EUR' }),
  });
  return { topic: Topics.TrackingEvents, key: userId, event };
}

function connectorReport(
  connectionId: string,
  state: Pick<ConnectorHealth, 'status' | 'lastSuccessAt' | 'consecutiveFailures' | 'lastError'>,
): OutgoingEvent {
  const event: ConnectorHealth = {
    metadata: originMetadata({ workspaceId: wsA, source: 'sync', occurredAt: now0 }),
    connectionId,
    connector: 'hubspot',
    object: 'contacts',
    lastPollAt: now0,
    readUpTo: state.lastSuccessAt,
    lagMs: state.lastSuccessAt === null ? null : now0 - state.lastSuccessAt,
    published: 0,
    apiVersion: 'v3',
    apiSunsetAt: null,
    apiSunsetSoon: false,
    ...state,
  };
  return { topic: Topics.SyncConnectorHealth, key: `${connectionId}/contacts`, event };
}

const google = 'https://shop.example/?utm_source=Google&utm_medium=cpc&utm_campaign=spring';
const newsletter = 'https://shop.example/?utm_source=newsletter&utm_medium=email&utm_campaign=dec';

// u1: google cpc (spring), lead → mql (1 day) → sql (2 days) → customer (18 hours); a newsletter touch later.
// u2: Hacker News referral, lead → mql (2 days), then orders for 250. u3: newsletter, lead only.
// u4: google cpc (spring), lead → mql (1 day). Owners: u1 and u4 with o1 (u1 accepted in 30 minutes), u2 with o2.
const funnelEvents = [
  visit(wsA, 'u1', h(9), google),
  visit(wsA, 'u1', h(50), newsletter),
  visit(wsA, 'u2', h(11), 'https://shop.example/pricing', 'https://news.ycombinator.com/item?id=1'),
  visit(wsA, 'u3', h(31), newsletter),
  visit(wsA, 'u4', h(20), google),
  lifecycle(wsA, 'u1', 'lead', h(10)),
  lifecycle(wsA, 'u1', 'mql', h(34)),
  lifecycle(wsA, 'u1', 'sql', h(82)),
  lifecycle(wsA, 'u1', 'customer', h(100)),
  lifecycle(wsA, 'u2', 'lead', h(12)),
  lifecycle(wsA, 'u2', 'mql', h(60)),
  lifecycle(wsA, 'u3', 'lead', h(32)),
  lifecycle(wsA, 'u4', 'lead', h(21)),
  lifecycle(wsA, 'u4', 'mql', h(45)),
  order('u2', h(70), 250),
  assigned('u1', 'o1', h(35)),
  assigned('u4', 'o1', h(46)),
  assigned('u2', 'o2', h(61)),
  accepted('u1', 'o1', h(35), h(35) + 30 * MINUTE),
];

/** Two journeys: welcome (two runs, one converts; one email opened and clicked) and winback (one run). */
function journeyEvents(): OutgoingEvent[] {
  const r1 = runOf(wsA, 'welcome', 'c1', `${run}/entry-1`);
  const r2 = runOf(wsA, 'welcome', 'c2', `${run}/entry-2`);
  const r3 = runOf(wsA, 'winback', 'c3', `${run}/entry-3`);
  const steps = [
    stepOf(r1, 'start', 'advanced', h(1)),
    stepOf(r1, 'w1', 'advanced', h(1)),
    stepOf(r1, 'goal', 'converted', h(26), 'goal-met'),
    stepOf(r2, 'w1', 'advanced', h(2)),
    stepOf(r2, '(end)', 'completed', h(3)),
    stepOf(r3, 'b1', 'advanced', h(40)),
    stepOf(r3, '(end)', 'completed', h(40)),
  ];
  const m1 = outcomeOf(r1, 'w1', 'email', 'sent', h(1));
  const m2 = outcomeOf(r2, 'w1', 'email', 'sent', h(2));
  const m3 = outcomeOf(r3, 'b1', 'email', 'sent', h(40));
  const deliveries = [
    deliveryOf(wsA, m1, 'delivered', h(1.1)),
    deliveryOf(wsA, m1, 'opened', h(2)),
    deliveryOf(wsA, m1, 'clicked', h(2.1)),
    deliveryOf(wsA, m2, 'delivered', h(2.1)),
    deliveryOf(wsA, m3, 'delivered', h(40.1)),
  ];
  return [
    ...steps.map((event) => ({ topic: Topics.JourneySteps, key: event.enrollmentId, event })),
    ...[m1, m2, m3].map((event) => ({ topic: Topics.MessagesOutcomes, key: event.enrollmentId, event })),
    ...deliveries.map((event) => ({ topic: Topics.MessagesDeliveries, key: wsA, event })),
  ];
}

const stalledConnection = `conn-stalled-${run}`;
const healthyConnection = `conn-ok-${run}`;
/** 40 calls two days ago, none since: over the 7-day baseline a gap of 4.2 hours, so stale after 1.75 days. */
const staleCalls: OutgoingEvent[] = Array.from({ length: 40 }, (_, i) => {
  const at = now0 - 2 * DAY - i * MINUTE;
  const event = trackingEventFixture({
    metadata: { workspaceId: wsA, occurredAt: at },
    anonymousId: `visitor-${run}`,
    event: 'Page Viewed',
    timestamp: at,
    receivedAt: at,
  });
  return { topic: Topics.TrackingEvents, key: `visitor-${run}`, event };
});
const healthEvents = [
  ...staleCalls,
  connectorReport(stalledConnection, {
    status: 'failing',
    lastSuccessAt: now0 - 3 * HOUR,
    consecutiveFailures: 4,
    lastError: 'HTTP 401 from HubSpot',
  }),
  connectorReport(healthyConnection, {
    status: 'healthy',
    lastSuccessAt: now0 - MINUTE,
    consecutiveFailures: 0,
    lastError: null,
  }),
];

// Workspace B: one person, bing cpc, lead then customer.
const workspaceBEvents = [
  visit(wsB, 'u9', h(9), 'https://shop.example/?utm_source=bing&utm_medium=cpc'),
  lifecycle(wsB, 'u9', 'lead', h(10)),
  lifecycle(wsB, 'u9', 'customer', h(20)),
];

// ---- API and page readers -------------------------------------------------------------------------------------

async function api<T>(path: string, key = keyA): Promise<T> {
  const res = await fetch(`${service.url}${path}`, {
    headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
  });
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A cell as the page shows it: the API's raw number (data-value) and its text. */
interface Cell {
  value: string;
  text: string;
}
type Rows = Record<string, Record<string, Cell>>;

/** The rows of a table on a page, by their data-key, each cell by its data-testid. */
async function rowsOf(pageName: string, table: string): Promise<Rows> {
  const selector = `[data-testid="page-${pageName}"] [data-testid="${table}"] tbody tr[data-key]`;
  return (await page.evaluate(`(() => Object.fromEntries([...document.querySelectorAll(${JSON.stringify(selector)})]
    .map((row) => [row.getAttribute('data-key'), Object.fromEntries([...row.querySelectorAll('td[data-testid]')]
      .map((td) => [td.getAttribute('data-testid'), { value: td.getAttribute('data-value') ?? '', text: td.textContent }]))])))()`)) as Rows;
}

/** What the page must show for a number: its raw value and the text for people (as the page formats them). */
const count = (n: number | null): Cell => ({
  value: n === null ? '' : String(n),
  text: n === null ? '—' : String(n),
});
const percent = (r: number | null): Cell => ({
  value: r === null ? '' : String(r),
  text: r === null ? '—' : `${(r * 100).toFixed(1)}%`,
});
const decimal = (x: number | null): Cell => ({
  value: x === null ? '' : String(x),
  text: x === null ? '—' : x.toFixed(2),
});

/** The series of an ECharts chart on the page, as the chart holds them. */
async function chartSeries(testId: string): Promise<{ name: string; data: unknown[] }[]> {
  return (await page.evaluate(`(() => {
    const chart = echarts.getInstanceByDom(document.querySelector('[data-testid="${testId}"]'));
    return chart ? chart.getOption().series.map((s) => ({ name: s.name, data: s.data })) : null;
  })()`)) as { name: string; data: unknown[] }[];
}

/** Waits until a page shows the answer to `path` (the page writes the query it asked next to its numbers). */
async function shown(pageName: string, path: string): Promise<void> {
  const section = page.locator(`[data-testid="page-${pageName}"]`);
  await section.and(page.locator(`[data-state="ready"][data-query="${path}"]`)).waitFor({ timeout: 30_000 });
  expect(await section.getByTestId('api-query').textContent()).toBe(`GET ${path}`);
}

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function signIn(key: string): Promise<void> {
  await page.getByTestId('login-secret').fill(key);
  await page.getByTestId('login-submit').click();
}

/** The filters that are drop-downs; the others are typed into. */
const SELECT_FILTERS = new Set(['filter-grain', 'filter-conversion', 'filter-channel', 'filter-window']);

async function setFilter(testId: string, value: string): Promise<void> {
  const input = page.getByTestId(testId);
  if (SELECT_FILTERS.has(testId)) await input.selectOption(value);
  else await input.fill(value);
}

async function apply(filters: Record<string, string>): Promise<void> {
  for (const [testId, value] of Object.entries(filters)) await setFilter(testId, value);
  await page.getByTestId('apply-filters').click();
}

// ---- expectations ---------------------------------------------------------------------------------------------

function funnelRows(report: FunnelReport): Rows {
  return Object.fromEntries(
    report.stages.map((s) => [
      s.stage,
      {
        entered: count(s.entered),
        advanced: count(s.advanced),
        conversionRate: percent(s.conversionRate),
        medianDays: decimal(s.daysToAdvance.median),
        meanDays: decimal(s.daysToAdvance.mean),
        current: count(s.current),
      },
    ]),
  );
}

function routingRows(rows: readonly RoutingRow[]): Rows {
  return Object.fromEntries(
    rows.map((r) => [
      `${r.ownerId}|${r.teamId}`,
      {
        assigned: count(r.assigned),
        accepted: count(r.accepted),
        breached: count(r.breached),
        breachRate: percent(r.breachRate),
        meanMinutesToAccept: decimal(r.meanMinutesToAccept),
      },
    ]),
  );
}

function attributionRows(report: AttributionReport): Rows {
  return Object.fromEntries(
    report.channels.map((row) => [
      row.channel,
      Object.fromEntries([
        ...Object.entries(row.credit).map(([model, credit]) => [`credit-${model}`, decimal(credit)]),
        ...Object.entries(row.revenue).map(([model, revenue]) => [`revenue-${model}`, decimal(revenue)]),
      ]),
    ]),
  );
}

const JOURNEY_NUMBERS = [
  'enrolled',
  'converted',
  'sent',
  'skipped',
  'failed',
  'delivered',
  'bounced',
  'opened',
  'clicked',
  'unsubscribed',
] as const;
const JOURNEY_RATES = ['deliveryRate', 'openRate', 'clickRate', 'conversionRate'] as const;

function journeyRows(rows: readonly JourneyRow[]): Rows {
  return Object.fromEntries(
    rows.map((r) => [
      [r.level, r.journeyId, r.stepId ?? '', r.channel ?? ''].join('|'),
      Object.fromEntries([
        ...JOURNEY_NUMBERS.map((column) => [column, count(r[column])]),
        ...JOURNEY_RATES.map((column) => [column, percent(r[column])]),
      ]),
    ]),
  );
}

/** Only the cells the page shows for these columns (the text columns are compared where it matters). */
function numbersOf(rows: Rows, columns: readonly string[]): Rows {
  return Object.fromEntries(
    Object.entries(rows).map(([key, cells]) => [
      key,
      Object.fromEntries(columns.map((column) => [column, cells[column] as Cell])),
    ]),
  );
}

const RANGE = 'from=2026-11-02&to=2026-11-06';

// ---- set-up -----------------------------------------------------------------------------------------------------

beforeAll(async () => {
  rmSync(SCREENSHOTS, { recursive: true, force: true });
  mkdirSync(SCREENSHOTS, { recursive: true });
  // First, so a machine without Chromium fails at once with the install hint.
  const executablePath = chromiumPath();
  const config = loadReportingConfig(
    testServiceEnv('reporting', run, { WRITE_KEYS: `${keyA}:${wsA},${keyB}:${wsB}` }),
  );
  service = await startService(ReportingModule.forRoot(config), config);
  ({ publisher } = await connectTestPublisher(`dash-${run}`, config, TOPICS));
  await publisher.publishAll([...funnelEvents, ...journeyEvents(), ...healthEvents, ...workspaceBEvents]);

  // Everything taken in before the browser looks: the pages must show the whole fixture, not a moment of it.
  await waitFor(
    'the funnel, attribution, journeys and health of A, and the funnel of B',
    async () => {
      const [funnel, attribution, journeys, health, funnelB] = await Promise.all([
        api<FunnelReport>(`/v1/reports/funnel?${RANGE}`),
        api<AttributionReport>(`/v1/reports/attribution?${RANGE}`),
        api<JourneyReport>(`/v1/reports/journeys?${RANGE}&limit=1000`),
        api<IntegrationHealthReport>('/v1/reports/health'),
        api<FunnelReport>(`/v1/reports/funnel?${RANGE}`, keyB),
      ]);
      const entered = (report: FunnelReport, stage: string) =>
        report.stages.find((s) => s.stage === stage)?.entered;
      return (
        entered(funnel, 'lead') === 4 &&
        entered(funnel, 'customer') === 1 &&
        funnel.stages.find((s) => s.stage === 'mql')?.advanced === 1 &&
        funnel.stages.find((s) => s.stage === 'lead')?.current === 1 &&
        attribution.conversions['stage:customer'] === 1 &&
        attribution.conversions['goal:Order Completed'] === 1 &&
        attribution.channels.find((c) => c.channel === 'newsletter / email')?.credit.last_touch === 1 &&
        journeys.items.find((r) => r.level === 'journey' && r.journeyId === 'welcome')?.clicked === 1 &&
        journeys.items.find((r) => r.level === 'journey' && r.journeyId === 'welcome')?.converted === 1 &&
        journeys.items.find((r) => r.level === 'journey' && r.journeyId === 'winback')?.delivered === 1 &&
        health.connections.length === 2 &&
        health.topics.find((t) => t.topic === Topics.TrackingEvents)?.status === 'stale' &&
        entered(funnelB, 'customer') === 1
      );
    },
    { timeoutMs: 60_000 },
  );

  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (error) => pageProblems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') pageProblems.push(`console error: ${message.text()}`);
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await publisher?.disconnect();
  await service?.close();
  await stopTelemetry();
  console.log(`dashboard screenshots: ${SCREENSHOTS}`);
});

// ---- the tests --------------------------------------------------------------------------------------------------

describe('dashboard sign-in', () => {
  it('serves the page and its scripts without a key, ECharts from the pinned package', async () => {
    const html = await fetch(`${service.url}/dashboard`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await html.text()).toContain('/dashboard/echarts.min.js');
    const echarts = await fetch(`${service.url}/dashboard/echarts.min.js`);
    expect(echarts.status).toBe(200);
    expect(await echarts.text()).toContain('6.1.0');
  });

  it('refuses a wrong key with a clear error and keeps the reports closed', async () => {
    await page.goto(`${service.url}/dashboard`);
    await page.getByTestId('login-panel').waitFor();
    await signIn(`not-a-key-${run}`);
    const error = page.getByTestId('login-error');
    await error.waitFor();
    expect(await error.textContent()).toBe(
      'This key or token was refused (unknown key). Check it and sign in again.',
    );
    expect(await page.locator('#app').isHidden()).toBe(true);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    // The refused call is the one resource error this page may log.
    expect(pageProblems).toEqual([
      'console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)',
    ]);
    pageProblems.length = 0;
    await screenshot('0-sign-in-refused');
  });
});

describe('funnel page', () => {
  it('shows the API’s funnel and routing, equal to the hand-computed ones', async () => {
    await signIn(keyA);
    await page.getByTestId('page-funnel').waitFor();
    await apply({ 'filter-from': '2026-11-02', 'filter-to': '2026-11-06', 'filter-grain': 'day' });
    const path = `/v1/reports/funnel?${RANGE}&grain=day`;
    await shown('funnel', path);

    const report = await api<FunnelReport>(path);
    expect(await rowsOf('funnel', 'funnel-table')).toEqual(
      Object.fromEntries(
        Object.entries(funnelRows(report)).map(([stage, cells]) => [
          stage,
          {
            stage: { value: '', text: stage === 'mql' || stage === 'sql' ? stage.toUpperCase() : cap(stage) },
            ...cells,
          },
        ]),
      ),
    );
    // By hand: entered, advanced, conversion, median days, people there now.
    const shownRows = await rowsOf('funnel', 'funnel-table');
    const byHand = (stage: string) =>
      ['entered', 'advanced', 'conversionRate', 'medianDays', 'current'].map(
        (c) => shownRows[stage]?.[c]?.text,
      );
    expect(byHand('lead')).toEqual(['4', '3', '75.0%', '1.00', '1']);
    expect(byHand('mql')).toEqual(['3', '1', '33.3%', '2.00', '2']);
    expect(byHand('sql')).toEqual(['1', '1', '100.0%', '0.75', '0']);
    expect(byHand('customer')).toEqual(['1', '0', '0.0%', '—', '1']);
    expect(shownRows['lead']?.['meanDays']?.text).toBe('1.33');

    const routing = await api<ApiPage<RoutingRow>>(`/v1/reports/routing?${RANGE}&limit=1000`);
    const routingShown = await rowsOf('funnel', 'routing-table');
    expect(
      numbersOf(routingShown, ['assigned', 'accepted', 'breached', 'breachRate', 'meanMinutesToAccept']),
    ).toEqual(routingRows(routing.items));
    expect(routingShown['o1|t1']?.['meanMinutesToAccept']?.text).toBe('30.00');
    expect(routingShown['o2|t1']?.['assigned']?.text).toBe('1');

    // The charts draw the same numbers.
    const [funnelChart] = await chartSeries('chart-funnel');
    expect(funnelChart?.data).toEqual(
      report.stages.filter((s) => s.entered > 0).map((s) => expect.objectContaining({ value: s.entered })),
    );
    const trend = await chartSeries('chart-funnel-trend');
    expect(trend.find((s) => s.name === 'Lead')?.data).toEqual(
      report.trend.map((row) => row.entered.lead ?? 0),
    );
    await screenshot('1-funnel');
  });

  it('changes the numbers to the API’s when the source and the range change', async () => {
    await apply({ 'filter-source': 'google' });
    const bySource = `/v1/reports/funnel?${RANGE}&grain=day&source=google`;
    await shown('funnel', bySource);
    const google = await rowsOf('funnel', 'funnel-table');
    expect(
      numbersOf(google, ['entered', 'advanced', 'conversionRate', 'medianDays', 'meanDays', 'current']),
    ).toEqual(funnelRows(await api<FunnelReport>(bySource)));
    expect(['lead', 'mql', 'sql', 'customer'].map((s) => google[s]?.['entered']?.text)).toEqual([
      '2',
      '2',
      '1',
      '1',
    ]);
    expect(google['mql']?.['conversionRate']?.text).toBe('50.0%');

    await apply({ 'filter-source': '', 'filter-from': '2026-11-02', 'filter-to': '2026-11-02' });
    const oneDay = '/v1/reports/funnel?from=2026-11-02&to=2026-11-02&grain=day';
    await shown('funnel', oneDay);
    const day = await rowsOf('funnel', 'funnel-table');
    expect(
      numbersOf(day, ['entered', 'advanced', 'conversionRate', 'medianDays', 'meanDays', 'current']),
    ).toEqual(funnelRows(await api<FunnelReport>(oneDay)));
    expect(['lead', 'mql', 'sql', 'customer'].map((s) => day[s]?.['entered']?.text)).toEqual([
      '3',
      '0',
      '0',
      '0',
    ]);

    await apply({ 'filter-from': '2026-11-02', 'filter-to': '2026-11-06', 'filter-owner': 'o2' });
    const byOwner = `/v1/reports/funnel?${RANGE}&grain=day&ownerId=o2`;
    await shown('funnel', byOwner);
    const owner = await rowsOf('funnel', 'funnel-table');
    expect(
      numbersOf(owner, ['entered', 'advanced', 'conversionRate', 'medianDays', 'meanDays', 'current']),
    ).toEqual(funnelRows(await api<FunnelReport>(byOwner)));
    expect(['lead', 'mql', 'sql'].map((s) => owner[s]?.['entered']?.text)).toEqual(['1', '1', '0']);
    await screenshot('1-funnel-owner-o2');
    await apply({ 'filter-owner': '' });
    await shown('funnel', `/v1/reports/funnel?${RANGE}&grain=day`);
  });
});

describe('attribution page', () => {
  // u1's two touches are 41 hours apart: time decay (half-life 7 days) gives the older 2^(-41/168) of the newer's weight.
  const w = 2 ** (-41 / 168);

  it('shows every model side by side per channel, equal to the API and to the hand-computed credits', async () => {
    await page.getByTestId('tab-attribution').click();
    const path = `/v1/reports/attribution?${RANGE}`;
    await shown('attribution', path);
    const report = await api<AttributionReport>(path);
    const rows = await rowsOf('attribution', 'attribution-table');
    expect(
      numbersOf(rows, Object.keys(attributionRows(report)[report.channels[0]?.channel ?? ''] ?? {})),
    ).toEqual(attributionRows(report));
    expect(Object.keys(rows)).toEqual([
      'google / cpc',
      'news.ycombinator.com / referral',
      'newsletter / email',
    ]);
    const credits = (channel: string) =>
      ['first_touch', 'last_touch', 'linear', 'time_decay', 'position_based'].map((m) =>
        Number(rows[channel]?.[`credit-${m}`]?.value),
      );
    const [g, l, lin, decay, position] = credits('google / cpc');
    expect([g, l, lin, position]).toEqual([1, 0, 0.5, 0.5]);
    expect(decay).toBeCloseTo(w / (1 + w), 9);
    expect(credits('newsletter / email')[1]).toBe(1);
    expect(credits('newsletter / email')[3]).toBeCloseTo(1 / (1 + w), 9);
    expect(credits('news.ycombinator.com / referral')).toEqual([1, 1, 1, 1, 1]);
    expect(rows['news.ycombinator.com / referral']?.['revenue-linear']?.text).toBe('250.00');
    expect(rows['google / cpc']?.['credit-time_decay']?.text).toBe((w / (1 + w)).toFixed(2));

    expect(await page.getByTestId('attribution-conversions').textContent()).toBe('2');
    expect(await page.getByTestId('attribution-revenue').textContent()).toBe('250.00');
    expect(await page.getByTestId('attribution-revenue').getAttribute('data-value')).toBe(
      String(report.revenue),
    );
    expect(
      await page.evaluate(`Object.fromEntries([...document.querySelectorAll('[data-testid="attribution-kind"]')]
        .map((li) => [li.getAttribute('data-key'), Number(li.querySelector('[data-testid="conversions"]').dataset.value)]))`),
    ).toEqual(report.conversions);
    expect(report.conversions).toEqual({ 'stage:customer': 1, 'goal:Order Completed': 1 });

    // The grouped bars hold the same credits, one series per model.
    const bars = await chartSeries('chart-attribution');
    expect(bars.map((s) => s.data)).toEqual(
      report.models.map((model) => report.channels.map((row) => row.credit[model as 'linear'])),
    );
    await screenshot('2-attribution');
  });

  it('recomputes with a shorter look-back: the earlier touch drops out', async () => {
    await apply({ 'filter-lookback': '3' });
    const path = `/v1/reports/attribution?${RANGE}&lookbackDays=3`;
    await shown('attribution', path);
    const report = await api<AttributionReport>(path);
    const rows = await rowsOf('attribution', 'attribution-table');
    expect(Object.keys(rows)).toEqual(['news.ycombinator.com / referral', 'newsletter / email']);
    expect(numbersOf(rows, Object.keys(attributionRows(report)['newsletter / email'] ?? {}))).toEqual(
      attributionRows(report),
    );
    expect(rows['newsletter / email']?.['credit-first_touch']?.text).toBe('1.00');
    expect(await page.getByTestId('attribution-lookback').textContent()).toBe('3 days');
    await apply({ 'filter-lookback': '' });
    await shown('attribution', `/v1/reports/attribution?${RANGE}`);
  });
});

describe('campaigns and journeys page', () => {
  const columns = [...JOURNEY_NUMBERS, ...JOURNEY_RATES];

  it('shows each journey, step and channel with its rates, equal to the API', async () => {
    await page.getByTestId('tab-journeys').click();
    const path = `/v1/reports/journeys?${RANGE}&limit=1000`;
    await shown('journeys', path);
    const report = await api<JourneyReport>(path);
    const rows = await rowsOf('journeys', 'journeys-table');
    expect(numbersOf(rows, columns)).toEqual(journeyRows(report.items));
    const pick = (key: string, cols: string[]) => cols.map((c) => rows[key]?.[c]?.text);
    expect(
      pick('journey|welcome||', [
        'enrolled',
        'converted',
        'sent',
        'delivered',
        'opened',
        'clicked',
        'openRate',
      ]),
    ).toEqual(['2', '1', '2', '2', '1', '1', '50.0%']);
    expect(pick('step|welcome|w1|email', ['enrolled', 'sent', 'clickRate', 'conversionRate'])).toEqual([
      '—',
      '2',
      '50.0%',
      '50.0%',
    ]);
    expect(pick('journey|winback||', ['enrolled', 'converted', 'delivered', 'deliveryRate'])).toEqual([
      '1',
      '0',
      '1',
      '100.0%',
    ]);
    expect(await chartSeries('chart-journeys-trend')).toContainEqual({
      name: 'sent',
      data: expect.any(Array),
    });
    await screenshot('3-journeys');
  });

  it('narrows to one journey when asked', async () => {
    await apply({ 'filter-journey': 'welcome' });
    const path = `/v1/reports/journeys?${RANGE}&journeyId=welcome&limit=1000`;
    await shown('journeys', path);
    const rows = await rowsOf('journeys', 'journeys-table');
    expect(Object.keys(rows)).toEqual(['journey|welcome||', 'step|welcome|w1|email']);
    expect(numbersOf(rows, columns)).toEqual(journeyRows((await api<JourneyReport>(path)).items));
    await apply({ 'filter-journey': '' });
    await shown('journeys', `/v1/reports/journeys?${RANGE}&limit=1000`);
  });
});

describe('health page', () => {
  it('marks the stalled connection and the stale topic stalled, in red, with the API’s numbers', async () => {
    await page.getByTestId('tab-health').click();
    await shown('health', '/v1/reports/health');
    const report = await api<IntegrationHealthReport>('/v1/reports/health');

    const connections =
      await page.evaluate(`[...document.querySelectorAll('[data-testid="connection-row"]')].map((row) => ({
      key: row.getAttribute('data-key'),
      stalled: row.getAttribute('data-stalled'),
      state: row.querySelector('[data-testid="state"]').textContent,
      background: getComputedStyle(row.querySelector('td')).backgroundColor,
      failures: row.querySelector('[data-testid="consecutiveFailures"]').textContent,
      lastError: row.querySelector('[data-testid="lastError"]').textContent,
    }))`);
    const red = 'rgb(253, 236, 234)';
    expect(connections).toEqual(
      expect.arrayContaining([
        {
          key: stalledConnection,
          stalled: 'true',
          state: 'stalled',
          background: red,
          failures: '4',
          lastError: 'HTTP 401 from HubSpot',
        },
        {
          key: healthyConnection,
          stalled: 'false',
          state: 'healthy',
          background: 'rgba(0, 0, 0, 0)',
          failures: '0',
          lastError: '—',
        },
      ]),
    );
    expect(connections).toHaveLength(report.connections.length);
    expect(report.connections.find((c) => c.connectionId === stalledConnection)?.stalled).toBe(true);
    const alert = page.locator(`[data-testid="health-alert"][data-key="connection:${stalledConnection}"]`);
    expect(await alert.textContent()).toMatch(
      /^Stalled: hubspot contacts .* 4 failures in a row: HTTP 401 from HubSpot\.$/,
    );

    // Per topic: the API's counts, error rates, latency and newest event; tracking.events is stale.
    const topics = await rowsOf('health', 'topics-table');
    const numbers = ['events', 'p50', 'p95', 'p99', 'deadLetters', 'rejected', 'errorRate', 'newestEventAt'];
    expect(
      Object.fromEntries(
        Object.entries(numbersOf(topics, numbers)).map(([k, cells]) => [k, valuesOf(cells)]),
      ),
    ).toEqual(
      Object.fromEntries(
        report.topics.map((t) => [
          t.topic,
          {
            events: String(t.events),
            p50: str(t.latencyMs.p50),
            p95: str(t.latencyMs.p95),
            p99: str(t.latencyMs.p99),
            deadLetters: String(t.deadLetters),
            rejected: String(t.rejected),
            errorRate: str(t.errorRate),
            newestEventAt: t.newestEventAt ?? '',
          },
        ]),
      ),
    );
    expect(topics[Topics.TrackingEvents]?.['newestEventAt']?.value).toBe(
      new Date(now0 - 2 * DAY).toISOString(),
    );
    expect(topics[Topics.SyncConnectorHealth]?.['events']?.text).toBe('2');
    const tracking = page.locator(`[data-testid="topic-row"][data-key="${Topics.TrackingEvents}"]`);
    expect(await tracking.getAttribute('data-status')).toBe('stale');
    expect(await tracking.getByTestId('state').textContent()).toBe('stalled');
    expect(
      await page.evaluate(
        `getComputedStyle(document.querySelector('[data-testid="topic-row"][data-key="${Topics.TrackingEvents}"] td')).backgroundColor`,
      ),
    ).toBe(red);
    expect(
      await page
        .locator(`[data-testid="health-alert"][data-key="topic:${Topics.TrackingEvents}"]`)
        .textContent(),
    ).toMatch(/^Stalled: tracking\.events, no events for 2\.0 d/);
    const syncTopic = page.locator(`[data-testid="topic-row"][data-key="${Topics.SyncConnectorHealth}"]`);
    expect(await syncTopic.getByTestId('state').textContent()).toBe('ok');

    // Consumer lag moves with everyone's traffic: the same groups and topics as the API, not the same counts.
    expect(Object.keys(await rowsOf('health', 'lag-table')).sort()).toEqual(
      report.consumerLag.map((l) => `${l.group}|${l.topic}`).sort(),
    );
    await screenshot('4-health');
  });
});

describe('workspace isolation', () => {
  it("shows workspace B's key B's numbers and none of A's", async () => {
    await page.getByTestId('sign-out').click();
    await page.getByTestId('login-panel').waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await signIn(keyB);
    await page.getByTestId('page-health').waitFor();
    await shown('health', '/v1/reports/health');
    expect(await rowsOf('health', 'connections-table')).toEqual({});
    // B's newest call is its own page view of 2 November, not A's calls of two days ago.
    expect((await rowsOf('health', 'topics-table'))[Topics.TrackingEvents]?.['newestEventAt']?.value).toBe(
      new Date(h(9)).toISOString(),
    );

    await page.getByTestId('tab-funnel').click();
    const funnelPath = `/v1/reports/funnel?${RANGE}&grain=day`;
    await shown('funnel', funnelPath);
    const funnel = await rowsOf('funnel', 'funnel-table');
    expect(
      numbersOf(funnel, ['entered', 'advanced', 'conversionRate', 'medianDays', 'meanDays', 'current']),
    ).toEqual(funnelRows(await api<FunnelReport>(funnelPath, keyB)));
    expect(['lead', 'mql', 'customer'].map((s) => funnel[s]?.['entered']?.text)).toEqual(['1', '0', '1']);
    expect(await rowsOf('funnel', 'routing-table')).toEqual({});
    await screenshot('5-workspace-b-funnel');

    await page.getByTestId('tab-attribution').click();
    await shown('attribution', `/v1/reports/attribution?${RANGE}`);
    expect(Object.keys(await rowsOf('attribution', 'attribution-table'))).toEqual(['bing / cpc']);
    expect(await page.getByTestId('attribution-revenue').textContent()).toBe('0.00');

    await page.getByTestId('tab-journeys').click();
    await shown('journeys', `/v1/reports/journeys?${RANGE}&limit=1000`);
    expect(await rowsOf('journeys', 'journeys-table')).toEqual({});
  });

  it('raised no script error and broke no content-security rule on any page', () => {
    expect(pageProblems).toEqual([]);
  });
});

function cap(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function str(value: number | null): string {
  return value === null ? '' : String(value);
}

function valuesOf(cells: Record<string, Cell>): Record<string, string> {
  return Object.fromEntries(Object.entries(cells).map(([column, cell]) => [column, cell.value]));
}

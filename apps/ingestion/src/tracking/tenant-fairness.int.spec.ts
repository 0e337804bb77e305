/**
 * One tenant at its limits leaves another's calls admitted, on the real stack (ingestion in-process). Asserted by
 * answers, not by time: while tenant A has spent its event allowance (on every one of its keys) or holds its whole
 * share of the events in flight towards Kafka, every call of tenant B is answered 200, never 429 or 503. How much
 * A's load slows B is measured by `npm run bench:fairness` (numbers, not a test).
 */
import { randomUUID } from 'node:crypto';
import { Topics } from '@tributary/contracts';
import { EventPublisher } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import { testServiceEnv, uniqueId } from '@tributary/testing';
import { IngestionModule } from '../app.module';
import { loadIngestionConfig } from '../config';

const run = uniqueId('fair');
const keys = { a1: `a1-${run}`, a2: `a2-${run}`, b: `b-${run}`, c: `c-${run}` };
const EVENTS_BURST = 1_000;
const MAX_IN_FLIGHT = 400;
const config = loadIngestionConfig(
  testServiceEnv('ingestion', run, {
    WRITE_KEYS: [
      `${keys.a1}:ws_a_${run}`,
      `${keys.a2}:ws_a_${run}`,
      `${keys.b}:ws_b_${run}`,
      `${keys.c}:ws_c_${run}`,
    ].join(','),
    ADMIN_TOKEN: `admin-token-${run}-0123456789abcdef0123456789`,
    // Refills slowly enough that nothing comes back while a test runs (≥ 20 s for a 300-event batch).
    RATE_LIMIT_EVENTS_PER_SECOND: '10',
    RATE_LIMIT_EVENTS_BURST: String(EVENTS_BURST),
    TRACKING_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
    TRACKING_WORKSPACE_IN_FLIGHT_SHARE: '0.5',
  }),
);
let service: RunningService;

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

async function post(
  key: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${service.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basic(key) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

const batchOf = (events: number, userId: string) => ({
  batch: Array.from({ length: events }, () => ({
    type: 'track',
    userId,
    event: 'Feature Used',
    messageId: randomUUID(),
  })),
});
const track = (key: string, userId: string) =>
  post(key, '/v1/track', { userId, event: 'Pricing Page Viewed', messageId: randomUUID() });

beforeAll(async () => {
  service = await startService(IngestionModule.forRoot(config), config);
});

afterAll(async () => {
  await service?.close();
  await stopTelemetry();
});

it('a tenant that spent its event allowance gets 429 naming it, on every key; another tenant is admitted', async () => {
  const spent = [];
  for (let i = 0; i < 3; i++) spent.push((await post(keys.a1, '/v1/batch', batchOf(300, 'a-user'))).status);
  expect(spent).toEqual([200, 200, 200]);

  // 100 events left: the fourth batch of 300 is refused, from either of the workspace's keys.
  for (const key of [keys.a1, keys.a2]) {
    const refused = await post(key, '/v1/batch', batchOf(300, 'a-user'));
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'rate_limited', allowance: 'workspace-events' });
    expect(refused.body['problems']).toEqual([
      {
        field: '(rate limit)',
        reason: expect.stringMatching(
          /^rate limit exceeded: this workspace's 10 events\/s \(burst 1000\); retry in/,
        ),
      },
    ]);
    // About 20 s (200 events short at 10/s), less the time the test took so far: the event allowance's wait.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(10);
  }

  const answers = [(await post(keys.b, '/v1/batch', batchOf(300, 'b-user'))).status];
  for (let i = 0; i < 20; i++) answers.push((await track(keys.b, 'b-user')).status);
  expect(answers).toEqual(Array(21).fill(200));
});

it('a tenant holding its share of the events in flight gets 503; another tenant is admitted meanwhile', async () => {
  const publisher = service.app.get(EventPublisher);
  const publish = publisher.publishEncoded.bind(publisher);
  // Kafka stalls for tenant C only: its records wait until released, as behind a broker slowed by C's load.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let reached!: () => void;
  let held = new Promise<void>((resolve) => (reached = resolve));
  const spy = jest.spyOn(publisher, 'publishEncoded').mockImplementation(async (topic, messages, options) => {
    if (topic === Topics.TrackingEvents && messages.some((m) => m.key === 'c-held')) {
      reached();
      await released;
    }
    return publish(topic, messages, options);
  });
  const flooding: Promise<{ status: number; body: Record<string, unknown> }>[] = [];
  try {
    // C sends 150-event batches until the gate refuses one (at most the whole gate's worth).
    let refused: { status: number; body: Record<string, unknown>; headers: Headers } | undefined;
    for (let i = 0; i < MAX_IN_FLIGHT / 150 + 1 && !refused; i++) {
      const answer = post(keys.c, '/v1/batch', batchOf(150, 'c-held'));
      const settled = await Promise.race([answer, held.then(() => undefined)]);
      if (settled) refused = settled;
      else flooding.push(answer);
      held = new Promise<void>((resolve) => (reached = resolve));
    }
    expect(flooding).toHaveLength(1);
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('retry-after')).toBe('5');
    expect(refused?.body).toMatchObject({
      error: 'unavailable',
      problems: [{ field: '(service)', reason: 'too many events of this workspace in flight (limit 200)' }],
    });

    // B's batch of the same size and its single calls go through while C's events are still held.
    const answers = [(await post(keys.b, '/v1/batch', batchOf(150, 'b-user'))).status];
    for (let i = 0; i < 10; i++) answers.push((await track(keys.b, 'b-user')).status);
    expect(answers).toEqual(Array(11).fill(200));
  } finally {
    release();
    spy.mockRestore();
  }
  expect((await Promise.all(flooding)).map((answer) => answer.status)).toEqual([200]);
});

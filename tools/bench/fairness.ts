/**
 * `npm run bench:fairness [-- --seconds 10 --rate 20]`: how much one tenant at its limits slows another, same run,
 * ingestion as its own process on the real stack with the default limits. Tenant B sends single track calls at
 * --rate per second (2 lanes), each latency measured, in four phases:
 *   1. B alone;
 *   2. A at its event allowance: 100-event batches at RATE_LIMIT_EVENTS_PER_SECOND / 100 requests/s (a heavy SDK
 *      using all it may), plus a full burst of them at the start;
 *   3. A at its request allowance with the issue's probe: 500 KB batches of ~11,500 events at 50 requests/s, most
 *      of them refused by its event and byte allowances;
 *   4. the probe at 3× that (150 requests/s), a client ignoring Retry-After.
 * Prints B's p50/p95/p99/max and answers per phase, what A got through, and one `RESULT fairness …` line.
 * Numbers, not a test; README's bound comes from runs of it. A's load comes from autocannon in a worker thread of this
 * process, so B's clock is not held up by building A's requests (the two still share the machine's two cores).
 */
import autocannon from 'autocannon';
import { Command } from 'commander';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mongoose from 'mongoose';
import { uniqueId } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import { spawnService, stopService, waitReady } from '@tributary/testing';
import { latencySummary, resultLine } from './stats';

const opts = new Command('bench:fairness')
  .option('--seconds <s>', 'seconds per phase', (v) => Number(v), 10)
  .option('--rate <n>', 'tenant B track calls per second', (v) => Number(v), 20)
  .option(
    '--events-per-second <n>',
    "tenant A's event allowance (RATE_LIMIT_EVENTS_PER_SECOND; its default)",
    (v) => Number(v),
    2_000,
  )
  .option('--port <n>', 'HTTP port of the benchmarked ingestion', (v) => Number(v), 3901)
  .option('--profile <dir>', 'write a V8 CPU profile of the ingestion process into <dir>')
  .parse()
  .opts<{ seconds: number; rate: number; eventsPerSecond: number; port: number; profile?: string }>();

/** The defaults A runs into (ingestion's config): requests per credential, event burst per workspace. */
const REQUESTS_PER_SECOND = 50;
const EVENTS_BURST = 20_000;
const EVENTS_PER_SECOND = opts.eventsPerSecond;

const run = uniqueId('fair');
const keyA = `bench-a-${run}`;
const keyB = `bench-b-${run}`;
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

/** A batch of minimal track calls: `events` of them, or as many as fit in 500 KB (the issue's probe: ~11,500). */
function batch(events: number): { body: string; events: number } {
  const limit = 500 * 1024;
  const items: string[] = [];
  let size = '{"batch":[]}'.length;
  for (let i = 0; i < events; i += 1) {
    const item = JSON.stringify({ type: 'track', userId: `a${i % 1000}`, event: 'E' });
    if (size + item.length + 1 > limit) break;
    items.push(item);
    size += item.length + 1;
  }
  return { body: `{"batch":[${items.join(',')}]}`, events: items.length };
}

interface TenantB {
  latencies: number[];
  statuses: Map<number, number>;
}

/** B's calls at a steady rate, two lanes so one slow answer does not stop the clock of the others. */
async function tenantB(url: string, seconds: number): Promise<TenantB> {
  const result: TenantB = { latencies: [], statuses: new Map() };
  const lanes = 2;
  const interval = (1000 * lanes) / opts.rate;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      await sleep((interval / lanes) * lane);
      while (performance.now() < deadline) {
        const started = performance.now();
        const res = await fetch(`${url}/v1/track`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: basic(keyB) },
          body: JSON.stringify({ userId: `b-${lane}`, event: 'Pricing Page Viewed' }),
        });
        await res.arrayBuffer();
        const took = performance.now() - started;
        result.latencies.push(took);
        result.statuses.set(res.status, (result.statuses.get(res.status) ?? 0) + 1);
        await sleep(Math.max(0, interval - took));
      }
    }),
  );
  return result;
}

interface TenantA {
  statuses: Map<number, number>;
  eventsPerSecond: number;
}

async function tenantA(
  url: string,
  rate: number,
  seconds: number,
  load: { body: string; events: number },
): Promise<TenantA> {
  const result = await autocannon({
    url: `${url}/v1/batch`,
    method: 'POST',
    connections: 8,
    overallRate: rate,
    // A worker thread makes A's load, so B's clock (this event loop) does not wait on building A's requests.
    workers: 1,
    duration: seconds,
    headers: { 'content-type': 'application/json', authorization: basic(keyA) },
    body: load.body,
  });
  const statuses = new Map(
    Object.entries(result.statusCodeStats).map(([status, stats]) => [Number(status), stats.count]),
  );
  return { statuses, eventsPerSecond: Math.round(((statuses.get(200) ?? 0) * load.events) / seconds) };
}

const answers = (statuses: Map<number, number> | undefined) =>
  [...(statuses?.entries() ?? [])]
    .sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status}×${count}`)
    .join(' ');

async function main(): Promise<void> {
  await stackUp();
  const stack = stackEndpoints();
  const mongoDb = `bench_${run}_ingestion`;
  const ingestion = spawnService(
    'ingestion',
    opts.port,
    {
      ...stack.env,
      MONGO_DB: mongoDb,
      WRITE_KEYS: `${keyA}:ws_a_${run},${keyB}:ws_b_${run}`,
      LOG_LEVEL: 'warn',
    },
    join(process.cwd(), '.stack', 'bench-logs', run),
    { nodeArgs: opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`] : [] },
  );
  try {
    await waitReady(ingestion);
    const small = batch(100);
    const probe = batch(Number.MAX_SAFE_INTEGER);
    console.log(
      `ingestion at ${ingestion.url} (default limits, ${EVENTS_PER_SECOND} events/s per workspace); tenant B: ${opts.rate} track calls/s; ` +
        `tenant A: batches of ${small.events} events, then of ${probe.events} events (${probe.body.length} bytes); ` +
        `${opts.seconds} s per phase`,
    );
    // Warm-up: JIT, registry schema, the dedupe collection.
    await tenantB(ingestion.url, 2);

    const phases: { name: string; b: TenantB; a?: TenantA }[] = [
      { name: 'B alone', b: await tenantB(ingestion.url, opts.seconds) },
    ];
    const loads = [
      {
        name: `A at its event allowance (${EVENTS_PER_SECOND} events/s)`,
        rate: EVENTS_PER_SECOND / small.events,
        load: small,
      },
      { name: `A's probe at ${REQUESTS_PER_SECOND} req/s`, rate: REQUESTS_PER_SECOND, load: probe },
      { name: `A's probe at ${3 * REQUESTS_PER_SECOND} req/s`, rate: 3 * REQUESTS_PER_SECOND, load: probe },
    ];
    for (const { name, rate, load } of loads) {
      // A's allowances refill between phases (its burst, and the debt of an oversized batch), so each starts full.
      await sleep(((EVENTS_BURST + probe.events) / EVENTS_PER_SECOND) * 1000);
      const [a, b] = await Promise.all([
        tenantA(ingestion.url, rate, opts.seconds, load),
        tenantB(ingestion.url, opts.seconds),
      ]);
      phases.push({ name, b, a });
    }

    console.table(
      phases.map(({ name, b, a }) => ({
        phase: name,
        ...latencySummary(b.latencies),
        'B answers': answers(b.statuses),
        'A answers': answers(a?.statuses),
        'A events/s stored': a?.eventsPerSecond ?? '',
      })),
    );
    const [alone, allowance, probe50, probe150] = phases.map((p) => latencySummary(p.b.latencies));
    const notOk = phases.reduce((sum, p) => sum + p.b.latencies.length - (p.b.statuses.get(200) ?? 0), 0);
    console.log(
      resultLine('fairness', {
        b_alone_p50: alone?.p50,
        b_alone_p99: alone?.p99,
        b_a_at_allowance_p50: allowance?.p50,
        b_a_at_allowance_p99: allowance?.p99,
        b_probe_50rps_p50: probe50?.p50,
        b_probe_50rps_p99: probe50?.p99,
        b_probe_150rps_p50: probe150?.p50,
        b_probe_150rps_p99: probe150?.p99,
        b_not_200: notOk,
        a_events_per_s_at_allowance: phases[1]?.a?.eventsPerSecond,
        a_events_per_s_probe: phases[2]?.a?.eventsPerSecond,
      }),
    );
  } finally {
    await stopService(ingestion);
    const connection = await mongoose.createConnection(stack.mongoUrl, { dbName: mongoDb }).asPromise();
    await connection.dropDatabase();
    await connection.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

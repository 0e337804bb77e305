/**
 * `npm run bench:e2e [-- --events 200 --rate 20]`: latency from an HTTP track call to the event being in the
 * reporting read model, with all five services running as separate processes on the real stack.
 * Reporting updates its read model and then publishes `reports.event-counts` with causationId = the counted event's
 * id; a consumer of that topic matches each track call's eventId (returned by ingestion) to its report, so the
 * time measured is HTTP call → read model updated (+ one produce). Prints p50 / p95 / p99 / max; no assertions.
 */
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventCountReport } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import { uniqueId } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import { spawnService, stopService, waitReady } from '@tributary/testing';
import { SERVICES } from '../dev/services';
import { latencySummary, percentile, resultLine } from './stats';

const opts = new Command('bench:e2e')
  .option('--events <n>', 'track calls to send', (v) => Number(v), 200)
  .option('--rate <n>', 'track calls per second', (v) => Number(v), 20)
  .option('--port-base <n>', 'first HTTP port of the five services', (v) => Number(v), 4100)
  .parse()
  .opts<{ events: number; rate: number; portBase: number }>();

async function main(): Promise<void> {
  await stackUp();
  const endpoints = stackEndpoints();
  const run = uniqueId('bench');
  const key = `bench-key-${run}`;
  const workspace = `ws_${run}`;
  const logDir = join(__dirname, '..', '..', '.stack', 'logs', `bench-${run}`);
  const services = SERVICES.map((s, i) =>
    spawnService(
      s.name,
      opts.portBase + i,
      {
        ...endpoints.env,
        MONGO_DB: `bench_${run}_${s.name}`,
        CONSUMER_GROUP: `${s.name}.${run}`,
        CONSUMER_FROM_BEGINNING: 'false',
        WRITE_KEYS: `${key}:${workspace}`,
        LOG_LEVEL: 'warn',
      },
      logDir,
    ),
  );
  const kafka = createKafka(
    `bench-${run}`,
    endpoints.kafkaBrokers.split(','),
    createLogger('bench', 'error'),
  );
  const registry = new AvroSchemaRegistry(endpoints.schemaRegistryUrl);
  const reports = kafka.consumer({ groupId: `bench.reports.${run}` });
  try {
    console.log(`starting five services on ports ${opts.portBase}-${opts.portBase + 4} (logs: ${logDir})`);
    await Promise.all(services.map((s) => waitReady(s)));
    const ingestion = services[0]?.url ?? '';
    const auth = `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

    const sentAt = new Map<string, number>();
    const arrivedEarly = new Map<string, number>();
    const latencies: number[] = [];
    const bar = new SingleBar(
      {
        format: 'track → read model [{bar}] {value}/{total} | p50 {p50} ms',
        noTTYOutput: true,
        notTTYSchedule: 2_000,
      },
      Presets.shades_classic,
    );
    bar.start(opts.events, 0, { p50: '-' });
    const joined = new Promise<void>((resolve) => reports.on(reports.events.GROUP_JOIN, () => resolve()));
    await reports.connect();
    await reports.subscribe({ topics: ['reports.event-counts'], fromBeginning: false });
    await reports.run({
      eachMessage: async ({ message }) => {
        const report = (await registry.decode(message.value)) as EventCountReport;
        const cause = report.metadata.causationId;
        if (cause === null) return;
        const t = sentAt.get(cause);
        if (t === undefined) {
          arrivedEarly.set(cause, performance.now()); // report seen before the HTTP answer was read
          return;
        }
        latencies.push(performance.now() - t);
        sentAt.delete(cause);
        bar.update(latencies.length, { p50: percentile(latencies, 50).toFixed(0) });
      },
    });
    await joined;
    for (let i = 0; i < opts.events; i++) {
      const t0 = performance.now();
      const res = await fetch(`${ingestion}/v1/track`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          userId: `bench-lead-${i % 50}`,
          event: 'Pricing Page Viewed',
          properties: { i },
        }),
      });
      const { eventId } = (await res.json()) as { eventId: string };
      if (!res.ok) throw new Error(`ingestion answered ${res.status}`);
      const early = arrivedEarly.get(eventId);
      if (early === undefined) sentAt.set(eventId, t0);
      else latencies.push(early - t0);
      await sleep(Math.max(0, 1000 / opts.rate - (performance.now() - t0)));
    }
    const deadline = Date.now() + 60_000;
    while (latencies.length < opts.events && Date.now() < deadline) await sleep(50);
    bar.stop();
    console.log(
      `\nHTTP track → reporting read model, ${latencies.length}/${opts.events} events at ${opts.rate}/s:`,
    );
    const summary = latencySummary(latencies);
    console.table({ 'latency ms': summary });
    if (sentAt.size > 0) console.log(`${sentAt.size} event(s) never reached the read model within 60 s`);
    console.log(
      resultLine('bench:e2e', {
        rate: opts.rate,
        events: opts.events,
        arrived: latencies.length,
        p50_ms: summary.p50,
        p95_ms: summary.p95,
        p99_ms: summary.p99,
        max_ms: summary.max,
      }),
    );
  } finally {
    await reports.disconnect();
    await Promise.all(services.map((s) => stopService(s)));
  }
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

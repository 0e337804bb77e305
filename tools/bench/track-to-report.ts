/**
 * `npm run bench:e2e [-- --events 200 --rate 20]`: latency from an HTTP track call to the event being in the
 * reporting read model, with all five services running as separate processes on the real stack.
 * Each call's eventId (returned by ingestion) is looked up in reporting's event_facts until it appears.
 * Prints median / p95 / p99 / max; no assertions.
 */
/* eslint-disable @nx/enforce-module-boundaries -- benchmark drives the stack tool in-process */
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { uniqueId } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import { SERVICES, spawnService, stopService, waitReady } from '../dev/services';
import { percentile } from './stats';

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
  const mongo = new MongoClient(endpoints.mongoUrl);
  try {
    console.log(`starting five services on ports ${opts.portBase}-${opts.portBase + 4} (logs: ${logDir})`);
    await Promise.all(services.map((s) => waitReady(s)));
    await mongo.connect();
    const facts = mongo.db(`bench_${run}_reporting`).collection<{ _id: string }>('event_facts');
    const ingestion = services[0]?.url ?? '';
    const auth = `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

    const sentAt = new Map<string, number>();
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
    let polling = true;
    // One poller looks up every pending eventId at once, so lookups do not load the store per event.
    const poller = (async () => {
      while (polling) {
        const pending = [...sentAt.keys()];
        if (pending.length > 0) {
          const found = await facts.find({ _id: { $in: pending } }, { projection: { _id: 1 } }).toArray();
          const now = performance.now();
          for (const { _id } of found) {
            const t = sentAt.get(_id);
            if (t === undefined) continue;
            latencies.push(now - t);
            sentAt.delete(_id);
          }
          bar.update(latencies.length, { p50: percentile(latencies, 50).toFixed(0) });
        }
        await sleep(5);
      }
    })();
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
      sentAt.set(eventId, t0);
      await sleep(Math.max(0, 1000 / opts.rate - (performance.now() - t0)));
    }
    const deadline = Date.now() + 60_000;
    while (sentAt.size > 0 && Date.now() < deadline) await sleep(50);
    polling = false;
    await poller;
    bar.stop();
    console.log(
      `\nHTTP track → reporting read model, ${latencies.length}/${opts.events} events at ${opts.rate}/s:`,
    );
    console.table({
      'latency ms': {
        p50: Number(percentile(latencies, 50).toFixed(1)),
        p95: Number(percentile(latencies, 95).toFixed(1)),
        p99: Number(percentile(latencies, 99).toFixed(1)),
        max: Number(Math.max(...latencies).toFixed(1)),
      },
    });
    if (sentAt.size > 0) console.log(`${sentAt.size} event(s) never reached the read model within 60 s`);
  } finally {
    await mongo.close();
    await Promise.all(services.map((s) => stopService(s)));
  }
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * `npm run bench:leads [-- --rate 500 --seconds 60 --events 60000]`
 * The lead pipeline on the real stack, leads running as its own process:
 *   1. capture → assigned: LeadCaptured records are published to `leads.captured` at `--rate` per second for
 *      `--seconds`; each one's `leads.assigned` (causationId = the capture's eventId) is awaited, and the time from
 *      publish to seeing the assignment is reported as p50 / p95 / p99 / max. The first `--warmup-seconds` of leads
 *      (same rate) meet a cold leads process and are reported on a line of their own, not counted in the result;
 *      `--latencies <file>` writes the measured leads' send times and latencies, to line up a slow second with logs.
 *   2. leads throughput: `--events` tracking events (2,000 users) are encoded first, then published as one backlog
 *      (faster than leads reads them), and the time from the first publish until the leads group has committed
 *      all of them gives the consumer's events/s (it commits a record only after handling it; a batch yields one
 *      `leads.scored` per contact). Bigger backlogs give each contact more events per batch, hence more events/s.
 *      60,000 by default: leads reads while the bench still publishes, so how its first fetches split a backlog
 *      decides how many writes each contact gets; over 20,000 events that made runs in a row give 7,000 to 15,000
 *      events/s (all six partitions finishing late together, the CPU busy longer), over 60,000 it matters less.
 * `BENCH_NODE_ARGS` passes Node flags to the leads process (e.g. `--cpu-prof`, `--trace-gc`).
 * Leads runs compiled, as production runs it (built first when its dist is missing or stale), unless `--dev`; its
 * resident memory is sampled every 500 ms, for each phase apart (a backlog's batches make a different working set
 * from a steady lead rate), and printed as tables; the largest goes on the RESULT line as `rss_max_mib`.
 * Prints numbers; asserts nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Presets, SingleBar } from 'cli-progress';
import { Command } from 'commander';
import type { KafkaMessage } from 'kafkajs';
import mongoose from 'mongoose';
import { Topics, type LeadCaptured, type TrackingEvent } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka, originMetadata } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import { trackingEventFixture, uniqueId } from '@tributary/testing';
import { spawnService, stopService, waitReady } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import {
  assertPortsFree,
  DEV_FLAG,
  DEV_FLAG_HELP,
  RssSampler,
  benchMode,
  ensureBuilt,
  exitedCheck,
  modeLabel,
  printRss,
  podEnv,
  podNodeArgs,
  productionEnv,
  rssResult,
} from './production';
import { latencySummary, resultLine } from './stats';

const opts = new Command('bench:leads')
  .option('--rate <n>', 'captured leads per second', (v) => Number(v), 500)
  .option('--seconds <n>', 'how long to capture at that rate (measured)', (v) => Number(v), 60)
  .option(
    '--warmup-seconds <n>',
    'capture at the same rate for this long first, reported apart and not counted',
    (v) => Number(v),
    5,
  )
  .option(
    '--latencies <file>',
    "write each measured lead's send time (epoch ms) and latency (ms), one per line",
  )
  .option('--events <n>', 'tracking events in the throughput backlog', (v) => Number(v), 60_000)
  .option('--owners <n>', 'sales reps in the routing team', (v) => Number(v), 20)
  .option('--port <n>', 'leads HTTP port', (v) => Number(v), 4201)
  .option(
    '--drain-seconds <n>',
    'how long to wait for the last assignments after capturing',
    (v) => Number(v),
    120,
  )
  .option(
    '--mongo-url <url>',
    "the lead service's store (default: the stack's FerretDB), to measure the same code elsewhere",
  )
  .option('--backlog-seconds <n>', 'how long to let leads work through the backlog', (v) => Number(v), 120)
  .option('--keep-data', "keep the run's leads database (dropped by default)")
  .option(DEV_FLAG, DEV_FLAG_HELP)
  .parse()
  .opts<{
    rate: number;
    seconds: number;
    warmupSeconds: number;
    latencies?: string;
    events: number;
    owners: number;
    port: number;
    drainSeconds: number;
    backlogSeconds: number;
    mongoUrl?: string;
    keepData?: boolean;
    dev?: boolean;
  }>();
const mode = benchMode(opts.dev);

const COUNTRIES = ['DE', 'FR', 'GB', 'US', 'CA', 'BR', 'JP', 'AU'];
const TITLES = ['VP Marketing', 'Head of Growth', 'Marketing Manager', 'Student', 'CTO', 'Director of Sales'];

async function dropDatabase(url: string, name: string): Promise<void> {
  const connection = await mongoose.createConnection(url, { dbName: name }).asPromise();
  try {
    await connection.dropDatabase();
  } finally {
    await connection.close();
  }
}

/** What the stack already holds before this run: the issue asks for figures on a stack with data, so say how much. */
async function stackFootprint(
  mongoUrl: string,
  kafka: ReturnType<typeof createKafka>,
): Promise<{ databases: number; storeMb: number; records: number }> {
  const connection = await mongoose.createConnection(mongoUrl).asPromise();
  const admin = kafka.admin();
  try {
    const listed = (await connection.db?.admin().listDatabases()) ?? { databases: [], totalSize: 0 };
    await admin.connect();
    let records = 0;
    for (const topic of [Topics.TrackingEvents, Topics.LeadsCaptured])
      for (const p of await admin.fetchTopicOffsets(topic)) records += Number(p.high) - Number(p.low);
    return {
      databases: listed.databases.length,
      storeMb: Math.round(Number(listed.totalSize ?? 0) / 1_048_576),
      records,
    };
  } finally {
    await admin.disconnect().catch(() => undefined);
    await connection.close();
  }
}

function table(rows: Record<string, Record<string, number | string>>): void {
  console.table(rows);
}

async function main(): Promise<void> {
  await stackUp();
  const endpoints = stackEndpoints();
  const run = uniqueId('bl');
  const workspace = `ws_${run}`;
  const key = `bench-key-${run}`;
  const logDir = join(__dirname, '..', '..', '.stack', 'logs', `bench-${run}`);
  const database = `bench_${run}_leads`;
  if (mode === 'production') ensureBuilt(['leads']);
  await assertPortsFree([opts.port]);
  const leads = spawnService(
    'leads',
    opts.port,
    {
      ...endpoints.env,
      ...(opts.mongoUrl ? { MONGO_URL: opts.mongoUrl } : {}),
      MONGO_DB: database,
      CONSUMER_GROUP: `leads.${run}`,
      CONSUMER_FROM_BEGINNING: 'false',
      WRITE_KEYS: `${key}:${workspace}`,
      LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
      // `STORE_SLOW_COMMAND_MS=20 npm run bench:leads` shows which store commands hold the pipeline up.
      STORE_SLOW_COMMAND_MS: process.env['STORE_SLOW_COMMAND_MS'] ?? '0',
      ...podEnv('leads', mode),
      ...productionEnv(mode),
    },
    logDir,
    {
      // e.g. BENCH_NODE_ARGS='--trace-gc': a GC pause or a CPU profile of leads under the bench's load.
      nodeArgs: [
        ...podNodeArgs('leads', mode),
        ...(process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
      ],
      mode,
    },
  );
  const kafka = createKafka(
    `bench-${run}`,
    endpoints.kafkaBrokers.split(','),
    createLogger('bench', 'error'),
  );
  const registry = new AvroSchemaRegistry(endpoints.schemaRegistryUrl);
  await registry.registerTopics([Topics.LeadsCaptured, Topics.TrackingEvents]);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const watcher = kafka.consumer({ groupId: `bench.leads.${run}`, maxWaitTimeInMs: 20 });
  const footprint = await stackFootprint(opts.mongoUrl ?? endpoints.mongoUrl, kafka);
  console.log(
    `the stack already holds ${footprint.databases} databases (${footprint.storeMb} MB) and ` +
      `${footprint.records} records in ${Topics.TrackingEvents} and ${Topics.LeadsCaptured}`,
  );
  try {
    console.log(`starting leads on port ${opts.port}, ${modeLabel(mode)} (logs: ${logDir})`);
    await waitReady(leads);
    let rss = new RssSampler([leads]);
    const auth = `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
    const rules = {
      acceptWithinMinutes: 60,
      teams: [
        {
          id: 'inbound',
          members: Array.from({ length: opts.owners }, (_, i) => ({
            ownerId: `rep-${i}`,
            capacity: 100_000,
            timezone: 'UTC',
          })),
        },
      ],
      rules: [],
      fallbackTeamId: 'inbound',
    };
    const put = await fetch(`${leads.url}/v1/routing-rules`, {
      method: 'PUT',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify(rules),
    });
    if (!put.ok) throw new Error(`routing rules refused: ${put.status} ${await put.text()}`);

    // What the bench waits for: assignments of its captures, scores of its tracking events.
    const assignedAt = new Map<string, number>();
    const joined = new Promise<void>((resolve) => watcher.on(watcher.events.GROUP_JOIN, () => resolve()));
    await watcher.connect();
    await watcher.subscribe({ topics: [Topics.LeadsAssigned], fromBeginning: false });
    const causeOf = async (message: KafkaMessage): Promise<string | null> => {
      const event = (await registry.decode(message.value)) as {
        metadata: { causationId: string | null; workspaceId: string };
      };
      return event.metadata.workspaceId === workspace ? event.metadata.causationId : null;
    };
    await watcher.run({
      eachBatch: async ({ batch }) => {
        const now = performance.now();
        for (const message of batch.messages) {
          const cause = await causeOf(message);
          if (!cause) continue;
          if (!assignedAt.has(cause)) assignedAt.set(cause, now);
        }
      },
    });
    await joined;
    await producer.connect();

    // 1. capture → assigned at a steady rate.
    const leadSchema = registry.schemaId(Topics.LeadsCaptured);
    const sentAt = new Map<string, number>();
    // The first leads meet a cold process (JIT, connection pools, first lookups): measured apart, as a warm-up.
    const warmup = Math.round(opts.rate * opts.warmupSeconds);
    const warmIds = new Set<string>();
    const total = warmup + Math.round(opts.rate * opts.seconds);
    const tickMs = 20;
    const perTick = (opts.rate * tickMs) / 1000;
    const bar = new SingleBar(
      {
        format: 'capture → assigned [{bar}] {value}/{total} sent | {assigned} assigned',
        noTTYOutput: true,
        notTTYSchedule: 5_000,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0, { assigned: 0 });
    const started = performance.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / tickMs + 1) * perTick));
      const messages = [];
      for (; sent < due; sent += 1) {
        const i = sent;
        const metadata = originMetadata({ workspaceId: workspace, source: 'bench' });
        const { eventId } = metadata;
        const email = `lead${i}@company${i % 400}.example`;
        const lead: LeadCaptured = {
          metadata,
          leadId: `lead-${run}-${i}`,
          email,
          firstName: 'Ada',
          lastName: `Bench${i}`,
          company: `Company ${i % 400}`,
          consents: { email_marketing: true },
          source: 'form',
          externalId: null,
          formId: 'demo-request',
          rawFieldsJson: JSON.stringify({
            title: TITLES[i % TITLES.length],
            country: COUNTRIES[i % COUNTRIES.length],
            companySize: 20 + (i % 50) * 40,
          }),
          capturedAt: Date.now(),
        };
        // Latency counts from when the lead was due, so a bench that falls behind cannot hide the delay.
        const dueAt = started + (i / opts.rate) * 1000;
        messages.push({ key: email, value: await registry.encodeWithId(leadSchema, lead), eventId, dueAt });
        if (i < warmup) warmIds.add(eventId);
      }
      if (messages.length > 0) {
        await producer.send({
          topic: Topics.LeadsCaptured,
          acks: -1,
          messages: messages.map(({ key: k, value }) => ({ key: k, value })),
        });
        for (const m of messages) sentAt.set(m.eventId, m.dueAt);
        bar.update(sent, { assigned: assignedAt.size });
      }
      await sleep(Math.max(0, started + (sent / opts.rate) * 1000 - performance.now()));
    }
    const captureSeconds = (performance.now() - started) / 1000;
    const deadline = Date.now() + opts.drainSeconds * 1000;
    while ([...sentAt.keys()].some((id) => !assignedAt.has(id)) && Date.now() < deadline) {
      exitedCheck(leads);
      bar.update(sent, { assigned: assignedAt.size });
      await sleep(250);
    }
    bar.stop();
    const captureMemory = await rss.stop();
    // A lead never assigned is a failure, not a missing sample: it counts as infinitely late.
    const latenciesOf = (warm: boolean) =>
      [...sentAt].flatMap(([id, t]) => {
        if (warmIds.has(id) !== warm) return [];
        const at = assignedAt.get(id);
        return [at === undefined ? Number.POSITIVE_INFINITY : at - t];
      });
    const latencies = latenciesOf(false);
    const warmLatencies = latenciesOf(true);
    const assignedCount = (sample: number[]) => sample.filter(Number.isFinite).length;
    const measured = total - warmup;
    const epochOffset = Date.now() - performance.now();
    if (opts.latencies)
      writeFileSync(
        opts.latencies,
        [...sentAt]
          .filter(([id]) => !warmIds.has(id))
          .map(
            ([id, t]) =>
              `${(epochOffset + t).toFixed(0)} ${((assignedAt.get(id) ?? Number.NaN) - t).toFixed(1)}`,
          )
          .join('\n'),
      );
    console.log(
      `\ncapture → assigned: ${assignedCount(latencies)}/${measured} leads assigned (after ${assignedCount(warmLatencies)}/${warmup} in a ${opts.warmupSeconds} s warm-up); sent at ${(total / captureSeconds).toFixed(0)}/s over ${captureSeconds.toFixed(1)} s`,
    );
    const measuredSummary = latencySummary(latencies);
    table({
      'latency ms': measuredSummary,
      ...(warmup > 0 ? { 'warm-up, not counted': latencySummary(warmLatencies) } : {}),
    });

    // 2. leads consumer throughput on a backlog of tracking events. Measured by the leads group's committed
    // offsets (it commits only after the handler finished), because batching emits one score per contact per batch.
    const trackSchema = registry.schemaId(Topics.TrackingEvents);
    const admin = kafka.admin();
    await admin.connect();
    const group = `leads.${run}`;
    const endOffsets = async () =>
      new Map(
        (await admin.fetchTopicOffsets(Topics.TrackingEvents)).map((p) => [p.partition, Number(p.high)]),
      );
    const committedTotal = async (start: Map<number, number>) => {
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [Topics.TrackingEvents] });
      let total = 0;
      for (const p of offsets?.partitions ?? []) {
        const from = start.get(p.partition) ?? 0;
        total += Math.max(0, Number(p.offset) - from);
      }
      return total;
    };
    // Encoded before the clock starts and sent in parallel chunks: the backlog should appear as fast as the broker
    // takes it, so the figure is the consumer's, not the bench producer's.
    const chunks: { key: string; value: Buffer }[][] = [];
    for (let offset = 0; offset < opts.events; offset += 1_000)
      chunks.push(
        await Promise.all(
          Array.from({ length: Math.min(1_000, opts.events - offset) }, async (_, j) => {
            const i = offset + j;
            const metadata = originMetadata({ workspaceId: workspace, source: 'bench' });
            const userId = `user-${i % 2_000}`;
            const event: TrackingEvent = trackingEventFixture({
              metadata,
              messageId: metadata.eventId,
              userId,
              event: i % 5 === 0 ? 'Pricing Page Viewed' : 'Feature Used',
            });
            return { key: userId, value: await registry.encodeWithId(trackSchema, event) };
          }),
        ),
      );
    const startOffsets = await endOffsets();
    rss = new RssSampler([leads]);
    const t0 = performance.now();
    await Promise.all(
      chunks.map((messages) => producer.send({ topic: Topics.TrackingEvents, acks: -1, messages })),
    );
    const producedSeconds = (performance.now() - t0) / 1000;
    const throughputBar = new SingleBar(
      {
        format: 'leads backlog [{bar}] {value}/{total} consumed',
        noTTYOutput: true,
        notTTYSchedule: 5_000,
      },
      Presets.shades_classic,
    );
    throughputBar.start(opts.events, 0);
    // Bounded: a store that cannot keep up is reported by what it got through in this window.
    const backlogDeadline = Date.now() + opts.backlogSeconds * 1000;
    let done = 0;
    let doneAt = t0;
    while (done < opts.events && Date.now() < backlogDeadline) {
      exitedCheck(leads);
      await sleep(200);
      const now = await committedTotal(startOffsets);
      if (now > done) {
        done = now;
        doneAt = performance.now();
      }
      throughputBar.update(done);
    }
    throughputBar.stop();
    const backlogMemory = await rss.stop();
    await admin.disconnect();
    const seconds = (doneAt - t0) / 1000;
    console.log(`\nleads consumer: ${done}/${opts.events} tracking events processed (committed offsets)`);
    table({
      'tracking.events → scored and committed': {
        'produced in s': Number(producedSeconds.toFixed(1)),
        'done in s': Number(seconds.toFixed(1)),
        'events/s': Number((done / seconds).toFixed(0)),
      },
    });
    printRss(captureMemory, mode, 'capture → assigned (from start-up, warm-up included)');
    printRss(backlogMemory, mode, 'the tracking backlog');
    console.log(
      resultLine('leads', {
        rate: opts.rate,
        leads: measured,
        assigned: assignedCount(latencies),
        unassigned: measured - assignedCount(latencies),
        p50_ms: measuredSummary.p50,
        p95_ms: measuredSummary.p95,
        p99_ms: measuredSummary.p99,
        max_ms: measuredSummary.max,
        events: opts.events,
        events_done: done,
        events_per_s: Number((done / seconds).toFixed(0)),
        stack_databases: footprint.databases,
        stack_store_mb: footprint.storeMb,
        stack_records: footprint.records,
        ...rssResult([...captureMemory, ...backlogMemory], mode),
      }),
    );
  } finally {
    await watcher.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await stopService(leads);
    // Each run's 30,000 leads would otherwise stay in the dev store (164 databases of runs and tests had piled up).
    if (!opts.keepData) await dropDatabase(opts.mongoUrl ?? endpoints.mongoUrl, database);
  }
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

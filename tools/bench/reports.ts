/**
 * `npm run bench:reports [-- --events 200000 --contacts 10000 --rate 1000 --seconds 30 --csv-rows 1000000]`
 * Reporting's read models on the real stack, with reporting and ingestion running as production runs them (built,
 * the chart's Node flags), each phase on a workspace of its own:
 *   1. backlog: `--events` records of a marketing mix over `--contacts` people and the last day (page views, a quarter of
 *      them from UTM-tagged campaigns or referrers, track calls, goal orders with revenue, leads captured, lifecycle
 *      moves, owner assignments and accepts, merges) are published to the real topics while reporting's consumer
 *      group sits before them; reporting then starts, and the time from its being ready to its group having committed
 *      every one of them gives events/s.
 *   2. freshness: `--rate` tracking calls a second go to ingestion as /v1/batch calls of 50 (open loop) for
 *      `--seconds`, after `--warmup` seconds not counted. The API's count of the workspace's track calls
 *      (`/v1/reports/event-counts`) is read every 100 ms: the i-th call accepted (its batch answered 200) is visible
 *      once the count reaches i. Freshness = visible - accepted, p50/p95/p99.
 *   3. export: `--csv-rows` funnel contacts are written straight into reporting's store (seeding, not the intake),
 *      then `/v1/reports/funnel/contacts?format=csv` is read to its end while reporting's resident memory is sampled
 *      every 100 ms: the rows received and the peak RSS.
 *   4. recompute: `npm run recompute:reports -- --workspace <phase 1's> --since <bench start> --compare` rebuilds
 *      phase 1's read models from the raw topics into another database and compares them document by document.
 * Prints numbers; asserts nothing. Ends with
 * `RESULT reports events=<n> events_per_s=<n> freshness_p95_ms=<ms> csv_rows=<n> csv_peak_rss_mb=<mb> recompute_equal=<bool>`.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import mongoose from 'mongoose';
import { Topics, type EventMetadata } from '@tributary/contracts';
import {
  AvroSchemaRegistry,
  EventPublisher,
  commitGroupOffsets,
  createKafka,
  originMetadata,
  type OutgoingEvent,
} from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import {
  leadCapturedFixture,
  spawnService,
  stopService,
  trackingEventFixture,
  uniqueId,
  waitReady,
  type RunningProcess,
} from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import {
  assertPortsFree,
  DEV_FLAG,
  DEV_FLAG_HELP,
  RssSampler,
  UNLIMITED_EDGE,
  benchMode,
  ensureBuilt,
  modeLabel,
  podEnv,
  podNodeArgs,
  productionEnv,
} from './production';
import { latencySummary, resultLine } from './stats';

const num = (v: string): number => Number(v);
const opts = new Command('bench:reports')
  .option('--events <n>', 'records in the backlog (phase 1)', num, 200_000)
  .option('--contacts <n>', 'people the backlog is about', num, 10_000)
  .option('--rate <n>', 'tracking calls a second in the freshness phase', num, 1_000)
  .option('--seconds <n>', 'length of the measured freshness phase', num, 30)
  .option('--warmup <n>', 'seconds at the rate before it, not counted', num, 5)
  .option('--csv-rows <n>', 'funnel contacts exported as CSV (phase 3)', num, 1_000_000)
  .option('--port-base <n>', 'ingestion on this port, reporting on the next', num, 4150)
  .option('--keep-data', "keep the run's reporting databases (dropped by default)")
  .option(DEV_FLAG, DEV_FLAG_HELP)
  .parse()
  .opts<{
    events: number;
    contacts: number;
    rate: number;
    seconds: number;
    warmup: number;
    csvRows: number;
    portBase: number;
    keepData?: boolean;
    dev?: boolean;
  }>();
const mode = benchMode(opts.dev);

const DAY = 86_400_000;
/** Calls per /v1/batch request in the freshness phase. */
const BATCH = 50;
/** How often the freshness phase reads the API. */
const POLL_MS = 100;
const STAGES = ['lead', 'mql', 'sql', 'customer'] as const;
const CAMPAIGNS = [
  'utm_source=google&utm_medium=cpc&utm_campaign=brand',
  'utm_source=linkedin&utm_medium=paid-social&utm_campaign=webinar',
  'utm_source=newsletter&utm_medium=email&utm_campaign=november',
] as const;

/** The backlog: a marketing mix of `events` records about `contacts` people over the day before `now`. */
function backlogOf(workspaceId: string, events: number, contacts: number, now: number): OutgoingEvent[] {
  const out: OutgoingEvent[] = [];
  const at = (i: number) => now - DAY + Math.floor((i / events) * DAY);
  const meta = (i: number, source: string): EventMetadata =>
    originMetadata({ workspaceId, source, occurredAt: at(i) });
  for (let i = 0; i < events; i++) {
    const person = `p${i % contacts}`;
    const contactId = `${workspaceId}:${person}`;
    const slot = i % 100;
    if (slot < 60) {
      const tagged = slot % 4 === 0;
      const event = trackingEventFixture({
        metadata: { workspaceId, occurredAt: at(i) },
        callType: 'page',
        userId: person,
        timestamp: at(i),
        receivedAt: at(i),
        contextJson: JSON.stringify({
          page: {
            url: `https://example.com/pricing${tagged ? `?${CAMPAIGNS[i % CAMPAIGNS.length]}` : ''}`,
            referrer: slot % 8 === 1 ? 'https://www.google.com/' : '',
          },
        }),
      });
      out.push({ topic: Topics.TrackingEvents, key: person, event });
    } else if (slot < 88) {
      const order = slot === 87;
      const event = trackingEventFixture({
        metadata: { workspaceId, occurredAt: at(i) },
        callType: 'track',
        userId: person,
        event: order ? 'Order Completed' : 'Feature Used',
        propertiesJson: JSON.stringify(order ? { revenue: 49 + (i % 5) * 10 } : { feature: 'reports' }),
        timestamp: at(i),
        receivedAt: at(i),
      });
      out.push({ topic: Topics.TrackingEvents, key: person, event });
    } else if (slot < 91) {
      const event = leadCapturedFixture({
        metadata: { workspaceId, occurredAt: at(i) },
        email: `${person}@example.com`,
        source: i % 2 === 0 ? 'form' : 'webhook',
        capturedAt: at(i),
      });
      out.push({ topic: Topics.LeadsCaptured, key: person, event });
    } else if (slot < 96) {
      const stage = STAGES[Math.floor(i / contacts) % STAGES.length] ?? 'lead';
      out.push({
        topic: Topics.LifecycleChanged,
        key: contactId,
        event: { metadata: meta(i, 'leads'), contactId, from: null, to: stage, reason: 'bench', score: null },
      });
    } else if (slot < 98) {
      const ownerId = `owner-${i % 7}`;
      out.push({
        topic: Topics.LeadsAssigned,
        key: contactId,
        event: {
          metadata: meta(i, 'leads'),
          contactId,
          ownerId,
          teamId: `team-${i % 2}`,
          ruleId: 'bench',
          reason: 'round-robin',
          previousOwnerId: null,
          assignedAt: at(i),
          acceptDueAt: at(i) + 3_600_000,
        },
      });
    } else if (slot === 98) {
      out.push({
        topic: Topics.LeadsAccepted,
        key: contactId,
        event: {
          metadata: meta(i, 'leads'),
          contactId,
          ownerId: `owner-${i % 7}`,
          teamId: `team-${i % 2}`,
          assignedAt: at(i) - 1_800_000,
          acceptedAt: at(i),
        },
      });
    } else {
      const mergedContactId = `${workspaceId}:anon-${i}`;
      out.push({
        topic: Topics.ContactsMerged,
        key: contactId,
        event: {
          metadata: meta(i, 'leads'),
          survivingContactId: contactId,
          mergedContactId,
          reason: 'identify',
        },
      });
    }
  }
  return out;
}

/** Each topic's end offsets, per partition. */
async function endsOf(
  admin: ReturnType<ReturnType<typeof createKafka>['admin']>,
  topics: readonly string[],
): Promise<Map<string, { partition: number; start: number }[]>> {
  const ends = new Map<string, { partition: number; start: number }[]>();
  for (const topic of topics)
    ends.set(
      topic,
      (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, start: Number(p.high) })),
    );
  return ends;
}

async function main(): Promise<void> {
  await stackUp();
  const endpoints = stackEndpoints();
  const run = uniqueId('rbench');
  const workspaces = { backlog: `ws_${run}_backlog`, fresh: `ws_${run}_fresh`, csv: `ws_${run}_csv` };
  const keys = { backlog: `key-${run}-b`, fresh: `key-${run}-f`, csv: `key-${run}-c` };
  const reportingDb = `bench_${run}_reporting`;
  const reportingGroup = `reporting.${run}`;
  const logDir = join(__dirname, '..', '..', '.stack', 'logs', `bench-${run}`);
  const started = Date.now();
  if (mode === 'production') ensureBuilt(['ingestion', 'reporting']);
  await assertPortsFree([opts.portBase, opts.portBase + 1]);
  const kafka = createKafka(
    `bench-${run}`,
    endpoints.kafkaBrokers.split(','),
    createLogger('bench', 'error'),
  );
  const admin = kafka.admin();
  await admin.connect();
  const registry = new AvroSchemaRegistry(endpoints.schemaRegistryUrl);
  const publisher = new EventPublisher(kafka, registry, `bench-${run}`);
  await publisher.connect();
  const services: RunningProcess[] = [];
  const serviceEnv = (name: string): Record<string, string> => ({
    ...endpoints.env,
    MONGO_DB: `bench_${run}_${name}`,
    CONSUMER_GROUP: `${name}.${run}`,
    CONSUMER_FROM_BEGINNING: 'false',
    WRITE_KEYS: Object.entries(keys)
      .map(([phase, key]) => `${key}:${workspaces[phase as keyof typeof workspaces]}`)
      .join(','),
    LOG_LEVEL: 'warn',
    ...(name === 'ingestion' ? UNLIMITED_EDGE : {}),
    ...podEnv(name, mode),
    ...productionEnv(mode),
  });
  const start = (name: string, port: number): RunningProcess => {
    const service = spawnService(name, port, serviceEnv(name), logDir, {
      // BENCH_NODE_ARGS after the chart's: e.g. `--cpu-prof` to profile, or another heap bound.
      nodeArgs: [
        ...podNodeArgs(name, mode),
        ...(process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
      ],
      mode,
    });
    services.push(service);
    return service;
  };
  const get = async <T>(service: RunningProcess, path: string, key: string): Promise<T> => {
    const res = await fetch(`${service.url}${path}`, {
      headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
    });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };

  try {
    console.log(`bench:reports ${modeLabel(mode)}; logs in ${logDir}`);

    // Phase 1: the backlog, published while reporting's group sits at the topics' ends as they were.
    const backlog = backlogOf(workspaces.backlog, opts.events, opts.contacts, Date.now());
    const backlogTopics = [...new Set(backlog.map((e) => e.topic))];
    await registry.registerTopics(backlogTopics);
    await commitGroupOffsets(kafka, reportingGroup, await endsOf(admin, backlogTopics));
    const publishing = Date.now();
    const bar = new SingleBar(
      { format: 'publishing the backlog [{bar}] {value}/{total}' },
      Presets.shades_classic,
    );
    bar.start(backlog.length, 0);
    for (let i = 0; i < backlog.length; i += 5_000) {
      await publisher.publishAll(backlog.slice(i, i + 5_000));
      bar.update(Math.min(backlog.length, i + 5_000));
    }
    bar.stop();
    const publishSeconds = (Date.now() - publishing) / 1000;
    const written = await endsOf(admin, backlogTopics);
    console.log(
      `published ${backlog.length} records in ${publishSeconds.toFixed(1)} s to ${backlogTopics.join(', ')}`,
    );

    const reporting = start('reporting', opts.portBase + 1);
    await waitReady(reporting);
    const ready = Date.now();
    const behind = async (): Promise<number> => {
      const committed = await admin.fetchOffsets({ groupId: reportingGroup, topics: backlogTopics });
      let left = 0;
      for (const { topic, partitions } of committed)
        for (const { partition, offset } of partitions) {
          const end = written.get(topic)?.find((p) => p.partition === partition)?.start ?? 0;
          left += Math.max(0, end - Math.max(0, Number(offset)));
        }
      return left;
    };
    const drain = new SingleBar(
      { format: 'reporting takes in the backlog [{bar}] {value}/{total} | {rate}/s' },
      Presets.shades_classic,
    );
    drain.start(backlog.length, 0, { rate: 0 });
    for (;;) {
      const left = await behind();
      const done = Math.max(0, backlog.length - left);
      drain.update(done, { rate: Math.round(done / Math.max(0.001, (Date.now() - ready) / 1000)) });
      if (left === 0) break;
      await sleep(250);
    }
    drain.stop();
    const drainSeconds = (Date.now() - ready) / 1000;
    const eventsPerS = Math.round(backlog.length / drainSeconds);
    console.log(
      `phase 1: ${backlog.length} records taken in ${drainSeconds.toFixed(1)} s after ready: ${eventsPerS}/s`,
    );

    // Phase 2: freshness at a steady rate through the edge.
    const ingestion = start('ingestion', opts.portBase);
    await waitReady(ingestion);
    const accepted: number[] = [];
    let refused = 0;
    let stopPolling = false;
    const visibleAt: { count: number; at: number }[] = [];
    const polling = (async () => {
      while (!stopPolling) {
        const counts = await get<{ counts: Record<string, number> }>(
          reporting,
          '/v1/reports/event-counts',
          keys.fresh,
        ).catch(() => undefined);
        const count = counts?.counts['track'] ?? 0;
        if (count > (visibleAt.at(-1)?.count ?? 0)) visibleAt.push({ count, at: Date.now() });
        await sleep(POLL_MS);
      }
    })();
    const auth = `Basic ${Buffer.from(`${keys.fresh}:`).toString('base64')}`;
    const total = Math.round((opts.warmup + opts.seconds) * opts.rate);
    const warmupCalls = Math.round(opts.warmup * opts.rate);
    const sends: Promise<void>[] = [];
    const phaseStart = Date.now();
    for (let sent = 0; sent < total; sent += BATCH) {
      const due = phaseStart + (sent / opts.rate) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const size = Math.min(BATCH, total - sent);
      sends.push(
        fetch(`${ingestion.url}/v1/batch`, {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/json' },
          body: JSON.stringify({
            batch: Array.from({ length: size }, (_, j) => ({
              type: 'track',
              userId: `visitor-${(sent + j) % 500}`,
              event: 'Pricing Page Viewed',
              messageId: randomUUID(),
            })),
          }),
        })
          .then(async (res) => {
            await res.arrayBuffer();
            const now = Date.now();
            if (res.ok) for (let j = 0; j < size; j++) accepted.push(now);
            else refused += size;
          })
          .catch(() => {
            refused += size;
          }),
      );
    }
    await Promise.all(sends);
    const deadline = Date.now() + 60_000;
    while ((visibleAt.at(-1)?.count ?? 0) < accepted.length && Date.now() < deadline) await sleep(POLL_MS);
    stopPolling = true;
    await polling;
    // Answers arrive out of order: the i-th acceptance is the i-th earliest answer.
    accepted.sort((a, b) => a - b);
    const freshness: number[] = [];
    let unseen = 0;
    let v = 0;
    for (let i = warmupCalls; i < accepted.length; i++) {
      while (v < visibleAt.length && (visibleAt[v]?.count ?? 0) < i + 1) v++;
      const seen = visibleAt[v];
      if (seen === undefined) unseen++;
      else freshness.push(seen.at - (accepted[i] ?? seen.at));
    }
    const fresh = latencySummary(freshness);
    console.log(
      `phase 2: ${accepted.length} calls accepted (${refused} refused) at ${opts.rate}/s; freshness over the last ${freshness.length}: p50 ${fresh.p50} ms, p95 ${fresh.p95} ms, p99 ${fresh.p99} ms, max ${fresh.max} ms; ${unseen} never seen`,
    );

    // Phase 3: a million-row export, seeded straight into the store.
    const store = await mongoose
      .createConnection(endpoints.mongoUrl, { dbName: reportingDb, bufferCommands: false })
      .asPromise();
    const seeding = new SingleBar(
      { format: 'seeding funnel contacts [{bar}] {value}/{total}' },
      Presets.shades_classic,
    );
    seeding.start(opts.csvRows, 0);
    const contacts = store.collection<{ _id: string }>('report_funnel_contacts');
    const seedAt = Date.now() - 10 * DAY;
    for (let i = 0; i < opts.csvRows; i += 10_000) {
      const docs = Array.from({ length: Math.min(10_000, opts.csvRows - i) }, (_, j) => {
        const contactId = `${workspaces.csv}:c${String(i + j).padStart(8, '0')}`;
        // The stored shape FunnelContributor writes (StoredFunnelContact in apps/reporting's funnel-contacts.ts).
        return {
          _id: `${workspaces.csv}|${contactId}`,
          workspaceId: workspaces.csv,
          contactId,
          root: contactId,
          reached: { lead: new Date(seedAt) },
          latestStage: timeKey(seedAt, ['lead']),
          firstTouchKey: timeKey(seedAt, ['google', 'cpc', 'brand', 'google / cpc']),
          latestOwner: timeKey(seedAt, [`owner-${j % 7}`, 'team-0']),
        };
      });
      await contacts.insertMany(docs, { ordered: false });
      seeding.update(i + docs.length);
    }
    seeding.stop();
    const rss = new RssSampler([reporting], 100);
    const exportStart = Date.now();
    const res = await fetch(`${reporting.url}/v1/reports/funnel/contacts?format=csv`, {
      headers: { authorization: `Basic ${Buffer.from(`${keys.csv}:`).toString('base64')}` },
    });
    let lines = 0;
    let bytes = 0;
    let head = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      if (head.length < 2_000) head += Buffer.from(chunk).toString('utf8', 0, 2_000);
      for (const byte of chunk) if (byte === 10) lines++;
    }
    // The seeded shape must read back as a contact: a row without its first touch means the seed drifted from it.
    const firstRow = head.split('\n')[1] ?? '';
    if (!firstRow.includes('google,cpc,brand'))
      throw new Error(`the export's first row lacks the seeded touch: ${firstRow}`);
    const [memory] = await rss.stop();
    const csvRows = Math.max(0, lines - 1);
    const exportSeconds = (Date.now() - exportStart) / 1000;
    console.log(
      `phase 3: HTTP ${res.status}, ${csvRows} rows (${(bytes / 1e6).toFixed(0)} MB) in ${exportSeconds.toFixed(1)} s; reporting RSS ${memory?.startMib} MiB before, peak ${memory?.maxMib} MiB`,
    );
    await store.close();

    // Phase 4: rebuild phase 1's workspace from the raw topics and compare.
    const recompute = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          join(__dirname, '..', 'run-ts.js'),
          join(__dirname, '..', '..', 'apps', 'reporting', 'src', 'cli', 'recompute.ts'),
          '--into',
          `${reportingDb}_recompute`,
          '--workspace',
          workspaces.backlog,
          '--since',
          new Date(publishing - 60_000).toISOString(),
          '--compare',
        ],
        { env: { ...process.env, ...serviceEnv('reporting') }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('exit', (code) => resolve({ code, output }));
    });
    const summary = recompute.output.split('\n').filter((line) => /recomputed|^\s+report_|failed/.test(line));
    console.log(`phase 4: recompute exit ${recompute.code}\n${summary.join('\n')}`);

    console.log(
      resultLine('reports', {
        events: backlog.length,
        events_per_s: eventsPerS,
        freshness_p95_ms: fresh.p95,
        csv_rows: csvRows,
        csv_peak_rss_mb: memory?.maxMib,
        recompute_equal: recompute.code === 0,
        freshness_rate: opts.rate,
        freshness_p99_ms: fresh.p99,
        publish_s: Number(publishSeconds.toFixed(1)),
        drain_s: Number(drainSeconds.toFixed(1)),
        bench_s: Math.round((Date.now() - started) / 1000),
        mode,
      }),
    );
  } finally {
    await Promise.all(services.map((s) => stopService(s)));
    await publisher.disconnect();
    await admin.deleteGroups([reportingGroup]).catch(() => undefined);
    await admin.disconnect();
    if (!opts.keepData) {
      const store = await mongoose.createConnection(endpoints.mongoUrl).asPromise();
      for (const db of [reportingDb, `${reportingDb}_recompute`, `bench_${run}_ingestion`])
        await store
          .useDb(db)
          .dropDatabase()
          .catch(() => undefined);
      await store.close();
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/** As reporting's `timeKey` (apps may not be imported here): the event time zero-padded, then the values as JSON. */
function timeKey(at: number, values: readonly string[]): string {
  return `${String(at).padStart(15, '0')}|${JSON.stringify(values)}`;
}

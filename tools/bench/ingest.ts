/**
 * `npm run bench:ingest [-- --duration 10 --connections 4 --batch 100 --peer <url> --peer-key <key>]`: events/s
 * through the tracking API, same run:
 *   1. `POST /v1/batch` with autocannon against ingestion running as its own process on the real stack (auth,
 *      validation, messageId dedupe, Avro encoding, produce with acks=all, answer after the ack); `--replicas n`
 *      runs n processes on consecutive ports, the connections split between them (replicas behind a balancer);
 *   2. with --peer, the identical load (same body, unique messageIds, same warm-up and duration) against any other
 *      Segment-compatible endpoint, authenticated like Segment SDKs (Basic `<key>:`) — e.g. the RudderStack gateway
 *      started by tools/bench/peer/rudderstack.sh;
 *   3. a bare kafkajs producer (idempotent, acks=all, like the service's) sending the same Avro records in the same
 *      batch size with the same concurrency to a scratch topic on the same broker — the ceiling. It gets the same
 *      warm-up as the HTTP contenders (one loop for --warmup seconds, not counted).
 * Prints a table of the contenders and ends with
 * `RESULT ingest api_per_s=<n> raw_per_s=<n> ratio=<pct> p99_ms=<ms> replicas=<n> cpu_us_per_event=<µs>
 * per_core_per_s=<n> broker_cpu_us_per_event=<µs> peer_per_s=<n> peer_p99_ms=<ms> peer_cpu_us_per_event=<µs> ...`
 * (ratio: API / raw producer, in %; p99_ms: the API's request p99, the worst replica's; cpu_us_per_event and
 * per_core_per_s: the CPU ingestion used in the measured seconds, from /proc; broker_…: the Kafka broker's in the same
 * seconds; peer_cpu_…: the peer's processes named by --peer-pids, e.g. its server and PostgreSQL; peer fields `na`
 * without --peer). Numbers, not a test.
 * Afterwards it drops its scratch topic and database. With --truncate it also deletes tracking.events up to the end
 * of the run (Kafka can only delete a prefix, so older dev records go too — hence opt-in): tests find their records
 * by reading from the beginning, and a few hundred thousand bench records make them slower on a long-lived dev stack.
 * Ingestion runs compiled, as production runs it (built first when its dist is missing or stale), unless `--dev`;
 * its resident memory is sampled every 500 ms while it is up and printed, the largest as `rss_max_mib` on RESULT.
 */
import autocannon from 'autocannon';
import { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { Topics, type TrackingEvent } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import { uniqueId } from '@tributary/testing';
import { stackEndpoints, stackStatus, stackUp } from '../stack/stack';
import {
  assertPortsFree,
  cpuSeconds,
  DEV_FLAG,
  DEV_FLAG_HELP,
  RssSampler,
  benchMode,
  ensureBuilt,
  modeLabel,
  printRss,
  podEnv,
  podNodeArgs,
  productionEnv,
  rssResult,
  treeCpuSnapshot,
  treeCpuUsed,
} from './production';
import { resultLine } from './stats';
import { spawnService, stopService, waitReady } from '@tributary/testing';

const opts = new Command('bench:ingest')
  .option('--duration <s>', 'seconds per contender', (v) => Number(v), 10)
  .option('--connections <n>', 'concurrent HTTP connections / producer loops', (v) => Number(v), 4)
  .option('--batch <n>', 'events per request / producer batch', (v) => Number(v), 100)
  .option(
    '--warmup <s>',
    'seconds of warm-up (one connection / producer loop, not counted) per contender',
    (v) => Number(v),
    2,
  )
  .option('--port <n>', 'HTTP port for the benchmarked ingestion', (v) => Number(v), 3900)
  .option(
    '--replicas <n>',
    'ingestion processes (ports --port, --port + 1, ...), the connections split evenly between them',
    (v) => Number(v),
    1,
  )
  .option('--peer <url>', 'also run the identical load against this Segment-compatible endpoint (base URL)')
  .option('--peer-key <key>', "the peer's write key (sent as Basic auth `<key>:`, like Segment SDKs)")
  .option(
    '--peer-pids <pids>',
    "the peer's processes, comma-separated (its server and its database; their children count too): CPU per event " +
      'is then compared like with like, each side with the store it writes to (tools/bench/peer/rudderstack.sh up prints them)',
  )
  .option(
    '--truncate',
    'afterwards delete tracking.events up to the end of the run (older records too)',
    false,
  )
  .option('--profile <dir>', 'write a V8 CPU profile of the ingestion process into <dir>')
  .option(DEV_FLAG, DEV_FLAG_HELP)
  .parse()
  .opts<{
    duration: number;
    connections: number;
    batch: number;
    warmup: number;
    port: number;
    replicas: number;
    peer?: string;
    peerKey?: string;
    peerPids?: string;
    truncate: boolean;
    profile?: string;
    dev?: boolean;
  }>();
const mode = benchMode(opts.dev);

if (!Number.isInteger(opts.replicas) || opts.replicas < 1 || opts.connections % opts.replicas !== 0) {
  console.error('bench:ingest: --replicas must be a positive integer dividing --connections');
  process.exit(2);
}
if ((opts.peer === undefined) !== (opts.peerKey === undefined)) {
  console.error('bench:ingest: --peer <url> and --peer-key <key> go together');
  process.exit(2);
}

const run = uniqueId('bench');
const writeKey = `bench-key-${run}`;
const workspaceId = `ws_bench_${run}`;

/** A realistic Segment track call; `__MID__` is replaced by a unique messageId per event. */
function trackCall(i: number): Record<string, unknown> {
  return {
    type: 'track',
    messageId: '__MID__',
    userId: `lead-${i % 500}`,
    event: i % 3 === 0 ? 'Pricing Page Viewed' : 'Feature Used',
    properties: { plan: 'growth', path: '/pricing', referrer: 'https://news.example.com/', seats: 12 },
    context: {
      library: { name: 'analytics-node', version: '3.1.0' },
      ip: '203.0.113.7',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
    },
    timestamp: new Date().toISOString(),
  };
}

interface HttpResult {
  eventsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
}

/**
 * The HTTP load, identical for every contender: `POST <url>/v1/batch` with `--batch` track calls a request, unique
 * messageIds (SDKs always send one, so every event goes the whole way, dedupe included), Basic `<writeKey>:` auth;
 * a warm-up on one connection (JIT, schema registration, database connections, ...), then `--connections` for
 * `--duration` s. Events/s counts 2xx answers only. With several URLs (replicas) each gets its own warm-up and an
 * equal share of the connections, all at once; the latencies reported are the worst replica's. `measured` runs
 * around the measured part only.
 */
async function benchHttp(
  urls: readonly string[],
  key: string,
  contender: string,
  measured: { before?: () => Promise<void>; after?: () => Promise<void> } = {},
): Promise<HttpResult> {
  const template = JSON.stringify({ batch: Array.from({ length: opts.batch }, (_, i) => trackCall(i)) });
  const parts = template.split('"__MID__"');
  let request = 0;
  const body = () => {
    const prefix = `"${run}-${contender}-${(request += 1)}-`;
    let out = parts[0] ?? '';
    for (let i = 1; i < parts.length; i += 1) out += `${prefix}${i}"${parts[i] ?? ''}`;
    return out;
  };
  const auth = `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
  const headers = { 'content-type': 'application/json', authorization: auth };
  const targets = urls.map((url) => `${url.replace(/\/+$/, '')}/v1/batch`);
  const load = (connections: number, duration: number) =>
    Promise.all(
      targets.map((target) =>
        autocannon({
          url: target,
          connections,
          duration,
          method: 'POST',
          headers,
          requests: [{ setupRequest: (r) => ({ ...r, body: body() }) }],
        }),
      ),
    );
  if (opts.warmup > 0) await load(1, opts.warmup);
  await measured.before?.();
  const results = await load(opts.connections / targets.length, opts.duration);
  await measured.after?.();
  return {
    eventsPerSecond: Math.round(
      results.reduce((sum, result) => sum + (result['2xx'] * opts.batch) / result.duration, 0),
    ),
    p50: Math.max(...results.map((result) => result.latency.p50)),
    p99: Math.max(...results.map((result) => result.latency.p99)),
    non2xx: results.reduce((sum, result) => sum + result.non2xx + result.errors + result.timeouts, 0),
  };
}

async function benchRawProducer(brokers: string[], registryUrl: string): Promise<number> {
  const logger = createLogger('bench', 'error');
  const kafka = createKafka(`bench-raw-${run}`, brokers, logger);
  const admin = kafka.admin();
  await admin.connect();
  const topic = `bench.${run}.tracking`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
  const registry = new AvroSchemaRegistry(registryUrl);
  await registry.registerTopics([Topics.TrackingEvents]);
  const encode = registry.encoderFor(Topics.TrackingEvents);
  const now = Date.now();
  // The same records the API produces, encoded once with the cached schema: this is the ceiling.
  const messages = Array.from({ length: opts.batch }, (_, i) => {
    const call = trackCall(i);
    const event: TrackingEvent = {
      metadata: {
        eventId: randomUUID(),
        occurredAt: now,
        workspaceId,
        source: 'ingestion',
        correlationId: run,
        causationId: null,
      },
      callType: 'track',
      messageId: randomUUID(),
      userId: String(call['userId']),
      anonymousId: null,
      event: String(call['event']),
      propertiesJson: JSON.stringify(call['properties']),
      contextJson: JSON.stringify(call['context']),
      timestamp: now,
      receivedAt: now,
      previousId: null,
      groupId: null,
      name: null,
      category: null,
      traitsJson: null,
      integrationsJson: null,
      sentAt: null,
      originalTimestamp: now,
    };
    return { key: event.userId ?? '', value: encode(event) };
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  let sent = 0;
  const loops = async (concurrency: number, seconds: number) => {
    const deadline = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline) {
          await producer.send({ topic, acks: -1, messages });
          sent += messages.length;
        }
      }),
    );
  };
  // The same warm-up as the HTTP contenders: one loop for --warmup s, not counted.
  if (opts.warmup > 0) await loops(1, opts.warmup);
  sent = 0;
  const started = performance.now();
  await loops(opts.connections, opts.duration);
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  return Math.round(sent / seconds);
}

async function highWatermarks(
  brokers: string[],
  topics: string[],
): Promise<Map<string, { partition: number; offset: string }[]>> {
  const admin = createKafka(`bench-admin-${run}`, brokers, createLogger('bench', 'error')).admin();
  await admin.connect();
  const out = new Map<string, { partition: number; offset: string }[]>();
  for (const topic of topics) {
    const offsets = await admin.fetchTopicOffsets(topic);
    out.set(
      topic,
      offsets.map((o) => ({ partition: o.partition, offset: o.high })),
    );
  }
  await admin.disconnect();
  return out;
}

async function main(): Promise<void> {
  await stackUp();
  const endpoints = stackEndpoints().env;
  Object.assign(process.env, endpoints);
  const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
  const registryUrl = process.env['SCHEMA_REGISTRY_URL'] ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
  const mongoDb = `bench_${run}_ingestion`;
  if (mode === 'production') ensureBuilt(['ingestion']);
  const ports = Array.from({ length: opts.replicas }, (_, i) => opts.port + i);
  await assertPortsFree(ports);
  // Replicas as production runs them: one database, each its own process.
  const replicas = ports.map((port) =>
    spawnService(
      'ingestion',
      port,
      {
        ...endpoints,
        MONGO_DB: mongoDb,
        WRITE_KEYS: `${writeKey}:${workspaceId}`,
        LOG_LEVEL: 'warn',
        // The benchmark measures the pipeline, not the rate limits (requests; the workspace's events and bytes).
        RATE_LIMIT_PER_SECOND: '1000000',
        RATE_LIMIT_BURST: '1000000',
        RATE_LIMIT_EVENTS_PER_SECOND: '100000000',
        RATE_LIMIT_EVENTS_BURST: '100000000',
        RATE_LIMIT_BYTES_PER_SECOND: '100000000000',
        RATE_LIMIT_BYTES_BURST: '100000000000',
        ...podEnv('ingestion', mode),
        ...productionEnv(mode),
      },
      join(process.cwd(), '.stack', 'bench-logs', run),
      {
        nodeArgs: [
          ...podNodeArgs('ingestion', mode),
          // e.g. BENCH_NODE_ARGS='--max-old-space-size=256': ingestion under another heap bound.
          ...(process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
          ...(opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`] : []),
        ],
        mode,
      },
    ),
  );
  try {
    await Promise.all(replicas.map((replica) => waitReady(replica)));
    const rss = new RssSampler(replicas);
    console.log(
      `ingestion ready at ${replicas.map((r) => `${r.url} (pid ${r.child.pid})`).join(', ')}, ${modeLabel(mode)}; ${opts.connections} connections, batches of ${opts.batch}, ${opts.duration} s each`,
    );
    // CPU the replicas use in the measured part: what one core's worth of ingestion handles.
    let cpu = 0;
    const cpuNow = async () =>
      (await Promise.all(replicas.map((r) => cpuSeconds(r.child.pid)))).reduce((a, b) => a + b, 0);
    // Ingestion's store is the broker: its CPU in the same seconds is part of what an event costs.
    const broker = (await stackStatus()).components.find((c) => c.name === 'kafka')?.pid;
    let brokerBefore = new Map<number, number>();
    let brokerCpu: number | undefined;
    const api = await benchHttp(
      replicas.map((r) => r.url),
      writeKey,
      'api',
      {
        before: async () => {
          if (broker !== undefined) brokerBefore = await treeCpuSnapshot([broker]);
          cpu = -(await cpuNow());
        },
        after: async () => {
          cpu += await cpuNow();
          if (broker !== undefined) brokerCpu = treeCpuUsed(brokerBefore, await treeCpuSnapshot([broker]));
        },
      },
    );
    // CPU seconds over the measured seconds, per event.
    const usPerEvent = (seconds: number, perSecond: number) =>
      Number(((seconds * 1e6) / Math.max(1, perSecond * opts.duration)).toFixed(1));
    const brokerUsPerEvent = brokerCpu === undefined ? undefined : usPerEvent(brokerCpu, api.eventsPerSecond);
    const cpuUsPerEvent = usPerEvent(cpu, api.eventsPerSecond);
    const perCore = Math.round(api.eventsPerSecond / Math.max(0.01, cpu / opts.duration));
    console.log(
      `API: ${api.eventsPerSecond} events/s, p50 ${api.p50} ms, p99 ${api.p99} ms, non-2xx/errors ${api.non2xx}; ` +
        `ingestion used ${(cpu / opts.duration).toFixed(2)} cores: ${cpuUsPerEvent} µs of CPU an event, ${perCore} events/s a core`,
    );
    let peer: HttpResult | undefined;
    let peerUsPerEvent: number | undefined;
    if (opts.peer !== undefined && opts.peerKey !== undefined) {
      const peerPids = (opts.peerPids ?? '').split(',').filter(Boolean).map(Number);
      let peerBefore = new Map<number, number>();
      let peerCpu: number | undefined;
      peer = await benchHttp([opts.peer], opts.peerKey, 'peer', {
        before: async () => {
          if (peerPids.length > 0) peerBefore = await treeCpuSnapshot(peerPids);
        },
        after: async () => {
          if (peerPids.length > 0) peerCpu = treeCpuUsed(peerBefore, await treeCpuSnapshot(peerPids));
        },
      });
      peerUsPerEvent = peerCpu === undefined ? undefined : usPerEvent(peerCpu, peer.eventsPerSecond);
      console.log(
        `peer ${opts.peer}: ${peer.eventsPerSecond} events/s, p50 ${peer.p50} ms, p99 ${peer.p99} ms, non-2xx/errors ${peer.non2xx}`,
      );
      if (peer.eventsPerSecond === 0) {
        console.warn(`peer ${opts.peer} accepted no batch: check the URL and --peer-key`);
      }
    }
    if (brokerUsPerEvent !== undefined) {
      const withStore = cpuUsPerEvent + brokerUsPerEvent;
      console.log(
        `CPU an event with the store it writes to: ingestion ${cpuUsPerEvent} µs + Kafka broker ${brokerUsPerEvent} µs = ` +
          `${withStore.toFixed(1)} µs (${Math.round(1e6 / withStore)} events/s a core)` +
          (peerUsPerEvent === undefined
            ? ''
            : `; peer with its database ${peerUsPerEvent} µs (${Math.round(1e6 / peerUsPerEvent)} events/s a core)`),
      );
    }
    // Ingestion idles while the raw producer runs: its memory is measured up to here.
    const memory = await rss.stop();
    const raw = await benchRawProducer(brokers, registryUrl);
    console.log(`raw kafkajs producer: ${raw} events/s`);
    const ratio = Number(((100 * api.eventsPerSecond) / raw).toFixed(1));
    console.table([
      {
        contender: `POST /v1/batch (ingestion, ${opts.replicas} process${opts.replicas > 1 ? 'es' : ''})`,
        'events/s': api.eventsPerSecond,
        'p50 ms': api.p50,
        'p99 ms': api.p99,
        'non-2xx/errors': api.non2xx,
      },
      ...(peer && opts.peer
        ? [
            {
              contender: `POST /v1/batch (peer ${opts.peer})`,
              'events/s': peer.eventsPerSecond,
              'p50 ms': peer.p50,
              'p99 ms': peer.p99,
              'non-2xx/errors': peer.non2xx,
            },
          ]
        : []),
      {
        contender: 'bare kafkajs producer (same records)',
        'events/s': raw,
        'p50 ms': '',
        'p99 ms': '',
        'non-2xx/errors': '',
      },
    ]);
    console.log(
      `${opts.connections} connections, batches of ${opts.batch}, ${opts.warmup} s warm-up, ${opts.duration} s; API / raw: ${ratio}%` +
        (peer
          ? `; API / peer: ${((100 * api.eventsPerSecond) / Math.max(1, peer.eventsPerSecond)).toFixed(1)}%`
          : ''),
    );
    printRss(memory, mode);
    console.log(
      resultLine('ingest', {
        api_per_s: api.eventsPerSecond,
        raw_per_s: raw,
        ratio,
        p99_ms: api.p99,
        replicas: opts.replicas,
        cpu_us_per_event: cpuUsPerEvent,
        per_core_per_s: perCore,
        broker_cpu_us_per_event: brokerUsPerEvent,
        peer_per_s: peer?.eventsPerSecond,
        peer_p99_ms: peer?.p99,
        peer_cpu_us_per_event: peerUsPerEvent,
        ...rssResult(memory, mode),
      }),
    );
  } finally {
    await Promise.all(replicas.map((replica) => stopService(replica)));
    if (opts.truncate) {
      const marks = await highWatermarks(brokers, [Topics.TrackingEvents]);
      const admin = createKafka(`bench-clean-${run}`, brokers, createLogger('bench', 'error')).admin();
      await admin.connect();
      await admin.fetchTopicMetadata({ topics: [...marks.keys()] });
      for (const [topic, partitions] of marks) await admin.deleteTopicRecords({ topic, partitions });
      await admin.disconnect();
      console.log('deleted tracking.events up to the end of the run (--truncate)');
    }
    const connection = await mongoose
      .createConnection(process.env['MONGO_URL'] ?? 'mongodb://127.0.0.1:27017', { dbName: mongoDb })
      .asPromise();
    await connection.dropDatabase();
    await connection.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

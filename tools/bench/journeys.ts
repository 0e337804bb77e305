/**
 * `npm run bench:journeys [-- --timers 100000 --processes 2]`
 * Durable timers at scale on the real stack: `--timers` enrollments of one journey, all due at the same instant T,
 * wait there for orchestration (`--processes` processes sharing one store and consumer group, compiled as
 * production runs them); at T each must send one email to the local SendGrid fake. Two phases, each on its own
 * workspace and timers:
 *   1. clean: every process runs to the end;
 *   2. kill: one process gets SIGKILL `--kill-after-seconds` into the drain; the others take over its claims once
 *      their leases end (JOURNEY_TIMER_LEASE_MS).
 * Counted by the fake, from each message's key (custom_args): early (received before T), lost (a timer that never
 * sent), duplicated (a key received more than once), lateness p50/p99/max from T, and drain (T → last send).
 * The timers are written straight into orchestration's store (seeding, not the engine's path).
 *   3. entry (unless `--entry-rate 0`): ingestion and leads join the orchestration processes; `--entry-rate` contacts
 *      a second (made known first by an identify with their email) send a track call that enters a journey whose
 *      first step is an email, open loop for `--entry-seconds`: enrollments/s achieved (entries sent by the fake over
 *      the time from the first call to the last email) and the time from each call's due time to its email.
 * Prints numbers; asserts nothing. Ends with
 * `RESULT journeys timers=<n> drain_s=<s> p99_late_ms=<ms> early=<n> lost=<n> duplicated=<n> enroll_per_s=<n>`
 * for the kill phase (the harder one) and the entry phase, and a line per phase before it.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Presets, SingleBar } from 'cli-progress';
import { Command } from 'commander';
import pLimit from 'p-limit';
import mongoose from 'mongoose';
import { FakeSendGrid } from '@tributary/sandbox';
import { spawnService, stopService, uniqueId, waitReady, type RunningProcess } from '@tributary/testing';
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
  printRss,
  productionEnv,
  rssResult,
} from './production';
import { latencySummary, resultLine } from './stats';

const opts = new Command('bench:journeys')
  .option('--timers <n>', 'enrollments due at the same instant, per phase', (v) => Number(v), 100_000)
  .option('--processes <n>', 'orchestration processes', (v) => Number(v), 2)
  .option('--lead-seconds <n>', 'how long after seeding the timers fall due', (v) => Number(v), 10)
  .option('--kill-after-seconds <n>', 'when, into the drain, phase 2 kills one process', (v) => Number(v), 5)
  .option('--drain-timeout-seconds <n>', 'how long a phase waits for the last send', (v) => Number(v), 600)
  .option('--port <n>', 'first orchestration HTTP port', (v) => Number(v), 4301)
  .option('--sandbox-port <n>', 'the SendGrid fake', (v) => Number(v), 4310)
  .option(
    '--entry-rate <n>',
    'track calls/s entering a journey in phase 3 (0: no phase 3)',
    (v) => Number(v),
    100,
  )
  .option('--entry-seconds <n>', 'length of phase 3', (v) => Number(v), 30)
  .option('--keep-data', "keep the run's orchestration database (dropped by default)")
  .option(DEV_FLAG, DEV_FLAG_HELP)
  .parse()
  .opts<{
    timers: number;
    processes: number;
    leadSeconds: number;
    killAfterSeconds: number;
    drainTimeoutSeconds: number;
    port: number;
    sandboxPort: number;
    entryRate: number;
    entrySeconds: number;
    keepData?: boolean;
    dev?: boolean;
  }>();
const mode = benchMode(opts.dev);

interface PhaseResult {
  timers: number;
  drainS: number;
  late: ReturnType<typeof latencySummary>;
  early: number;
  lost: number;
  duplicated: number;
}

/**
 * The distinct message keys of a workspace's emails the fake received, read incrementally: the bench polls twice a
 * second on the same cores as the services, and copying 200,000 messages each time took CPU from them.
 */
function newMessageCounter(sendgrid: FakeSendGrid, workspace: string): () => ReadonlySet<string> {
  const keys = new Set<string>();
  let read = 0;
  return () => {
    const fresh = sendgrid.messagesSince(read);
    read += fresh.length;
    for (const message of fresh)
      if (message.customArgs['workspace_id'] === workspace)
        keys.add(message.customArgs['tributary_message_key'] ?? '');
    return keys;
  };
}

const JOURNEY = {
  name: 'Bench timers',
  entry: { on: 'event', event: 'Bench Timer' },
  steps: [
    { id: 'due', type: 'wait', duration: '1m' },
    { id: 'send', type: 'email', subject: 'Due', html: '<p>due</p>', category: 'transactional' },
  ],
};

/** Writes `count` enrollments waiting at `due` until `wakeAt`, with their contacts' profiles, in chunks. */
async function seedTimers(
  db: mongoose.mongo.Db,
  workspace: string,
  count: number,
  wakeAt: Date,
): Promise<void> {
  const bar = new SingleBar(
    { format: 'seeding timers [{bar}] {value}/{total}', noTTYOutput: true, notTTYSchedule: 5_000 },
    Presets.shades_classic,
  );
  bar.start(count, 0);
  const now = new Date();
  const chunk = 5_000;
  for (let start = 0; start < count; start += chunk) {
    const ids = Array.from({ length: Math.min(chunk, count - start) }, (_, i) => start + i);
    await db.collection('contact_profiles').insertMany(
      ids.map((i) => ({
        _id: `${workspace}:c-${i}` as never,
        workspaceId: workspace,
        attributes: { email: `c-${i}@${workspace}.example` },
        stage: 'lead',
        score: 0,
        scoredAt: 0,
        updatedAt: now,
      })),
      { ordered: false },
    );
    await db.collection('enrollments').insertMany(
      ids.map((i) => ({
        _id: `${workspace}:bench:${workspace}:c-${i}` as never,
        workspaceId: workspace,
        journeyId: 'bench',
        version: 1,
        contactId: `${workspace}:c-${i}`,
        key: null,
        run: 0,
        state: 'active',
        stepId: 'due',
        waitingAt: 'due',
        awaitingEvent: null,
        eventArrived: false,
        seq: 0,
        propertiesJson: '{}',
        cause: {
          eventId: `${workspace}-cause-${i}`,
          occurredAt: now.getTime(),
          workspaceId: workspace,
          source: 'bench',
          correlationId: workspace,
          causationId: null,
        },
        trace: {},
        wakeAt,
        leaseUntil: new Date(0),
        leaseOwner: null,
        reason: null,
        enteredAt: now,
        completedAt: null,
        updatedAt: now,
      })),
      { ordered: false },
    );
    bar.update(start + ids.length);
  }
  bar.stop();
}

interface EntryResult {
  calls: number;
  entered: number;
  lost: number;
  enrollPerS: number;
  late: ReturnType<typeof latencySummary>;
}

const ENTRY_JOURNEY = {
  name: 'Bench entry',
  entry: { on: 'event', event: 'Bench Entered' },
  reentry: 'never',
  steps: [{ id: 'hello', type: 'email', subject: 'Hello', html: '<p>hello</p>', category: 'transactional' }],
};

/**
 * Phase 3: contacts made known (identify with an email, not timed), then one track call each at `--entry-rate`, open
 * loop; each must get the journey's email. Latency runs from the call's due time to the fake receiving the email.
 */
async function measureEntry(
  processes: RunningProcess[],
  sendgrid: FakeSendGrid,
  db: mongoose.mongo.Db,
  writeKey: string,
  workspace: string,
): Promise<EntryResult> {
  const [ingestion, , orchestration] = processes;
  console.log(
    `\nphase 3 (entry): ingestion, leads and ${opts.processes} orchestration processes, ${opts.entryRate} entries/s for ${opts.entrySeconds} s`,
  );
  await Promise.all(processes.map((p) => waitReady(p)));
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  const headers = { authorization: auth, 'content-type': 'application/json' };
  const put = await fetch(`${orchestration?.url}/v1/journeys/entry`, {
    method: 'PUT',
    headers,
    body: JSON.stringify(ENTRY_JOURNEY),
  });
  if (!put.ok) throw new Error(`journey refused: ${put.status} ${await put.text()}`);
  await fetch(`${orchestration?.url}/v1/journeys/entry/publish`, {
    method: 'POST',
    headers: { authorization: auth },
  });
  const count = Math.round(opts.entryRate * opts.entrySeconds);
  const email = (i: number): string => `entry-${i}@${workspace}.example`;
  const call = async (path: string, body: unknown): Promise<void> => {
    const res = await fetch(`${ingestion?.url}${path}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path} refused: ${res.status} ${await res.text()}`);
  };
  // Known contacts with an email first: entry and first send are what is timed.
  const limit = pLimit(32);
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      limit(() => call('/v1/identify', { userId: `entry-${i}`, traits: { email: email(i) } })),
    ),
  );
  const known = async (): Promise<number> =>
    db
      .collection('contact_profiles')
      .countDocuments({ workspaceId: workspace, 'attributes.email': { $exists: true } });
  const knownBy = Date.now() + 120_000;
  while ((await known()) < count && Date.now() < knownBy) await sleep(500);
  console.log(`${await known()} of ${count} contacts known to orchestration`);

  const due = new Map<string, number>();
  const start = Date.now() + 500;
  const calls: Promise<void>[] = [];
  for (let i = 0; i < count; i += 1) {
    const at = start + (i * 1000) / opts.entryRate;
    await sleep(Math.max(0, at - Date.now()));
    due.set(email(i), at);
    calls.push(call('/v1/track', { userId: `entry-${i}`, event: 'Bench Entered', properties: { i } }));
  }
  await Promise.all(calls);
  const ours = () => sendgrid.messages.filter((m) => m.customArgs['workspace_id'] === workspace);
  // Polled during the run on the services' cores: each poll reads only the emails new since the last one.
  const counter = newMessageCounter(sendgrid, workspace);
  let seen = 0;
  let lastChange = Date.now();
  while (seen < count && Date.now() - lastChange < 30_000) {
    await sleep(500);
    const now = counter().size;
    if (now !== seen) lastChange = Date.now();
    seen = now;
  }
  const firstAt = new Map<string, number>();
  for (const message of ours()) {
    const to = message.to[0]?.email ?? '';
    const at = Date.parse(message.receivedAt);
    if (due.has(to) && (firstAt.get(to) ?? Infinity) > at) firstAt.set(to, at);
  }
  const times = [...firstAt.entries()].map(([to, at]) => at - (due.get(to) ?? at));
  const lastAt = Math.max(...firstAt.values());
  const result: EntryResult = {
    calls: count,
    entered: firstAt.size,
    lost: count - firstAt.size,
    enrollPerS: Math.round((firstAt.size / Math.max(1, lastAt - start)) * 1000 * 10) / 10,
    late: latencySummary(times),
  };
  console.table({
    entry: {
      calls: result.calls,
      entered: result.entered,
      lost: result.lost,
      'enrollments/s': result.enrollPerS,
      'call→email p50 ms': result.late.p50,
      'p99 ms': result.late.p99,
      'max ms': result.late.max,
    },
  });
  console.log(
    resultLine('journeys_entry', {
      rate: opts.entryRate,
      seconds: opts.entrySeconds,
      enroll_per_s: result.enrollPerS,
      p50_ms: result.late.p50,
      p99_ms: result.late.p99,
      lost: result.lost,
    }),
  );
  return result;
}

async function main(): Promise<void> {
  await stackUp();
  const endpoints = stackEndpoints();
  const run = uniqueId('bj');
  const key = `bench-key-${run}`;
  const database = `bench_${run}_orchestration`;
  const ports = Array.from({ length: opts.processes }, (_, i) => opts.port + i);
  const entryPorts = { ingestion: opts.port + opts.processes, leads: opts.port + opts.processes + 1 };
  if (mode === 'production')
    ensureBuilt(opts.entryRate > 0 ? ['orchestration', 'ingestion', 'leads'] : ['orchestration']);
  await assertPortsFree([...ports, opts.sandboxPort, entryPorts.ingestion, entryPorts.leads]);
  const sendgrid = new FakeSendGrid({ apiKey: `SG.${run}` });
  await sendgrid.start(opts.sandboxPort);
  const workspaces = [`ws_${run}_clean`, `ws_${run}_kill`];
  const entryWorkspace = `ws_${run}_entry`;
  const spawnAll = (): RunningProcess[] =>
    ports.map((port, i) =>
      spawnService(
        'orchestration',
        port,
        {
          ...endpoints.env,
          MONGO_DB: database,
          CONSUMER_GROUP: `orchestration.${run}`,
          CONSUMER_FROM_BEGINNING: 'false',
          WRITE_KEYS: [...workspaces, entryWorkspace].map((ws) => `${key}-${ws}:${ws}`).join(','),
          SENDGRID_API_KEY: `SG.${run}`,
          SENDGRID_BASE_URL: sendgrid.baseUrl,
          LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
          ...podEnv('orchestration', mode),
          ...productionEnv(mode),
        },
        join(__dirname, '..', '..', '.stack', 'logs', `bench-${run}`, `orchestration-${i}`),
        {
          nodeArgs: [
            ...podNodeArgs('orchestration', mode),
            ...(process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
          ],
          mode,
        },
      ),
    );
  /** Ingestion and leads, for phase 3: the path a tracked event takes to orchestration. */
  const spawnPipeline = (): RunningProcess[] =>
    (['ingestion', 'leads'] as const).map((name) =>
      spawnService(
        name,
        entryPorts[name],
        {
          ...endpoints.env,
          MONGO_DB: `bench_${run}_${name}`,
          CONSUMER_GROUP: `${name}.${run}`,
          CONSUMER_FROM_BEGINNING: 'false',
          WRITE_KEYS: `${key}-${entryWorkspace}:${entryWorkspace}`,
          LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
          ...(name === 'ingestion' ? UNLIMITED_EDGE : {}),
          ...podEnv(name, mode),
          ...productionEnv(mode),
        },
        join(__dirname, '..', '..', '.stack', 'logs', `bench-${run}`, name),
        { nodeArgs: podNodeArgs(name, mode), mode },
      ),
    );
  const connection = await mongoose.createConnection(endpoints.mongoUrl, { dbName: database }).asPromise();
  const db = connection.db as mongoose.mongo.Db;
  let processes: RunningProcess[] = [];
  const results: PhaseResult[] = [];
  let entry: EntryResult | undefined;
  try {
    for (const [phase, workspace] of workspaces.entries()) {
      const kill = phase === 1;
      processes = spawnAll();
      console.log(
        `\nphase ${phase + 1} (${kill ? 'one process killed' : 'clean'}): ${opts.processes} orchestration processes, ${modeLabel(mode)}`,
      );
      await Promise.all(processes.map((p) => waitReady(p)));
      // One sampler each: the processes share a service name.
      const samplers = processes.map((p) => new RssSampler([p]));
      const [first] = processes;
      const auth = `Basic ${Buffer.from(`${key}-${workspace}:`).toString('base64')}`;
      const put = await fetch(`${first?.url}/v1/journeys/bench`, {
        method: 'PUT',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify(JOURNEY),
      });
      if (!put.ok) throw new Error(`journey refused: ${put.status} ${await put.text()}`);
      await fetch(`${first?.url}/v1/journeys/bench/publish`, {
        method: 'POST',
        headers: { authorization: auth },
      });

      // Due after seeding, whatever seeding takes: measured seeding first, then T.
      const seedStart = Date.now();
      await seedTimers(db, workspace, opts.timers, new Date(8.64e15));
      const due = new Date(Date.now() + opts.leadSeconds * 1000);
      await db.collection('enrollments').updateMany({ workspaceId: workspace }, { $set: { wakeAt: due } });
      // The timer index the engine claims from (engine.models.ts `timerId`), as its writers add entries.
      for (let start = 0; start < opts.timers; start += 5_000)
        await db.collection('journey_timers').insertMany(
          Array.from({ length: Math.min(5_000, opts.timers - start) }, (_, i) => ({
            _id: `t|${String(due.getTime()).padStart(15, '0')}|${workspace}:bench:${workspace}:c-${start + i}` as never,
          })),
          { ordered: false },
        );
      console.log(
        `seeded ${opts.timers} timers in ${((Date.now() - seedStart) / 1000).toFixed(1)} s; due at ${due.toISOString()}`,
      );

      const ours = () => sendgrid.messages.filter((m) => m.customArgs['workspace_id'] === workspace);
      const bar = new SingleBar(
        { format: 'timers fired [{bar}] {value}/{total}', noTTYOutput: true, notTTYSchedule: 5_000 },
        Presets.shades_classic,
      );
      bar.start(opts.timers, 0);
      const deadline = due.getTime() + opts.drainTimeoutSeconds * 1000;
      let killed = false;
      const counter = newMessageCounter(sendgrid, workspace);
      let distinct = 0;
      let lastChange = Date.now();
      while (Date.now() < deadline) {
        await sleep(500);
        if (kill && !killed && Date.now() >= due.getTime() + opts.killAfterSeconds * 1000) {
          processes[processes.length - 1]?.child.kill('SIGKILL');
          killed = true;
          console.log(`\nSIGKILL to one process ${opts.killAfterSeconds} s into the drain`);
        }
        const seen = counter().size;
        if (seen !== distinct) {
          distinct = seen;
          lastChange = Date.now();
        }
        bar.update(distinct);
        if (distinct >= opts.timers) break;
        // Nothing new for a minute past every lease: what is missing is lost.
        if (Date.now() > due.getTime() && Date.now() - lastChange > 90_000) break;
      }
      bar.stop();
      // Late duplicates show up after the last first-send: give the survivors a lease's length to make any.
      await sleep(2_000);
      const received = ours();
      const firstAt = new Map<string, number>();
      for (const message of received) {
        const at = Date.parse(message.receivedAt);
        const messageKey = message.customArgs['tributary_message_key'] ?? '';
        if (!firstAt.has(messageKey) || (firstAt.get(messageKey) ?? Infinity) > at)
          firstAt.set(messageKey, at);
      }
      const times = [...firstAt.values()];
      const late = times.map((at) => at - due.getTime());
      const result: PhaseResult = {
        timers: opts.timers,
        drainS: times.length > 0 ? Math.round((Math.max(...times) - due.getTime()) / 100) / 10 : NaN,
        late: latencySummary(late.map((ms) => Math.max(0, ms))),
        early: late.filter((ms) => ms < 0).length,
        lost: opts.timers - firstAt.size,
        duplicated: received.length - firstAt.size,
      };
      results.push(result);
      console.table({
        [kill ? 'kill' : 'clean']: {
          timers: result.timers,
          'drain s': result.drainS,
          'late p50 ms': result.late.p50,
          'late p99 ms': result.late.p99,
          'late max ms': result.late.max,
          early: result.early,
          lost: result.lost,
          duplicated: result.duplicated,
        },
      });
      const memory = (await Promise.all(samplers.map((sampler) => sampler.stop()))).flat();
      printRss(memory, mode, 'the drain');
      await Promise.all(processes.map((p) => stopService(p)));
      console.log(
        resultLine(`journeys_${kill ? 'kill' : 'clean'}`, {
          timers: result.timers,
          drain_s: result.drainS,
          p99_late_ms: result.late.p99,
          early: result.early,
          lost: result.lost,
          duplicated: result.duplicated,
          ...rssResult(memory, mode),
        }),
      );
    }
    if (opts.entryRate > 0) {
      const pipeline = spawnPipeline();
      processes = [...pipeline, ...spawnAll()];
      entry = await measureEntry(processes, sendgrid, db, `${key}-${entryWorkspace}`, entryWorkspace);
      await Promise.all(processes.map((p) => stopService(p)));
    }
  } finally {
    await Promise.all(processes.map((p) => stopService(p)));
    await sendgrid.stop();
    if (!opts.keepData)
      for (const name of [database, `bench_${run}_ingestion`, `bench_${run}_leads`])
        await connection.useDb(name).dropDatabase();
    await connection.close();
  }
  const hard = results[results.length - 1];
  if (hard)
    console.log(
      resultLine('journeys', {
        timers: hard.timers,
        drain_s: hard.drainS,
        p99_late_ms: hard.late.p99,
        early: hard.early,
        lost: hard.lost,
        duplicated: hard.duplicated,
        enroll_per_s: entry?.enrollPerS,
        entry_p99_ms: entry?.late.p99,
        entry_lost: entry?.lost,
      }),
    );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

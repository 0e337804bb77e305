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
 * The timers are written straight into orchestration's store (seeding, not the engine's path); entry throughput from
 * events is not measured here yet (enroll_per_s=na).
 * Prints numbers; asserts nothing. Ends with
 * `RESULT journeys timers=<n> drain_s=<s> p99_late_ms=<ms> early=<n> lost=<n> duplicated=<n> enroll_per_s=<n>`
 * for the kill phase (the harder one), and a line per phase before it.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Presets, SingleBar } from 'cli-progress';
import { Command } from 'commander';
import mongoose from 'mongoose';
import { FakeSendGrid } from '@tributary/sandbox';
import { spawnService, stopService, uniqueId, waitReady, type RunningProcess } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import {
  assertPortsFree,
  DEV_FLAG,
  DEV_FLAG_HELP,
  RssSampler,
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

async function main(): Promise<void> {
  await stackUp();
  const endpoints = stackEndpoints();
  const run = uniqueId('bj');
  const key = `bench-key-${run}`;
  const database = `bench_${run}_orchestration`;
  const ports = Array.from({ length: opts.processes }, (_, i) => opts.port + i);
  if (mode === 'production') ensureBuilt(['orchestration']);
  await assertPortsFree([...ports, opts.sandboxPort]);
  const sendgrid = new FakeSendGrid({ apiKey: `SG.${run}` });
  await sendgrid.start(opts.sandboxPort);
  const workspaces = [`ws_${run}_clean`, `ws_${run}_kill`];
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
          WRITE_KEYS: workspaces.map((ws) => `${key}-${ws}:${ws}`).join(','),
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
  const connection = await mongoose.createConnection(endpoints.mongoUrl, { dbName: database }).asPromise();
  const db = connection.db as mongoose.mongo.Db;
  let processes: RunningProcess[] = [];
  const results: PhaseResult[] = [];
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
      let distinct = 0;
      let lastChange = Date.now();
      while (Date.now() < deadline) {
        await sleep(500);
        if (kill && !killed && Date.now() >= due.getTime() + opts.killAfterSeconds * 1000) {
          processes[processes.length - 1]?.child.kill('SIGKILL');
          killed = true;
          console.log(`\nSIGKILL to one process ${opts.killAfterSeconds} s into the drain`);
        }
        const seen = new Set(ours().map((m) => m.customArgs['tributary_message_key'])).size;
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
  } finally {
    await Promise.all(processes.map((p) => stopService(p)));
    await sendgrid.stop();
    if (!opts.keepData) await db.dropDatabase();
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
        enroll_per_s: 'na',
      }),
    );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

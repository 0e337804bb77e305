/**
 * `npm run bench:timer-floor [-- --timers 100000 --workers 2 --batch 500]`
 * The store's floor under `bench:journeys`: how long the Mongo-wire store alone takes for the writes any engine
 * keeping the journey guarantees must make per due timer, with nothing else on the machine. Per timer: its due entry
 * read (a string `_id` range) and deleted, its enrollment read and written where it stopped, and the message recorded
 * before the provider call (a claim, dropped after) and after it (the record). No lease, profile, suppression or
 * provider call, no Kafka; `--batch` timers a command, `--workers` processes on their own shard of the due entries
 * (so none contend), two commands in flight each. What is left of 2 cores × 60 s after this is what the engine's
 * own work, the providers and Kafka may take.
 * Prints numbers; asserts nothing. Ends with
 * `RESULT timer_floor timers=<n> workers=<n> batch=<n> drain_s=<s> store_cpu_s=<s>`
 * (store_cpu_s: FerretDB and PostgreSQL processes of this machine, exited backends included; `na` elsewhere).
 */
import { fork } from 'node:child_process';
import { Command } from 'commander';
import mongoose from 'mongoose';
import { uniqueId } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import { processStats } from './production';
import { resultLine } from './stats';

const opts = new Command('bench:timer-floor')
  .option('--timers <n>', 'due timers', (v) => Number(v), 100_000)
  .option('--workers <n>', 'processes draining, each its own shard', (v) => Number(v), 2)
  .option('--batch <n>', 'timers a command', (v) => Number(v), 500)
  .option('--mongo-url <url>', 'the Mongo-wire server (default: the stack’s FerretDB)')
  .option('--worker <spec>', 'internal: run as worker <db>:<shard>')
  .parse()
  .opts<{ timers: number; workers: number; batch: number; mongoUrl?: string; worker?: string }>();

interface Enrollment {
  _id: string;
  workspaceId: string;
  journeyId: string;
  contactId: string;
}

const shardPrefix = (shard: number) => `t|${String(shard).padStart(2, '0')}|`;

/**
 * CPU seconds of the store's processes so far: FerretDB, PostgreSQL, and the backends PostgreSQL has reaped (those
 * of connections closed meanwhile, the bench's own among them); undefined where there is no /proc.
 */
async function storeCpuSeconds(): Promise<number | undefined> {
  const stats = await processStats().catch(() => undefined);
  if (!stats) return undefined;
  let total = 0;
  for (const stat of stats.values()) {
    if (stat.command.startsWith('ferretdb')) total += stat.cpuSeconds;
    else if (stat.command === 'postgres')
      // Only the postmaster (whose parent is not PostgreSQL) reaps the backends.
      total += stat.cpuSeconds + (stats.get(stat.parent)?.command === 'postgres' ? 0 : stat.reapedCpuSeconds);
  }
  return total;
}

async function seed(db: mongoose.mongo.Db): Promise<void> {
  const due = Date.now();
  const perShard = Math.ceil(opts.timers / opts.workers);
  for (let shard = 0; shard < opts.workers; shard++) {
    for (let start = 0; start < perShard; start += 1_000) {
      const ids = Array.from(
        { length: Math.min(1_000, perShard - start) },
        (_, i) => `e-${shard}-${start + i}`,
      );
      await db.collection('enrollments').insertMany(
        ids.map((id) => ({
          _id: id as never,
          workspaceId: 'ws_floor',
          journeyId: 'floor',
          version: 1,
          contactId: `c-${id}`,
          key: null,
          state: 'active',
          stepId: 'due',
          waitingAt: 'due',
          awaitingEvent: null,
          eventArrived: false,
          seq: 0,
          propertiesJson: '{}',
          trace: {},
          wakeAt: new Date(due),
          leaseUntil: new Date(0),
          leaseOwner: null,
          enteredAt: new Date(due),
          updatedAt: new Date(due),
        })),
        { ordered: false },
      );
      await db
        .collection('timers')
        .insertMany(
          ids.map((id) => ({ _id: `${shardPrefix(shard)}${String(due).padStart(15, '0')}|${id}` as never })),
        );
    }
  }
}

async function drainShard(url: string, dbName: string, shard: number): Promise<void> {
  const connection = await mongoose.createConnection(url, { dbName, maxPoolSize: 8 }).asPromise();
  const db = connection.db;
  if (!db) throw new Error('no database handle');
  const timers = db.collection<{ _id: string }>('timers');
  const enrollments = db.collection<Enrollment>('enrollments');
  const claims = db.collection<{ _id: string }>('claims');
  const messages = db.collection<{ _id: string }>('messages');
  const taken = new Set<string>();
  const running = new Set<Promise<void>>();
  const run = async (due: string[]) => {
    const ids = due.map((id) => id.slice(id.lastIndexOf('|') + 1));
    const found = await enrollments.find({ _id: { $in: ids } }).toArray();
    const now = new Date();
    const keys = found.map((e) => `${e._id}:send:0`);
    await claims.insertMany(
      keys.map((_id) => ({
        _id,
        attempts: 1,
        tags: ['floor'],
        uncertain: true,
        createdAt: now,
        updatedAt: now,
      })),
      { ordered: false },
    );
    await messages.insertMany(
      found.map((e, i) => ({
        _id: keys[i] as string,
        workspaceId: e.workspaceId,
        journeyId: e.journeyId,
        enrollmentId: e._id,
        stepId: 'send',
        contactId: e.contactId,
        channel: 'email',
        provider: 'sendgrid',
        recipient: 'c***@example.com',
        status: 'sent',
        reason: null,
        providerMessageId: 'floor',
        attempts: 1,
        createdAt: now,
        updatedAt: now,
      })),
      { ordered: false },
    );
    await enrollments.updateMany(
      { _id: { $in: ids } },
      {
        $set: {
          state: 'completed',
          stepId: 'send',
          seq: 1,
          waitingAt: null,
          completedAt: now,
          updatedAt: now,
        },
      },
    );
    await timers.deleteMany({ _id: { $in: due } });
    await claims.deleteMany({ _id: { $in: keys } });
  };
  const prefix = shardPrefix(shard);
  for (;;) {
    const found = await timers
      .find({ _id: { $gte: prefix, $lt: `${prefix}~` } })
      .limit(opts.batch * 3)
      .toArray();
    const due = found
      .map((t) => t._id)
      .filter((id) => !taken.has(id))
      .slice(0, opts.batch);
    if (due.length === 0) {
      if (running.size === 0) break;
      await Promise.race(running);
      continue;
    }
    for (const id of due) taken.add(id);
    const batch: Promise<void> = run(due).finally(() => running.delete(batch));
    running.add(batch);
    while (running.size >= 2) await Promise.race(running);
  }
  await Promise.all(running);
  await connection.close();
}

async function main(): Promise<void> {
  let url = opts.mongoUrl;
  if (!url) {
    await stackUp({ quiet: true });
    url = stackEndpoints().mongoUrl;
  }
  const dbName = `bench_${uniqueId('timer_floor')}`.replace(/[^A-Za-z0-9_]/g, '_');
  const connection = await mongoose.createConnection(url, { dbName }).asPromise();
  const db = connection.db;
  if (!db) throw new Error('no database handle');
  try {
    await seed(db);
    const cpuBefore = await storeCpuSeconds();
    const started = performance.now();
    await Promise.all(
      Array.from(
        { length: opts.workers },
        (_, shard) =>
          new Promise<void>((resolve, reject) => {
            const child = fork(require.resolve('../run-ts.js'), [
              __filename,
              '--worker',
              `${dbName}:${shard}`,
              '--batch',
              String(opts.batch),
              '--mongo-url',
              url,
            ]);
            child.on('exit', (code) =>
              code === 0 ? resolve() : reject(new Error(`worker ${shard} exited ${code}`)),
            );
          }),
      ),
    );
    const drainS = (performance.now() - started) / 1000;
    const cpuAfter = await storeCpuSeconds();
    const left = await db.collection('timers').countDocuments();
    if (left !== 0) throw new Error(`${left} timers left undrained`);
    console.log(
      resultLine('timer_floor', {
        timers: opts.timers,
        workers: opts.workers,
        batch: opts.batch,
        drain_s: drainS.toFixed(1),
        store_cpu_s:
          cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore).toFixed(0),
      }),
    );
  } finally {
    await db.dropDatabase();
    await connection.close();
  }
}

if (opts.worker) {
  const [dbName, shard] = opts.worker.split(':');
  drainShard(opts.mongoUrl ?? stackEndpoints().mongoUrl, dbName as string, Number(shard)).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

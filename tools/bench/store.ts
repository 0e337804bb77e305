/**
 * `npm run bench:store [-- --mongo-url mongodb://127.0.0.1:27017 --ops 1000 --rounds 100 --writers 6]`
 * The store's cost of the command shapes the services lean on, and whether it isolates concurrent conditional
 * updates, against any Mongo-wire server (default: the stack's FerretDB, on whichever backend it runs):
 *   1. `--ops` sequential inserts;
 *   2. `--ops` sequential `findOneAndUpdate({_id, revision}, {$inc: {revision: 1}})` that hit, on a collection of
 *      `--docs` documents, then `--ops / 10` that miss (stale revision);
 *   3. isolation: `--rounds` rounds of `--writers` concurrent conditional updates of one document at one revision
 *      (exactly one may win), of concurrent `$inc`s that return the new value (all values must differ), and of
 *      concurrent `$set`s of different fields of one document (none may be lost).
 * Prints numbers; asserts nothing. Uses its own database and drops it afterwards.
 */
import { Command } from 'commander';
import mongoose from 'mongoose';
import { uniqueId } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import { percentile, resultLine } from './stats';

const opts = new Command('bench:store')
  .option('--mongo-url <url>', 'the Mongo-wire server (default: the stack’s FerretDB)')
  .option('--ops <n>', 'sequential inserts, and sequential conditional updates', (v) => Number(v), 1000)
  .option('--docs <n>', 'documents in the updated collection', (v) => Number(v), 1000)
  .option('--rounds <n>', 'isolation rounds', (v) => Number(v), 100)
  .option('--writers <n>', 'concurrent writers per isolation round', (v) => Number(v), 6)
  .parse()
  .opts<{ mongoUrl?: string; ops: number; docs: number; rounds: number; writers: number }>();

interface Doc {
  _id: string;
  revision: number;
  n?: number;
  payload?: string;
}

/** Runs `fn` `count` times one after the other; the latency of each in ms. */
async function timed(count: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await fn(i);
    ms.push(performance.now() - t0);
  }
  return ms;
}

function summary(ms: readonly number[]): Record<string, string> {
  const total = ms.reduce((a, b) => a + b, 0);
  return {
    count: String(ms.length),
    'total s': (total / 1000).toFixed(2),
    'mean ms': (total / ms.length).toFixed(2),
    'p50 ms': percentile(ms, 50).toFixed(2),
    'p99 ms': percentile(ms, 99).toFixed(2),
    'ops/s': ((ms.length / total) * 1000).toFixed(0),
  };
}

async function main(): Promise<void> {
  let url = opts.mongoUrl;
  if (!url) {
    await stackUp({ quiet: true });
    url = stackEndpoints().mongoUrl;
  }
  const dbName = `bench_${uniqueId('store')}`.replace(/[^A-Za-z0-9_]/g, '_');
  const connection = await mongoose
    .createConnection(url, { dbName, maxPoolSize: opts.writers + 2 })
    .asPromise();
  const db = connection.db;
  if (!db) throw new Error('no database handle');
  const payload = 'x'.repeat(200);
  try {
    const build = await db.command({ buildInfo: 1 });
    console.log(`${url}: ${String(build['version'])} ${JSON.stringify(build['ferretdb'] ?? {})}`);

    const inserts = db.collection<Doc>('inserts');
    const insertMs = await timed(opts.ops, (i) => inserts.insertOne({ _id: `i${i}`, revision: 0, payload }));

    const docs = db.collection<Doc>('docs');
    for (let start = 0; start < opts.docs; start += 500) {
      const batch = Array.from({ length: Math.min(500, opts.docs - start) }, (_, k) => ({
        _id: `d${start + k}`,
        revision: 0,
        payload,
      }));
      await docs.insertMany(batch);
    }
    const revisions = new Array<number>(opts.docs).fill(0);
    const hitMs = await timed(opts.ops, async (i) => {
      const k = (i * 7919) % opts.docs;
      const updated = await docs.findOneAndUpdate(
        { _id: `d${k}`, revision: revisions[k] ?? 0 },
        { $inc: { revision: 1 } },
        { returnDocument: 'after' },
      );
      if (!updated) throw new Error(`conditional update of d${k} missed`);
      revisions[k] = updated.revision;
    });
    const missMs = await timed(Math.max(1, Math.round(opts.ops / 10)), (i) =>
      docs.findOneAndUpdate({ _id: `d${i % opts.docs}`, revision: -1 }, { $inc: { revision: 1 } }),
    );
    console.table({
      [`insertOne (sequential)`]: summary(insertMs),
      [`findOneAndUpdate {_id, revision} hit, ${opts.docs} docs`]: summary(hitMs),
      [`findOneAndUpdate {_id, revision} miss`]: summary(missMs),
    });

    // Isolation: one document, `writers` conditional updates at the same revision per round.
    const iso = db.collection<Doc>('isolation');
    await iso.insertOne({ _id: 'claim', revision: 0, n: 0 });
    let multiWinnerRounds = 0;
    let maxWinners = 0;
    let duplicateRounds = 0;
    let lostFieldRounds = 0;
    let lostFields = 0;
    for (let round = 0; round < opts.rounds; round++) {
      const results = await Promise.all(
        Array.from({ length: opts.writers }, () =>
          iso.findOneAndUpdate(
            { _id: 'claim', revision: round },
            { $inc: { revision: 1 } },
            { returnDocument: 'after' },
          ),
        ),
      );
      const winners = results.filter((r) => r !== null).length;
      maxWinners = Math.max(maxWinners, winners);
      if (winners > 1) multiWinnerRounds++;
      // Whatever won, the document must be at round + 1 now (re-align so one bad round does not spoil the rest).
      await iso.updateOne({ _id: 'claim' }, { $set: { revision: round + 1 } });

      const values = await Promise.all(
        Array.from({ length: opts.writers }, () =>
          iso.findOneAndUpdate({ _id: 'claim' }, { $inc: { n: 1 } }, { returnDocument: 'after' }),
        ),
      );
      const ns = values.map((v) => v?.n);
      if (new Set(ns).size !== ns.length) duplicateRounds++;

      // Each writer sets its own field: a store that writes whole documents back loses the others' fields.
      // A document of its own per round, so the claim document stays small.
      const fields = Array.from({ length: opts.writers }, (_, w) => `w${w}`);
      await iso.insertOne({ _id: `fields${round}`, revision: 0 });
      await Promise.all(fields.map((f) => iso.updateOne({ _id: `fields${round}` }, { $set: { [f]: 1 } })));
      const after = (await iso.findOne({ _id: `fields${round}` })) as Record<string, unknown> | null;
      const lost = fields.filter((f) => after?.[f] !== 1).length;
      if (lost > 0) lostFieldRounds++;
      lostFields += lost;
    }
    const final = await iso.findOne({ _id: 'claim' });
    const expectedN = opts.rounds * opts.writers;
    console.table({
      'conditional update {_id, revision}': {
        rounds: opts.rounds,
        writers: opts.writers,
        'rounds with >1 winner': multiWinnerRounds,
        'most winners in a round': maxWinners,
      },
      '$inc returning the new value': {
        rounds: opts.rounds,
        writers: opts.writers,
        'rounds with duplicate values': duplicateRounds,
        'final n (expected)': `${final?.n ?? '?'} (${expectedN})`,
      },
      '$set of different fields': {
        rounds: opts.rounds,
        writers: opts.writers,
        'rounds that lost a field': lostFieldRounds,
        'fields lost': `${lostFields} of ${opts.rounds * opts.writers}`,
      },
    });
    const isolated =
      multiWinnerRounds === 0 && duplicateRounds === 0 && final?.n === expectedN && lostFields === 0;
    console.log(isolated ? 'isolation: no anomaly seen' : 'isolation: NOT isolated (anomalies above)');
    console.log(
      resultLine('store', {
        insert_p50_ms: Number(percentile(insertMs, 50).toFixed(2)),
        insert_p99_ms: Number(percentile(insertMs, 99).toFixed(2)),
        update_hit_p50_ms: Number(percentile(hitMs, 50).toFixed(2)),
        update_hit_p99_ms: Number(percentile(hitMs, 99).toFixed(2)),
        update_miss_p50_ms: Number(percentile(missMs, 50).toFixed(2)),
        isolated,
      }),
    );
  } finally {
    await db.dropDatabase().catch(() => undefined);
    await connection.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});

/**
 * The batch store helpers on the real store (FerretDB with our patch, whose `_id $in` pushdown they rely on):
 * `findByIds` returns exactly the documents asked for, across chunks, whatever else the collection holds;
 * `insertClaims` inserts what is free and names the positions someone held already; `guardedUpserts` applies the
 * updates whose guard holds and names the others.
 */
import mongoose, { Schema, Types, type Connection, type mongo } from 'mongoose';
import { testStackEndpoints, uniqueId } from '@tributary/testing';
import {
  findByIds,
  groupedUpdates,
  guardedUpserts,
  insertClaims,
  isDuplicateKey,
  upsertRacing,
  type BatchCollection,
  type UpsertCollection,
} from './mongo';

interface Lead {
  _id: string;
  email: string;
  n: number;
}

let connection: Connection;
let leads: mongo.Collection<Lead>;
/** FerretDB (the native stack) or real MongoDB (the testcontainers mode): they explain a query differently. */
let server: 'ferretdb' | 'mongodb';
const db = `platform_${uniqueId('batch')}`;

beforeAll(async () => {
  connection = await mongoose.createConnection(testStackEndpoints().mongoUrl, { dbName: db }).asPromise();
  leads = connection.collection<Lead>('leads');
  const info = (await connection.db?.admin().command({ buildInfo: 1 })) ?? {};
  server = 'ferretdbVersion' in info ? 'ferretdb' : 'mongodb';
});

/** FerretDB reports whether PostgreSQL answered the filter; real MongoDB plans with its indexes and has no such field. */
const expectPushdown = (plan: { filterPushdown?: boolean }) =>
  expect({ server, pushdown: plan.filterPushdown }).toEqual({
    server,
    pushdown: server === 'ferretdb' ? true : undefined,
  });

afterAll(async () => {
  await connection?.dropDatabase();
  await connection?.close();
});

const batch = (collection: mongo.Collection<Lead>) => collection as unknown as BatchCollection<Lead>;

describe('batch store helpers', () => {
  it('findByIds reads exactly the ids asked for, across several $in chunks', async () => {
    const docs = Array.from({ length: 2_600 }, (_, n) => ({
      _id: `lead-${n}`,
      email: `l${n}@acme.example`,
      n,
    }));
    await leads.insertMany(docs);
    // Neighbours that must not match: a number _id, an ObjectId, and a string that only prefixes a wanted one.
    await connection
      .collection('leads')
      .insertMany([{ _id: 7 }, { _id: new Types.ObjectId() }, { _id: 'lead-1x' }] as never[]);
    const wanted = [...docs.filter((doc) => doc.n % 2 === 0).map((doc) => doc._id), 'lead-missing', 'lead-4'];

    const found = await findByIds(batch(leads), wanted);

    expect(found.size).toBe(1_300);
    expect(found.get('lead-2598')).toEqual({ _id: 'lead-2598', email: 'l2598@acme.example', n: 2598 });
    expect(found.has('lead-1')).toBe(false);
    expect(found.has('lead-missing')).toBe(false);
    expect([...found.values()].every((doc) => doc.n % 2 === 0)).toBe(true);
  });

  it('findByIds applies the projection', async () => {
    const found = await findByIds(batch(leads), ['lead-3'], { email: 1 });
    expect(found.get('lead-3')).toEqual({ _id: 'lead-3', email: 'l3@acme.example' });
  });

  it('insertClaims inserts the free ids and returns the positions that were taken', async () => {
    const claims = connection.collection<Lead>('claims');
    await claims.insertOne({ _id: 'held-1', email: 'first@acme.example', n: 0 });
    const docs = ['new-1', 'held-1', 'new-2', 'new-2'].map((_id, n) => ({
      _id,
      email: `${n}@acme.example`,
      n,
    }));

    const taken = await insertClaims(batch(claims), docs);

    expect([...taken].sort()).toEqual([1, 3]);
    expect(await claims.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 'held-1', email: 'first@acme.example', n: 0 },
      { _id: 'new-1', email: '0@acme.example', n: 0 },
      { _id: 'new-2', email: '2@acme.example', n: 2 },
    ]);
    expect(await insertClaims(batch(claims), [])).toEqual(new Set());
  });

  it("insertClaims inserts batches around the store's statement size whole: 100 in one statement, 250 in three", async () => {
    const claims = connection.collection<Lead>('claims-sized');
    for (const size of [100, 250]) {
      const docs = Array.from({ length: size }, (_, n) => ({
        _id: `${size}-${n}`,
        email: `${n}@acme.example`,
        n,
      }));
      expect(await insertClaims(batch(claims), docs)).toEqual(new Set());
      // A duplicate in the last statement leaves the others inserted and is reported at its position.
      const again = [...docs.slice(0, 1), { _id: `${size}-new`, email: 'new@acme.example', n: -1 }];
      expect(await insertClaims(batch(claims), again)).toEqual(new Set([0]));
    }
    expect(await claims.countDocuments()).toBe(352);
  });

  it('guardedUpserts applies the updates whose guard holds, creates missing documents and names the refused', async () => {
    const loads = connection.collection<{ _id: string; open: number }>('guarded');
    await loads.insertMany([
      { _id: 'rep-full', open: 9 },
      { _id: 'rep-room', open: 5 },
      { _id: 'rep-full-2', open: 10 },
    ]);
    const add = (_id: string, n: number) => ({
      filter: { _id, open: { $lte: 10 - n } },
      update: { $inc: { open: n }, $set: { team: 'inbound' } },
    });

    // Refusals first, in the middle and last: each reported at its own position, the others still applied.
    const refused = await guardedUpserts(loads as unknown as UpsertCollection, [
      add('rep-full', 2),
      add('rep-room', 3),
      add('rep-new', 4),
      add('rep-full-2', 1),
    ]);

    expect([...refused].sort()).toEqual([0, 3]);
    expect(await loads.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 'rep-full', open: 9 },
      { _id: 'rep-full-2', open: 10 },
      { _id: 'rep-new', open: 4, team: 'inbound' },
      { _id: 'rep-room', open: 8, team: 'inbound' },
    ]);
    expect(await guardedUpserts(loads as unknown as UpsertCollection, [])).toEqual(new Set());
  });

  it('guardedUpserts from concurrent bulks never takes a counter past its bound', async () => {
    const loads = connection.collection<{ _id: string; open: number }>('guarded-race');
    const owners = ['rep-a', 'rep-b', 'rep-c'];
    // 60 bulks of 2 units on each of three owners, each owner bounded at 30: 15 bulks fit per owner.
    const results = await Promise.all(
      Array.from({ length: 60 }, () =>
        guardedUpserts(
          loads as unknown as UpsertCollection,
          owners.map((_id) => ({ filter: { _id, open: { $lte: 28 } }, update: { $inc: { open: 2 } } })),
        ),
      ),
    );
    for (const [position] of owners.entries())
      expect(results.filter((refused) => !refused.has(position))).toHaveLength(15);
    expect(await loads.find().sort({ _id: 1 }).toArray()).toEqual(owners.map((_id) => ({ _id, open: 30 })));
  });
});

/**
 * Sweeps for due work compare dates (`{acceptDueAt: {$lte: now}}`). Our FerretDB patch has PostgreSQL compare them
 * instead of decoding every document; these are MongoDB's answers, which the pushed-down filter must not change.
 */
describe('groupedUpdates', () => {
  it('applies equal guarded updates as one updateMany each, only where the guard holds', async () => {
    const stages = connection.collection<{ _id: string; owner: string; stage: string; n: number }>('stages');
    await stages.insertMany([
      { _id: 's-1', owner: 'runner-a', stage: 'lead', n: 1 },
      { _id: 's-2', owner: 'runner-a', stage: 'lead', n: 2 },
      { _id: 's-3', owner: 'runner-b', stage: 'lead', n: 3 },
      { _id: 's-4', owner: 'runner-a', stage: 'lead', n: 4 },
    ]);
    const toMql = { $set: { stage: 'mql' } };
    const updates = [
      { filter: { _id: 's-1', owner: 'runner-a' }, update: toMql },
      { filter: { _id: 's-2', owner: 'runner-a' }, update: toMql },
      // Another runner holds s-3: the guard keeps it as it was.
      { filter: { _id: 's-3', owner: 'runner-a' }, update: toMql },
      { filter: { _id: 's-4', owner: 'runner-a' }, update: { $set: { stage: 'sql' } } },
    ];

    const grouped = groupedUpdates(updates);
    await stages.bulkWrite(grouped as never[], { ordered: false });

    expect(grouped).toHaveLength(2);
    expect(grouped[0]?.updateMany.filter).toEqual({ owner: 'runner-a', _id: { $in: ['s-1', 's-2', 's-3'] } });
    expect(grouped[1]?.updateMany.filter).toEqual({ owner: 'runner-a', _id: 's-4' });
    expect(await stages.find({}, { sort: { _id: 1 } }).toArray()).toEqual([
      { _id: 's-1', owner: 'runner-a', stage: 'mql', n: 1 },
      { _id: 's-2', owner: 'runner-a', stage: 'mql', n: 2 },
      { _id: 's-3', owner: 'runner-b', stage: 'lead', n: 3 },
      { _id: 's-4', owner: 'runner-a', stage: 'sql', n: 4 },
    ]);
  });
});

describe('date and number comparisons', () => {
  const at = (ms: number) => new Date(ms);
  const ids = async (filter: object) =>
    (await connection.collection('due').find(filter).sort({ _id: 1 }).toArray()).map((doc) => doc['_id']);

  beforeAll(async () => {
    await connection.collection('due').insertMany([
      { _id: 'past', state: 'assigned', dueAt: at(1_000) },
      { _id: 'now', state: 'assigned', dueAt: at(5_000) },
      { _id: 'future', state: 'assigned', dueAt: at(9_000) },
      { _id: 'queued-past', state: 'queued', dueAt: at(1_000) },
      { _id: 'array-past', state: 'assigned', dueAt: [at(9_999), at(500)] },
      { _id: 'array-future', state: 'assigned', dueAt: [at(9_999)] },
      { _id: 'number', state: 'assigned', dueAt: 4_000 },
      { _id: 'string', state: 'assigned', dueAt: '4000' },
      { _id: 'null', state: 'assigned', dueAt: null },
      { _id: 'object', state: 'assigned', dueAt: { at: at(1_000) } },
      { _id: 'flag', state: 'assigned', dueAt: true },
      { _id: 'missing', state: 'assigned' },
    ] as never[]);
  });

  it('a date bound matches dates and arrays holding one, never numbers, strings, null or missing fields', async () => {
    expect(await ids({ dueAt: { $lte: at(5_000) } })).toEqual(['array-past', 'now', 'past', 'queued-past']);
    expect(await ids({ dueAt: { $lt: at(5_000) } })).toEqual(['array-past', 'past', 'queued-past']);
    expect(await ids({ dueAt: { $gt: at(5_000) } })).toEqual(['array-future', 'array-past', 'future']);
    expect(await ids({ dueAt: { $gte: at(9_000) } })).toEqual(['array-future', 'array-past', 'future']);
    // Each bound may be met by a different element of an array, as in MongoDB.
    expect(await ids({ state: 'assigned', dueAt: { $gte: at(1_000), $lt: at(9_000) } })).toEqual([
      'array-past',
      'now',
      'past',
    ]);
  });

  it('a number bound matches numbers only', async () => {
    expect(await ids({ dueAt: { $lte: 4_000 } })).toEqual(['number']);
    expect(await ids({ dueAt: { $gt: 3_999.5 } })).toEqual(['number']);
    expect(await ids({ dueAt: { $lt: 4_000 } })).toEqual([]);
  });

  it('is answered by PostgreSQL, not by decoding the collection (FerretDB reports the pushdown)', async () => {
    const plan: { filterPushdown?: boolean } = await connection
      .collection('due')
      .find({ dueAt: { $lte: at(5_000) } })
      .explain();
    expectPushdown(plan);
  });
});

/** The router's index of due work is read by `_id` ranges (`t|<time>|<lead>`); our patch serves them from the index. */
describe('string _id ranges', () => {
  const ids = async (filter: object) =>
    (await connection.collection<{ _id: unknown }>('wakes').find(filter).sort({ _id: 1 }).toArray()).map(
      (doc) => doc._id,
    );

  beforeAll(async () => {
    await connection
      .collection('wakes')
      .insertMany([
        { _id: 't|001|a' },
        { _id: 't|002|b' },
        { _id: 't|010|c' },
        { _id: 't|' },
        { _id: 'q|001|d' },
        { _id: 'u' },
        { _id: 'T|001|e' },
        { _id: 't|002|é' },
        { _id: 7 },
        { _id: new Types.ObjectId() },
        { _id: { at: 't|001' } },
      ] as never[]);
  });

  it('matches strings in byte order only, as MongoDB does, whatever other types the _ids have', async () => {
    expect(await ids({ _id: { $gte: 't|', $lt: 't|003' } })).toEqual(['t|', 't|001|a', 't|002|b', 't|002|é']);
    expect(await ids({ _id: { $gt: 't|', $lte: 't|002|b' } })).toEqual(['t|001|a', 't|002|b']);
    expect(await ids({ _id: { $gt: 't|002|b' } })).toEqual(['t|002|é', 't|010|c', 'u']);
    expect(await ids({ _id: { $lt: 't|' } })).toEqual(['T|001|e', 'q|001|d']);
    expect(await ids({ _id: { $gte: 'q|', $lt: 'q}' } })).toEqual(['q|001|d']);
  });

  it('is answered by PostgreSQL, not by decoding the collection (FerretDB reports the pushdown)', async () => {
    const plan: { filterPushdown?: boolean } = await connection
      .collection<{ _id: string }>('wakes')
      .find({ _id: { $gte: 't|', $lt: 't|003' } })
      .explain();
    expectPushdown(plan);
  });

  // A claim reads a few due entries of many: the limit goes to PostgreSQL too, so it must drop nothing that matches.
  it('a limited read returns that many matching strings, never fewer for the other types beside them', async () => {
    const mixed = connection.collection<{ _id: unknown }>('wakes_mixed');
    // Other types first: a store that returned rows in insertion order would give them the limit's places.
    await mixed.insertMany([
      { _id: null },
      { _id: 7 },
      { _id: new Types.ObjectId('a00000000000000000000001') },
      { _id: new Types.ObjectId('b00000000000000000000002') },
      { _id: { at: 't|001' } },
      { _id: 'a|1' },
      { _id: 'b|2' },
      { _id: 'q|001|d' },
      { _id: 't|001|a' },
      { _id: 't|002|b' },
      { _id: 'u' },
    ] as never[]);
    const limited = async (filter: Record<string, unknown>, limit: number) =>
      (await mixed.find(filter).limit(limit).toArray()).map((doc) => doc._id).sort();
    // null is below every string in jsonb, numbers and documents above, and an ObjectId is a hex string there.
    expect(await limited({ _id: { $lt: 'b' } }, 2)).toEqual(['a|1']);
    expect(await limited({ _id: { $gte: '0', $lt: 'c' } }, 2)).toEqual(['a|1', 'b|2']);
    expect(await limited({ _id: { $gt: 't|001|a' } }, 2)).toEqual(['t|002|b', 'u']);
    const two = await limited({ _id: { $gte: 'a', $lt: 't|003' } }, 2);
    expect(two).toHaveLength(2);
    expect(['a|1', 'b|2', 'q|001|d', 't|001|a', 't|002|b']).toEqual(expect.arrayContaining(two));
  });

  it('takes the limit to PostgreSQL with the range (FerretDB reports the limit pushdown)', async () => {
    const plan: { limitPushdown?: boolean } = await connection
      .collection<{ _id: string }>('wakes')
      .find({ _id: { $gte: 't|', $lt: 't|003' } })
      .limit(2)
      .explain();
    expect({ server, pushdown: plan.limitPushdown }).toEqual({
      server,
      pushdown: server === 'ferretdb' ? true : undefined,
    });
  });
});

/**
 * Capacity counters and conditional decisions rely on an update being atomic on its document. Upstream FerretDB 1.24
 * read, changed and wrote a document back without checking that nobody wrote it meanwhile; our patch makes the write
 * conditional on the row version and applies the update again on a conflict.
 */
describe('concurrent updates of one document', () => {
  const loads = () => connection.collection<{ _id: string; open: number }>('loads');

  it('every concurrent $inc lands', async () => {
    await loads().insertOne({ _id: 'rep-1', open: 0 });
    await Promise.all(
      Array.from({ length: 200 }, () => loads().updateOne({ _id: 'rep-1' }, { $inc: { open: 1 } })),
    );
    expect(await loads().findOne({ _id: 'rep-1' })).toEqual({ _id: 'rep-1', open: 200 });
  });

  it('a conditional $inc under a bound wins exactly as often as the bound allows', async () => {
    await loads().insertOne({ _id: 'rep-2', open: 0 });
    const results = await Promise.all(
      Array.from({ length: 120 }, () =>
        loads().updateOne({ _id: 'rep-2', open: { $lte: 39 } }, { $inc: { open: 1 } }),
      ),
    );
    expect(results.filter((result) => result.modifiedCount === 1)).toHaveLength(40);
    expect(await loads().findOne({ _id: 'rep-2' })).toEqual({ _id: 'rep-2', open: 40 });
  });

  it('a conditional upsert whose document fills up meanwhile fails on its _id, as on MongoDB', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 80 }, () =>
        loads()
          .updateOne({ _id: 'rep-3', open: { $lte: 19 } }, { $inc: { open: 1 } }, { upsert: true })
          .then(
            (result) => (result.modifiedCount + result.upsertedCount === 1 ? 'counted' : 'no-op'),
            (error: { code?: number }) => (error.code === 11000 ? 'full' : 'failed'),
          ),
      ),
    );
    expect(outcomes.filter((outcome) => outcome === 'counted')).toHaveLength(20);
    expect(outcomes.filter((outcome) => outcome === 'full')).toHaveLength(60);
    expect(await loads().findOne({ _id: 'rep-3' })).toEqual({ _id: 'rep-3', open: 20 });
  });

  it('upserts of one new contact racing to insert it all land through upsertRacing', async () => {
    const profiles = () => connection.collection<{ _id: string } & Record<string, unknown>>('profiles');
    for (let round = 0; round < 5; round += 1) {
      const id = `contact-${round}`;
      // As the lead topics' handlers do: each upserts its own fields of a contact not stored yet.
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          upsertRacing(() =>
            profiles().bulkWrite(
              [{ updateOne: { filter: { _id: id }, update: { $set: { [`f${i}`]: i } }, upsert: true } }],
              { ordered: false },
            ),
          ),
        ),
      );
      expect(await profiles().findOne({ _id: id })).toEqual({
        _id: id,
        ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}`, i])),
      });
    }
  });

  it('isDuplicateKey says a bulk write failed on duplicates only when every failed write did', async () => {
    await loads().insertOne({ _id: 'rep-4', open: 0 });
    const duplicate = await loads()
      .insertMany([{ _id: 'rep-4', open: 1 }], { ordered: false })
      .catch((error: unknown) => error);
    expect(isDuplicateKey(duplicate)).toBe(true);
    // Mongoose's insertMany wraps each failed write, its code under `err`.
    const model = connection.model('DuplicateLoad', new Schema({ _id: String, open: Number }), 'loads');
    const wrapped = await model
      .insertMany([{ _id: 'rep-4', open: 1 }], { ordered: false })
      .catch((error: unknown) => error);
    expect(isDuplicateKey(wrapped)).toBe(true);
    const mixed = await loads()
      .bulkWrite(
        [
          { insertOne: { document: { _id: 'rep-4', open: 1 } } },
          // Incrementing by a string: refused with a code of its own.
          { updateOne: { filter: { _id: 'rep-4' }, update: { $inc: { open: 'x' } } as never } },
        ],
        { ordered: false },
      )
      .catch((error: unknown) => error);
    expect(isDuplicateKey(mixed)).toBe(false);
  });
});

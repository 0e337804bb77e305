/**
 * The batch store helpers on the real store (FerretDB with our patch, whose `_id $in` pushdown they rely on):
 * `findByIds` returns exactly the documents asked for, across chunks, whatever else the collection holds;
 * `insertClaims` inserts what is free and names the positions someone held already.
 */
import mongoose, { Types, type Connection, type mongo } from 'mongoose';
import { testStackEndpoints, uniqueId } from '@tributary/testing';
import { findByIds, insertClaims, type BatchCollection } from './mongo';

interface Lead {
  _id: string;
  email: string;
  n: number;
}

let connection: Connection;
let leads: mongo.Collection<Lead>;
const db = `platform_${uniqueId('batch')}`;

beforeAll(async () => {
  connection = await mongoose.createConnection(testStackEndpoints().mongoUrl, { dbName: db }).asPromise();
  leads = connection.collection<Lead>('leads');
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
});

/**
 * Tallies on the real store: a batch's records move each document once; a redelivery, whole or cut differently,
 * moves nothing it moved before; partitions are told apart; two writers of one partition do not double a count.
 */
import type { Connection } from 'mongoose';
import { connectServiceStore } from '@tributary/store';
import { testServiceEnv, uniqueId } from '@tributary/testing';
import { APPLIED_FIELD, TallyBatch, applyTallies, tallyId } from './tallies';

const run = uniqueId('tally');
const env = testServiceEnv('tally', run);
const COLLECTION = 'tally_spec';
let connection: Connection;

beforeAll(async () => {
  connection = await connectServiceStore(env['MONGO_URL'] ?? '', env['MONGO_DB'] ?? '');
});

afterAll(async () => {
  await connection?.dropDatabase();
  await connection?.close();
});

interface CountDoc {
  _id: string;
  n?: { page?: number; track?: number };
  newest?: number;
  oldest?: number;
  [APPLIED_FIELD]?: Record<string, number>;
}

const at = (partition: number, offset: number) => ({
  topic: 'tracking.events',
  partition,
  offset: String(offset),
});

/** One record per offset in [from, to] on `partition`, each a page view of `id`, its time = its offset. */
function pages(id: string, partition: number, from: number, to: number): TallyBatch {
  const batch = new TallyBatch();
  for (let offset = from; offset <= to; offset++)
    batch.add(COLLECTION, id, { model: 'activity' }, at(partition, offset), {
      inc: { 'n.page': 1 },
      max: { newest: offset },
      min: { oldest: offset },
    });
  return batch;
}

async function read(id: string): Promise<CountDoc | null> {
  return (await connection
    .collection(COLLECTION)
    .findOne({ _id: id as unknown as never })) as CountDoc | null;
}

describe('applyTallies', () => {
  it('writes a batch of records as one change per document, with the newest and oldest values seen', async () => {
    const id = tallyId(['ws', uniqueId('doc')]);
    await applyTallies(connection, pages(id, 0, 10, 14));
    expect(await read(id)).toMatchObject({
      model: 'activity',
      n: { page: 5 },
      newest: 14,
      oldest: 10,
      [APPLIED_FIELD]: { 'tracking_events:0': 14 },
    });
  });

  it('applies a redelivered batch nowhere, and a batch cut differently only past what each document took in', async () => {
    const id = tallyId(['ws', uniqueId('doc')]);
    await applyTallies(connection, pages(id, 2, 0, 9));
    await applyTallies(connection, pages(id, 2, 0, 9));
    expect((await read(id))?.n?.page).toBe(10);
    // Offsets 5..14 again: 5..9 were counted, 10..14 are new.
    await applyTallies(connection, pages(id, 2, 5, 14));
    expect((await read(id))?.n?.page).toBe(15);
    // An old range alone changes nothing.
    await applyTallies(connection, pages(id, 2, 3, 7));
    expect((await read(id))?.n?.page).toBe(15);
  });

  it('keeps a mark per partition: the same offsets on another partition are other records', async () => {
    const id = tallyId(['ws', uniqueId('doc')]);
    await applyTallies(connection, pages(id, 0, 0, 4));
    await applyTallies(connection, pages(id, 1, 0, 4));
    const batch = pages(id, 0, 3, 6); // 5 and 6 new on partition 0
    batch.add(COLLECTION, id, { model: 'activity' }, at(1, 4), { inc: { 'n.page': 1 } }); // taken in already
    batch.add(COLLECTION, id, { model: 'activity' }, at(3, 0), { inc: { 'n.track': 1 } }); // new partition
    await applyTallies(connection, batch);
    expect(await read(id)).toMatchObject({
      n: { page: 12, track: 1 },
      [APPLIED_FIELD]: { 'tracking_events:0': 6, 'tracking_events:1': 4, 'tracking_events:3': 0 },
    });
  });

  it('applies each document of a batch independently: one taken in before does not hold back the others', async () => {
    const [first, second] = [tallyId(['ws', uniqueId('a')]), tallyId(['ws', uniqueId('b')])];
    await applyTallies(connection, pages(first, 0, 0, 2));
    const batch = pages(first, 0, 0, 4);
    for (let offset = 0; offset <= 4; offset++)
      batch.add(COLLECTION, second, {}, at(0, offset), { inc: { 'n.page': 2 } });
    await applyTallies(connection, batch);
    expect((await read(first))?.n?.page).toBe(5);
    expect((await read(second))?.n?.page).toBe(10);
  });

  it('leaves out the records dropped from a batch: their counts, values and marks, and documents only they moved', async () => {
    const [kept, only] = [tallyId(['ws', uniqueId('kept')]), tallyId(['ws', uniqueId('only')])];
    const batch = pages(kept, 0, 10, 14);
    batch.add(COLLECTION, only, { model: 'activity' }, at(0, 14), { inc: { 'n.page': 1 } });
    // Copies of events taken in under other records: offsets 10 and 14 on partition 0.
    batch.drop((mark, offset) => mark === 'tracking_events:0' && (offset === 10 || offset === 14));
    expect(batch.documents).toBe(1);
    await applyTallies(connection, batch);
    expect(await read(kept)).toMatchObject({
      n: { page: 3 },
      newest: 13,
      oldest: 11,
      [APPLIED_FIELD]: { 'tracking_events:0': 13 },
    });
    expect(await read(only)).toBeNull();
  });

  it('counts a partition once when two consumers apply the same records at the same time (a rebalance)', async () => {
    const id = tallyId(['ws', uniqueId('doc')]);
    await applyTallies(connection, pages(id, 0, 0, 0));
    await Promise.all([
      applyTallies(connection, pages(id, 0, 1, 20)),
      applyTallies(connection, pages(id, 0, 1, 20)),
      applyTallies(connection, pages(id, 0, 11, 30)),
    ]);
    expect((await read(id))?.n?.page).toBe(31);
  });
});

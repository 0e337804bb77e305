/**
 * Merges on the real store, as FunnelContributor writes them: a batch's merges are one read and one ordered bulk, so
 * a chain inside one batch (b into a, then a into c) must end where merging one at a time ends, cycles included.
 */
import type { Connection } from 'mongoose';
import { Topics, type ContactsMerged } from '@tributary/contracts';
import { originMetadata } from '@tributary/messaging';
import { connectServiceStore } from '@tributary/store';
import { testServiceEnv, uniqueId } from '@tributary/testing';
import type { AnyIntakeBatch } from '../intake/report-contributor';
import { TallyBatch } from '../read-models/tallies';
import { FUNNEL_CONTACTS_COLLECTION, FunnelContributor } from './funnel-contacts';

const run = uniqueId('merges');
const env = testServiceEnv('merges', run);
let connection: Connection;
let funnel: FunnelContributor;

beforeAll(async () => {
  connection = await connectServiceStore(env['MONGO_URL'] ?? '', env['MONGO_DB'] ?? '');
  funnel = new FunnelContributor(connection);
});

afterAll(async () => {
  await connection?.dropDatabase();
  await connection?.close();
});

/** `[merged, survivor]` pairs, in the order the lead service published them. */
type Merge = readonly [string, string];

function batchOf(workspaceId: string, merges: readonly Merge[]): AnyIntakeBatch {
  const events: ContactsMerged[] = merges.map(([merged, survivor]) => ({
    metadata: originMetadata({ workspaceId, source: 'leads' }),
    survivingContactId: survivor,
    mergedContactId: merged,
    reason: 'identify',
  }));
  return {
    topic: Topics.ContactsMerged,
    events,
    positions: events.map((_, i) => ({ topic: Topics.ContactsMerged, partition: 0, offset: String(i) })),
    settings: new Map(),
    tallies: new TallyBatch(),
    takenAt: Date.now(),
  };
}

async function rootsOf(workspaceId: string): Promise<Record<string, string>> {
  const docs = await connection
    .collection<{ _id: string; contactId: string; root: string }>(FUNNEL_CONTACTS_COLLECTION)
    .find({ workspaceId })
    .toArray();
  return Object.fromEntries(docs.map((doc) => [doc.contactId, doc.root]));
}

describe('funnel merges', () => {
  it('follows a chain inside one batch to its end, moving contacts merged in earlier batches along', async () => {
    const ws = `ws_${uniqueId('chain')}`;
    await funnel.collect(batchOf(ws, [['d', 'b']]));
    await funnel.collect(
      batchOf(ws, [
        ['b', 'a'],
        ['a', 'c'],
        ['e', 'a'],
      ]),
    );
    // b into a, a into c: d (into b before) and b end at c; e merged into a after a went to c ends at c too.
    expect(await rootsOf(ws)).toEqual({ a: 'c', b: 'c', d: 'c', e: 'c' });
  });

  it('ends where merging one batch at a time ends, for chains, cycles and repeats', async () => {
    const sequences: Merge[][] = [
      [
        ['a', 'b'],
        ['b', 'a'],
      ],
      [
        ['x', 'y'],
        ['y', 'z'],
        ['z', 'x'],
        ['w', 'y'],
      ],
      [
        ['p', 'q'],
        ['p', 'q'],
        ['q', 'r'],
        ['s', 'p'],
        ['r', 's'],
      ],
    ];
    for (const merges of sequences) {
      const together = `ws_${uniqueId('together')}`;
      const apart = `ws_${uniqueId('apart')}`;
      await funnel.collect(batchOf(together, merges));
      for (const merge of merges) await funnel.collect(batchOf(apart, [merge]));
      const [inOne, oneByOne] = [await rootsOf(together), await rootsOf(apart)];
      expect(Object.keys(inOne).length).toBeGreaterThan(1);
      expect(inOne).toEqual(oneByOne);
    }
  });

  it('is the same when the batch is delivered again', async () => {
    const ws = `ws_${uniqueId('again')}`;
    const batch = batchOf(ws, [
      ['m', 'n'],
      ['n', 'o'],
    ]);
    await funnel.collect(batch);
    const first = await rootsOf(ws);
    await funnel.collect(batch);
    expect(await rootsOf(ws)).toEqual(first);
    expect(first).toEqual({ m: 'o', n: 'o' });
  });
});

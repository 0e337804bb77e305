/** The messageId ledger against the real Mongo-wire store: group-committed done marks make later claims duplicates. */
import type { Connection } from 'mongoose';
import { connectServiceStore } from '@tributary/store';
import { testStackEndpoints, uniqueId } from '@tributary/testing';
import { MessageIdLedger } from './message-id-ledger';

const run = uniqueId('ledger');
let connection: Connection;
let ledger: MessageIdLedger;

beforeAll(async () => {
  connection = await connectServiceStore(testStackEndpoints().mongoUrl, `test_${run}_ledger`);
  ledger = new MessageIdLedger(connection, 24 * 3_600_000);
  await ledger.init();
});

afterAll(async () => {
  ledger?.stop();
  await connection?.close();
});

describe('MessageIdLedger', () => {
  it('writes every concurrently marked id (group commit) so each later claim is a duplicate', async () => {
    const requests = Array.from({ length: 20 }, (_, r) =>
      Array.from({ length: 10 }, (_, i) => `m-${r}-${i}`),
    );
    for (const ids of requests) expect(await ledger.claim('ws_a', ids)).toEqual(ids.map(() => 'new'));
    await Promise.all(requests.map((ids) => ledger.markDone('ws_a', ids)));
    for (const ids of requests) expect(await ledger.claim('ws_a', ids)).toEqual(ids.map(() => 'duplicate'));
  });

  it('treats a claim without a done mark (a crashed attempt) as new, and keeps workspaces apart', async () => {
    expect(await ledger.claim('ws_a', ['crashed-1'])).toEqual(['new']);
    expect(await ledger.claim('ws_a', ['crashed-1'])).toEqual(['new']);
    await ledger.markDone('ws_a', ['crashed-1']);
    expect(await ledger.claim('ws_a', ['crashed-1'])).toEqual(['duplicate']);
    expect(await ledger.claim('ws_b', ['crashed-1'])).toEqual(['new']);
  });
});

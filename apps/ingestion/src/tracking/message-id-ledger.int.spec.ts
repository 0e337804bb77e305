/** The messageId ledger against the real Mongo-wire store: group-committed done marks make later decisions duplicates. */
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
  it('writes every concurrently marked id (group commit) so each later decision is a duplicate', async () => {
    const requests = Array.from({ length: 20 }, (_, r) =>
      Array.from({ length: 10 }, (_, i) => `m-${r}-${i}`),
    );
    for (const ids of requests) expect(await ledger.decide('ws_a', ids)).toEqual(ids.map(() => 'new'));
    await Promise.all(requests.map((ids) => ledger.markDone('ws_a', ids)));
    for (const ids of requests) expect(await ledger.decide('ws_a', ids)).toEqual(ids.map(() => 'duplicate'));
    // From the store, not this ledger's memory: a restarted replica keeps the window.
    const restarted = new MessageIdLedger(connection, 24 * 3_600_000);
    for (const ids of requests)
      expect(await restarted.decide('ws_a', ids)).toEqual(ids.map(() => 'duplicate'));
  });

  it('answers duplicate for a mark still being written, and keeps workspaces apart', async () => {
    expect(await ledger.decide('ws_a', ['pending-1'])).toEqual(['new']);
    const written = ledger.markDone('ws_a', ['pending-1']);
    expect(ledger.backlog).toBe(1);
    expect(await ledger.decide('ws_a', ['pending-1'])).toEqual(['duplicate']);
    await written;
    expect(ledger.backlog).toBe(0);
    expect(await ledger.decide('ws_a', ['pending-1'])).toEqual(['duplicate']);
    expect(await ledger.decide('ws_b', ['pending-1'])).toEqual(['new']);
  });

  it('flush waits for every queued mark', async () => {
    const ids = Array.from({ length: 2_500 }, (_, i) => `flush-${i}`);
    void ledger.markDone('ws_f', ids);
    await ledger.flush();
    const restarted = new MessageIdLedger(connection, 24 * 3_600_000);
    expect(await restarted.decide('ws_f', ids)).toEqual(ids.map(() => 'duplicate'));
  });
});

import type { Connection } from 'mongoose';
import { dedupeDecision, MessageIdLedger } from './message-id-ledger';

describe('dedupeDecision', () => {
  const now = Date.parse('2024-01-02T00:00:00Z');
  const day = 24 * 3_600_000;

  it('treats a messageId without a done mark as new (first seen, or an attempt that crashed before its mark)', () => {
    expect(dedupeDecision(undefined, now, day)).toBe('new');
  });

  it('treats a messageId stored within the window as a duplicate', () => {
    expect(dedupeDecision(new Date(now - day + 1_000), now, day)).toBe('duplicate');
  });

  it('forgets a messageId stored before the window', () => {
    expect(dedupeDecision(new Date(now - day - 1), now, day)).toBe('new');
  });
});

describe('MessageIdLedger group commit', () => {
  /** A store whose inserts complete only when the test says so, recording what each one held. */
  function slowStore() {
    const writes: { ids: string[]; done: () => void }[] = [];
    const insertMany = (docs: { _id: string }[]) =>
      new Promise<void>((resolve) => writes.push({ ids: docs.map((d) => d._id), done: resolve }));
    const connection = {
      models: { TrackingMessageId: { collection: { insertMany } } },
    } as unknown as Connection;
    return { ledger: new MessageIdLedger(connection, 60_000), writes };
  }
  const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it('writes a big batch’s marks in slices, so another request’s marks do not wait behind all of them', async () => {
    const { ledger, writes } = slowStore();
    const finished: string[] = [];
    const big = ledger.markDone('ws_a', ids('a', 2_500)).then(() => finished.push('big batch of ws_a'));
    await settle();
    const small = ledger.markDone('ws_b', ['b-0']).then(() => finished.push('one call of ws_b'));
    for (let i = 0; i < 3; i++) {
      await settle();
      writes[i]?.done();
    }
    await Promise.all([big, small]);
    expect(writes.map((w) => w.ids.length)).toEqual([1_000, 1_000, 501]);
    // The small request rode along with the big batch's second slice.
    expect(writes[1]?.ids).toContain('done:ws_b:b-0');
    expect(finished).toEqual(['one call of ws_b', 'big batch of ws_a']);
  });
});

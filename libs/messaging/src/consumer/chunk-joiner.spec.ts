import { ChunkJoiner } from './chunk-joiner';

interface TestChunk {
  name: string;
  messages: readonly unknown[];
}

const chunk = (name: string, records: number): TestChunk => ({
  name,
  messages: Array.from({ length: records }, (_, i) => i),
});

/** A call that records which chunks it got, and answers `result`. */
function recordingCalls(result = true) {
  const calls: string[][] = [];
  const call = (chunks: TestChunk[]): Promise<boolean> => {
    calls.push(chunks.map((c) => c.name));
    return Promise.resolve(result);
  };
  return { calls, call };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ChunkJoiner (joining partitions into one batch handler call)', () => {
  it('joins the chunks of one turn of the event loop into one call, in arrival order', async () => {
    const joiner = new ChunkJoiner<TestChunk>();
    const { calls, call } = recordingCalls();
    const results = [
      joiner.join('t', chunk('p0', 3), 10, call),
      joiner.join('t', chunk('p1', 3), 10, call),
      joiner.join('t', chunk('p2', 4), 10, call),
    ];
    expect(calls).toEqual([]);
    expect(await Promise.all(results)).toEqual([true, true, true]);
    expect(calls).toEqual([['p0', 'p1', 'p2']]);
  });

  it('starts a new call when the next chunk would exceed maxRecords', async () => {
    const joiner = new ChunkJoiner<TestChunk>();
    const { calls, call } = recordingCalls();
    await Promise.all([
      joiner.join('t', chunk('p0', 6), 10, call),
      joiner.join('t', chunk('p1', 5), 10, call),
      joiner.join('t', chunk('p2', 5), 10, call),
    ]);
    expect(calls).toEqual([['p0'], ['p1', 'p2']]);
  });

  it('gives a chunk of a later turn a call of its own', async () => {
    const joiner = new ChunkJoiner<TestChunk>();
    const { calls, call } = recordingCalls();
    const first = joiner.join('t', chunk('p0', 1), 10, call);
    await nextTurn();
    const second = joiner.join('t', chunk('p1', 1), 10, call);
    await Promise.all([first, second]);
    expect(calls).toEqual([['p0'], ['p1']]);
  });

  it('keeps topics apart', async () => {
    const joiner = new ChunkJoiner<TestChunk>();
    const { calls, call } = recordingCalls();
    await Promise.all([
      joiner.join('a', chunk('a0', 1), 10, call),
      joiner.join('b', chunk('b0', 1), 10, call),
      joiner.join('a', chunk('a1', 1), 10, call),
    ]);
    expect(calls).toEqual([['a0', 'a1'], ['b0']]);
  });

  it("gives every chunk of a failed call the call's false", async () => {
    const joiner = new ChunkJoiner<TestChunk>();
    const { call } = recordingCalls(false);
    const results = await Promise.all([
      joiner.join('t', chunk('p0', 1), 10, call),
      joiner.join('t', chunk('p1', 1), 10, call),
    ]);
    expect(results).toEqual([false, false]);
  });
});

import { PollLoop } from './poll-loop';

// Jest's clock: the loop's waits are the subject, so they are stepped through, not slept.
beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('PollLoop', () => {
  it('runs a round at start, then one each interval after the last ended', async () => {
    let rounds = 0;
    const loop = new PollLoop(
      async () => void (rounds += 1),
      1_000,
      () => undefined,
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(rounds).toBe(1);
    await jest.advanceTimersByTimeAsync(999);
    expect(rounds).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(rounds).toBe(2);
    await jest.advanceTimersByTimeAsync(3_000);
    expect(rounds).toBe(5);
    await loop.stop();
  });

  it('a poke during a round runs the next one as soon as it ends, not after the interval', async () => {
    let rounds = 0;
    let release: () => void = () => undefined;
    const loop = new PollLoop(
      async () => {
        rounds += 1;
        if (rounds === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      60_000,
      () => undefined,
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    loop.poke();
    release();
    await jest.advanceTimersByTimeAsync(0);
    expect(rounds).toBe(2);
    // Without a poke the next waits for the interval.
    await jest.advanceTimersByTimeAsync(59_999);
    expect(rounds).toBe(2);
    await loop.stop();
  });

  it('reports a failed round and goes on; stop waits for the round in progress and runs no other', async () => {
    const failures: unknown[] = [];
    let rounds = 0;
    let finished = false;
    const loop = new PollLoop(
      async () => {
        rounds += 1;
        if (rounds === 1) throw new Error('store away');
        await new Promise((resolve) => setTimeout(resolve, 500));
        finished = true;
      },
      100,
      (error) => failures.push(error),
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(100);
    expect([failures, rounds]).toEqual([[new Error('store away')], 2]);
    const stopping = loop.stop();
    await jest.advanceTimersByTimeAsync(500);
    await stopping;
    expect([finished, loop.stopped]).toEqual([true, true]);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(rounds).toBe(2);
  });
});

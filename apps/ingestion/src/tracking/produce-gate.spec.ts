import { ProduceGate, TrackingUnavailableError } from './produce-gate';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('ProduceGate', () => {
  afterEach(() => jest.useRealTimers());

  it('refuses events beyond the in-flight limit until earlier produces settle', async () => {
    const gate = new ProduceGate(150, 60_000);
    const first = deferred();
    const running = gate.run(100, () => first.promise);
    await expect(gate.run(100, async () => undefined)).rejects.toThrow(/too many events in flight/);
    expect(gate.eventsInFlight).toBe(100);
    first.resolve();
    await running;
    await expect(gate.run(100, async () => 'stored')).resolves.toBe('stored');
    expect(gate.eventsInFlight).toBe(0);
  });

  it('lets one oversized request through alone', async () => {
    const gate = new ProduceGate(10, 60_000);
    await expect(gate.run(500, async () => 'ok')).resolves.toBe('ok');
  });

  it('turns a producer error into TrackingUnavailableError', async () => {
    const gate = new ProduceGate(10, 60_000);
    await expect(
      gate.run(1, async () => {
        throw new Error('The producer is disconnected');
      }),
    ).rejects.toThrow(TrackingUnavailableError);
    expect(gate.eventsInFlight).toBe(0);
  });

  it('answers at the deadline, refuses new calls while the late produce hangs, recovers once it settles', async () => {
    jest.useFakeTimers();
    const gate = new ProduceGate(1_000, 3_000);
    const hanging = deferred();
    const answer = gate.run(1, () => hanging.promise);
    const assertion = expect(answer).rejects.toThrow(/did not acknowledge within 3000 ms/);
    await jest.advanceTimersByTimeAsync(3_000);
    await assertion;
    // Kafka is still not answering: no new request queues behind it.
    await expect(gate.run(1, async () => undefined)).rejects.toThrow(/not acknowledged recent events/);
    expect(gate.eventsInFlight).toBe(1);
    hanging.resolve();
    await jest.advanceTimersByTimeAsync(0);
    await expect(gate.run(1, async () => 'stored')).resolves.toBe('stored');
  });
});

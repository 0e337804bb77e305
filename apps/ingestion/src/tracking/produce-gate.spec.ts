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
    const running = gate.run('ws_a', 100, () => first.promise);
    await expect(gate.run('ws_a', 100, async () => undefined)).rejects.toThrow(/too many events in flight/);
    expect(gate.eventsInFlight).toBe(100);
    first.resolve();
    await running;
    await expect(gate.run('ws_a', 100, async () => 'stored')).resolves.toBe('stored');
    expect(gate.eventsInFlight).toBe(0);
  });

  it('lets one oversized request through alone', async () => {
    const gate = new ProduceGate(10, 60_000);
    await expect(gate.run('ws_a', 500, async () => 'ok')).resolves.toBe('ok');
  });

  it('turns a producer error into TrackingUnavailableError', async () => {
    const gate = new ProduceGate(10, 60_000);
    await expect(
      gate.run('ws_a', 1, async () => {
        throw new Error('The producer is disconnected');
      }),
    ).rejects.toThrow(TrackingUnavailableError);
    expect(gate.eventsInFlight).toBe(0);
  });

  it('answers at the deadline, refuses new calls while the late produce hangs, recovers once it settles', async () => {
    jest.useFakeTimers();
    const gate = new ProduceGate(1_000, 3_000);
    const hanging = deferred();
    const answer = gate.run('ws_a', 1, () => hanging.promise);
    const assertion = expect(answer).rejects.toThrow(/did not acknowledge within 3000 ms/);
    await jest.advanceTimersByTimeAsync(3_000);
    await assertion;
    // Kafka is still not answering: no new request queues behind it.
    await expect(gate.run('ws_a', 1, async () => undefined)).rejects.toThrow(
      /not acknowledged recent events/,
    );
    expect(gate.eventsInFlight).toBe(1);
    hanging.resolve();
    await jest.advanceTimersByTimeAsync(0);
    await expect(gate.run('ws_a', 1, async () => 'stored')).resolves.toBe('stored');
  });

  describe('per-workspace share', () => {
    it('refuses a workspace beyond its share while another workspace is still admitted', async () => {
      const gate = new ProduceGate(1_000, 60_000, 0.25);
      expect(gate.workspaceLimit).toBe(250);
      const held = deferred();
      const flooding = [gate.run('ws_a', 200, () => held.promise)];
      await expect(gate.run('ws_a', 100, async () => undefined)).rejects.toThrow(
        /too many events of this workspace in flight \(limit 250\)/,
      );
      flooding.push(gate.run('ws_a', 50, () => held.promise));
      expect(gate.heldBy('ws_a')).toBe(250);
      // The global gate has room for 750 more: another tenant is admitted while the first is at its share.
      await expect(gate.run('ws_b', 250, async () => 'stored')).resolves.toBe('stored');
      held.resolve();
      await Promise.all(flooding);
      expect(gate.heldBy('ws_a')).toBe(0);
      await expect(gate.run('ws_a', 250, async () => 'stored')).resolves.toBe('stored');
    });

    it('counts an oversized batch as the share: it goes when its workspace holds nothing, and leaves room', async () => {
      const gate = new ProduceGate(1_000, 60_000, 0.5);
      const held = deferred();
      const oversized = gate.run('ws_a', 11_500, () => held.promise);
      expect(gate.eventsInFlight).toBe(500);
      await expect(gate.run('ws_a', 1, async () => undefined)).rejects.toThrow(/of this workspace/);
      await expect(gate.run('ws_b', 500, async () => 'stored')).resolves.toBe('stored');
      held.resolve();
      await oversized;
      expect(gate.eventsInFlight).toBe(0);
    });

    it('still bounds the total: with every share taken a third workspace gets 503', async () => {
      const gate = new ProduceGate(100, 60_000, 0.5);
      const held = deferred();
      const running = [gate.run('ws_a', 50, () => held.promise), gate.run('ws_b', 50, () => held.promise)];
      await expect(gate.run('ws_c', 1, async () => undefined)).rejects.toThrow(
        /too many events in flight \(limit 100\)/,
      );
      held.resolve();
      await Promise.all(running);
    });
  });
});

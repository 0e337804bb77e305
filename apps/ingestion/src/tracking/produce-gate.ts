/** Kafka did not take the events (down, too slow, or too much in flight): answer 503 + Retry-After, never 200. */
export class TrackingUnavailableError extends Error {
  override name = 'TrackingUnavailableError';
}

/**
 * Bounds what the edge has in flight towards Kafka. Each produce gets a deadline: past it the caller is answered
 * 503 while the produce goes on (kafkajs keeps retrying; if it lands later, the client's retry is deduped by
 * messageId or, failing that, by the deterministic eventId). Capacity is only returned when the produce itself
 * settles, and while a produce is past its deadline every new call is refused at once instead of queueing behind a
 * broker that is not answering.
 */
export class ProduceGate {
  private inFlight = 0;
  private stalled = 0;

  constructor(
    private readonly maxInFlightEvents: number,
    private readonly timeoutMs: number,
  ) {}

  /** Events currently handed to Kafka and not yet settled. */
  get eventsInFlight(): number {
    return this.inFlight;
  }

  /** Runs `produce` for `events` events if there is room; rejects with TrackingUnavailableError otherwise. */
  async run<T>(events: number, produce: () => Promise<T>): Promise<T> {
    if (this.stalled > 0) throw new TrackingUnavailableError('Kafka has not acknowledged recent events');
    // One oversized request may still go alone, or it could never be accepted.
    if (this.inFlight > 0 && this.inFlight + events > this.maxInFlightEvents) {
      throw new TrackingUnavailableError(`too many events in flight (limit ${this.maxInFlightEvents})`);
    }
    this.inFlight += events;
    let timedOut = false;
    const settled = produce().finally(() => {
      this.inFlight -= events;
      if (timedOut) this.stalled -= 1;
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        this.stalled += 1;
        reject(new TrackingUnavailableError(`Kafka did not acknowledge within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    settled.catch(() => undefined);
    try {
      return await Promise.race([settled, deadline]);
    } catch (error) {
      if (error instanceof TrackingUnavailableError) throw error;
      throw new TrackingUnavailableError(`Kafka refused the events: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Kafka did not take the events (down, too slow, or too much in flight): answer 503 + Retry-After, never 200. */
export class TrackingUnavailableError extends Error {
  override name = 'TrackingUnavailableError';
}

/**
 * Bounds what the edge has in flight towards Kafka, in total and per workspace. Each produce gets a deadline: past
 * it the caller is answered 503 while the produce goes on (kafkajs keeps retrying; if it lands later, the client's
 * retry is deduped by messageId or, failing that, by the deterministic eventId). Capacity is only returned when the
 * produce itself settles, and while a produce is past its deadline every new call is refused at once instead of
 * queueing behind a broker that is not answering.
 *
 * Fairness: one workspace may hold at most `workspaceShare` of the capacity, so a tenant flooding the edge is refused
 * while others are still admitted. A request holds at most that share (a batch bigger than it goes when its
 * workspace has nothing in flight, counted as the share), so one oversized batch cannot fill the gate either.
 */
export class ProduceGate {
  private inFlight = 0;
  private stalled = 0;
  private readonly held = new Map<string, number>();
  /** Events one workspace may hold. */
  readonly workspaceLimit: number;

  constructor(
    private readonly maxInFlightEvents: number,
    private readonly timeoutMs: number,
    workspaceShare = 1,
  ) {
    this.workspaceLimit = Math.max(1, Math.floor(maxInFlightEvents * workspaceShare));
  }

  /** Events (as counted) currently handed to Kafka and not yet settled. */
  get eventsInFlight(): number {
    return this.inFlight;
  }

  /** Events (as counted) one workspace has in flight. */
  heldBy(workspaceId: string): number {
    return this.held.get(workspaceId) ?? 0;
  }

  /**
   * Runs `produce` for `events` events of a workspace if there is room; rejects with TrackingUnavailableError
   * otherwise.
   */
  async run<T>(workspaceId: string, events: number, produce: () => Promise<T>): Promise<T> {
    if (this.stalled > 0) throw new TrackingUnavailableError('Kafka has not acknowledged recent events');
    const counted = Math.min(events, this.workspaceLimit);
    const held = this.heldBy(workspaceId);
    if (this.inFlight + counted > this.maxInFlightEvents) {
      throw new TrackingUnavailableError(`too many events in flight (limit ${this.maxInFlightEvents})`);
    }
    if (held > 0 && held + counted > this.workspaceLimit) {
      throw new TrackingUnavailableError(
        `too many events of this workspace in flight (limit ${this.workspaceLimit})`,
      );
    }
    this.inFlight += counted;
    this.held.set(workspaceId, held + counted);
    let timedOut = false;
    const settled = produce().finally(() => {
      this.inFlight -= counted;
      const left = this.heldBy(workspaceId) - counted;
      if (left > 0) this.held.set(workspaceId, left);
      else this.held.delete(workspaceId);
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

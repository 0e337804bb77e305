/**
 * A replica's polling loop (orchestration's journey runner, scheduler and content publisher; sync's change capture):
 * runs `round` at start, then again `intervalMs` after each round ends; a `poke` during a round runs the next one at
 * once. A failed
 * round is reported and the loop goes on. `stop` lets the round in progress finish.
 */
export class PollLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private poked = false;
  private halted = false;

  constructor(
    private readonly round: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly failed: (error: unknown) => void,
  ) {}

  /** Whether `stop` was called: a round checks it between its steps to end early. */
  get stopped(): boolean {
    return this.halted;
  }

  start(): void {
    this.schedule(0);
  }

  /** Work is due now: look without waiting for the next poll. */
  poke(): void {
    if (this.running) this.poked = true;
    else this.schedule(0);
  }

  async stop(): Promise<void> {
    this.halted = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.halted) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.round()
        .catch(this.failed)
        .finally(() => {
          this.running = undefined;
          const again = this.poked;
          this.poked = false;
          this.schedule(again ? 0 : this.intervalMs);
        });
    }, delayMs);
    // A poll never keeps the process up on its own.
    this.timer.unref();
  }
}

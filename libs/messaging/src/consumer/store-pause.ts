import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@tributary/observability';

/** Partitions paused because the service's store is down: each is resumed once `storeReady` answers again. */
export class StorePauses {
  private readonly probes = new Set<Promise<void>>();

  constructor(
    private readonly storeReady: () => Promise<boolean>,
    private readonly logger: Logger,
    private readonly isStopping: () => boolean,
  ) {}

  /** Probes the store every second until it answers, then calls `resume` (kafkajs' resume of the paused partition). */
  resumeWhenStoreIsBack(topic: string, partition: number, resume: () => void): void {
    const probe = (async () => {
      while (!this.isStopping()) {
        await sleep(1_000);
        if (await this.storeReady().catch(() => false)) {
          this.logger.info({ topic, partition }, 'store is back: resuming partition');
          resume();
          return;
        }
      }
    })();
    this.probes.add(probe);
    void probe.finally(() => this.probes.delete(probe));
  }

  /** Settles once every probe has ended (they end on their own once the transport is stopping). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.probes]);
  }
}

import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { originMetadata, derivedEventId } from '@tributary/messaging';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { isStoreUnavailable } from '@tributary/store';
import { LeadScoring } from './lead-scoring.service';
import { PendingEnrichments } from './pending-enrichments';
import { LEADS_EVENT_SOURCE } from '../event-source';

export const ENRICHMENT_RETRY_INTERVAL_MS = Symbol('ENRICHMENT_RETRY_INTERVAL_MS');

/** Re-enriches contacts that were scored while the provider was down, on an interval, on every replica. */
@Injectable()
export class EnrichmentRetrier implements OnApplicationBootstrap, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly pending: PendingEnrichments,
    private readonly scoring: LeadScoring,
    @Inject(ENRICHMENT_RETRY_INTERVAL_MS) private readonly intervalMs: number,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.running ??= this.retryDue()
        .then(() => undefined)
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass over the due contacts; returns how many were enriched. */
  async retryDue(now = new Date()): Promise<number> {
    let enriched = 0;
    try {
      for (const entry of await this.pending.claimDue(50, now)) {
        // One cause per attempt: the scores and stage moves it leads to get stable ids if this pass is repeated.
        const cause = originMetadata({
          workspaceId: entry.workspaceId,
          source: LEADS_EVENT_SOURCE,
          eventId: derivedEventId(entry._id, `re-enrich/${entry.attempts}`),
        });
        const state = await this.scoring.applyEnrichment(entry._id, cause);
        if (state === 'pending') await this.pending.retryLater(entry);
        else {
          await this.pending.done(entry._id);
          if (state === 'enriched') enriched += 1;
        }
      }
    } catch (error) {
      // A store outage or a provider error is retried on the next tick; the claims expire with their lease.
      this.logger.warn(
        { event: 'enrichment-retry-failed', storeDown: isStoreUnavailable(error), err: error },
        'enrichment retry pass failed',
      );
    }
    return enriched;
  }
}

import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Connection } from 'mongoose';
import type { TopicEvents, TopicName } from '@tributary/contracts';
import type { RecordPosition } from '@tributary/messaging';
import { SERVICE_CONFIG } from '@tributary/config';
import { STORE_CONNECTION } from '@tributary/store';
import type { ReportingConfig } from '../config';
import { ReportSettingsStore } from '../settings/report-settings';
import { TallyBatch, applyTallies, markOf } from '../read-models/tallies';
import { ensureReportIndexes } from '../read-models/indexes';
import { ReportTopics } from '../report-topics/report-topics';
import { FirstSeenEvents } from './first-seen';
import { REPORT_CONTRIBUTORS, type AnyIntakeBatch, type ReportContributor } from './report-contributor';

/**
 * Hands each consumed batch to every read model fed by its topic, beside the claim of its events' first sight, then
 * writes their gathered counts in one bulk per collection.
 */
@Injectable()
export class ReportIntake implements OnModuleInit, OnModuleDestroy {
  private readonly byTopic = new Map<TopicName, ReportContributor[]>();
  private readonly seen: FirstSeenEvents;
  private expiry: { stop(): void } | undefined;

  constructor(
    @Inject(REPORT_CONTRIBUTORS) contributors: readonly ReportContributor[],
    @Inject(STORE_CONNECTION) private readonly connection: Connection,
    private readonly settings: ReportSettingsStore,
    private readonly reportTopics: ReportTopics,
    @Inject(SERVICE_CONFIG) private readonly config: Pick<ReportingConfig, 'REPORT_ONLY_WORKSPACE'>,
  ) {
    for (const contributor of contributors)
      for (const topic of contributor.topics)
        this.byTopic.set(topic, [...(this.byTopic.get(topic) ?? []), contributor]);
    this.seen = new FirstSeenEvents(connection);
  }

  async onModuleInit(): Promise<void> {
    await ensureReportIndexes(this.connection);
    this.expiry = await this.seen.start();
  }

  onModuleDestroy(): void {
    this.expiry?.stop();
  }

  /** The topics some read model is fed by: what the consumer handlers must subscribe to. */
  get topics(): TopicName[] {
    return [...this.byTopic.keys()];
  }

  /** Batches being taken in right now (a recompute stops only once none is). */
  get inFlight(): number {
    return this.taking;
  }

  private taking = 0;

  async take<T extends TopicName>(
    topic: T,
    consumed: readonly TopicEvents[T][],
    consumedAt: readonly RecordPosition[],
  ): Promise<void> {
    this.taking++;
    try {
      await this.takeBatch(topic, consumed, consumedAt);
    } finally {
      this.taking--;
    }
  }

  private async takeBatch<T extends TopicName>(
    topic: T,
    consumed: readonly TopicEvents[T][],
    consumedAt: readonly RecordPosition[],
  ): Promise<void> {
    if (consumed.length !== consumedAt.length)
      throw new Error(`${topic}: ${consumed.length} events but ${consumedAt.length} positions`);
    const only = this.config.REPORT_ONLY_WORKSPACE;
    const kept = only === undefined ? null : consumed.map((event) => workspaceOf(event) === only);
    const events = kept ? consumed.filter((_, i) => kept[i]) : consumed;
    const positions = kept ? consumedAt.filter((_, i) => kept[i]) : consumedAt;
    if (events.length === 0) return;
    const workspaces = new Set<string>();
    for (const event of events) {
      const workspaceId = workspaceOf(event);
      if (workspaceId !== undefined) workspaces.add(workspaceId);
    }
    const batch = {
      topic,
      events,
      positions,
      settings: await this.settings.forWorkspaces(workspaces),
      tallies: new TallyBatch(),
      takenAt: Date.now(),
    } as AnyIntakeBatch;
    const contributors = this.byTopic.get(topic) ?? [];
    // The claim and the read models side by side: each read model writes collections of its own (idempotent, so a
    // copy of an event changes nothing there) and adds to the tallies synchronously; the copies' tallies are dropped
    // once the claim answers. All settle before a failure is passed on, so the record-by-record retry never overlaps
    // a write still in flight.
    const claiming = this.seen.claim(topic, events.map(eventKeyOf), positions);
    const collected = await Promise.allSettled([
      claiming,
      ...contributors.map(async (contributor) => contributor.collect(batch)),
    ]);
    for (const outcome of collected) if (outcome.status === 'rejected') throw outcome.reason;
    const fresh = await claiming;
    const firstSeen = fresh.every(Boolean) ? batch : withoutCopies(batch, fresh);
    if (firstSeen !== batch) {
      const copies = new Set(positions.filter((_, i) => !fresh[i]).map((p) => `${markOf(p)}@${p.offset}`));
      batch.tallies.drop((mark, offset) => copies.has(`${mark}@${offset}`));
    }
    await applyTallies(this.connection, batch.tallies);
    // After the tallies land, so what a contributor announces reads the counts this batch made.
    if (firstSeen.events.length > 0)
      for (const contributor of contributors) await contributor.afterApply?.(firstSeen);
    this.reportTopics.markChanged(workspaces, topic);
  }
}

/** The batch without the records whose event was first taken in under another record. */
function withoutCopies(batch: AnyIntakeBatch, fresh: readonly boolean[]): AnyIntakeBatch {
  return {
    ...batch,
    events: (batch.events as readonly unknown[]).filter((_, i) => fresh[i]),
    positions: batch.positions.filter((_, i) => fresh[i]),
  } as AnyIntakeBatch;
}

/** An event's identity: its eventId; a dead letter's is the record it holds (topic, partition, offset). */
function eventKeyOf(event: unknown): string {
  const metadata = (event as { metadata?: { eventId: string } }).metadata;
  if (metadata) return metadata.eventId;
  const letter = event as { sourceTopic?: string; sourcePartition?: number; sourceOffset?: string };
  return `${letter.sourceTopic ?? '?'}:${letter.sourcePartition ?? '?'}:${letter.sourceOffset ?? '?'}`;
}

function workspaceOf(event: unknown): string | undefined {
  return (event as { metadata?: { workspaceId: string } }).metadata?.workspaceId;
}

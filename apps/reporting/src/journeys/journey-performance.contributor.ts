import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { Connection } from 'mongoose';
import { Topics, type TopicName } from '@tributary/contracts';
import type { RecordPosition } from '@tributary/messaging';
import {
  STORE_CONNECTION,
  guardedUpserts,
  type GuardedUpdate,
  type UpsertCollection,
} from '@tributary/store';
import type { AnyIntakeBatch, ReportContributor } from '../intake/report-contributor';
import { countInBuckets } from '../read-models/bucketed-counts';
import { DEFAULT_REPORT_SETTINGS } from '../settings/report-settings';
import {
  JOURNEY_MESSAGES_COLLECTION,
  JOURNEY_OUTCOMES_MODEL,
  JOURNEY_RUNS_COLLECTION,
  TALLIED_OUTCOMES,
  deliveryUpdates,
  runChanges,
  sentMessageUpdates,
} from './journey-facts';

/** The topics journey performance is made of. */
export const JOURNEY_TOPICS: readonly TopicName[] = [
  Topics.JourneySteps,
  Topics.MessagesOutcomes,
  Topics.MessagesDeliveries,
];

/**
 * Journey and campaign performance. A delivery names its message only by key and may be read before the message's
 * outcome (another topic), so what it adds to a journey cannot be counted when it arrives: each sent message keeps a
 * document the outcome and its deliveries write into, commutatively, and the journey table is summed from those when
 * asked. Runs get a document too: journey.steps has no "entered" record (a run is first seen at whichever step it
 * records first, and a re-entry is a run of the same enrollment), so enrollments are counted as distinct runs, and a
 * run converts once however many goal records announce it. Skipped and failed messages, which no provider reports on,
 * are plain tallies (exact: the intake drops a republished event id, the marks a record read again). A document write
 * per message is affordable where one per tracking call is not: these topics carry a few records per message, and a
 * run already known is not written again.
 */
@Injectable()
export class JourneyPerformanceContributor implements ReportContributor, OnModuleInit {
  readonly topics: readonly TopicName[] = JOURNEY_TOPICS;

  /** Runs whose stored entry is known to be no later than this: later steps need no write unless they convert. */
  private readonly knownEntry = new LRUCache<string, number>({ max: 100_000 });

  constructor(@Inject(STORE_CONNECTION) private readonly connection: Connection) {}

  async onModuleInit(): Promise<void> {
    const messages = this.connection.collection(JOURNEY_MESSAGES_COLLECTION);
    const runs = this.connection.collection(JOURNEY_RUNS_COLLECTION);
    await messages.createIndex({ workspaceId: 1, sentAt: 1 });
    await messages.createIndex({ workspaceId: 1, firstSeenAt: 1 });
    await runs.createIndex({ workspaceId: 1, enteredAt: 1 });
    await runs.createIndex({ workspaceId: 1, convertedAt: 1 });
  }

  async collect(batch: AnyIntakeBatch): Promise<void> {
    switch (batch.topic) {
      case Topics.MessagesOutcomes:
        batch.events.forEach(({ metadata, journeyId, stepId, channel, status }, i) => {
          if (!(TALLIED_OUTCOMES as readonly string[]).includes(status)) return;
          countInBuckets(batch.tallies, position(batch.positions, i), {
            workspaceId: metadata.workspaceId,
            model: JOURNEY_OUTCOMES_MODEL,
            at: metadata.occurredAt,
            zone: (batch.settings.get(metadata.workspaceId) ?? DEFAULT_REPORT_SETTINGS).timeZone,
            dims: { journeyId, stepId, channel },
            inc: { [status]: 1 },
          });
        });
        await this.upsert(JOURNEY_MESSAGES_COLLECTION, sentMessageUpdates(batch.events));
        return;
      case Topics.MessagesDeliveries:
        await this.upsert(JOURNEY_MESSAGES_COLLECTION, deliveryUpdates(batch.events));
        return;
      case Topics.JourneySteps: {
        const changes = runChanges(batch.events).filter((change) => {
          const known = this.knownEntry.get(change.id);
          return change.convertedAt !== null || known === undefined || change.enteredAt < known;
        });
        await this.upsert(
          JOURNEY_RUNS_COLLECTION,
          changes.map((change) => change.update),
        );
        // Only after the write: a failed batch must not make its retry skip these runs.
        for (const { id, enteredAt } of changes)
          this.knownEntry.set(id, Math.min(enteredAt, this.knownEntry.get(id) ?? enteredAt));
        return;
      }
      default:
        return;
    }
  }

  /**
   * One unordered bulk of upserts. Two consumers (outcomes and deliveries) may insert one message at once: FerretDB
   * refuses the second insert rather than retrying it as an update, so the refused are applied once more (every
   * change here may be applied twice).
   */
  private async upsert(name: string, updates: GuardedUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const collection = this.connection.collection(name) as unknown as UpsertCollection;
    const refused = await guardedUpserts(collection, updates);
    if (refused.size === 0) return;
    const again = await guardedUpserts(
      collection,
      updates.filter((_, i) => refused.has(i)),
    );
    if (again.size > 0) throw new Error(`${again.size} ${name} upserts refused twice`);
  }
}

function position(positions: readonly RecordPosition[], i: number): RecordPosition {
  const at = positions[i];
  if (!at) throw new Error(`no position for record ${i}`);
  return at;
}

import type { TopicEvents, TopicName } from '@tributary/contracts';
import type { RecordPosition } from '@tributary/messaging';
import type { ReportSettings } from '../settings/report-settings';
import type { TallyBatch } from '../read-models/tallies';

/** One consumed batch of a topic as the read models see it: the events, where each sits, and what to write. */
export interface IntakeBatch<T extends TopicName> {
  topic: T;
  events: readonly TopicEvents[T][];
  /** `positions[i]` is where `events[i]` sits: a read model keys its once-only marks by it. */
  positions: readonly RecordPosition[];
  /** The report settings of the batch's workspaces (time zone, late-event allowance, attribution). */
  settings: ReadonlyMap<string, ReportSettings>;
  /** Counts gathered by every read model of the batch, written once after all of them collected. */
  tallies: TallyBatch;
  /** When reporting took the batch in (the end of end-to-end latency). */
  takenAt: number;
}

/** Any topic's batch; a read model switches on `topic` to get its events' type. */
export type AnyIntakeBatch = { [T in TopicName]: IntakeBatch<T> }[TopicName];

/**
 * A read model fed by consumed topics. `collect` adds its counts to the batch's tallies and may write documents of its
 * own (they must be idempotent: a batch is redelivered after a crash, and retried record by record after a failure).
 * It sees every record, copies of an event already taken in under another record too: the intake drops the copies'
 * tallies once its first-seen claim, run beside `collect`, answers. `afterApply` sees the first-seen records only.
 */
export interface ReportContributor {
  readonly topics: readonly TopicName[];
  collect(batch: AnyIntakeBatch): void | Promise<void>;
  /** Runs once the batch's tallies are written (e.g. to announce counts as they now stand). */
  afterApply?(batch: AnyIntakeBatch): Promise<void>;
}

export const REPORT_CONTRIBUTORS = Symbol('REPORT_CONTRIBUTORS');

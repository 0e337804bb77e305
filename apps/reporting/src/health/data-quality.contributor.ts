import { Injectable } from '@nestjs/common';
import { Topics, type TopicName } from '@tributary/contracts';
import type { RecordPosition } from '@tributary/messaging';
import { isTooLate } from '../attribution/time-buckets';
import type { AnyIntakeBatch, ReportContributor } from '../intake/report-contributor';
import { countInBuckets } from '../read-models/bucketed-counts';
import type { TallyBatch } from '../read-models/tallies';
import { DEFAULT_REPORT_SETTINGS, type ReportSettings } from '../settings/report-settings';
import { problemsOf, type Problem } from './data-quality';
import type { RejectionSource } from './integration-health';

/** Rejected records per source and route: `rejected`. */
export const REJECTED_MODEL = 'quality.rejected';
/** Rejected records per source, route, field and reason: `count`. */
export const PROBLEMS_MODEL = 'quality.problems';
/** Tracking calls that arrived more than the workspace's `lateDays` after they happened, by arrival: `late`. */
export const LATE_MODEL = 'quality.late';

interface Rejection {
  workspaceId: string;
  source: RejectionSource;
  route: string;
  /** When it was refused (epoch ms). */
  at: number;
  problems: Problem[];
}

/**
 * Data quality at the platform's edges: records the edge (ingestion.rejected) or sync (sync.records.rejected) refused,
 * per route and per problem, and tracking calls that arrived late.
 */
@Injectable()
export class DataQualityContributor implements ReportContributor {
  readonly topics: readonly TopicName[] = [
    Topics.IngestionRejected,
    Topics.SyncRecordsRejected,
    Topics.TrackingEvents,
  ];

  collect(batch: AnyIntakeBatch): void {
    const settingsOf = (workspaceId: string): ReportSettings =>
      batch.settings.get(workspaceId) ?? DEFAULT_REPORT_SETTINGS;
    const at = (i: number): RecordPosition => {
      const position = batch.positions[i];
      if (!position) throw new Error(`${batch.topic}: no position for record ${i}`);
      return position;
    };
    switch (batch.topic) {
      case Topics.IngestionRejected:
        batch.events.forEach((event, i) =>
          countRejection(batch.tallies, at(i), settingsOf(event.metadata.workspaceId).timeZone, {
            workspaceId: event.metadata.workspaceId,
            source: 'ingestion',
            route: event.route,
            at: event.receivedAt,
            problems: problemsOf(event.problems, event.reason),
          }),
        );
        return;
      case Topics.SyncRecordsRejected:
        batch.events.forEach((event, i) =>
          countRejection(batch.tallies, at(i), settingsOf(event.metadata.workspaceId).timeZone, {
            workspaceId: event.metadata.workspaceId,
            source: 'sync',
            route: `${event.system}/${event.objectType}`,
            at: event.metadata.occurredAt,
            problems: problemsOf(
              event.problems.length > 0 ? event.problems : [{ field: event.field, reason: event.reason }],
              event.reason,
            ),
          }),
        );
        return;
      case Topics.TrackingEvents:
        batch.events.forEach((event, i) => {
          const settings = settingsOf(event.metadata.workspaceId);
          if (!isTooLate(event.timestamp, event.receivedAt, settings.lateDays)) return;
          countInBuckets(batch.tallies, at(i), {
            workspaceId: event.metadata.workspaceId,
            model: LATE_MODEL,
            at: event.receivedAt,
            zone: settings.timeZone,
            dims: {},
            inc: { late: 1 },
          });
        });
        return;
      default:
        return;
    }
  }
}

function countRejection(
  tallies: TallyBatch,
  position: RecordPosition,
  zone: string,
  rejection: Rejection,
): void {
  const { workspaceId, source, route, at } = rejection;
  countInBuckets(tallies, position, {
    workspaceId,
    model: REJECTED_MODEL,
    at,
    zone,
    dims: { source, route },
    inc: { rejected: 1 },
  });
  for (const { field, reason } of rejection.problems)
    countInBuckets(tallies, position, {
      workspaceId,
      model: PROBLEMS_MODEL,
      at,
      zone,
      dims: { source, route, field, reason },
      inc: { count: 1 },
    });
}

import { Inject, Injectable } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION } from '@tributary/store';
import type { ResolvedRange } from '../api/report-query';
import { queryTallies } from '../read-models/bucketed-counts';
import { compareQualityRows, type QualityRow } from './data-quality';
import { LATE_MODEL, PROBLEMS_MODEL, REJECTED_MODEL } from './data-quality.contributor';

export interface DataQualityFilter {
  /** Only records of this route (the edge's HTTP route, or sync's `system/objectType`); late events have none. */
  route?: string;
}

export interface DataQualitySummary {
  /** Rejected records per source and route over the range (a record with three problems counts once here). */
  rejected: { source: string; route: string; records: number }[];
  /** Tracking calls that arrived late over the range. */
  late: number;
}

/** A workspace's rejected and late records per bucket, read from the data-quality tallies. */
@Injectable()
export class DataQualityReports {
  constructor(@Inject(STORE_CONNECTION) private readonly connection: Connection) {}

  /** Rows per bucket, kind, source, route, field and reason, in that order. */
  async rows(
    workspaceId: string,
    range: ResolvedRange,
    zone: string,
    filter: DataQualityFilter,
  ): Promise<QualityRow[]> {
    const query = { workspaceId, grain: range.grain, from: range.from, to: range.to, zone };
    const [problems, late] = await Promise.all([
      queryTallies(this.connection, {
        ...query,
        model: PROBLEMS_MODEL,
        ...(filter.route === undefined ? {} : { where: { route: filter.route } }),
        by: ['source', 'route', 'field', 'reason'],
      }),
      filter.route === undefined ? queryTallies(this.connection, { ...query, model: LATE_MODEL }) : [],
    ]);
    const rows: QualityRow[] = [
      ...problems.map((row) => ({
        bucket: row.bucket,
        kind: 'rejected' as const,
        source: row.dims['source'] ?? '',
        route: row.dims['route'] ?? '',
        field: row.dims['field'] ?? '',
        reason: row.dims['reason'] ?? '',
        count: row.n['count'] ?? 0,
      })),
      ...late.map((row) => ({
        bucket: row.bucket,
        kind: 'late' as const,
        source: 'ingestion',
        route: '',
        field: 'timestamp',
        reason: 'arrived later than the workspace allows (lateDays)',
        count: row.n['late'] ?? 0,
      })),
    ];
    return rows.sort(compareQualityRows);
  }

  /** Totals over the whole range. */
  async summary(
    workspaceId: string,
    range: ResolvedRange,
    zone: string,
    filter: DataQualityFilter,
    rows: readonly QualityRow[],
  ): Promise<DataQualitySummary> {
    const rejected = await queryTallies(this.connection, {
      workspaceId,
      model: REJECTED_MODEL,
      grain: range.grain,
      from: range.from,
      to: range.to,
      zone,
      ...(filter.route === undefined ? {} : { where: { route: filter.route } }),
      by: ['source', 'route'],
    });
    const perRoute = new Map<string, { source: string; route: string; records: number }>();
    for (const row of rejected) {
      const source = row.dims['source'] ?? '';
      const route = row.dims['route'] ?? '';
      const key = JSON.stringify([source, route]);
      const sum = perRoute.get(key) ?? { source, route, records: 0 };
      sum.records += row.n['rejected'] ?? 0;
      perRoute.set(key, sum);
    }
    return {
      rejected: [...perRoute.values()].sort(
        (a, b) => a.source.localeCompare(b.source) || a.route.localeCompare(b.route),
      ),
      late: rows.filter((row) => row.kind === 'late').reduce((sum, row) => sum + row.count, 0),
    };
  }
}

import { Controller, Get, Headers, Query, Res, UseGuards } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { ApiReportQuery, ApiReportResponses } from '../api/report-openapi';
import {
  pageOf,
  parseQuery,
  reportQuery,
  resolveRange,
  streamCsv,
  wantsCsv,
  type Page,
} from '../api/report-query';
import { ReportingScopes } from '../scopes';
import { ReportSettingsStore } from '../settings/report-settings';
import type { QualityRow } from './data-quality';
import { DataQualityReports, type DataQualitySummary } from './data-quality-reports';
import { DataQualityPageModel } from './health.openapi';

const dataQualityQuery = reportQuery.extend({
  route: z.string().min(1).max(200).optional(),
  format: z.enum(['json', 'csv']).optional(),
});

const COLUMNS = ['bucket', 'kind', 'source', 'route', 'field', 'reason', 'count'];

export type DataQualityPage = Page<QualityRow> & {
  range: { from: string; to: string; grain: string; timeZone: string };
  summary: DataQualitySummary;
};

/**
 * `GET /v1/reports/data-quality`: records refused at the edge or by sync, per bucket, route, field and reason, and
 * late tracking calls; JSON pages with the range's totals, or (`?format=csv`) every row streamed. The caller's
 * workspace only; `reports:read`.
 */
@Controller('v1/reports')
@UseGuards(WorkspaceKeyGuard)
export class DataQualityController {
  constructor(
    private readonly reports: DataQualityReports,
    private readonly settings: ReportSettingsStore,
  ) {}

  @Get('data-quality')
  @RequireScopes(ReportingScopes.reportsRead)
  @ApiOperation({ summary: 'Data quality: records refused at the edge or by sync, and late tracking calls' })
  @ApiReportQuery({
    range: true,
    grain: true,
    page: true,
    csv: true,
    filters: { route: 'Only records of this route (the edge’s HTTP route, or sync’s `system/objectType`).' },
  })
  @ApiReportResponses(DataQualityPageModel, {
    description: 'A page of rows per bucket, route, field and reason, with the range’s totals.',
    csv: 'Every row, columns bucket, kind, source, route, field, reason, count.',
  })
  async dataQuality(
    @CurrentWorkspace() workspaceId: string,
    @Query() raw: unknown,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<DataQualityPage | undefined> {
    const query = parseQuery(dataQualityQuery, raw);
    const { timeZone } = await this.settings.get(workspaceId);
    const range = resolveRange(query, timeZone);
    const filter = query.route === undefined ? {} : { route: query.route };
    const rows = await this.reports.rows(workspaceId, range, timeZone, filter);
    if (wantsCsv(query.format, accept)) {
      await streamCsv(
        response,
        `data-quality-${workspaceId}.csv`,
        COLUMNS,
        rows as unknown as Record<string, unknown>[],
      );
      return undefined;
    }
    return {
      range: {
        from: new Date(range.from).toISOString(),
        to: new Date(range.to).toISOString(),
        grain: range.grain,
        timeZone,
      },
      summary: await this.reports.summary(workspaceId, range, timeZone, filter, rows),
      ...pageOf(rows, query),
    };
  }
}

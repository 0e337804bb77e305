import { Controller, Get, Headers, Query, Res, UseGuards } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { ReportingScopes } from '../scopes';
import { ReportSettingsStore } from '../settings/report-settings';
import {
  pageOf,
  parseQuery,
  reportQuery,
  resolveRange,
  streamCsv,
  wantsCsv,
  type Page,
} from '../api/report-query';
import { ApiReportQuery, ApiReportResponses } from '../api/report-openapi';
import { JOURNEY_COLUMNS, type JourneyRow, type TrendRow } from './journey-report';
import { JourneyReports } from './journey-reports.service';
import { JOURNEY_FILTERS, JourneyReportModel, JourneyTrendModel } from './journeys.openapi';

const dimension = z.string().min(1).max(200).optional();
const journeyQuery = reportQuery.extend({
  journeyId: dimension,
  channel: dimension,
  format: z.enum(['json', 'csv']).optional(),
});
const trendQuery = reportQuery
  .pick({ from: true, to: true, grain: true })
  .extend({ journeyId: dimension, channel: dimension });

interface ReportRange {
  from: string;
  to: string;
  timeZone: string;
}

export type JourneyReport = Page<JourneyRow> & { range: ReportRange };

export interface JourneyTrend {
  range: ReportRange & { grain: string };
  buckets: TrendRow[];
}

/**
 * Journey and campaign performance per journey, step and channel (`GET /v1/reports/journeys`, JSON pages or a
 * streamed CSV) and its trend per hour, day or week (`GET /v1/reports/journeys/trend`). The caller's workspace only,
 * whatever it asks for; `reports:read`.
 */
@Controller('v1/reports')
@UseGuards(WorkspaceKeyGuard)
export class JourneysController {
  constructor(
    private readonly reports: JourneyReports,
    private readonly settings: ReportSettingsStore,
  ) {}

  @Get('journeys')
  @RequireScopes(ReportingScopes.reportsRead)
  @ApiOperation({ summary: 'Journey and campaign performance per journey, step and channel' })
  @ApiReportQuery({ range: true, page: true, csv: true, filters: JOURNEY_FILTERS })
  @ApiReportResponses(JourneyReportModel, {
    description: 'Messages sent in the range and all that became of them; runs entered in the range.',
    csv: 'Every row, with the JSON items’ fields as columns.',
  })
  async journeys(
    @CurrentWorkspace() workspaceId: string,
    @Query() raw: unknown,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<JourneyReport | undefined> {
    const query = parseQuery(journeyQuery, raw);
    const { timeZone } = await this.settings.get(workspaceId);
    const range = resolveRange(query, timeZone);
    const rows = await this.reports.table(workspaceId, range, timeZone, filterOf(query));
    if (wantsCsv(query.format, accept)) {
      await streamCsv(
        response,
        `journeys-${workspaceId}.csv`,
        JOURNEY_COLUMNS,
        rows as unknown as Record<string, unknown>[],
      );
      return undefined;
    }
    return { range: rangeOf(range, timeZone), ...pageOf(rows, query) };
  }

  @Get('journeys/trend')
  @RequireScopes(ReportingScopes.reportsRead)
  @ApiOperation({ summary: 'Journey performance per hour, day or week' })
  @ApiReportQuery({ range: true, grain: true, filters: JOURNEY_FILTERS })
  @ApiReportResponses(JourneyTrendModel, { description: 'Counts per bucket of the workspace’s time zone.' })
  async trend(@CurrentWorkspace() workspaceId: string, @Query() raw: unknown): Promise<JourneyTrend> {
    const query = parseQuery(trendQuery, raw);
    const { timeZone } = await this.settings.get(workspaceId);
    const range = resolveRange(query, timeZone);
    const buckets = await this.reports.trend(workspaceId, range, timeZone, filterOf(query));
    return { range: { ...rangeOf(range, timeZone), grain: range.grain }, buckets };
  }
}

function filterOf(query: { journeyId?: string; channel?: string }): { journeyId?: string; channel?: string } {
  return {
    ...(query.journeyId === undefined ? {} : { journeyId: query.journeyId }),
    ...(query.channel === undefined ? {} : { channel: query.channel }),
  };
}

function rangeOf(range: { from: number; to: number }, timeZone: string): ReportRange {
  return { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), timeZone };
}

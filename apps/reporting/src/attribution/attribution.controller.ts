import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiOperation, ApiQuery } from '@nestjs/swagger';
import { z } from 'zod';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { ReportingScopes } from '../scopes';
import { ReportSettingsStore } from '../settings/report-settings';
import { ApiReportQuery, ApiReportResponses } from '../api/report-openapi';
import { parseQuery, reportQuery, resolveRange } from '../api/report-query';
import { AttributionReports } from './attribution-reports';
import { ATTRIBUTION_MODELS, compareModels, type ChannelComparison } from './attribution';
import { AttributionReportModel } from './attribution.openapi';

const attributionQuery = reportQuery.extend({
  /** Only conversions of this kind, e.g. `stage:customer` or `goal:Order Completed`. */
  conversion: z.string().min(1).max(200).optional(),
  lookbackDays: z.coerce.number().int().min(1).max(365).optional(),
  halfLifeDays: z.coerce.number().positive().max(365).optional(),
});

export interface AttributionReport {
  range: { from: string; to: string; timeZone: string };
  settings: {
    lookbackDays: number;
    halfLifeDays: number;
    positionShares: { first: number; middle: number; last: number };
  };
  models: readonly string[];
  /** Conversions in the range, per kind; every model's credits over all channels sum to their total. */
  conversions: Record<string, number>;
  revenue: number;
  channels: ChannelComparison[];
}

/**
 * `GET /v1/reports/attribution`: every model's credit per channel side by side, for the conversions of a range
 * (lifecycle stages the workspace counts, reached by a person for the first time; goal events). A merged contact's
 * touches are its person's. The caller's workspace only; `reports:read`.
 */
@Controller('v1/reports')
@UseGuards(WorkspaceKeyGuard)
export class AttributionController {
  constructor(
    private readonly reports: AttributionReports,
    private readonly settings: ReportSettingsStore,
  ) {}

  @Get('attribution')
  @RequireScopes(ReportingScopes.reportsRead)
  @ApiOperation({ summary: 'Multi-touch attribution: every model’s credit per channel, side by side' })
  @ApiQuery({
    name: 'halfLifeDays',
    required: false,
    schema: { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 365 },
    description: 'Time decay’s half-life in days. Default: the workspace’s setting.',
  })
  @ApiQuery({
    name: 'lookbackDays',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: 365 },
    description:
      'Only touches at most this many days before a conversion count. Default: the workspace’s setting.',
  })
  @ApiReportQuery({
    range: true,
    filters: {
      conversion: 'Only conversions of this kind, e.g. `stage:customer` or `goal:Order Completed`.',
    },
  })
  @ApiReportResponses(AttributionReportModel, {
    description: 'Conversions reached in the range (the stages and goal events the settings name), credited.',
  })
  async attribution(
    @CurrentWorkspace() workspaceId: string,
    @Query() raw: unknown,
  ): Promise<AttributionReport> {
    const query = parseQuery(attributionQuery, raw);
    const { timeZone, attribution } = await this.settings.get(workspaceId);
    const range = resolveRange(query, timeZone);
    const options = {
      lookbackDays: query.lookbackDays ?? attribution.lookbackDays,
      halfLifeDays: query.halfLifeDays ?? attribution.halfLifeDays,
      positionShares: attribution.positionShares,
    };

    const paths = (
      await this.reports.conversions(workspaceId, range, attribution.conversionStages, options)
    ).filter((path) => query.conversion === undefined || path.conversion.kind === query.conversion);
    const byKind: Record<string, number> = {};
    for (const { conversion } of paths) byKind[conversion.kind] = (byKind[conversion.kind] ?? 0) + 1;
    return {
      range: { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), timeZone },
      settings: options,
      models: ATTRIBUTION_MODELS,
      conversions: byKind,
      revenue: paths.reduce((sum, path) => sum + (path.conversion.revenue ?? 0), 0),
      channels: compareModels(paths, options),
    };
  }
}

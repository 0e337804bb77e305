import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { ApiReportQuery, ApiReportResponses } from '../api/report-openapi';
import { parseQuery, reportQuery, resolveRange } from '../api/report-query';
import { ReportingScopes } from '../scopes';
import { ReportSettingsStore } from '../settings/report-settings';
import { HealthReports, defaultHealthRange, type IntegrationHealthReport } from './health-reports';
import { IntegrationHealthReportModel } from './health.openapi';

const healthQuery = reportQuery.pick({ from: true, to: true });

/**
 * `GET /v1/reports/health`: per topic throughput, freshness, latency, errors and status, the platform's consumer lag,
 * and each sync connection's state. The caller's workspace's numbers only (consumer lag holds no workspace's data);
 * `reports:read`.
 */
@Controller('v1/reports')
@UseGuards(WorkspaceKeyGuard)
export class IntegrationHealthController {
  constructor(
    private readonly reports: HealthReports,
    private readonly settings: ReportSettingsStore,
  ) {}

  @Get('health')
  @RequireScopes(ReportingScopes.reportsRead)
  @ApiOperation({
    summary: 'Integration health: topic throughput, freshness, latency, errors; consumer lag; sync',
  })
  @ApiReportQuery({ range: 'With neither `from` nor `to`: the last 24 whole hours.' })
  @ApiReportResponses(IntegrationHealthReportModel, {
    description: 'Per topic status (`ok`, `stale`, `failing`), dead letters, rejections and connections.',
  })
  async health(
    @CurrentWorkspace() workspaceId: string,
    @Query() raw: unknown,
  ): Promise<IntegrationHealthReport> {
    const query = parseQuery(healthQuery, raw);
    const { timeZone } = await this.settings.get(workspaceId);
    const now = Date.now();
    const range =
      query.from === undefined && query.to === undefined
        ? defaultHealthRange(now, timeZone)
        : { ...resolveRange({ ...query, grain: 'hour' }, timeZone, now), zone: timeZone };
    return this.reports.report(workspaceId, range, now);
  }
}

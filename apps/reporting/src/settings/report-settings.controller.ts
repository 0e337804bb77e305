import { BadRequestException, Body, Controller, Get, Put, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOperation } from '@nestjs/swagger';
import {
  CurrentPrincipal,
  CurrentWorkspace,
  RequireAnyScope,
  RequireScopes,
  WorkspaceKeyGuard,
  type Principal,
} from '@tributary/access';
import { ApiReportResponses } from '../api/report-openapi';
import { ReportingScopes } from '../scopes';
import { ReportSettingsStore, type ReportSettings } from './report-settings';
import { ReportSettingsModel, ReportSettingsUpdateModel } from './report-settings.openapi';

/** `/v1/reports/settings`: the caller's workspace's time zone, late-event allowance and attribution settings. */
@Controller('v1/reports/settings')
@UseGuards(WorkspaceKeyGuard)
export class ReportSettingsController {
  constructor(private readonly settings: ReportSettingsStore) {}

  @Get()
  @RequireAnyScope(ReportingScopes.reportsRead, ReportingScopes.reportsAdmin)
  @ApiOperation({ summary: 'How the workspace’s reports are cut: time zone, late events, attribution' })
  @ApiReportResponses(ReportSettingsModel, {
    description: 'The settings (defaults where never set).',
    badRequest: false,
  })
  async get(@CurrentWorkspace() workspaceId: string): Promise<ReportSettings> {
    return this.settings.get(workspaceId);
  }

  /** Changes apply to events taken in from now on; `npm run recompute:reports` rebuilds the past with them. */
  @Put()
  @RequireScopes(ReportingScopes.reportsAdmin)
  @ApiOperation({
    summary: 'Change the report settings (from now on; `npm run recompute:reports` for the past)',
  })
  @ApiBody({ type: ReportSettingsUpdateModel })
  @ApiReportResponses(ReportSettingsModel, { description: 'The settings after the change.' })
  async update(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
  ): Promise<ReportSettings> {
    const result = await this.settings.update(workspaceId, body, principal.credentialId);
    if (!result.ok) throw new BadRequestException({ error: 'invalid_settings', errors: result.errors });
    return result.settings;
  }
}

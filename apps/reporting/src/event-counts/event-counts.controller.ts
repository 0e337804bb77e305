import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { EventCounter, type EventCounts } from './event-counter.service';
import { ApiReportResponses } from '../api/report-openapi';
import { ReportingScopes } from '../scopes';
import { EventCountsModel } from './event-counts.openapi';

/** `GET /v1/reports/event-counts`: the caller's workspace only, whatever it asks for; needs `reports:read`. */
@Controller('v1/reports')
@UseGuards(WorkspaceKeyGuard)
export class EventCountsController {
  constructor(private readonly counter: EventCounter) {}

  @Get('event-counts')
  @RequireScopes(ReportingScopes.reportsRead)
  @ApiOperation({ summary: 'Events taken in per type, all time' })
  @ApiReportResponses(EventCountsModel, { description: 'The workspace’s running counts.', badRequest: false })
  async eventCounts(@CurrentWorkspace() workspaceId: string): Promise<EventCounts> {
    return this.counter.countsFor(workspaceId);
  }
}

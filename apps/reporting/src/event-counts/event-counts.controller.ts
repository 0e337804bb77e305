import { Controller, Get, UseGuards } from '@nestjs/common';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { EventCounter, type EventCounts } from './event-counter.service';
import { ReportingScopes } from '../scopes';

/** `GET /v1/reports/event-counts`: the caller's workspace only, whatever it asks for; needs `reports:read`. */
@Controller('v1/reports')
@UseGuards(WorkspaceKeyGuard)
export class EventCountsController {
  constructor(private readonly counter: EventCounter) {}

  @Get('event-counts')
  @RequireScopes(ReportingScopes.reportsRead)
  async eventCounts(@CurrentWorkspace() workspaceId: string): Promise<EventCounts> {
    return this.counter.countsFor(workspaceId);
  }
}

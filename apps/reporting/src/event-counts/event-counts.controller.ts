import { Controller, Get, UseGuards } from '@nestjs/common';
import { CurrentWorkspace, WorkspaceKeyGuard } from '@tributary/platform';
import { EventCounter, type EventCounts } from './event-counter.service';

/** `GET /v1/reports/event-counts`: the caller's workspace only, whatever it asks for. */
@Controller('v1/reports')
@UseGuards(WorkspaceKeyGuard)
export class EventCountsController {
  constructor(private readonly counter: EventCounter) {}

  @Get('event-counts')
  async eventCounts(@CurrentWorkspace() workspaceId: string): Promise<EventCounts> {
    return this.counter.countsFor(workspaceId);
  }
}

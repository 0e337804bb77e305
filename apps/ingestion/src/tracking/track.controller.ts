import { BadRequestException, Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/platform';
import { parseTrackCall } from './track-call';
import { TrackingIntake } from './tracking-intake.service';

/** Segment-compatible `POST /v1/track`. */
@Controller('v1')
@UseGuards(WorkspaceKeyGuard)
export class TrackController {
  constructor(private readonly intake: TrackingIntake) {}

  @Post('track')
  @RequireScopes('track:write')
  @HttpCode(200)
  async track(
    @CurrentWorkspace() workspaceId: string,
    @Body() body: unknown,
  ): Promise<{ success: true; eventId: string }> {
    const parsed = parseTrackCall(body);
    if (!parsed.ok) {
      throw new BadRequestException({ error: 'invalid_request', problems: parsed.problems });
    }
    const event = await this.intake.accept(workspaceId, parsed.call);
    return { success: true, eventId: event.metadata.eventId };
  }
}

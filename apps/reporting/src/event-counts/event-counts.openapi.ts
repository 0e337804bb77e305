import { ApiProperty } from '@nestjs/swagger';

/** OpenAPI description of `GET /v1/reports/event-counts` (the shape is EventCounts). */
export class EventCountsModel {
  @ApiProperty({ example: 'ws_demo' })
  workspaceId!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    example: { track: 12, 'leads.scored': 12 },
    description: 'Events taken in, per type, since the workspace began (all time).',
  })
  counts!: Record<string, number>;

  @ApiProperty({ type: 'integer', example: 24 })
  total!: number;
}

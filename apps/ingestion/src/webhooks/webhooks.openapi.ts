import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** OpenAPI description of a webhook's 2xx answer (the shape is WebhookAccepted). */
export class WebhookEventOutcomeModel {
  @ApiProperty({ example: '62515:1:1001:123' })
  deliveryId!: string;

  @ApiProperty({ example: 'contact.creation' })
  eventType!: string;

  @ApiProperty({ enum: ['published', 'duplicate', 'ignored'] })
  outcome!: string;

  @ApiPropertyOptional({ description: 'Id of the published event (the same for a replay).' })
  eventId?: string;

  @ApiPropertyOptional({ example: 'no mapping for hubspot event type contact.deletion' })
  reason?: string;
}

export class WebhookAcceptedModel {
  @ApiProperty({ description: 'Events published by this request.' })
  accepted!: number;

  @ApiProperty({ description: 'Events already published by an earlier delivery (replays).' })
  duplicates!: number;

  @ApiProperty({ description: 'True (202) when no event of the delivery is mapped.' })
  ignored!: boolean;

  @ApiPropertyOptional()
  reason?: string;

  @ApiProperty({ type: [WebhookEventOutcomeModel] })
  events!: WebhookEventOutcomeModel[];
}

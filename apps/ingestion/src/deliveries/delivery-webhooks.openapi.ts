import { ApiProperty } from '@nestjs/swagger';
import { FieldProblemModel } from '../openapi/api-models';

export class RejectedDeliveryModel extends FieldProblemModel {
  @ApiProperty({ nullable: true, type: Number, description: 'Index in a SendGrid batch; null for Twilio.' })
  index!: number | null;
}

/** OpenAPI description of a delivery webhook's 200 answer (the shape is DeliveriesAccepted). */
export class DeliveriesAcceptedModel {
  @ApiProperty({ description: 'Events published on messages.deliveries by this request.' })
  accepted!: number;

  @ApiProperty({
    description: 'Events already published by an earlier delivery (provider retries, replays).',
  })
  duplicates!: number;

  @ApiProperty({
    description: 'Events of kinds nothing acts on (SendGrid group_resubscribe, Twilio queued).',
  })
  ignored!: number;

  @ApiProperty({
    type: [RejectedDeliveryModel],
    description: 'Events refused on their own, kept on ingestion.rejected; the rest were taken.',
  })
  rejected!: RejectedDeliveryModel[];
}

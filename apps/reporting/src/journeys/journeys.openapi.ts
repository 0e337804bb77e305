import { ApiProperty } from '@nestjs/swagger';
import { BucketedRangeModel, PageModel, ReportRangeModel } from '../api/report-openapi';
import { DELIVERY_METRICS } from './journey-facts';

/** OpenAPI description of the journey routes' answers (the shapes are JourneyReport and JourneyTrend). */
abstract class MessageCountsModel {
  @ApiProperty({ type: 'integer', description: 'Messages sent.' })
  sent!: number;

  @ApiProperty({ type: 'integer', description: 'Messages skipped (not sent).' })
  skipped!: number;

  @ApiProperty({ type: 'integer', description: 'Messages that failed to send.' })
  failed!: number;
}
for (const metric of DELIVERY_METRICS)
  ApiProperty({ type: 'integer', description: `Sent messages ${metric} (each message once).` })(
    MessageCountsModel.prototype,
    metric,
  );

const rate = (description: string) => ApiProperty({ type: Number, nullable: true, description });

export class JourneyRowModel extends MessageCountsModel {
  @ApiProperty({
    enum: ['journey', 'step'],
    description: 'A journey row sums its step rows, which follow it.',
  })
  level!: string;

  @ApiProperty({ description: 'The journey; `(unknown)` for messages whose outcome never arrived.' })
  journeyId!: string;

  @ApiProperty({ type: String, nullable: true, description: 'Step rows only.' })
  stepId!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Step rows only.' })
  channel!: string | null;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: 'Runs entered in the range (journey rows only).',
  })
  enrolled!: number | null;

  @ApiProperty({
    type: 'integer',
    description:
      'Journey rows: runs entered in the range that converted; step rows: sent messages whose run did.',
  })
  converted!: number;

  @rate('delivered / sent')
  deliveryRate!: number | null;

  @rate('opened / delivered (unique opens)')
  openRate!: number | null;

  @rate('clicked / delivered (unique clicks)')
  clickRate!: number | null;

  @rate('Journey rows: converted / enrolled; step rows: converted / sent.')
  conversionRate!: number | null;
}

export class JourneyReportModel extends PageModel {
  @ApiProperty({ type: ReportRangeModel })
  range!: ReportRangeModel;

  @ApiProperty({
    type: [JourneyRowModel],
    description: 'By journey (`(unknown)` last): its journey row, then steps.',
  })
  items!: JourneyRowModel[];
}

export class JourneyTrendRowModel extends MessageCountsModel {
  @ApiProperty({ example: '2026-03-30T00:00:00+02:00', description: 'Start of the bucket, with its offset.' })
  bucket!: string;

  @ApiProperty({ type: 'integer', description: 'Runs entered in the bucket.' })
  enrolled!: number;

  @ApiProperty({ type: 'integer', description: 'Runs converted in the bucket.' })
  converted!: number;
}

export class JourneyTrendModel {
  @ApiProperty({ type: BucketedRangeModel })
  range!: BucketedRangeModel;

  @ApiProperty({
    type: [JourneyTrendRowModel],
    description:
      'Each event in the bucket of its own time (sent Monday, opened Tuesday: Monday’s `sent`, Tuesday’s `opened`); ' +
      'buckets with nothing left out.',
  })
  buckets!: JourneyTrendRowModel[];
}

/** The journey routes' filters. */
export const JOURNEY_FILTERS = {
  journeyId: 'Only this journey (`(unknown)`: messages whose outcome never arrived).',
  channel: 'Only this channel, e.g. `email`, `sms`.',
} as const;

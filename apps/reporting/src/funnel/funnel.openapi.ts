import { ApiProperty } from '@nestjs/swagger';
import { BucketedRangeModel, PageModel } from '../api/report-openapi';
import { FUNNEL_STAGES } from './funnel';

/** OpenAPI description of the funnel routes' answers (the shapes are FunnelReport, Page<flat person>, RoutingRow). */
export class DaysToAdvanceModel {
  @ApiProperty({ type: Number, nullable: true })
  median!: number | null;

  @ApiProperty({ type: Number, nullable: true })
  mean!: number | null;
}

export class FunnelStageRowModel {
  @ApiProperty({ enum: FUNNEL_STAGES })
  stage!: string;

  @ApiProperty({ type: 'integer', description: 'People who first reached the stage within the range.' })
  entered!: number;

  @ApiProperty({ type: 'integer', description: 'Of those, how many went on to a later stage (at any time).' })
  advanced!: number;

  @ApiProperty({ type: Number, nullable: true, description: 'advanced / entered; null when none entered.' })
  conversionRate!: number | null;

  @ApiProperty({
    type: DaysToAdvanceModel,
    description: 'Days from reaching this stage to the next one reached, over those who advanced.',
  })
  daysToAdvance!: DaysToAdvanceModel;

  @ApiProperty({ type: 'integer', description: 'People in this stage now, whenever they entered it.' })
  current!: number;
}

export class FunnelTrendRowModel {
  @ApiProperty({ example: '2026-03-30T00:00:00+02:00', description: 'Start of the bucket, with its offset.' })
  bucket!: string;

  @ApiProperty({
    type: 'object',
    properties: Object.fromEntries(FUNNEL_STAGES.map((stage) => [stage, { type: 'integer' }])),
    description: 'People first reaching each stage in the bucket (stages nobody reached left out).',
  })
  entered!: Record<string, number>;
}

export class FunnelReportModel {
  @ApiProperty({ type: BucketedRangeModel })
  range!: BucketedRangeModel;

  @ApiProperty({ type: [FunnelStageRowModel], description: 'Every stage, in funnel order.' })
  stages!: FunnelStageRowModel[];

  @ApiProperty({
    type: [FunnelTrendRowModel],
    description: 'Per bucket with anyone in it, in order; the buckets sum to the stages’ `entered`.',
  })
  trend!: FunnelTrendRowModel[];
}

/** One person of the funnel (a contact and the contacts merged into it, counted once). */
export class FunnelPersonModel {
  @ApiProperty({ description: 'The person’s contact id (the root of merged contacts).' })
  contactId!: string;

  @ApiProperty({ type: String, nullable: true, description: 'Current lifecycle stage.' })
  stage!: string | null;

  @ApiProperty({ example: 'google', description: 'First touch’s source; `(direct)` without one.' })
  source!: string;

  @ApiProperty({ example: 'cpc', description: 'First touch’s medium; `(none)` without one.' })
  medium!: string;

  @ApiProperty({ example: 'spring', description: 'First touch’s campaign; `(none)` without one.' })
  campaign!: string;

  @ApiProperty({ description: 'Current owner; `(none)` when unassigned.' })
  ownerId!: string;

  @ApiProperty({ description: 'Current owner’s team; `(none)` when unassigned.' })
  teamId!: string;
}
for (const stage of FUNNEL_STAGES)
  ApiProperty({
    type: String,
    description: `When the ${stage} stage was first reached (ISO date-time); an empty string if never.`,
  })(FunnelPersonModel.prototype, `reached_${stage}`);

export class FunnelContactsPageModel extends PageModel {
  @ApiProperty({ type: [FunnelPersonModel], description: 'By contact id.' })
  items!: FunnelPersonModel[];
}

export class RoutingRowModel {
  @ApiProperty()
  ownerId!: string;

  @ApiProperty()
  teamId!: string;

  @ApiProperty({ type: 'integer', description: 'Leads assigned in the range.' })
  assigned!: number;

  @ApiProperty({ type: 'integer', description: 'Assignments accepted in the range.' })
  accepted!: number;

  @ApiProperty({ type: 'integer', description: 'SLA breaches in the range.' })
  breached!: number;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Mean minutes from assignment to accept over the accepted ones; null when none was.',
  })
  meanMinutesToAccept!: number | null;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'breached / assigned; null when none was assigned.',
  })
  breachRate!: number | null;
}

export class RoutingPageModel extends PageModel {
  @ApiProperty({ type: [RoutingRowModel], description: 'By team, then owner.' })
  items!: RoutingRowModel[];
}

export class LeadsCapturedRowModel {
  @ApiProperty({ example: '2026-03-30T00:00:00+02:00', description: 'Start of the bucket, with its offset.' })
  bucket!: string;

  @ApiProperty({ example: 'google' })
  source!: string;

  @ApiProperty({ type: 'integer', description: 'Leads captured from the source in the bucket.' })
  captured!: number;
}

/** The funnel routes' filters (each an exact match on the person's first touch or current owner). */
export const FUNNEL_FILTERS = {
  source: 'Only people whose first touch had this source (`(direct)` for none).',
  medium: 'Only people whose first touch had this medium (`(none)` for none).',
  campaign: 'Only people whose first touch had this campaign (`(none)` for none).',
  ownerId: 'Only people currently owned by this owner (`(none)`: unassigned).',
  teamId: 'Only people currently owned by this team (`(none)`: unassigned).',
} as const;

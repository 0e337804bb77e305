import { ApiProperty } from '@nestjs/swagger';
import { ReportRangeModel } from '../api/report-openapi';
import { ATTRIBUTION_MODELS } from './attribution';

/** OpenAPI description of `GET /v1/reports/attribution` (the shape is AttributionReport). */
export class PositionSharesModel {
  @ApiProperty({ example: 40, description: 'Percent of the credit for the first touch.' })
  first!: number;

  @ApiProperty({ example: 20, description: 'Percent shared by the touches in between.' })
  middle!: number;

  @ApiProperty({ example: 40, description: 'Percent for the last touch (the three sum to 100).' })
  last!: number;
}

export class AttributionOptionsModel {
  @ApiProperty({
    type: 'integer',
    description: 'Only touches at most this many days before a conversion count.',
  })
  lookbackDays!: number;

  @ApiProperty({ description: 'Time decay: a touch this many days older than another earns half as much.' })
  halfLifeDays!: number;

  @ApiProperty({ type: PositionSharesModel, description: 'Position based: the shares in percent.' })
  positionShares!: PositionSharesModel;
}

const perModel = (description: string) =>
  ApiProperty({
    type: 'object',
    properties: Object.fromEntries(ATTRIBUTION_MODELS.map((model) => [model, { type: 'number' }])),
    description,
  });

export class ChannelComparisonModel {
  @ApiProperty({
    example: 'google / cpc',
    description: 'Source / medium; `(direct)` for conversions without a touch.',
  })
  channel!: string;

  @perModel(
    'Conversions credited to the channel under each model (fractions; per model they sum to the conversions).',
  )
  credit!: Record<string, number>;

  @perModel('Revenue credited to the channel under each model.')
  revenue!: Record<string, number>;
}

export class AttributionReportModel {
  @ApiProperty({ type: ReportRangeModel })
  range!: ReportRangeModel;

  @ApiProperty({
    type: AttributionOptionsModel,
    description: 'The options applied (query over workspace settings).',
  })
  settings!: AttributionOptionsModel;

  @ApiProperty({
    enum: ATTRIBUTION_MODELS,
    isArray: true,
    description: 'The models compared, in this order.',
  })
  models!: string[];

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    example: { 'stage:customer': 12, 'goal:Order Completed': 30 },
    description: 'Conversions in the range per kind.',
  })
  conversions!: Record<string, number>;

  @ApiProperty({ description: 'Revenue of the conversions in the range.' })
  revenue!: number;

  @ApiProperty({
    type: [ChannelComparisonModel],
    description: 'Every channel any model credits, alphabetically.',
  })
  channels!: ChannelComparisonModel[];
}

import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AttributionOptionsModel, PositionSharesModel } from '../attribution/attribution.openapi';
import { DEFAULT_REPORT_SETTINGS } from './report-settings';

/** OpenAPI description of `/v1/reports/settings` (ReportSettings; validation is settingsRequest, keep in step). */
const defaults = DEFAULT_REPORT_SETTINGS;

export class AttributionSettingsModel extends AttributionOptionsModel {
  @ApiProperty({
    example: defaults.attribution.conversionStages,
    description: 'Lifecycle stages whose reaching converts.',
  })
  conversionStages!: string[];

  @ApiProperty({
    example: defaults.attribution.goalEvents,
    description: 'Track events that are conversions (goals); revenue from `properties.revenue`.',
  })
  goalEvents!: string[];
}

export class ReportSettingsModel {
  @ApiProperty({
    example: 'Europe/Paris',
    description: 'IANA time zone: report dates and hour, day and week buckets are its local ones.',
  })
  timeZone!: string;

  @ApiProperty({
    type: 'integer',
    description:
      'Events arriving more than this many days after they happened count as late, not in their bucket.',
  })
  lateDays!: number;

  @ApiProperty({ type: AttributionSettingsModel })
  attribution!: AttributionSettingsModel;
}

export class AttributionSettingsUpdateModel {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 365,
    default: defaults.attribution.lookbackDays,
  })
  lookbackDays?: number;

  @ApiPropertyOptional({
    minimum: 0,
    exclusiveMinimum: true,
    maximum: 365,
    default: defaults.attribution.halfLifeDays,
  })
  halfLifeDays?: number;

  @ApiPropertyOptional({
    type: PositionSharesModel,
    description: 'All three, in percent, summing to 100.',
    default: defaults.attribution.positionShares,
  })
  positionShares?: PositionSharesModel;

  @ApiPropertyOptional({
    type: [String],
    minItems: 1,
    maxItems: 10,
    default: defaults.attribution.conversionStages,
  })
  conversionStages?: string[];

  @ApiPropertyOptional({ type: [String], maxItems: 20, default: defaults.attribution.goalEvents })
  goalEvents?: string[];
}

/** A change: the fields given replace the current ones (attribution's field by field); unknown fields are refused. */
export class ReportSettingsUpdateModel {
  @ApiPropertyOptional({
    example: 'Europe/Paris',
    default: defaults.timeZone,
    description: 'An IANA time zone name.',
  })
  timeZone?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 90, default: defaults.lateDays })
  lateDays?: number;

  @ApiPropertyOptional({ type: AttributionSettingsUpdateModel })
  attribution?: AttributionSettingsUpdateModel;
}

import { ApiProperty } from '@nestjs/swagger';
import { BucketedRangeModel, PageModel, ReportRangeModel } from '../api/report-openapi';

/** OpenAPI description of `GET /v1/reports/health` and `/data-quality` (IntegrationHealthReport, DataQualityPage). */
export class LatencyPercentilesModel {
  @ApiProperty({ type: Number, nullable: true })
  p50!: number | null;

  @ApiProperty({ type: Number, nullable: true })
  p95!: number | null;

  @ApiProperty({ type: Number, nullable: true })
  p99!: number | null;
}

export class TopicHealthModel {
  @ApiProperty({ example: 'tracking.events' })
  topic!: string;

  @ApiProperty({ type: 'integer', description: 'Events accepted in the range (by accepted-at time).' })
  events!: number;

  @ApiProperty({ description: 'Mean events a minute over the last 15 complete minutes.' })
  eventsPerMinute!: number;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  newestEventAt!: string | null;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Now minus the newest event’s accepted-at time.',
  })
  freshnessMs!: number | null;

  @ApiProperty({
    type: LatencyPercentilesModel,
    description: 'From acceptance to reporting taking the event in, as bucket upper bounds (ms).',
  })
  latencyMs!: LatencyPercentilesModel;

  @ApiProperty({ type: 'integer' })
  deadLetters!: number;

  @ApiProperty({ type: 'integer' })
  rejected!: number;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: '(deadLetters + rejected) / (events + rejected); null when nothing came.',
  })
  errorRate!: number | null;

  @ApiProperty({ enum: ['ok', 'stale', 'failing'] })
  status!: string;
}

export class RecentMinuteModel {
  @ApiProperty({ format: 'date-time' })
  minute!: string;

  @ApiProperty()
  topic!: string;

  @ApiProperty({ type: 'integer' })
  events!: number;
}

export class DeadLetterCountModel {
  @ApiProperty()
  sourceTopic!: string;

  @ApiProperty()
  consumerGroup!: string;

  @ApiProperty()
  errorType!: string;

  @ApiProperty({ type: 'integer' })
  count!: number;
}

export class RejectedCountModel {
  @ApiProperty({ enum: ['ingestion', 'sync'] })
  source!: string;

  @ApiProperty({ description: 'The edge’s HTTP route, or sync’s `system/objectType`.' })
  route!: string;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The topic the records were bound for, if known.',
  })
  topic!: string | null;

  @ApiProperty({ type: 'integer' })
  count!: number;
}

export class ConsumerLagModel {
  @ApiProperty()
  group!: string;

  @ApiProperty()
  topic!: string;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: 'Records written but not yet committed by the group; null before its first commit.',
  })
  lag!: number | null;
}

export class ConnectionHealthModel {
  @ApiProperty()
  connectionId!: string;

  @ApiProperty({ example: 'hubspot' })
  connector!: string;

  @ApiProperty({ example: 'contacts' })
  object!: string;

  @ApiProperty({ example: 'healthy', description: '`healthy`, `failing` or `paused`.' })
  status!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  lastPollAt!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  lastSuccessAt!: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'How far the source is read.',
  })
  readUpTo!: string | null;

  @ApiProperty({ type: Number, nullable: true, description: 'How far behind the source sync reads.' })
  lagMs!: number | null;

  @ApiProperty({ type: 'integer' })
  consecutiveFailures!: number;

  @ApiProperty({ type: String, nullable: true })
  lastError!: string | null;

  @ApiProperty()
  apiVersion!: string;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'ISO date the vendor retires apiVersion, if announced.',
  })
  apiSunsetAt!: string | null;

  @ApiProperty({ description: 'Within 90 days of apiSunsetAt.' })
  apiSunsetSoon!: boolean;

  @ApiProperty({ format: 'date-time' })
  reportedAt!: string;

  @ApiProperty({
    description: 'No successful poll for an hour (or never, while failing); never when paused.',
  })
  stalled!: boolean;
}

export class PlatformHealthModel {
  @ApiProperty({
    type: [DeadLetterCountModel],
    description: 'Dead letters whose original record could not be read (no workspace’s): counts only.',
  })
  unreadableDeadLetters!: DeadLetterCountModel[];
}

export class IntegrationHealthReportModel {
  @ApiProperty({ type: ReportRangeModel })
  range!: ReportRangeModel;

  @ApiProperty({ format: 'date-time' })
  generatedAt!: string;

  @ApiProperty({ type: [TopicHealthModel] })
  topics!: TopicHealthModel[];

  @ApiProperty({
    type: [RecentMinuteModel],
    description: 'Events a minute of the last 15 minutes per topic (minutes without events left out).',
  })
  recentMinutes!: RecentMinuteModel[];

  @ApiProperty({ type: [DeadLetterCountModel] })
  deadLetters!: DeadLetterCountModel[];

  @ApiProperty({ type: [RejectedCountModel] })
  rejected!: RejectedCountModel[];

  @ApiProperty({
    type: [ConsumerLagModel],
    description:
      'The platform’s consumer groups: record counts, no workspace’s data, the same for every caller.',
  })
  consumerLag!: ConsumerLagModel[];

  @ApiProperty({ type: [ConnectionHealthModel], description: 'The workspace’s sync connections.' })
  connections!: ConnectionHealthModel[];

  @ApiProperty({ type: PlatformHealthModel })
  platform!: PlatformHealthModel;
}

export class QualityRowModel {
  @ApiProperty({ example: '2026-03-30T00:00:00+02:00', description: 'Start of the bucket, with its offset.' })
  bucket!: string;

  @ApiProperty({ enum: ['rejected', 'late'] })
  kind!: string;

  @ApiProperty({ example: 'ingestion', description: '`ingestion` (the edge) or `sync`.' })
  source!: string;

  @ApiProperty({
    description: 'The edge’s HTTP route, or sync’s `system/objectType`; empty for late events.',
  })
  route!: string;

  @ApiProperty({ example: 'items[].email', description: 'The field at fault, array positions dropped.' })
  field!: string;

  @ApiProperty()
  reason!: string;

  @ApiProperty({ type: 'integer', description: 'Records with this problem in the bucket.' })
  count!: number;
}

export class RejectedRecordsModel {
  @ApiProperty()
  source!: string;

  @ApiProperty()
  route!: string;

  @ApiProperty({ type: 'integer', description: 'Records rejected (one with three problems counts once).' })
  records!: number;
}

export class DataQualitySummaryModel {
  @ApiProperty({ type: [RejectedRecordsModel], description: 'Over the range, per source and route.' })
  rejected!: RejectedRecordsModel[];

  @ApiProperty({ type: 'integer', description: 'Tracking calls that arrived late over the range.' })
  late!: number;
}

export class DataQualityPageModel extends PageModel {
  @ApiProperty({ type: BucketedRangeModel })
  range!: BucketedRangeModel;

  @ApiProperty({ type: DataQualitySummaryModel })
  summary!: DataQualitySummaryModel;

  @ApiProperty({
    type: [QualityRowModel],
    description: 'By bucket, then kind, source, route, field and reason.',
  })
  items!: QualityRowModel[];
}

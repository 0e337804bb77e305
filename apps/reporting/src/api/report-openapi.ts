import { applyDecorators, type Type } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiExtraModels,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiProperty,
  ApiPropertyOptional,
  ApiQuery,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import { MAX_PAGE_SIZE, reportQuery } from './report-query';

/**
 * The reporting API's shared OpenAPI description: the report query (`from`, `to`, `grain`, `limit`, `cursor`,
 * `format`), page and range shapes, and the error answers. Validation itself is zod (report-query.ts); names, enums
 * and defaults here are read from it so the two stay in step.
 */

const DEFAULTS = reportQuery.parse({});
export const REPORT_GRAINS = reportQuery.shape.grain.removeDefault().options;

export class FieldProblemModel {
  @ApiProperty({ example: 'grain' })
  field!: string;

  @ApiProperty({ example: 'unknown value "month"; expected one of hour, day, week' })
  reason!: string;
}

/** Every error answer: `{error, problems}`, with `errors` (400) or `field` and `reason` (401, 403) beside. */
export class ReportErrorModel {
  @ApiProperty({
    example: 'invalid_query',
    description:
      'Machine-readable code: `invalid_query`, `invalid_settings`, `unauthorized`, `forbidden`, ….',
  })
  error!: string;

  @ApiProperty({ type: [FieldProblemModel], description: 'Every problem, each with the field at fault.' })
  problems!: FieldProblemModel[];

  @ApiPropertyOptional({
    type: [FieldProblemModel],
    description: '400: every invalid parameter or field, at once.',
  })
  errors?: FieldProblemModel[];

  @ApiPropertyOptional({ example: 'authorization', description: '401, 403: the field at fault.' })
  field?: string;

  @ApiPropertyOptional({
    example: 'missing scope: reports:read',
    description: '401, 403, 429: why, in words.',
  })
  reason?: string;
}

export class RateLimitedModel extends ReportErrorModel {
  @ApiProperty({ example: 'credential-requests', description: 'The allowance that is spent.' })
  allowance!: string;
}

export class ReportRangeModel {
  @ApiProperty({ format: 'date-time', description: 'Start of the range, inclusive (UTC instant).' })
  from!: string;

  @ApiProperty({ format: 'date-time', description: 'End of the range, exclusive (UTC instant).' })
  to!: string;

  @ApiProperty({
    example: 'Europe/Paris',
    description: 'The workspace’s time zone, that dates and buckets are in.',
  })
  timeZone!: string;
}

export class BucketedRangeModel extends ReportRangeModel {
  @ApiProperty({ enum: REPORT_GRAINS })
  grain!: string;
}

/** The fields of a page; a page model adds `items`. */
export abstract class PageModel {
  @ApiProperty({
    type: String,
    nullable: true,
    example: '100',
    description: 'Pass as `cursor` for the next page; null on the last page.',
  })
  nextCursor!: string | null;

  @ApiProperty({ description: 'Rows over all pages.' })
  total!: number;
}

/** Which of the report query's parameters a route reads, and its own filters. */
export interface ReportQueryDocs {
  /** `from` and `to`; a string adds what the range is when neither is given. */
  range?: boolean | string;
  /** `grain`: the bucket of the route's trend or rows. */
  grain?: boolean;
  /** `limit` and `cursor`. */
  page?: boolean;
  /** `format=json|csv` (and `Accept: text/csv`). */
  csv?: boolean;
  /** Exact-match string filters (1–200 characters) by name, with what each selects. */
  filters?: Readonly<Record<string, string>>;
}

const DAY_OR_INSTANT = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}(T.+)?$' } as const;

/** The report query parameters a route takes (see ReportQueryDocs): one decorator, not one per parameter. */
export function ApiReportQuery(docs: ReportQueryDocs): MethodDecorator {
  const decorators: MethodDecorator[] = [];
  if (docs.range) {
    const neither = typeof docs.range === 'string' ? ` ${docs.range}` : '';
    decorators.push(
      ApiQuery({
        name: 'from',
        required: false,
        schema: { ...DAY_OR_INSTANT, example: '2026-12-01' },
        description:
          'Start of the range by event time, inclusive: a date (its midnight in the workspace’s time zone) or an ' +
          `ISO date-time with offset. Default: 30 days before \`to\`.${neither}`,
      }),
      ApiQuery({
        name: 'to',
        required: false,
        schema: { ...DAY_OR_INSTANT, example: '2026-12-31' },
        description:
          'End of the range, exclusive; a date includes that whole day of the workspace’s time zone. Must be after ' +
          `\`from\`. Default: the end of today in the workspace’s time zone.${neither}`,
      }),
    );
  }
  if (docs.grain)
    decorators.push(
      ApiQuery({
        name: 'grain',
        required: false,
        schema: { type: 'string', enum: [...REPORT_GRAINS], default: DEFAULTS.grain },
        description:
          'Bucket size: local hours, days or ISO weeks (from Monday) of the workspace’s time zone; buckets are named ' +
          'by their start with its offset (`2026-03-29T00:00:00+01:00`), so a daylight-saving day is 23 or 25 hours.',
      }),
    );
  if (docs.page)
    decorators.push(
      ApiQuery({
        name: 'limit',
        required: false,
        schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULTS.limit },
        description: 'Rows per page (JSON only: a CSV has every row).',
      }),
      ApiQuery({
        name: 'cursor',
        required: false,
        schema: { type: 'string', pattern: '^\\d+$' },
        description: 'The `nextCursor` of the previous page; the first page without it.',
      }),
    );
  if (docs.csv)
    decorators.push(
      ApiQuery({
        name: 'format',
        required: false,
        schema: { type: 'string', enum: ['json', 'csv'] },
        description:
          '`csv` streams every row (no pages) as `text/csv`; without `format`, `Accept: text/csv` does the same.',
      }),
    );
  for (const [name, description] of Object.entries(docs.filters ?? {}))
    decorators.push(
      ApiQuery({
        name,
        required: false,
        schema: { type: 'string', minLength: 1, maxLength: 200 },
        description,
      }),
    );
  return applyDecorators(...decorators);
}

export interface ReportResponseDocs {
  /** What a 200 answers. */
  description: string;
  /** Also answers `text/csv` (`?format=csv` or `Accept: text/csv`): what its rows and columns are. */
  csv?: string;
  /** Whether invalid input is answered 400 (every route with parameters or a body). */
  badRequest?: boolean;
}

/**
 * A report route's answers: 200 (JSON `type`, and `text/csv` where it streams one), 400 naming every invalid
 * parameter, 401 (no or unknown key), 403 (a scope missing) and 429 (rate limits).
 */
export function ApiReportResponses(
  type: Type<unknown> | [Type<unknown>],
  docs: ReportResponseDocs,
): MethodDecorator {
  const ok =
    docs.csv && !Array.isArray(type)
      ? [
          ApiExtraModels(type),
          ApiOkResponse({
            description: docs.description,
            content: {
              'application/json': { schema: { $ref: getSchemaPath(type) } },
              'text/csv': { schema: { type: 'string', description: docs.csv } },
            },
          }),
        ]
      : [ApiOkResponse({ type, description: docs.description })];
  return applyDecorators(
    ...ok,
    ...(docs.badRequest === false
      ? []
      : [
          ApiBadRequestResponse({
            type: ReportErrorModel,
            description:
              'Invalid parameters or body: `{error, errors: [{field, reason}]}` names every one at once.',
          }),
        ]),
    ApiUnauthorizedResponse({ type: ReportErrorModel, description: 'No key or token, or an unknown one.' }),
    ApiForbiddenResponse({
      type: ReportErrorModel,
      description: 'The key or token lacks the route’s scope.',
    }),
    ApiTooManyRequestsResponse({
      type: RateLimitedModel,
      description: 'The credential’s or workspace’s request allowance is spent.',
      headers: { 'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } } },
    }),
  );
}

import { BadRequestException } from '@nestjs/common';
import type { Response } from 'express';
import { stringify } from 'csv-stringify';
import { DateTime } from 'luxon';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { fieldProblemsOf } from '@tributary/runtime';
import type { BucketGrain } from '../attribution/time-buckets';

/** How far back a report looks when the caller names no range. */
const DEFAULT_RANGE_DAYS = 30;
export const MAX_PAGE_SIZE = 1_000;

const dayOrInstant = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T.+)?$/, 'a date (2026-12-01) or an ISO date-time with offset');

/** The query every report takes: an event-time range in the workspace's zone, a grain, and a page. */
export const reportQuery = z.object({
  from: dayOrInstant.optional(),
  to: dayOrInstant.optional(),
  grain: z.enum(['hour', 'day', 'week']).default('day'),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(100),
  cursor: z.string().regex(/^\d+$/, 'the nextCursor of the previous page').optional(),
});

export type ReportQuery = z.infer<typeof reportQuery>;

/** A report's range as instants: `from` inclusive, `to` exclusive; a date-only `to` includes that whole day. */
export interface ResolvedRange {
  from: number;
  to: number;
  grain: BucketGrain;
}

/** Parses a report's query string; every invalid parameter is named in one 400. */
export function parseQuery<S extends z.ZodTypeAny>(schema: S, query: unknown): z.infer<S> {
  const parsed = schema.safeParse(query ?? {});
  if (!parsed.success)
    throw new BadRequestException({
      error: 'invalid_query',
      errors: fieldProblemsOf(parsed.error, 'report query parameters'),
    });
  return parsed.data as z.infer<S>;
}

/** Resolves `from`/`to` in the workspace's zone; by default the last 30 days up to the end of today. */
export function resolveRange(
  query: Pick<ReportQuery, 'from' | 'to' | 'grain'>,
  zone: string,
  now = Date.now(),
): ResolvedRange {
  const instant = (value: string, endOfDay: boolean, field: string): number => {
    const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
    const parsed = DateTime.fromISO(value, { zone });
    if (!parsed.isValid)
      throw new BadRequestException({
        error: 'invalid_query',
        errors: [{ field, reason: `not a valid date: ${parsed.invalidExplanation ?? value}` }],
      });
    return (dateOnly && endOfDay ? parsed.plus({ days: 1 }) : parsed).toMillis();
  };
  const today = DateTime.fromMillis(now, { zone }).startOf('day');
  const to = query.to ? instant(query.to, true, 'to') : today.plus({ days: 1 }).toMillis();
  const from = query.from
    ? instant(query.from, false, 'from')
    : DateTime.fromMillis(to, { zone }).minus({ days: DEFAULT_RANGE_DAYS }).toMillis();
  if (from >= to)
    throw new BadRequestException({
      error: 'invalid_query',
      errors: [{ field: 'from', reason: 'must be before to' }],
    });
  return { from, to, grain: query.grain };
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
  total: number;
}

/** A page of rows already ordered; the cursor is the position of the next row. */
export function pageOf<T>(rows: readonly T[], query: Pick<ReportQuery, 'limit' | 'cursor'>): Page<T> {
  const start = query.cursor ? Number(query.cursor) : 0;
  return pageAt(rows.slice(start, start + query.limit), start, rows.length);
}

/** As `pageOf`, over rows pulled one at a time: only the page is held, the rest is counted for `total`. */
export async function pageOfStream<T>(
  rows: AsyncIterable<T>,
  query: Pick<ReportQuery, 'limit' | 'cursor'>,
): Promise<Page<T>> {
  const start = query.cursor ? Number(query.cursor) : 0;
  const items: T[] = [];
  let total = 0;
  for await (const row of rows) {
    if (total >= start && items.length < query.limit) items.push(row);
    total++;
  }
  return pageAt(items, start, total);
}

function pageAt<T>(items: T[], start: number, total: number): Page<T> {
  const next = start + items.length;
  return { items, nextCursor: next < total ? String(next) : null, total };
}

/** Whether the caller asked for CSV (`?format=csv` or `Accept: text/csv`). */
export function wantsCsv(format: unknown, accept: string | undefined): boolean {
  return format === 'csv' || (format === undefined && /\btext\/csv\b/.test(accept ?? ''));
}

/**
 * Streams rows as CSV, one row in memory at a time: `rows` is pulled only as fast as the client reads (a million-row
 * export must not be held whole, as Mautic's are).
 */
export async function streamCsv(
  response: Response,
  filename: string,
  columns: readonly string[],
  rows: AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>,
): Promise<void> {
  response.status(200);
  response.setHeader('Content-Type', 'text/csv; charset=utf-8');
  response.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  await pipeline(Readable.from(rows), stringify({ header: true, columns: [...columns] }), response);
}

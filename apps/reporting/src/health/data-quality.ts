/**
 * What the data-quality report counts, pure: the problems of a rejected record as rows of field and reason, and the
 * rows' order. A field's array positions are dropped (`items[3].email` is `items[].email`) so that a batch's hundred
 * bad items make one row, not a hundred; long reasons are cut, for the same reason.
 */

/** Longest field or reason kept (a reason may quote a value). */
export const MAX_PART_LENGTH = 200;

export interface Problem {
  field: string;
  reason: string;
}

/** A field path without its array positions. */
export function fieldOf(path: string): string {
  return path
    .replace(/\[\d+\]/g, '[]')
    .replace(/(^|\.)\d+(?=\.|$)/g, '$1[]')
    .slice(0, MAX_PART_LENGTH);
}

/**
 * The distinct problems a rejected record counts under: its listed problems, or (none listed) the record's one-line
 * reason under an empty field. A record counts once per distinct field and reason.
 */
export function problemsOf(problems: readonly Problem[], reason: string): Problem[] {
  const listed = problems.length > 0 ? problems : [{ field: '', reason }];
  const distinct = new Map<string, Problem>();
  for (const problem of listed) {
    const row = { field: fieldOf(problem.field), reason: problem.reason.slice(0, MAX_PART_LENGTH) };
    distinct.set(JSON.stringify([row.field, row.reason]), row);
  }
  return [...distinct.values()];
}

export type QualityKind = 'rejected' | 'late';

/** One row of the data-quality report. */
export interface QualityRow {
  bucket: string;
  kind: QualityKind;
  /** `ingestion` (the edge) or `sync`. */
  source: string;
  /** The edge's HTTP route, or sync's `system/objectType`; empty for late events. */
  route: string;
  field: string;
  reason: string;
  /** Records with this problem in the bucket. */
  count: number;
}

/** Rows in bucket order, then kind, source, route, field and reason. */
export function compareQualityRows(a: QualityRow, b: QualityRow): number {
  return (
    Date.parse(a.bucket) - Date.parse(b.bucket) ||
    a.kind.localeCompare(b.kind) ||
    a.source.localeCompare(b.source) ||
    a.route.localeCompare(b.route) ||
    a.field.localeCompare(b.field) ||
    a.reason.localeCompare(b.reason)
  );
}

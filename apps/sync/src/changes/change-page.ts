import type { ChangeSource, ConnectorObject, VendorRecord } from '../connectors/connector';

/**
 * A position in a vendor's change order: every record modified before `modifiedAt`, and those modified at it with
 * an id up to `id` ('' = none of them), has been read.
 */
export interface ChangePosition {
  modifiedAt: number;
  id: string;
}

export interface ChangePage {
  records: VendorRecord[];
  /** Where the next page starts; after publishing `records`, also what may be saved as the cursor. */
  next: ChangePosition;
  /** Nothing more modified up to `until`. */
  done: boolean;
}

/**
 * The next page of changes after `from`, modified at or before `until`. Two questions, neither paging: records of
 * `from`'s instant with a greater id (id order), else the first records after it (time order), of which those before
 * the page's last instant are whole and go now, and that instant is read by id next. So any number of records sharing
 * one modification time is read once each (HubSpot's search pages through 10,000 results at most: a cursor that pages
 * one search loops or stops there), and every call moves forward: the instant, or the id within it.
 */
export async function nextChangePage(
  source: ChangeSource,
  object: ConnectorObject,
  from: ChangePosition,
  until: number,
  limit: number,
): Promise<ChangePage> {
  const sameInstant = await source.modifiedAt(object, from.modifiedAt, from.id, limit);
  const last = sameInstant.at(-1);
  if (last) return { records: sameInstant, next: { modifiedAt: from.modifiedAt, id: last.id }, done: false };
  const later = await source.modifiedBetween(object, from.modifiedAt, until, limit);
  if (later.length === 0) return { records: [], next: from, done: true };
  const lastInstant = Math.max(...later.map((r) => r.modifiedAt));
  return {
    records: later.filter((r) => r.modifiedAt < lastInstant),
    next: { modifiedAt: lastInstant, id: '' },
    done: false,
  };
}

/** Negative, zero or positive as `a` comes before, at or after `b` in change order. */
export function comparePositions(a: ChangePosition, b: ChangePosition): number {
  return a.modifiedAt !== b.modifiedAt ? a.modifiedAt - b.modifiedAt : compareIds(a.id, b.id);
}

/** The later of two positions. */
export function laterPosition(a: ChangePosition, b: ChangePosition): ChangePosition {
  return comparePositions(a, b) >= 0 ? a : b;
}

/** Vendor ids in their order: numeric ids by value (HubSpot's), others as strings; '' before all. */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return -1;
  if (b === '') return 1;
  const numeric = /^\d+$/;
  if (numeric.test(a) && numeric.test(b)) return a.length - b.length || (a < b ? -1 : 1);
  return a < b ? -1 : 1;
}

import { DateTime } from 'luxon';
import type { Connection } from 'mongoose';
import type { RecordPosition } from '@tributary/messaging';
import { bucketStart, type BucketGrain } from '../attribution/time-buckets';
import { tallyId, type TallyBatch, type TallyChange } from './tallies';

/** Every read model's counts per workspace, model, bucket and dimensions: one collection, one index. */
export const TALLIES_COLLECTION = 'report_tallies';

/** The grains stored; weeks are summed from days at query time (an ISO week is 7 local days). */
export const STORED_GRAINS = ['hour', 'day'] as const;
export type StoredGrain = (typeof STORED_GRAINS)[number];

/** Dimension values a count is cut by, e.g. `{ journeyId: 'welcome', channel: 'email' }`. */
export type Dims = Record<string, string>;

export interface TallyDoc {
  _id: string;
  workspaceId: string;
  model: string;
  grain: StoredGrain;
  /** The bucket's start as local ISO time with offset, e.g. `2026-03-29T00:00:00+01:00`. */
  bucket: string;
  bucketAt: Date;
  dims: Dims;
  n: Record<string, number>;
  updatedAt: Date;
}

/** One event counted in its hour and its day of the workspace's zone. */
export interface BucketedCount {
  workspaceId: string;
  model: string;
  /** Event time (epoch ms). */
  at: number;
  zone: string;
  dims: Dims;
  /** Counts to add, by name (stored under `n.`). */
  inc: Record<string, number>;
  /** Newest values (stored under `n.`), e.g. the newest event time seen. */
  max?: Record<string, number>;
}

/** A 15-minute slot of UTC lies within one local hour in every zone (all offsets are multiples of 15 minutes). */
const SLOT_MS = 15 * 60 * 1000;
const bucketCache = new Map<string, { bucket: string; bucketAt: Date }>();
const BUCKET_CACHE_MAX = 50_000;

/** The bucket of `at` at `grain` in `zone`, computed once per zone, grain and 15-minute slot. */
export function bucketOf(at: number, grain: StoredGrain, zone: string): { bucket: string; bucketAt: Date } {
  const key = `${zone}|${grain}|${Math.floor(at / SLOT_MS)}`;
  let hit = bucketCache.get(key);
  if (!hit) {
    const bucket = bucketStart(at, grain, zone);
    hit = { bucket, bucketAt: new Date(DateTime.fromISO(bucket, { setZone: true }).toMillis()) };
    if (bucketCache.size >= BUCKET_CACHE_MAX) bucketCache.clear();
    bucketCache.set(key, hit);
  }
  return hit;
}

function prefixed(values: Record<string, number> | undefined): Record<string, number> | undefined {
  if (!values) return undefined;
  // A loop rather than Object.fromEntries: this runs for every consumed record.
  const named: Record<string, number> = {};
  for (const name in values) named[`n.${name}`] = values[name] ?? 0;
  return named;
}

/** Adds one event to its hour and day tallies. */
export function countInBuckets(batch: TallyBatch, position: RecordPosition, count: BucketedCount): void {
  const dimParts = Object.keys(count.dims)
    .sort()
    .map((name) => `${name}=${count.dims[name] ?? ''}`);
  const change: TallyChange = { inc: prefixed(count.inc) };
  const max = prefixed(count.max);
  if (max) change.max = max;
  for (const grain of STORED_GRAINS) {
    const { bucket, bucketAt } = bucketOf(count.at, grain, count.zone);
    batch.add(
      TALLIES_COLLECTION,
      tallyId([count.workspaceId, count.model, grain, bucket, ...dimParts]),
      { workspaceId: count.workspaceId, model: count.model, grain, bucket, bucketAt, dims: count.dims },
      position,
      change,
    );
  }
}

export interface TallyQuery {
  workspaceId: string;
  model: string;
  grain: BucketGrain;
  /** Event-time range, from inclusive to exclusive (epoch ms): buckets starting in it. */
  from: number;
  to: number;
  zone: string;
  /** Only counts whose dimensions equal these. */
  where?: Dims;
  /** The dimensions rows are cut by; the others are summed over. */
  by?: readonly string[];
}

export interface TallyRow {
  bucket: string;
  dims: Dims;
  n: Record<string, number>;
}

/**
 * Counts per bucket (and the `by` dimensions) over a range, summed from the stored hour or day tallies; weeks are
 * their days summed. Newest-value fields (names starting `newest`) are kept at their maximum rather than summed.
 */
export async function queryTallies(connection: Connection, query: TallyQuery): Promise<TallyRow[]> {
  const stored: StoredGrain = query.grain === 'hour' ? 'hour' : 'day';
  const filter: Record<string, unknown> = {
    workspaceId: query.workspaceId,
    model: query.model,
    grain: stored,
    bucketAt: { $gte: new Date(query.from), $lt: new Date(query.to) },
  };
  for (const [name, value] of Object.entries(query.where ?? {})) filter[`dims.${name}`] = value;
  const docs = (await connection
    .collection(TALLIES_COLLECTION)
    .find(filter, { projection: { bucket: 1, bucketAt: 1, dims: 1, n: 1 } })
    .toArray()) as unknown as Pick<TallyDoc, 'bucket' | 'bucketAt' | 'dims' | 'n'>[];
  const rows = new Map<string, TallyRow>();
  for (const doc of docs) {
    const bucket =
      query.grain === 'week' ? bucketStart(doc.bucketAt.getTime(), 'week', query.zone) : doc.bucket;
    const dims: Dims = {};
    for (const name of query.by ?? []) dims[name] = doc.dims[name] ?? '';
    const key = JSON.stringify([bucket, dims]);
    let row = rows.get(key);
    if (!row) {
      row = { bucket, dims, n: {} };
      rows.set(key, row);
    }
    for (const [name, value] of Object.entries(doc.n ?? {}))
      row.n[name] = name.startsWith('newest')
        ? Math.max(row.n[name] ?? value, value)
        : (row.n[name] ?? 0) + value;
  }
  return [...rows.values()].sort(
    (a, b) =>
      DateTime.fromISO(a.bucket).toMillis() - DateTime.fromISO(b.bucket).toMillis() ||
      JSON.stringify(a.dims).localeCompare(JSON.stringify(b.dims)),
  );
}

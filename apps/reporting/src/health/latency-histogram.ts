/**
 * End-to-end latency as a histogram of fixed, log-spaced buckets: bucket k holds latencies in (2^((k-1)/2),
 * 2^(k/2)] ms, so every bucket is √2 times as wide as the one before and a percentile read from it is at most 41% above
 * the true value. Counts per bucket add up across batches, hours and replicas in any order, unlike raw samples.
 */

/** Bucket 0 holds everything up to 1 ms (and a negative latency from clock skew); the last, everything past 2^40 ms. */
export const LATENCY_BUCKETS = 81;

/** The latency counts of a tally are stored under `lat<k>`. */
const FIELD_PREFIX = 'lat';

/** The upper bound of bucket `k` in ms (exact for even k, irrational for odd k). */
export function latencyBucketBound(k: number): number {
  return 2 ** (k / 2);
}

/** The bucket a latency (ms) falls in. */
export function latencyBucket(latencyMs: number): number {
  if (!(latencyMs > 1)) return 0;
  let k = Math.ceil(2 * Math.log2(latencyMs));
  // log2 may round a value just above a bound onto it, or one on a bound just above it: the bounds decide.
  if (k > 0 && latencyBucketBound(k - 1) >= latencyMs) k -= 1;
  else if (latencyBucketBound(k) < latencyMs) k += 1;
  return Math.min(k, LATENCY_BUCKETS - 1);
}

/** The tally field counting latencies of bucket `k`. */
export function latencyField(k: number): string {
  return `${FIELD_PREFIX}${k}`;
}

/** Adds the latency buckets among a tally's counts into `into` (index k = count of bucket k). */
export function addLatencies(into: number[], counts: Readonly<Record<string, number>>): number[] {
  for (const [name, count] of Object.entries(counts)) {
    if (!name.startsWith(FIELD_PREFIX)) continue;
    const k = Number(name.slice(FIELD_PREFIX.length));
    if (Number.isInteger(k) && k >= 0 && k < LATENCY_BUCKETS) into[k] = (into[k] ?? 0) + count;
  }
  return into;
}

/**
 * The `q` quantile (0 < q ≤ 1) of a histogram by nearest rank, as the upper bound of the bucket holding it, rounded up
 * to whole ms: "q of the events took at most this long". Null for an empty histogram.
 */
export function latencyPercentile(counts: readonly (number | undefined)[], q: number): number | null {
  if (!(q > 0 && q <= 1)) throw new RangeError(`a quantile is in (0, 1], got ${q}`);
  let total = 0;
  for (const count of counts) total += count ?? 0;
  if (total === 0) return null;
  // 0.95 * 100 is 95.00000000000001 in floating point: the rank is 95.
  const rank = Math.max(1, Math.ceil(q * total - 1e-9));
  let seen = 0;
  for (let k = 0; k < counts.length; k++) {
    seen += counts[k] ?? 0;
    if (seen >= rank) return Math.ceil(latencyBucketBound(k));
  }
  return Math.ceil(latencyBucketBound(counts.length - 1));
}

export interface LatencyPercentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** p50, p95 and p99 of a histogram. */
export function latencyPercentiles(counts: readonly (number | undefined)[]): LatencyPercentiles {
  return {
    p50: latencyPercentile(counts, 0.5),
    p95: latencyPercentile(counts, 0.95),
    p99: latencyPercentile(counts, 0.99),
  };
}

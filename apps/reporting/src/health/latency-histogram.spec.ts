import {
  LATENCY_BUCKETS,
  addLatencies,
  latencyBucket,
  latencyBucketBound,
  latencyField,
  latencyPercentile,
  latencyPercentiles,
} from './latency-histogram';

describe('latency buckets', () => {
  it('puts a latency in the bucket whose upper bound is the first at or above it (bounds 2^(k/2) ms)', () => {
    expect(latencyBucket(2)).toBe(2); // bound 2
    expect(latencyBucket(1.4)).toBe(1); // bound √2 ≈ 1.414
    expect(latencyBucket(1.5)).toBe(2);
    expect(latencyBucket(5)).toBe(5); // (4, 5.657]
    expect(latencyBucket(6)).toBe(6); // (5.657, 8]
    expect(latencyBucket(1000)).toBe(20); // (724.1, 1024]
    expect(latencyBucket(600_000)).toBe(39); // (524288, 741455.2]
  });

  it('keeps a latency exactly on a bound in the lower bucket, and one just above in the next', () => {
    expect(latencyBucket(1024)).toBe(20);
    expect(latencyBucket(1025)).toBe(21);
    expect(latencyBucket(2 ** 23)).toBe(46);
    expect(latencyBucket(2 ** 23 + 1)).toBe(47);
  });

  it('counts up to 1 ms, negative latencies (clock skew) and non-numbers in bucket 0', () => {
    expect(latencyBucket(1)).toBe(0);
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(-250)).toBe(0);
    expect(latencyBucket(Number.NaN)).toBe(0);
  });

  it('counts anything past the last bound in the last bucket', () => {
    expect(latencyBucket(2 ** 40)).toBe(LATENCY_BUCKETS - 1);
    expect(latencyBucket(1e15)).toBe(LATENCY_BUCKETS - 1);
  });

  it('has bounds growing by √2', () => {
    expect(latencyBucketBound(0)).toBe(1);
    expect(latencyBucketBound(20)).toBe(1024);
    expect(latencyBucketBound(21) / latencyBucketBound(20)).toBeCloseTo(Math.SQRT2, 12);
  });
});

describe('percentiles from a histogram', () => {
  // 20 events: 17 took ≤ 1024 ms, 2 took ≤ 2^23 ms, 1 took ≤ 2^28 ms.
  const counts: number[] = [];
  counts[20] = 17;
  counts[46] = 2;
  counts[56] = 1;

  it('reads each percentile by nearest rank as its bucket upper bound', () => {
    // p50: rank 10 (of 20) is among the first 17; p95: rank 19 is the 18th or 19th; p99: rank 20 is the last.
    expect(latencyPercentiles(counts)).toEqual({ p50: 1024, p95: 8_388_608, p99: 268_435_456 });
  });

  it('rounds an odd bucket bound up to whole ms', () => {
    const odd: number[] = [];
    odd[39] = 3;
    expect(latencyPercentile(odd, 0.5)).toBe(741_456); // 2^19.5 = 741455.2…
  });

  it('takes rank 95 of 100 as rank 95, whatever 0.95 × 100 is in floating point', () => {
    const hundred: number[] = [];
    hundred[10] = 95;
    hundred[12] = 5;
    expect(latencyPercentile(hundred, 0.95)).toBe(32);
    expect(latencyPercentile(hundred, 0.96)).toBe(64);
  });

  it('has no percentile without events, and refuses a quantile outside (0, 1]', () => {
    expect(latencyPercentiles([])).toEqual({ p50: null, p95: null, p99: null });
    expect(() => latencyPercentile(counts, 0)).toThrow(RangeError);
    expect(() => latencyPercentile(counts, 1.5)).toThrow(RangeError);
  });

  it('merges stored tallies by adding bucket counts, in any order, ignoring other counts', () => {
    const hourA = { events: 10, [latencyField(20)]: 9, [latencyField(46)]: 1 };
    const hourB = { events: 10, [latencyField(20)]: 8, [latencyField(46)]: 1, [latencyField(56)]: 1 };
    const foreign = { latecomers: 4, [`${latencyField(0)}x`]: 1, [latencyField(LATENCY_BUCKETS)]: 2 };
    const ab = addLatencies(addLatencies(addLatencies([], hourA), hourB), foreign);
    const ba = addLatencies(addLatencies([], hourB), hourA);
    expect(ab).toEqual(ba);
    expect(latencyPercentiles(ab)).toEqual(latencyPercentiles(counts));
  });
});

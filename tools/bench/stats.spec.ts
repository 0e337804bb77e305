import { latencySummary, percentile, resultLine } from './stats';

describe('percentile', () => {
  it('uses nearest rank', () => {
    const sample = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sample, 50)).toBe(50);
    expect(percentile(sample, 99)).toBe(99);
    expect(percentile(sample, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('latencySummary', () => {
  it('gives p50, p95, p99 and max by nearest rank, to 0.1', () => {
    const sample = Array.from({ length: 200 }, (_, i) => (i + 1) * 1.04);
    expect(latencySummary(sample)).toEqual({ p50: 104, p95: 197.6, p99: 205.9, max: 208 });
  });

  it('has a max of 0 and no percentiles for an empty sample', () => {
    expect(latencySummary([])).toEqual({ p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, max: 0 });
  });
});

describe('resultLine', () => {
  it('prints the bench and its values in order, an absent value as na and no spaces inside a value', () => {
    expect(
      resultLine('leads', { p99: 189.7, events_per_s: 14378, store: 'FerretDB v1', peer: undefined }),
    ).toBe('RESULT leads p99=189.7 events_per_s=14378 store=FerretDB-v1 peer=na');
  });
});

/** Percentile of a sample (nearest-rank), in the sample's unit. */
export function percentile(sample: readonly number[], p: number): number {
  if (sample.length === 0) return Number.NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** The latency line the benches print: p50, p95, p99 and max, to 0.1 (max 0 for no sample). */
export function latencySummary(sample: readonly number[]): Record<'p50' | 'p95' | 'p99' | 'max', number> {
  return {
    p50: Number(percentile(sample, 50).toFixed(1)),
    p95: Number(percentile(sample, 95).toFixed(1)),
    p99: Number(percentile(sample, 99).toFixed(1)),
    max: Number(Math.max(0, ...sample).toFixed(1)),
  };
}

/** A value on a RESULT line: numbers as printed, anything else with spaces made dashes so the line stays parseable. */
type ResultValue = number | string | boolean | undefined;

/**
 * The one line every bench ends with, `RESULT <bench> key=value ...`, so runs can be compared by a script: keys in
 * the order given, an absent value as `na`.
 */
export function resultLine(bench: string, values: Record<string, ResultValue>): string {
  const fields = Object.entries(values).map(
    ([key, value]) => `${key}=${value === undefined ? 'na' : String(value).replace(/\s+/g, '-')}`,
  );
  return ['RESULT', bench, ...fields].join(' ');
}

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

/** One rate an open-loop rate search ran, and whether it met the target (e.g. p99 within bound and none lost). */
export interface RateProbe {
  rate: number;
  ok: boolean;
}

/**
 * The next rate (calls/s, whole) a search for the highest passing rate should probe, or undefined when it is done.
 * Doubles while nothing has failed, halves while nothing has passed, then bisects between the highest pass and the
 * lowest fail above it until they are within `resolution` × the pass (at least 1/s). A fail below a pass is taken
 * as noise and ignored, so one unlucky probe cannot send the search below a rate that already passed.
 */
export function nextProbeRate(
  probes: readonly RateProbe[],
  bounds: { minRate: number; maxRate: number; resolution: number },
): number | undefined {
  if (probes.length === 0) return undefined;
  const passes = probes.filter((p) => p.ok).map((p) => p.rate);
  const lo = passes.length > 0 ? Math.max(...passes) : undefined;
  const failsAbove = probes.filter((p) => !p.ok && (lo === undefined || p.rate > lo)).map((p) => p.rate);
  const hi = failsAbove.length > 0 ? Math.min(...failsAbove) : undefined;
  let next: number;
  if (lo === undefined) {
    next = Math.floor((hi ?? 0) / 2);
    if (next < bounds.minRate) return undefined;
  } else if (hi === undefined) {
    if (lo >= bounds.maxRate) return undefined;
    next = Math.min(bounds.maxRate, lo * 2);
  } else {
    if (hi - lo <= Math.max(1, bounds.resolution * lo)) return undefined;
    next = Math.round((lo + hi) / 2);
  }
  return probes.some((p) => p.rate === next) ? undefined : next;
}

/** The highest rate that met the target, 0 when none did. */
export function highestPassingRate(probes: readonly RateProbe[]): number {
  return Math.max(0, ...probes.filter((p) => p.ok).map((p) => p.rate));
}

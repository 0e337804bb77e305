import { spanCapacity, spanStart, spansPerSecond } from './provider-budget';

/** Every place of `seconds` seconds from 0: each span's places spread evenly over it, as `take` times them. */
function places(perSecond: number, seconds: number): number[] {
  const spans = spansPerSecond(perSecond);
  const times: number[] = [];
  for (let span = 0; span < spans * seconds; span++) {
    const capacity = spanCapacity(span, perSecond);
    const start = spanStart(span, perSecond);
    const length = spanStart(span + 1, perSecond) - start;
    for (let ordinal = 0; ordinal < capacity; ordinal++)
      times.push(start + Math.floor((length * ordinal) / capacity));
  }
  return times;
}

describe('send budget spans', () => {
  it.each([1, 2, 9, 18, 19, 20, 21, 90, 500, 999])(
    'a second of %i sends holds exactly that many places',
    (perSecond) => {
      const spans = spansPerSecond(perSecond);
      const shares = Array.from({ length: spans }, (_, g) => spanCapacity(7 * spans + g, perSecond));
      expect(shares.reduce((a, b) => a + b, 0)).toBe(perSecond);
      expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
      expect(spanStart(7 * spans, perSecond)).toBe(7_000);
    },
  );

  it.each([9, 18, 90, 500])(
    'no window of a second, wherever it starts, holds more than %i plus 5%% of places',
    (perSecond) => {
      const times = places(perSecond, 3);
      let most = 0;
      for (let from = 0; from < 2_000; from++)
        most = Math.max(most, times.filter((t) => t >= from && t < from + 1_000).length);
      expect(most).toBeLessThanOrEqual(perSecond + Math.max(1, Math.ceil(perSecond / 20)));
      // The provider's limit in the deployment rule: the budget is 90% of it.
      expect(most).toBeLessThan(perSecond / 0.9);
    },
  );
});

import fc from 'fast-check';
import {
  ATTRIBUTION_MODELS,
  DIRECT_CHANNEL,
  attribute,
  compareModels,
  creditByChannel,
  type AttributionOptions,
  type Conversion,
  type Touchpoint,
} from './attribution';

const DAY = 24 * 60 * 60 * 1000;
const CONVERTED_AT = Date.UTC(2026, 5, 1, 12);
const CHANNELS = ['google/cpc', 'newsletter/email', 'linkedin/social', 'journey:onboarding'] as const;

const signup: Conversion = { at: CONVERTED_AT, kind: 'sql' };

function touch(daysBefore: number, channel: string, kind: Touchpoint['kind'] = 'visit'): Touchpoint {
  return { at: CONVERTED_AT - daysBefore * DAY, channel, kind };
}

/** Credits by channel without the revenue, for comparing shapes at a glance. */
function shares(byChannel: Map<string, { credit: number }>): Record<string, number> {
  return Object.fromEntries([...byChannel].map(([channel, { credit }]) => [channel, credit]));
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

/**
 * Touches from 40 days before the conversion to 2 days after, so some fall outside the 30-day window; whole days
 * and few channels on purpose, so equal times and equal channels (the tie-breaking cases) are common.
 */
const touchArb: fc.Arbitrary<Touchpoint> = fc.record({
  at: fc.oneof(
    fc.integer({ min: -40, max: 2 }).map((days) => CONVERTED_AT + days * DAY),
    fc.integer({ min: CONVERTED_AT - 40 * DAY, max: CONVERTED_AT + 2 * DAY }),
  ),
  channel: fc.constantFrom(...CHANNELS),
  kind: fc.constantFrom('visit' as const, 'message_click' as const),
  campaign: fc.option(fc.constantFrom('spring-sale', 'webinar'), { nil: undefined }),
});
const touchesArb = fc.array(touchArb, { minLength: 1, maxLength: 12 });

/** Three whole percentages that add up to 100: two cut points on 0..100. */
const sharesArb = fc
  .tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }))
  .map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const)
  .map(([low, high]) => ({ first: low, middle: high - low, last: 100 - high }));

const optionsArb: fc.Arbitrary<AttributionOptions> = fc.record(
  {
    lookbackDays: fc.integer({ min: 0, max: 45 }),
    halfLifeDays: fc.double({ min: 0.01, max: 30, noNaN: true }),
    positionShares: sharesArb,
  },
  { requiredKeys: [] },
);
const modelArb = fc.constantFrom(...ATTRIBUTION_MODELS);

describe('attribution properties, every model', () => {
  it('hands out exactly one conversion: touch credits plus (direct) sum to 1', () => {
    fc.assert(
      fc.property(touchesArb, modelArb, optionsArb, (touches, model, options) => {
        const { credits, direct } = attribute(touches, signup, model, options);
        expect(Math.abs(sum(credits) + direct - 1)).toBeLessThanOrEqual(1e-9);
        const byChannel = creditByChannel(touches, signup, model, options);
        expect(Math.abs(sum([...byChannel.values()].map((c) => c.credit)) - 1)).toBeLessThanOrEqual(1e-9);
      }),
    );
  });

  it('never gives a negative credit', () => {
    fc.assert(
      fc.property(touchesArb, modelArb, optionsArb, (touches, model, options) => {
        const { credits, direct } = attribute(touches, signup, model, options);
        expect(credits.every((credit) => credit >= 0)).toBe(true);
        expect(direct).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('gives the same credit by channel whatever order the touches come in', () => {
    const touchesAndShuffle = touchesArb.chain((touches) =>
      fc.tuple(
        fc.constant(touches),
        fc.shuffledSubarray(touches, { minLength: touches.length, maxLength: touches.length }),
      ),
    );
    const purchase: Conversion = { at: CONVERTED_AT, kind: 'purchase', revenue: 99.99 };
    fc.assert(
      fc.property(touchesAndShuffle, modelArb, optionsArb, ([touches, shuffled], model, options) => {
        expect(creditByChannel(shuffled, purchase, model, options)).toEqual(
          creditByChannel(touches, purchase, model, options),
        );
      }),
    );
  });

  it('gives no credit to touches outside the look-back window', () => {
    fc.assert(
      fc.property(touchesArb, modelArb, optionsArb, (touches, model, options) => {
        const lookback = (options.lookbackDays ?? 30) * DAY;
        const { credits } = attribute(touches, signup, model, options);
        const outside = credits.filter((_, i) => {
          const at = (touches[i] as Touchpoint).at;
          return at < signup.at - lookback || at > signup.at;
        });
        expect(outside.every((credit) => credit === 0)).toBe(true);
      }),
    );
  });
});

describe('position based at the extremes', () => {
  it('at 0/0/100 gives the same credits as last touch', () => {
    fc.assert(
      fc.property(touchesArb, (touches) => {
        const lastOnly = { positionShares: { first: 0, middle: 0, last: 100 } };
        expect(attribute(touches, signup, 'position_based', lastOnly)).toEqual(
          attribute(touches, signup, 'last_touch'),
        );
      }),
    );
  });

  it('at 100/0/0 gives the same credits as first touch', () => {
    fc.assert(
      fc.property(touchesArb, (touches) => {
        const firstOnly = { positionShares: { first: 100, middle: 0, last: 0 } };
        expect(attribute(touches, signup, 'position_based', firstOnly)).toEqual(
          attribute(touches, signup, 'first_touch'),
        );
      }),
    );
  });
});

describe('single-touch models', () => {
  const path = [touch(1, 'google/cpc'), touch(20, 'newsletter/email'), touch(5, 'linkedin/social')];

  it('first touch credits the earliest touch in the window, whatever its position in the input', () => {
    expect(attribute(path, signup, 'first_touch').credits).toEqual([0, 1, 0]);
  });

  it('last touch credits the touch closest to the conversion', () => {
    expect(attribute(path, signup, 'last_touch').credits).toEqual([1, 0, 0]);
  });

  it('breaks a tie in time by channel name, so the store’s order does not pick the winner', () => {
    const sameMoment = [touch(3, 'newsletter/email'), touch(3, 'google/cpc')];
    expect(shares(creditByChannel(sameMoment, signup, 'first_touch'))).toEqual({
      'google/cpc': 1,
      'newsletter/email': 0,
    });
    expect(shares(creditByChannel([...sameMoment].reverse(), signup, 'first_touch'))).toEqual({
      'google/cpc': 1,
      'newsletter/email': 0,
    });
  });

  it('breaks a tie in time and channel by kind (message_click before visit)', () => {
    const click = touch(3, 'journey:onboarding', 'message_click');
    const visit = touch(3, 'journey:onboarding', 'visit');
    expect(attribute([visit, click], signup, 'first_touch').credits).toEqual([0, 1]);
    expect(attribute([click, visit], signup, 'first_touch').credits).toEqual([1, 0]);
  });
});

describe('linear', () => {
  it('gives each of 4 touches 0.25', () => {
    const path = [
      touch(10, 'google/cpc'),
      touch(7, 'newsletter/email'),
      touch(3, 'google/cpc'),
      touch(0, 'journey:onboarding'),
    ];
    expect(attribute(path, signup, 'linear').credits).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(shares(creditByChannel(path, signup, 'linear'))).toEqual({
      'google/cpc': 0.5,
      'journey:onboarding': 0.25,
      'newsletter/email': 0.25,
    });
  });
});

describe('time decay', () => {
  it('halves a touch’s weight per half-life of age at the conversion (7 days: 1/7, 2/7, 4/7)', () => {
    // Ages at the conversion 14, 7 and 0 days with a 7-day half-life: weights 2^-2 = 0.25, 2^-1 = 0.5, 2^0 = 1.
    // Total 1.75, so the credits are 0.25/1.75 = 1/7, 0.5/1.75 = 2/7 and 1/1.75 = 4/7.
    const path = [touch(14, 'google/cpc'), touch(7, 'newsletter/email'), touch(0, 'linkedin/social')];
    const { credits } = attribute(path, signup, 'time_decay', { halfLifeDays: 7 });
    expect(credits[0]).toBeCloseTo(1 / 7, 12);
    expect(credits[1]).toBeCloseTo(2 / 7, 12);
    expect(credits[2]).toBeCloseTo(4 / 7, 12);
  });

  it('uses a 7-day half-life by default', () => {
    const path = [touch(14, 'google/cpc'), touch(7, 'newsletter/email'), touch(0, 'linkedin/social')];
    expect(attribute(path, signup, 'time_decay').credits).toEqual(
      attribute(path, signup, 'time_decay', { halfLifeDays: 7 }).credits,
    );
  });

  it('with a shorter half-life leans further toward the latest touch', () => {
    // 1-day half-life, ages 2 and 0 days: weights 0.25 and 1, credits 0.2 and 0.8.
    const path = [touch(2, 'google/cpc'), touch(0, 'newsletter/email')];
    const { credits } = attribute(path, signup, 'time_decay', { halfLifeDays: 1 });
    expect(credits[0]).toBeCloseTo(0.2, 12);
    expect(credits[1]).toBeCloseTo(0.8, 12);
  });

  it('still sums to 1 when every touch is many half-lives old (no underflow to 0/0)', () => {
    // Half-life 0.0001 days (8.64 s): ages of 30 and 29 days are 300,000 and 290,000 half-lives, weights 2^-300000
    // and 2^-290000, both 0 as doubles (0/0 credits). Relative to the newest touch they are 2^-10000 (= 0) and 1.
    const path = [touch(30, 'google/cpc'), touch(29, 'newsletter/email')];
    const { credits } = attribute(path, signup, 'time_decay', { halfLifeDays: 0.0001 });
    expect(credits).toEqual([0, 1]);
  });
});

describe('position based', () => {
  it('gives a single touch all the credit', () => {
    expect(attribute([touch(4, 'google/cpc')], signup, 'position_based').credits).toEqual([1]);
  });

  it('splits two touches 50/50 at the default 40/20/40, as Google Analytics does', () => {
    const path = [touch(4, 'google/cpc'), touch(1, 'newsletter/email')];
    expect(attribute(path, signup, 'position_based').credits).toEqual([0.5, 0.5]);
  });

  it('splits two touches in proportion to the first and last shares when they differ', () => {
    // 30/40/30 would be 50/50; 60/20/20 gives first 60/80 = 0.75 and last 20/80 = 0.25.
    const path = [touch(4, 'google/cpc'), touch(1, 'newsletter/email')];
    const options = { positionShares: { first: 60, middle: 20, last: 20 } };
    expect(attribute(path, signup, 'position_based', options).credits).toEqual([0.75, 0.25]);
  });

  it('gives 40% to the first and last touch and splits 20% evenly between the others', () => {
    const path = [
      touch(20, 'google/cpc'),
      touch(15, 'newsletter/email'),
      touch(10, 'linkedin/social'),
      touch(5, 'newsletter/email'),
      touch(1, 'journey:onboarding'),
    ];
    const { credits } = attribute(path, signup, 'position_based');
    expect(credits[0]).toBeCloseTo(0.4, 12);
    for (const middle of credits.slice(1, 4)) expect(middle).toBeCloseTo(0.2 / 3, 12);
    expect(credits[4]).toBeCloseTo(0.4, 12);
  });

  it('refuses shares that do not sum to 100 or are negative', () => {
    const path = [touch(1, 'google/cpc')];
    expect(() =>
      attribute(path, signup, 'position_based', { positionShares: { first: 40, middle: 20, last: 30 } }),
    ).toThrow(/sum to 100.*40\/20\/30/);
    expect(() =>
      attribute(path, signup, 'position_based', { positionShares: { first: 120, middle: -20, last: 0 } }),
    ).toThrow(/≥ 0/);
  });
});

describe('look-back window', () => {
  it('leaves out a touch older than the window and credits the rest', () => {
    const path = [touch(31, 'google/cpc'), touch(10, 'newsletter/email')];
    expect(shares(creditByChannel(path, signup, 'first_touch'))).toEqual({ 'newsletter/email': 1 });
  });

  it('counts a touch exactly at the window’s edge and one at the moment of the conversion', () => {
    const path = [touch(30, 'google/cpc'), touch(0, 'newsletter/email')];
    expect(attribute(path, signup, 'linear').credits).toEqual([0.5, 0.5]);
  });

  it('leaves out a touch after the conversion', () => {
    const path = [touch(-1, 'google/cpc'), touch(2, 'newsletter/email')];
    expect(attribute(path, signup, 'last_touch').credits).toEqual([0, 1]);
  });

  it('follows a configured window', () => {
    const path = [touch(10, 'google/cpc'), touch(5, 'newsletter/email')];
    expect(shares(creditByChannel(path, signup, 'linear', { lookbackDays: 7 }))).toEqual({
      'newsletter/email': 1,
    });
  });

  it('credits (direct) with the whole conversion when no touch is in the window', () => {
    const path = [touch(45, 'google/cpc'), touch(31, 'newsletter/email')];
    for (const model of ATTRIBUTION_MODELS) {
      expect(attribute(path, signup, model)).toEqual({ credits: [0, 0], direct: 1 });
      expect(shares(creditByChannel(path, signup, model))).toEqual({ [DIRECT_CHANNEL]: 1 });
    }
  });

  it('credits (direct) when there are no touches at all', () => {
    expect(shares(creditByChannel([], signup, 'linear'))).toEqual({ [DIRECT_CHANNEL]: 1 });
  });
});

describe('revenue', () => {
  it('splits the conversion’s revenue by credit', () => {
    const purchase: Conversion = { at: CONVERTED_AT, kind: 'purchase', revenue: 300 };
    const path = [touch(9, 'google/cpc'), touch(6, 'newsletter/email'), touch(3, 'google/cpc')];
    const byChannel = creditByChannel(path, purchase, 'linear');
    expect(byChannel.get('google/cpc')?.revenue).toBeCloseTo(200, 9);
    expect(byChannel.get('newsletter/email')?.revenue).toBeCloseTo(100, 9);
  });

  it('gives (direct) the revenue of a conversion with no touch in the window', () => {
    const purchase: Conversion = { at: CONVERTED_AT, kind: 'purchase', revenue: 80 };
    expect(creditByChannel([], purchase, 'time_decay').get(DIRECT_CHANNEL)).toEqual({
      credit: 1,
      revenue: 80,
    });
  });

  it('reports no revenue for a conversion without one', () => {
    const byChannel = creditByChannel([touch(1, 'google/cpc')], signup, 'linear');
    expect(byChannel.get('google/cpc')).toEqual({ credit: 1 });
  });
});

describe('comparing models', () => {
  it('shows every model’s credit per channel side by side, 0 where a model gives nothing', () => {
    const path = [touch(14, 'google/cpc'), touch(7, 'newsletter/email'), touch(0, 'linkedin/social')];
    const rows = compareModels([{ touches: path, conversion: signup }]);
    expect(rows.map((row) => row.channel)).toEqual(['google/cpc', 'linkedin/social', 'newsletter/email']);
    const google = rows[0]?.credit;
    expect(google?.first_touch).toBe(1);
    expect(google?.last_touch).toBe(0);
    expect(google?.linear).toBeCloseTo(1 / 3, 12);
    expect(google?.time_decay).toBeCloseTo(1 / 7, 12);
    expect(google?.position_based).toBeCloseTo(0.4, 12);
  });

  it('adds conversions up: each model credits as many conversions, and revenue, as there were', () => {
    const paths = [
      {
        touches: [touch(5, 'google/cpc'), touch(1, 'newsletter/email')],
        conversion: { ...signup, revenue: 120 },
      },
      { touches: [touch(50, 'google/cpc')], conversion: { ...signup, revenue: 30 } },
      { touches: [touch(2, 'newsletter/email')], conversion: signup },
    ];
    const rows = compareModels(paths);
    expect(rows.map((row) => row.channel)).toEqual([DIRECT_CHANNEL, 'google/cpc', 'newsletter/email']);
    for (const model of ATTRIBUTION_MODELS) {
      expect(sum(rows.map((row) => row.credit[model]))).toBeCloseTo(3, 9);
      expect(sum(rows.map((row) => row.revenue[model]))).toBeCloseTo(150, 9);
    }
    expect(rows[0]).toEqual({
      channel: DIRECT_CHANNEL,
      credit: { first_touch: 1, last_touch: 1, linear: 1, time_decay: 1, position_based: 1 },
      revenue: { first_touch: 30, last_touch: 30, linear: 30, time_decay: 30, position_based: 30 },
    });
  });
});

describe('options', () => {
  it('refuses a non-positive half-life and a negative look-back window', () => {
    const path = [touch(1, 'google/cpc')];
    expect(() => attribute(path, signup, 'time_decay', { halfLifeDays: 0 })).toThrow(/half-life/);
    expect(() => attribute(path, signup, 'linear', { lookbackDays: -1 })).toThrow(/look-back/);
  });
});

import { highestPassingRate, nextProbeRate } from './stats';

const bounds = { minRate: 5, maxRate: 1600, resolution: 0.1 };

describe('nextProbeRate', () => {
  it('doubles while every probe passes, up to the maximum', () => {
    expect(nextProbeRate([{ rate: 200, ok: true }], bounds)).toBe(400);
    expect(nextProbeRate([{ rate: 1000, ok: true }], bounds)).toBe(1600);
    expect(nextProbeRate([{ rate: 1600, ok: true }], bounds)).toBeUndefined();
  });

  it('halves while every probe fails, and stops below the minimum', () => {
    expect(nextProbeRate([{ rate: 200, ok: false }], bounds)).toBe(100);
    expect(
      nextProbeRate(
        [
          { rate: 200, ok: false },
          { rate: 100, ok: false },
        ],
        bounds,
      ),
    ).toBe(50);
    expect(nextProbeRate([{ rate: 9, ok: false }], bounds)).toBeUndefined();
  });

  it('bisects between the highest pass and the lowest fail above it until within the resolution', () => {
    const probes = [
      { rate: 200, ok: false },
      { rate: 100, ok: true },
    ];
    expect(nextProbeRate(probes, bounds)).toBe(150);
    expect(nextProbeRate([...probes, { rate: 150, ok: false }], bounds)).toBe(125);
    expect(
      nextProbeRate(
        [...probes, { rate: 150, ok: true }, { rate: 175, ok: true }, { rate: 188, ok: false }],
        bounds,
      ),
    ).toBeUndefined();
  });

  it('ignores a fail below a pass and never repeats a rate', () => {
    expect(
      nextProbeRate(
        [
          { rate: 200, ok: true },
          { rate: 400, ok: false },
          { rate: 150, ok: false },
        ],
        bounds,
      ),
    ).toBe(300);
    expect(nextProbeRate([], bounds)).toBeUndefined();
  });
});

describe('highestPassingRate', () => {
  it('is the highest rate that passed, 0 when none did', () => {
    expect(
      highestPassingRate([
        { rate: 200, ok: false },
        { rate: 100, ok: true },
        { rate: 150, ok: true },
      ]),
    ).toBe(150);
    expect(highestPassingRate([{ rate: 200, ok: false }])).toBe(0);
  });
});

import { REPUBLISH_SHARE, republishDue } from './report-topics';

describe('republishDue', () => {
  it('lets the first publish go at once', () => {
    expect(republishDue(1_000, undefined)).toBe(true);
  });

  it('waits after a publish four times as long as it took, at the default fifth of the time', () => {
    expect(REPUBLISH_SHARE).toBe(0.2);
    const last = { startedAt: 0, endedAt: 60_000 }; // a minute streaming a large workspace
    expect(republishDue(60_000 + 239_999, last)).toBe(false);
    expect(republishDue(60_000 + 240_000, last)).toBe(true);
  });

  it('holds a quick publish back by no more than its own few milliseconds times four', () => {
    const last = { startedAt: 10_000, endedAt: 10_050 };
    expect(republishDue(10_249, last)).toBe(false);
    expect(republishDue(10_250, last)).toBe(true);
  });

  it('takes another share when given one', () => {
    const last = { startedAt: 0, endedAt: 1_000 };
    expect(republishDue(1_999, last, 0.5)).toBe(false);
    expect(republishDue(2_000, last, 0.5)).toBe(true);
  });
});

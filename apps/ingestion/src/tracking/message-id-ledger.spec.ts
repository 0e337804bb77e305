import { dedupeDecision } from './message-id-ledger';

describe('dedupeDecision', () => {
  const now = Date.parse('2024-01-02T00:00:00Z');
  const day = 24 * 3_600_000;

  it('treats a first-seen messageId as new', () => {
    expect(dedupeDecision(false, undefined, now, day)).toBe('new');
  });

  it('treats a messageId stored within the window as a duplicate', () => {
    expect(dedupeDecision(true, new Date(now - day + 1_000), now, day)).toBe('duplicate');
  });

  it('produces again when the earlier attempt was claimed but never acknowledged (crash or outage)', () => {
    expect(dedupeDecision(true, undefined, now, day)).toBe('new');
  });

  it('forgets a messageId stored before the window', () => {
    expect(dedupeDecision(true, new Date(now - day - 1), now, day)).toBe('new');
  });
});

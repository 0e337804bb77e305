import { randomUUID } from 'node:crypto';
import { clientEventId } from '@tributary/messaging';
import { StoredEventIds } from './stored-event-ids';

const now = Date.parse('2026-01-02T00:00:00Z');
const hour = 3_600_000;
const eventIdOf = (messageId: string, workspaceId = 'ws_a') =>
  clientEventId(workspaceId, 'tracking', messageId);

describe('StoredEventIds', () => {
  it('treats an id never stored as new (first seen, or an attempt that crashed before its mark)', () => {
    const ids = new StoredEventIds(24 * hour, 1_000);
    ids.add(eventIdOf('m-1'), now);
    expect(ids.decide([eventIdOf('m-2')], now)).toEqual(['new']);
  });

  it('treats an id stored within the window as a duplicate', () => {
    const ids = new StoredEventIds(24 * hour, 1_000);
    ids.add(eventIdOf('m-1'), now - 24 * hour + 2_000);
    expect(ids.decide([eventIdOf('m-1')], now)).toEqual(['duplicate']);
  });

  it('forgets an id stored before the window, and compaction drops it', () => {
    const ids = new StoredEventIds(24 * hour, 1_000);
    ids.add(eventIdOf('m-old'), now - 24 * hour - 1_000);
    ids.add(eventIdOf('m-new'), now - hour);
    expect(ids.decide([eventIdOf('m-old'), eventIdOf('m-new')], now)).toEqual(['new', 'duplicate']);
    expect(ids.compact(now)).toEqual({ expired: 1, evicted: 0 });
    expect(ids.size).toBe(1);
    expect(ids.decide([eventIdOf('m-new')], now)).toEqual(['duplicate']);
  });

  it('keeps workspaces apart: the same messageId in another workspace is new', () => {
    const ids = new StoredEventIds(24 * hour, 1_000);
    ids.add(eventIdOf('m-1', 'ws_a'), now);
    expect(ids.decide([eventIdOf('m-1', 'ws_b')], now)).toEqual(['new']);
  });

  it('restarts the window of an id stored again after it expired', () => {
    const ids = new StoredEventIds(hour, 1_000);
    ids.add(eventIdOf('m-1'), now - 2 * hour);
    ids.add(eventIdOf('m-1'), now - 1_000);
    expect(ids.size).toBe(1);
    expect(ids.decide([eventIdOf('m-1')], now)).toEqual(['duplicate']);
  });

  it('remembers every one of many ids across growth, and no unseen id among as many is taken for one', () => {
    const ids = new StoredEventIds(24 * hour, 1_000_000, 16);
    const stored = Array.from({ length: 50_000 }, () => randomUUID());
    for (const id of stored) ids.add(id, now);
    const unseen = Array.from({ length: 50_000 }, () => randomUUID());
    expect(ids.size).toBe(50_000);
    expect(ids.decide(stored, now).filter((d) => d === 'duplicate')).toHaveLength(50_000);
    expect(ids.decide(unseen, now).filter((d) => d === 'duplicate')).toHaveLength(0);
  });

  it('handles ids that are not UUIDs', () => {
    const ids = new StoredEventIds(hour, 100);
    ids.add('plain-id-1', now);
    expect(ids.decide(['plain-id-1', 'plain-id-2'], now)).toEqual(['duplicate', 'new']);
  });

  it('beyond maxIds evicts the oldest first and says how far back the window still reaches', () => {
    const ids = new StoredEventIds(24 * hour, 100);
    const stored = Array.from({ length: 100 }, (_, i) => ({
      id: eventIdOf(`m-${i}`),
      at: now - (100 - i) * 1_000,
    }));
    for (const { id, at } of stored) ids.add(id, at, now);
    // The 101st id does not fit: the table drops the oldest down to 75 and then takes it.
    ids.add(eventIdOf('m-100'), now, now);
    expect(ids.size).toBe(76);
    const decisions = ids.decide(
      stored.map((s) => s.id),
      now,
    );
    expect(decisions.slice(0, 25)).toEqual(Array(25).fill('new'));
    expect(decisions.slice(25)).toEqual(Array(75).fill('duplicate'));
    expect(ids.decide([eventIdOf('m-100')], now)).toEqual(['duplicate']);
    const second = new StoredEventIds(24 * hour, 10);
    for (let i = 0; i < 10; i += 1) second.add(eventIdOf(`n-${i}`), now - (10 - i) * 1_000, now);
    expect(second.compact(now)).toEqual({ expired: 0, evicted: 3, oldestKeptAt: now - 7_000 });
  });

  it('takes 16 bytes a slot, at most half full', () => {
    const ids = new StoredEventIds(hour, 1_000_000, 16);
    for (let i = 0; i < 1_000; i += 1) ids.add(randomUUID(), now);
    expect(ids.bytes).toBeLessThanOrEqual(1_000 * 2 * 2 * 16);
  });
});

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
    ids.add(eventIdOf('m-1'), now, now);
    expect(ids.decide([eventIdOf('m-2')], now)).toEqual(['new']);
  });

  it('treats an id stored within the window as a duplicate', () => {
    const ids = new StoredEventIds(24 * hour, 1_000);
    ids.add(eventIdOf('m-1'), now - 24 * hour + 2_000, now);
    expect(ids.decide([eventIdOf('m-1')], now)).toEqual(['duplicate']);
  });

  it('forgets an id stored before the window, and compaction drops it', () => {
    const ids = new StoredEventIds(24 * hour, 1_000);
    ids.add(eventIdOf('m-old'), now - 24 * hour - 1_000, now - hour);
    ids.add(eventIdOf('m-new'), now - hour, now - hour);
    expect(ids.size).toBe(2);
    expect(ids.decide([eventIdOf('m-old'), eventIdOf('m-new')], now)).toEqual(['new', 'duplicate']);
    expect(ids.compact(now)).toEqual({ expired: 1, evicted: 0 });
    expect(ids.size).toBe(1);
    expect(ids.decide([eventIdOf('m-new')], now)).toEqual(['duplicate']);
    expect(ids.compact(now)).toEqual({ expired: 0, evicted: 0 });
  });

  it('drops expired ids as new ones come, without a compaction', () => {
    const ids = new StoredEventIds(hour, 1_000);
    for (let i = 0; i < 10; i += 1) ids.add(eventIdOf(`m-${i}`), now - 2 * hour + i * 1_000, now - 2 * hour);
    ids.add(eventIdOf('m-late'), now, now);
    expect(ids.size).toBe(1);
    expect(ids.compact(now)).toEqual({ expired: 10, evicted: 0 });
  });

  it('keeps workspaces apart: the same messageId in another workspace is new', () => {
    const ids = new StoredEventIds(24 * hour, 1_000);
    ids.add(eventIdOf('m-1', 'ws_a'), now, now);
    expect(ids.decide([eventIdOf('m-1', 'ws_b')], now)).toEqual(['new']);
  });

  it('restarts the window of an id stored again after it expired', () => {
    const ids = new StoredEventIds(hour, 1_000);
    ids.add(eventIdOf('m-1'), now - 2 * hour, now - 2 * hour);
    ids.add(eventIdOf('m-2'), now - 1_000, now - 2 * hour);
    // m-1 expired but still held (nothing came since it left the window): stored again, it counts again.
    ids.add(eventIdOf('m-1'), now - 1_000, now - 2 * hour);
    expect(ids.size).toBe(2);
    expect(ids.decide([eventIdOf('m-1')], now)).toEqual(['duplicate']);
  });

  it('remembers every one of many ids across growth, and no unseen id among as many is taken for one', () => {
    const ids = new StoredEventIds(24 * hour, 1_000_000, 16);
    const stored = Array.from({ length: 50_000 }, () => randomUUID());
    for (const id of stored) ids.add(id, now, now);
    const unseen = Array.from({ length: 50_000 }, () => randomUUID());
    expect(ids.size).toBe(50_000);
    expect(ids.decide(stored, now).filter((d) => d === 'duplicate')).toHaveLength(50_000);
    expect(ids.decide(unseen, now).filter((d) => d === 'duplicate')).toHaveLength(0);
  });

  it('handles ids that are not UUIDs', () => {
    const ids = new StoredEventIds(hour, 100);
    ids.add('plain-id-1', now, now);
    expect(ids.decide(['plain-id-1', 'plain-id-2'], now)).toEqual(['duplicate', 'new']);
  });

  it('beyond maxIds evicts the oldest, one for each new id, and says how far back the window still reaches', () => {
    const ids = new StoredEventIds(24 * hour, 100);
    const stored = Array.from({ length: 130 }, (_, i) => ({
      id: eventIdOf(`m-${i}`),
      at: now - (130 - i) * 1_000,
    }));
    for (const { id, at } of stored) ids.add(id, at, now);
    expect(ids.size).toBe(100);
    const decisions = ids.decide(
      stored.map((s) => s.id),
      now,
    );
    expect(decisions.slice(0, 30)).toEqual(Array(30).fill('new'));
    expect(decisions.slice(30)).toEqual(Array(100).fill('duplicate'));
    expect(ids.compact(now)).toEqual({ expired: 0, evicted: 30, oldestKeptAt: now - 100_000 });
    expect(ids.compact(now)).toEqual({ expired: 0, evicted: 0 });
  });

  it('keeps every held id findable while the oldest leave: evictions never break a probe chain', () => {
    // A small index makes collisions and wrap-around common; every id added later must stay findable.
    const ids = new StoredEventIds(24 * hour, 64, 16);
    const stored = Array.from({ length: 5_000 }, () => randomUUID());
    stored.forEach((id, i) => {
      ids.add(id, now, now);
      const held = stored.slice(Math.max(0, i - 63), i + 1);
      expect(ids.decide(held, now).every((d) => d === 'duplicate')).toBe(true);
    });
    expect(ids.decide(stored.slice(0, 5_000 - 64), now).filter((d) => d === 'duplicate')).toHaveLength(0);
  });

  it('takes about 24 bytes an id: 16 in the ring and an index at most half full', () => {
    const ids = new StoredEventIds(hour, 1_000_000, 16);
    for (let i = 0; i < 1_000; i += 1) ids.add(randomUUID(), now, now);
    // 1,024 ring entries and 2,048 index slots after growing from 16.
    expect(ids.bytes).toBe(1_024 * 16 + 2_048 * 4);
  });
});

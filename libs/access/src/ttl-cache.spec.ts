import { TtlCache } from './ttl-cache';

describe('TtlCache', () => {
  it('serves a loaded value (or a miss) until the TTL passes, then loads again', async () => {
    let now = 0;
    const cache = new TtlCache<string>(1_000, 10, () => now);
    const loads: string[] = [];
    const load = async (id: string) => {
      loads.push(id);
      return id === 'known' ? 'value' : null;
    };
    expect(await cache.get('known', load)).toBe('value');
    expect(await cache.get('unknown', load)).toBeNull();
    now = 999;
    await cache.get('known', load);
    await cache.get('unknown', load);
    expect(loads).toEqual(['known', 'unknown']);
    now = 1_000;
    await cache.get('known', load);
    expect(loads).toEqual(['known', 'unknown', 'known']);
  });

  it('forgets an invalidated id at once and never holds more than its cap', async () => {
    const cache = new TtlCache<number>(60_000, 2);
    let loads = 0;
    const load = async () => ++loads;
    await cache.get('a', load);
    cache.invalidate('a');
    expect(await cache.get('a', load)).toBe(2);
    await cache.get('b', load);
    await cache.get('c', load);
    // 'a' was the oldest entry: evicted to make room for 'c'.
    expect(await cache.get('a', load)).toBe(5);
  });
});

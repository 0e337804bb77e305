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

  it('shares a load in flight between callers, and keeps no failed load', async () => {
    const cache = new TtlCache<string>(60_000);
    let loads = 0;
    let fail = true;
    const load = async () => {
      loads += 1;
      await new Promise((resolve) => setImmediate(resolve));
      if (fail) throw new Error('store down');
      return 'value';
    };
    const first = await Promise.allSettled([
      cache.get('a', load),
      cache.get('a', load),
      cache.get('a', load),
    ]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(loads).toBe(1);
    fail = false;
    expect(await Promise.all([cache.get('a', load), cache.get('a', load)])).toEqual(['value', 'value']);
    expect(loads).toBe(2);
  });
});

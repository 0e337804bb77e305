import { parseTrackCall } from './track-call';

describe('parseTrackCall', () => {
  it('accepts a Segment track call with a userId', () => {
    const result = parseTrackCall({ userId: 'u1', event: 'Signed Up', properties: { plan: 'pro' } });
    expect(result).toEqual({
      ok: true,
      call: { userId: 'u1', event: 'Signed Up', properties: { plan: 'pro' } },
    });
  });

  it('requires userId or anonymousId', () => {
    const result = parseTrackCall({ event: 'Signed Up' });
    expect(result).toEqual({
      ok: false,
      problems: [{ field: 'userId', reason: 'userId or anonymousId is required' }],
    });
  });

  it('names each bad field', () => {
    const result = parseTrackCall({ anonymousId: 'a', event: '', timestamp: 'yesterday', properties: 'x' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.field).sort()).toEqual(['event', 'properties', 'timestamp']);
  });

  it('rejects a body that is not an object', () => {
    expect(parseTrackCall('hello').ok).toBe(false);
    expect(parseTrackCall(null).ok).toBe(false);
  });
});

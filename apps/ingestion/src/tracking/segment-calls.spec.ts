import { correctedTimestamp, MAX_EVENT_BYTES, parseBatch, parseCall } from './segment-calls';

const fields = (result: ReturnType<typeof parseCall>) =>
  result.ok ? [] : result.problems.map((p) => p.field);

describe('parseCall', () => {
  it('accepts each call type with its own fields', () => {
    expect(
      parseCall({ userId: 'u', event: 'Signed Up', properties: { plan: 'pro' } }, 'track'),
    ).toMatchObject({
      ok: true,
      call: { type: 'track', event: 'Signed Up', properties: { plan: 'pro' } },
    });
    expect(parseCall({ anonymousId: 'a', traits: { email: 'a@b.c' } }, 'identify').ok).toBe(true);
    expect(parseCall({ anonymousId: 'a' }, 'page').ok).toBe(true);
    expect(parseCall({ userId: 'u', name: 'Home' }, 'screen').ok).toBe(true);
    expect(parseCall({ userId: 'u', groupId: 42 }, 'group')).toMatchObject({
      ok: true,
      call: { groupId: '42' },
    });
    expect(parseCall({ userId: 'u', previousId: 'anon' }, 'alias').ok).toBe(true);
  });

  it('requires userId or anonymousId, except alias which needs userId and previousId', () => {
    expect(parseCall({ event: 'E' }, 'track')).toEqual({
      ok: false,
      problems: [{ field: 'userId', reason: 'userId or anonymousId is required' }],
    });
    expect(fields(parseCall({ anonymousId: 'a', previousId: 'p' }, 'alias'))).toEqual(['userId']);
    expect(fields(parseCall({ userId: 'u' }, 'alias'))).toEqual(['previousId']);
  });

  it('requires event for track and groupId for group', () => {
    expect(fields(parseCall({ userId: 'u' }, 'track'))).toEqual(['event']);
    expect(fields(parseCall({ userId: 'u', event: '' }, 'track'))).toEqual(['event']);
    expect(fields(parseCall({ userId: 'u' }, 'group'))).toEqual(['groupId']);
  });

  it('names each bad field', () => {
    const result = parseCall(
      { anonymousId: 'a', event: 'E', timestamp: 'yesterday', properties: 'x', context: [] },
      'track',
    );
    expect(fields(result).sort()).toEqual(['context', 'properties', 'timestamp']);
  });

  it('says Required for a missing field and what was expected and received for a wrong type', () => {
    const wrongTypes = parseCall({ userId: 'u', event: 12, properties: 'x', context: [] }, 'track');
    expect(wrongTypes.ok ? [] : wrongTypes.problems).toEqual(
      expect.arrayContaining([
        { field: 'event', reason: 'Expected string, received number' },
        { field: 'properties', reason: 'Expected object, received string' },
        { field: 'context', reason: 'Expected object, received array' },
      ]),
    );
    expect(parseCall({ userId: 'u' }, 'alias')).toEqual({
      ok: false,
      problems: [{ field: 'previousId', reason: 'Required' }],
    });
  });

  it('refuses a body type that contradicts the route, and bodies that are not objects', () => {
    expect(fields(parseCall({ type: 'page', userId: 'u', event: 'E' }, 'track'))).toEqual(['type']);
    expect(parseCall('hello', 'track').ok).toBe(false);
    expect(parseCall(null, 'track').ok).toBe(false);
    expect(parseCall([], 'track').ok).toBe(false);
  });

  it('refuses an event over 32 KB, naming the limit', () => {
    const result = parseCall(
      { userId: 'u', event: 'E', properties: { x: 'y'.repeat(MAX_EVENT_BYTES) } },
      'track',
    );
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems[0]?.reason).toContain('32 KB');
    const justUnder = 'y'.repeat(MAX_EVENT_BYTES - 100);
    expect(parseCall({ userId: 'u', event: 'E', properties: { x: justUnder } }, 'track').ok).toBe(true);
  });

  it('measures ids in UTF-8 bytes: 1,024 four-byte characters are too long to be a store key', () => {
    const emoji = '\u{1F680}';
    expect(parseCall({ userId: emoji.repeat(256), event: 'E' }, 'track').ok).toBe(true);
    expect(parseCall({ userId: emoji.repeat(257), event: 'E' }, 'track')).toEqual({
      ok: false,
      problems: [{ field: 'userId', reason: 'must be at most 1024 bytes as UTF-8' }],
    });
    expect(parseCall({ userId: 'u', event: 'E', messageId: emoji.repeat(1024) }, 'track')).toMatchObject({
      ok: false,
      problems: [{ field: 'messageId' }],
    });
  });

  it('refuses NUL in any text or key, and nesting too deep to serialise, naming the field', () => {
    expect(parseCall({ userId: 'u\u0000', event: 'E', properties: { 'a\u0000': 1 } }, 'track')).toEqual({
      ok: false,
      problems: [
        { field: 'userId', reason: 'must not contain the NUL character (\\u0000)' },
        { field: 'properties.a\\u0000', reason: 'key must not contain the NUL character (\\u0000)' },
      ],
    });
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = { a: deep };
    const result = parseCall({ userId: 'u', traits: deep }, 'identify');
    expect(result).toMatchObject({ ok: false, problems: [{ reason: 'nests deeper than 64 levels' }] });
  });
});

describe('parseBatch', () => {
  it('keeps valid items and lists each invalid one with its index and field', () => {
    const result = parseBatch({
      batch: [
        { type: 'track', userId: 'u', event: 'A' },
        { type: 'track', userId: 'u' },
        { type: 'identify' },
        'not a call',
        { type: 'alias', userId: 'u', previousId: 'p' },
      ],
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.calls.map((c) => c.index)).toEqual([0, 4]);
    expect(result.rejected.map((r) => [r.index, r.problems.map((p) => p.field)])).toEqual([
      [1, ['batch.1.event']],
      [2, ['batch.2.userId']],
      [3, ['batch.3.(body)']],
    ]);
    expect(result.rejected[2]?.item).toBe('not a call');
  });

  it('rejects only the item holding NUL; NUL in the batch’s shared context refuses the batch', () => {
    const result = parseBatch({
      batch: [
        { type: 'track', userId: 'u', event: 'E' },
        { type: 'track', userId: 'u', event: 'E', messageId: 'm\u0000' },
      ],
    });
    expect(result).toMatchObject({
      ok: true,
      calls: [{ index: 0 }],
      rejected: [{ index: 1, problems: [{ field: 'batch.1.messageId' }] }],
    });
    expect(
      parseBatch({ batch: [{ type: 'track', userId: 'u', event: 'E' }], context: { ip: '\u0000' } }),
    ).toEqual({
      ok: false,
      problems: [{ field: 'context.ip', reason: 'must not contain the NUL character (\\u0000)' }],
    });
  });

  it('refuses a batch that is not a batch', () => {
    expect(parseBatch({ batch: 'x' }).ok).toBe(false);
    expect(parseBatch({ batch: [] }).ok).toBe(false);
    expect(parseBatch([]).ok).toBe(false);
  });

  it('merges batch context and integrations under each item and applies the batch sentAt', () => {
    const result = parseBatch({
      context: { library: { name: 'analytics-node' }, locale: 'en' },
      integrations: { All: true },
      sentAt: '2024-01-01T00:00:10Z',
      batch: [
        { type: 'track', userId: 'u', event: 'A', context: { locale: 'de' } },
        { type: 'track', userId: 'u', event: 'B', sentAt: '2024-01-01T00:00:20Z' },
      ],
    });
    expect(
      result.ok && result.calls.map((c) => [c.call.context, c.call.integrations, c.call.sentAt]),
    ).toEqual([
      [{ library: { name: 'analytics-node' }, locale: 'de' }, { All: true }, '2024-01-01T00:00:10Z'],
      [{ library: { name: 'analytics-node' }, locale: 'en' }, { All: true }, '2024-01-01T00:00:20Z'],
    ]);
  });

  it('measures the 32 KB limit per item as sent, not with the merged batch context', () => {
    const context = { blob: 'x'.repeat(20 * 1024) };
    const item = { type: 'track', userId: 'u', event: 'A', properties: { blob: 'y'.repeat(20 * 1024) } };
    const result = parseBatch({ context, batch: [item] });
    expect(result.ok && result.calls).toHaveLength(1);
  });
});

describe('correctedTimestamp', () => {
  const receivedAt = Date.parse('2024-01-01T12:00:00.000Z');

  it('corrects the client clock skew: timestamp + (receivedAt - sentAt)', () => {
    // The client clock runs 5 minutes behind: it says it sent at 11:55 what we received at 12:00.
    const t = correctedTimestamp(
      { timestamp: '2024-01-01T11:54:00.000Z', sentAt: '2024-01-01T11:55:00.000Z' },
      receivedAt,
    );
    expect(new Date(t).toISOString()).toBe('2024-01-01T11:59:00.000Z');
  });

  it('uses originalTimestamp when there is no timestamp, and takes offsets into account', () => {
    const t = correctedTimestamp(
      { originalTimestamp: '2024-01-01T13:58:00.000+02:00', sentAt: '2024-01-01T14:00:00+02:00' },
      receivedAt,
    );
    expect(new Date(t).toISOString()).toBe('2024-01-01T11:58:00.000Z');
  });

  it('keeps the timestamp without sentAt, and falls back to receivedAt without any', () => {
    expect(correctedTimestamp({ timestamp: '2023-06-01T00:00:00Z' }, receivedAt)).toBe(
      Date.parse('2023-06-01T00:00:00Z'),
    );
    expect(correctedTimestamp({ sentAt: '2024-01-01T11:00:00Z' }, receivedAt)).toBe(receivedAt);
  });
});

import { MAX_JSON_DEPTH, unstorableParts } from './request-input';

const nest = (depth: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

describe('unstorableParts', () => {
  it('finds nothing wrong with ordinary JSON, however wide', () => {
    const wide = Object.fromEntries(
      Array.from({ length: 1_000 }, (_, i) => [`k${i}`, { v: [i, 'text', null] }]),
    );
    expect(unstorableParts({ userId: 'ada', traits: { email: 'ada@example.com' }, wide })).toEqual([]);
    expect(unstorableParts(nest(MAX_JSON_DEPTH))).toEqual([]);
  });

  it('names each string value and key holding NUL by its path', () => {
    expect(
      unstorableParts({ traits: { name: 'Ada\u0000', 'ke\u0000y': 1 }, list: ['ok', 'x\u0000'] }, 'batch.2'),
    ).toEqual([
      { field: 'batch.2.traits.name', reason: 'must not contain the NUL character (\\u0000)' },
      { field: 'batch.2.traits.ke\\u0000y', reason: 'key must not contain the NUL character (\\u0000)' },
      { field: 'batch.2.list.1', reason: 'must not contain the NUL character (\\u0000)' },
    ]);
    expect(unstorableParts('\u0000')).toEqual([
      { field: '(body)', reason: 'must not contain the NUL character (\\u0000)' },
    ]);
  });

  it('refuses nesting past the limit without recursing, even 100,000 levels deep', () => {
    expect(unstorableParts(nest(MAX_JSON_DEPTH + 1))).toEqual([
      {
        field: Array(MAX_JSON_DEPTH).fill('0').join('.'),
        reason: `nests deeper than ${MAX_JSON_DEPTH} levels`,
      },
    ]);
    expect(unstorableParts(nest(100_000))).toHaveLength(1);
  });

  it('reports at most ten problems, however many there are', () => {
    expect(unstorableParts(Array.from({ length: 10_000 }, () => '\u0000'))).toHaveLength(10);
  });
});

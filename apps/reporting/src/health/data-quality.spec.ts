import { MAX_PART_LENGTH, compareQualityRows, fieldOf, problemsOf, type QualityRow } from './data-quality';

describe('a rejected record’s problems', () => {
  it('drop array positions from field paths, so a batch’s bad items make one row', () => {
    expect(fieldOf('batch[3].properties.email')).toBe('batch[].properties.email');
    expect(fieldOf('items.12.email')).toBe('items.[].email');
    expect(fieldOf('0')).toBe('[]');
    expect(fieldOf('userId')).toBe('userId');
  });

  it('count a record once per distinct field and reason', () => {
    expect(
      problemsOf(
        [
          { field: 'batch[0].userId', reason: 'required' },
          { field: 'batch[1].userId', reason: 'required' },
          { field: 'batch[1].event', reason: 'required' },
        ],
        'batch[0].userId: required; batch[1].userId: required; batch[1].event: required',
      ),
    ).toEqual([
      { field: 'batch[].userId', reason: 'required' },
      { field: 'batch[].event', reason: 'required' },
    ]);
  });

  it('fall back to the record’s one-line reason when it lists none', () => {
    expect(problemsOf([], 'Avro encoding failed')).toEqual([{ field: '', reason: 'Avro encoding failed' }]);
  });

  it('cut a long reason', () => {
    const [problem] = problemsOf([{ field: 'email', reason: 'x'.repeat(500) }], '');
    expect(problem?.reason).toHaveLength(MAX_PART_LENGTH);
  });
});

describe('data-quality rows', () => {
  const row = (bucket: string, kind: QualityRow['kind'], route: string, field: string): QualityRow => ({
    bucket,
    kind,
    source: 'ingestion',
    route,
    field,
    reason: 'required',
    count: 1,
  });

  it('are ordered by bucket instant, then kind, route and field', () => {
    const rows = [
      row('2026-05-04T00:00:00+02:00', 'rejected', '/v1/track', 'event'),
      row('2026-05-03T23:00:00Z', 'late', '', 'timestamp'),
      row('2026-05-03T23:00:00Z', 'rejected', '/v1/batch', 'userId'),
      row('2026-05-03T23:00:00Z', 'rejected', '/v1/batch', 'event'),
    ];
    expect([...rows].sort(compareQualityRows)).toEqual([rows[0], rows[1], rows[3], rows[2]]);
  });
});

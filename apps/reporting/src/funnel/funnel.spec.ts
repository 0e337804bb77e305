import { funnelOf, funnelTrend, peopleOf } from './funnel';
import type { FunnelContactDoc } from './funnel-contacts';

const day = (n: number) => Date.parse('2026-03-01T00:00:00Z') + n * 86_400_000;

function doc(contactId: string, root: string, fields: Partial<FunnelContactDoc> = {}): FunnelContactDoc {
  return { _id: `ws|${contactId}`, workspaceId: 'ws', contactId, root, ...fields };
}

describe('peopleOf', () => {
  it('folds merged contacts into one person: earliest reach, oldest touch, newest stage and owner', () => {
    const touch = (source: string, at: number) => ({
      channel: source,
      source,
      medium: 'm',
      campaign: 'c',
      at: new Date(at),
    });
    const [person, ...rest] = peopleOf([
      doc('a', 'b', {
        reached: { lead: new Date(day(1)), mql: new Date(day(5)) },
        stage: 'mql',
        stageAt: new Date(day(5)),
        firstTouch: touch('early', day(0)),
        owner: { ownerId: 'o-old', teamId: 't', at: new Date(day(2)) },
      }),
      doc('b', 'b', {
        reached: { lead: new Date(day(3)), mql: new Date(day(4)) },
        stage: 'sql',
        stageAt: new Date(day(6)),
        firstTouch: touch('late', day(2)),
        owner: { ownerId: 'o-new', teamId: 't', at: new Date(day(3)) },
      }),
    ]);
    expect(rest).toEqual([]);
    expect(person).toEqual({
      contactId: 'b',
      reached: { lead: day(1), mql: day(4) },
      stage: 'sql',
      source: 'early',
      medium: 'm',
      campaign: 'c',
      ownerId: 'o-new',
      teamId: 't',
    });
  });
});

describe('funnelOf', () => {
  const people = peopleOf([
    doc('a', 'a', {
      reached: { lead: new Date(day(0)), sql: new Date(day(3)) },
      stage: 'sql',
      stageAt: new Date(day(3)),
    }),
    doc('b', 'b', { reached: { lead: new Date(day(1)) }, stage: 'lead', stageAt: new Date(day(1)) }),
    doc('c', 'c', { reached: { lead: new Date(day(9)) }, stage: 'lead', stageAt: new Date(day(9)) }),
  ]);

  it('counts who entered in the range and who went on, a skipped stage included, with the time it took', () => {
    const lead = funnelOf(people, { from: day(0), to: day(5) }).find((row) => row.stage === 'lead');
    // a skipped mql and reached sql 3 days later: advanced; b has not; c entered after the range.
    expect(lead).toEqual({
      stage: 'lead',
      entered: 2,
      advanced: 1,
      conversionRate: 0.5,
      daysToAdvance: { median: 3, mean: 3 },
      current: 2,
    });
  });

  it('agrees with its trend: the buckets sum to what entered', () => {
    const range = { from: day(0), to: day(10), grain: 'week' as const };
    const trend = funnelTrend(people, range, 'UTC');
    const summed = trend.reduce((sum, row) => sum + (row.entered.lead ?? 0), 0);
    expect(summed).toBe(funnelOf(people, range).find((row) => row.stage === 'lead')?.entered);
    expect(trend.map((row) => row.bucket)).toEqual([
      '2026-02-23T00:00:00+00:00',
      '2026-03-02T00:00:00+00:00',
      '2026-03-09T00:00:00+00:00',
    ]);
  });
});

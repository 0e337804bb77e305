import { needsOwner, planMove, targetOf, type LifecycleStage } from './lifecycle';

const to = (from: LifecycleStage | null, cause: Parameters<typeof planMove>[1]) =>
  planMove(from, cause).move?.to;

describe('planMove', () => {
  it('walks subscriber → lead → MQL → SQL → opportunity → customer', () => {
    expect(to(null, { kind: 'subscribed' })).toBe('subscriber');
    expect(to('subscriber', { kind: 'lead-captured' })).toBe('lead');
    expect(to('lead', { kind: 'score', score: 50, threshold: 50 })).toBe('mql');
    expect(to('mql', { kind: 'owner-accepted' })).toBe('sql');
    expect(to('sql', { kind: 'crm-stage', stage: 'opportunity', source: 'hubspot' })).toBe('opportunity');
    expect(to('opportunity', { kind: 'crm-stage', stage: 'customer', source: 'hubspot' })).toBe('customer');
  });

  it('carries the reason of each move', () => {
    expect(planMove('lead', { kind: 'score', score: 80, threshold: 50 }).move).toEqual({
      from: 'lead',
      to: 'mql',
      reason: 'score-threshold',
    });
    expect(planMove('lead', { kind: 'purchase', source: 'shopify' }).move?.reason).toBe('purchase:shopify');
  });

  it('never moves a contact backwards automatically', () => {
    expect(planMove('sql', { kind: 'lead-captured' })).toEqual({ move: null, why: 'already at sql' });
    expect(
      planMove('customer', { kind: 'crm-stage', stage: 'opportunity', source: 'hubspot' }).move,
    ).toBeNull();
    expect(planMove('mql', { kind: 'score', score: 90, threshold: 50 }).move).toBeNull();
  });

  it('makes an MQL only of a lead whose score reached the threshold', () => {
    expect(planMove('lead', { kind: 'score', score: 49, threshold: 50 }).move).toBeNull();
    expect(planMove('subscriber', { kind: 'score', score: 99, threshold: 50 }).move).toBeNull();
    expect(planMove(null, { kind: 'score', score: 99, threshold: 50 }).move).toBeNull();
  });

  it('lets a CRM or a purchase jump forward over stages', () => {
    expect(to('lead', { kind: 'crm-stage', stage: 'customer', source: 'hubspot' })).toBe('customer');
    expect(to(null, { kind: 'purchase', source: 'shopify' })).toBe('customer');
  });

  it('accepts only leads and MQLs', () => {
    expect(to('lead', { kind: 'owner-accepted' })).toBe('sql');
    expect(planMove('subscriber', { kind: 'owner-accepted' }).move).toBeNull();
    expect(planMove('customer', { kind: 'owner-accepted' }).move).toBeNull();
  });

  it('disqualifies anyone but customers, and only recycling brings them back', () => {
    expect(planMove('mql', { kind: 'disqualify', reason: 'competitor' }).move).toEqual({
      from: 'mql',
      to: 'disqualified',
      reason: 'disqualified:competitor',
    });
    expect(planMove('customer', { kind: 'disqualify', reason: 'x' }).move).toBeNull();
    expect(planMove('disqualified', { kind: 'score', score: 99, threshold: 50 }).move).toBeNull();
    expect(planMove('disqualified', { kind: 'lead-captured' }).move).toBeNull();
    expect(to('disqualified', { kind: 'recycle', reason: 'new-budget' })).toBe('lead');
    expect(to('sql', { kind: 'recycle', reason: 'no-response' })).toBe('lead');
    expect(planMove('customer', { kind: 'recycle', reason: 'x' }).move).toBeNull();
  });

  it('routes only stages sales works', () => {
    expect(
      ['subscriber', 'lead', 'mql', 'sql', 'opportunity', 'customer', 'disqualified', null].filter((s) =>
        needsOwner(s as LifecycleStage | null),
      ),
    ).toEqual(['lead', 'mql', 'sql']);
  });
});

describe('targetOf', () => {
  it('names the stage each cause moves towards', () => {
    expect(targetOf({ kind: 'score', score: 1, threshold: 50 })).toBe('mql');
    expect(targetOf({ kind: 'recycle', reason: 'x' })).toBe('lead');
    expect(targetOf({ kind: 'crm-stage', stage: 'opportunity', source: 'hubspot' })).toBe('opportunity');
    expect(targetOf({ kind: 'purchase', source: 'shopify' })).toBe('customer');
  });
});

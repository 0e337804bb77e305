import type { TrackingEvent } from '@tributary/contracts';
import { trackingEventFixture } from '@tributary/testing';
import {
  decayedPoints,
  engagementFactOf,
  engagementRuleFor,
  roundPoints,
  scoreContact,
  scoringInstant,
  type EngagementFact,
} from './scoring-engine';
import { DEFAULT_SCORING_MODEL, validateScoringModel, type ScoringModel } from './scoring-model';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 15, 12);

function model(partial: Record<string, unknown>): ScoringModel {
  const result = validateScoringModel({ mqlThreshold: 50, engagementHalfLifeDays: 10, ...partial });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.model;
}

let seq = 0;
function fact(partial: Partial<EngagementFact> = {}): EngagementFact {
  seq += 1;
  return { eventId: `e${seq}`, callType: 'track', name: null, path: null, at: NOW, ...partial };
}

// Event time is not what most tests here are about: no bound (see 'event time' below).
const factOf = (e: TrackingEvent): EngagementFact => engagementFactOf(e, Number.POSITIVE_INFINITY);

function event(partial: Parameters<typeof trackingEventFixture>[0]): TrackingEvent {
  return trackingEventFixture({
    metadata: { eventId: 'evt-1', workspaceId: 'ws' },
    messageId: 'm',
    anonymousId: 'anon-1',
    ...partial,
  });
}

describe('decay', () => {
  const tenPoints = model({ engagement: [{ id: 'demo', when: { event: 'Demo Requested' }, points: 10 }] });
  const scoreAged = (ageDays: number) =>
    scoreContact(tenPoints, {}, [fact({ name: 'Demo Requested', at: NOW - ageDays * DAY })], NOW).engagement;

  it('halves an event after one half-life: 10 points give 5', () => {
    expect(scoreAged(10)).toBe(5);
  });

  it('quarters it after two half-lives: 2.5 rounds half away from zero to 3', () => {
    expect(decayedPoints(10, 20 * DAY, 10)).toBe(2.5);
    expect(scoreAged(20)).toBe(3);
  });

  it('rounds a rule to nothing once it has decayed below half a point, leaving it out of the breakdown', () => {
    expect(scoreAged(50)).toBe(0); // 10 / 32 = 0.31
    expect(
      scoreContact(tenPoints, {}, [fact({ name: 'Demo Requested', at: NOW - 50 * DAY })], NOW).breakdown,
    ).toEqual([]);
  });

  it('counts an event stamped after asOf (clock skew) fully', () => {
    expect(scoreAged(-3)).toBe(10);
  });

  it('uses a rule half-life over the model default', () => {
    const fast = model({
      engagement: [{ id: 'demo', when: { event: 'Demo Requested' }, points: 10, halfLifeDays: 5 }],
    });
    const result = scoreContact(fast, {}, [fact({ name: 'Demo Requested', at: NOW - 10 * DAY })], NOW);
    expect(result.breakdown).toEqual([
      { rule: 'demo', kind: 'engagement', points: 3, reason: '1 event, half-life 5 d' },
    ]);
  });

  it('sums decayed points per rule before rounding', () => {
    // Three 1-point page views one half-life old: 3 × 0.5 = 1.5 → 2 (rounding each would give 3 × 1 = 3).
    const pages = model({ engagement: [{ id: 'page', when: { callType: 'page' }, points: 1 }] });
    const facts = [1, 2, 3].map(() => fact({ callType: 'page', at: NOW - 10 * DAY }));
    expect(scoreContact(pages, {}, facts, NOW).engagement).toBe(2);
  });

  it('rounds negative points symmetrically', () => {
    expect(roundPoints(-2.5)).toBe(-3);
    expect(roundPoints(-0.4)).toBe(0);
    expect(roundPoints(2.4999)).toBe(2);
  });
});

describe('fit rules', () => {
  const fit = model({
    fit: [
      { id: 'target-industry', attribute: 'industry', equals: ['Software', 'SaaS'], points: 10 },
      { id: 'senior-title', attribute: 'title', matches: '\\b(vp|director)\\b', points: 20 },
      { id: 'mid-market', attribute: 'companySize', min: 200, max: 5000, points: 15 },
      { id: 'small', attribute: 'companySize', max: 49, points: -5 },
      { id: 'free-mail', attribute: 'freeMail', is: true, points: -10 },
      { id: 'work-mail', attribute: 'freeMail', is: false, points: 2 },
    ],
  });
  const rulesFor = (attributes: Parameters<typeof scoreContact>[1]) =>
    scoreContact(fit, attributes, [], NOW).breakdown.map((line) => line.rule);

  it('matches an equals list case-insensitively', () => {
    expect(rulesFor({ industry: 'saas' })).toEqual(['target-industry']);
    expect(rulesFor({ industry: ' SOFTWARE ' })).toEqual(['target-industry']);
    expect(rulesFor({ industry: 'Retail' })).toEqual([]);
  });

  it('matches a regex case-insensitively and explains the match', () => {
    const result = scoreContact(fit, { title: 'VP Marketing' }, [], NOW);
    expect(result.breakdown).toEqual([
      { rule: 'senior-title', kind: 'fit', points: 20, reason: 'title matches /\\b(vp|director)\\b/i' },
    ]);
    expect(rulesFor({ title: 'Marketing Manager' })).toEqual([]);
  });

  it('matches patterns that backtrack catastrophically on a backtracking engine in linear time', () => {
    const risky = model({
      fit: [
        { id: 'alternation', attribute: 'title', matches: '(a|aa)+$', points: 5 },
        { id: 'nested', attribute: 'companyDomain', matches: '^(a+)+$', points: 5 },
      ],
    });
    // On JavaScript's RegExp each of these takes seconds (doubling per extra character); here microseconds.
    const hostile = `${'a'.repeat(40)}!`;
    const started = performance.now();
    expect(scoreContact(risky, { title: hostile, companyDomain: hostile }, [], NOW).breakdown).toEqual([]);
    expect(performance.now() - started).toBeLessThan(500);
    expect(
      scoreContact(risky, { title: 'x', companyDomain: 'AAAA' }, [], NOW).breakdown.map((l) => l.rule),
    ).toEqual(['nested']);
  });

  it('treats a stored pattern the engine cannot compile (validated before RE2) as matching nothing', () => {
    const legacy = model({ fit: [{ id: 'senior', attribute: 'title', matches: 'vp', points: 5 }] });
    const stored = { ...legacy, fit: [{ ...legacy.fit[0], matches: 'vp(?= sales)' }] } as ScoringModel;
    expect(scoreContact(stored, { title: 'VP Sales' }, [], NOW).breakdown).toEqual([]);
  });

  it('matches min/max inclusively and open-ended', () => {
    expect(rulesFor({ companySize: 200 })).toEqual(['mid-market']);
    expect(rulesFor({ companySize: 5000 })).toEqual(['mid-market']);
    expect(rulesFor({ companySize: 5001 })).toEqual([]);
    expect(rulesFor({ companySize: 12 })).toEqual(['small']);
  });

  it('matches a boolean attribute only when it is known', () => {
    expect(rulesFor({ freeMail: true })).toEqual(['free-mail']);
    expect(rulesFor({ freeMail: false })).toEqual(['work-mail']);
    expect(rulesFor({})).toEqual([]);
  });

  it('counts every matching fit rule once, negative points included', () => {
    const result = scoreContact(
      fit,
      { industry: 'Software', title: 'Director of Growth', companySize: 20, freeMail: true },
      [],
      NOW,
    );
    expect(result).toMatchObject({ fit: 10 + 20 - 5 - 10, engagement: 0, total: 15 });
  });
});

describe('engagement rules', () => {
  it('matches by call type, event name (case-insensitive, any of a list) and path prefix', () => {
    const m = model({
      engagement: [
        { id: 'signup', when: { callType: 'track', event: ['Signed Up', 'Trial Started'] }, points: 7 },
        { id: 'docs', when: { callType: 'page', pathPrefix: '/docs' }, points: 2 },
        { id: 'identify', when: { callType: 'identify' }, points: 5 },
      ],
    });
    expect(engagementRuleFor(m, fact({ name: 'trial started' }))?.id).toBe('signup');
    expect(engagementRuleFor(m, fact({ callType: 'page', name: 'Signed Up' }))).toBeUndefined();
    expect(engagementRuleFor(m, fact({ callType: 'page', path: '/Docs/api' }))?.id).toBe('docs');
    expect(engagementRuleFor(m, fact({ callType: 'page', path: '/blog/docs' }))).toBeUndefined();
    expect(engagementRuleFor(m, fact({ callType: 'page', path: null }))).toBeUndefined();
    expect(engagementRuleFor(m, fact({ callType: 'identify' }))?.id).toBe('identify');
  });

  it('gives a fact to the first matching rule only', () => {
    const m = model({
      engagement: [
        { id: 'pricing', when: { event: 'Pricing Page Viewed' }, points: 10 },
        { id: 'any-track', when: { callType: 'track' }, points: 1 },
      ],
    });
    const result = scoreContact(
      m,
      {},
      [fact({ name: 'Pricing Page Viewed' }), fact({ name: 'Clicked' })],
      NOW,
    );
    expect(result.breakdown.map((line) => [line.rule, line.points])).toEqual([
      ['pricing', 10],
      ['any-track', 1],
    ]);
    expect(result.engagement).toBe(11);
  });

  it('caps what a rule can give, and says so', () => {
    const m = model({ engagement: [{ id: 'pricing', when: { event: 'Pricing' }, points: 10, cap: 25 }] });
    const result = scoreContact(
      m,
      {},
      [1, 2, 3, 4].map(() => fact({ name: 'Pricing' })),
      NOW,
    );
    expect(result.breakdown).toEqual([
      { rule: 'pricing', kind: 'engagement', points: 25, reason: '4 events, half-life 10 d, capped at 25' },
    ]);
  });

  it('caps a negative rule by its magnitude', () => {
    const m = model({
      engagement: [{ id: 'unsubscribed', when: { event: 'Unsubscribed' }, points: -20, cap: 30 }],
    });
    const result = scoreContact(m, {}, [fact({ name: 'Unsubscribed' }), fact({ name: 'Unsubscribed' })], NOW);
    expect(result).toMatchObject({ engagement: -30, total: -30 });
  });

  it('ignores facts no rule matches', () => {
    const m = model({ engagement: [{ id: 'identify', when: { callType: 'identify' }, points: 5 }] });
    expect(scoreContact(m, {}, [fact({ callType: 'alias' })], NOW)).toEqual({
      fit: 0,
      engagement: 0,
      total: 0,
      breakdown: [],
    });
  });
});

describe('determinism', () => {
  const m = model({
    fit: [{ id: 'senior', attribute: 'title', matches: 'vp', points: 20 }],
    engagement: [
      { id: 'pricing', when: { event: 'Pricing' }, points: 10, cap: 15 },
      { id: 'page', when: { callType: 'page' }, points: 1 },
    ],
  });
  const facts = [
    fact({ name: 'Pricing', at: NOW - 3 * DAY }),
    fact({ callType: 'page', at: NOW - 1 * DAY }),
    fact({ name: 'Pricing', at: NOW - 7 * DAY }),
    fact({ callType: 'page', at: NOW - 13 * DAY }),
    fact({ name: 'Pricing', at: NOW - 1 }),
    // The same event id twice with different content: which one counts must not depend on input order.
    fact({ eventId: 'dup', name: 'Pricing', at: NOW - 2 * DAY }),
    fact({ eventId: 'dup', callType: 'page', at: NOW - 20 * DAY }),
  ];

  it('gives the same score whatever the order of facts', () => {
    const expected = scoreContact(m, { title: 'VP Sales' }, facts, NOW);
    expect(expected.total).toBeGreaterThan(20);
    for (const order of [
      [...facts].reverse(),
      [facts[6], facts[2], facts[0], facts[4], facts[5], facts[1], facts[3]],
    ]) {
      expect(scoreContact(m, { title: 'VP Sales' }, order as EngagementFact[], NOW)).toEqual(expected);
    }
  });

  it('counts a repeated event id once', () => {
    const once = scoreContact(m, {}, facts, NOW);
    expect(scoreContact(m, {}, [...facts, { ...facts[0] } as EngagementFact], NOW)).toEqual(once);
  });

  it('adds up to its breakdown', () => {
    const result = scoreContact(m, { title: 'VP Sales' }, facts, NOW);
    const sum = (kind: string) =>
      result.breakdown.filter((l) => l.kind === kind).reduce((total, l) => total + l.points, 0);
    expect(result.fit).toBe(sum('fit'));
    expect(result.engagement).toBe(sum('engagement'));
    expect(result.total).toBe(result.fit + result.engagement);
  });
});

describe('engagementFactOf', () => {
  it('takes the event name of a track call and the page path from context', () => {
    const fact = factOf(
      event({
        callType: 'track',
        event: 'Pricing Page Viewed',
        contextJson: JSON.stringify({
          page: { path: '/pricing', url: 'https://acme.example/pricing?plan=pro' },
        }),
        propertiesJson: JSON.stringify({ path: '/files/brochure.pdf' }),
        timestamp: NOW,
      }),
    );
    expect(fact).toEqual({
      eventId: 'evt-1',
      callType: 'track',
      name: 'Pricing Page Viewed',
      path: '/pricing',
      at: NOW,
    });
  });

  it('takes the page name and the path from page properties, else from the URL', () => {
    expect(
      factOf(
        event({
          callType: 'page',
          event: null,
          name: 'Docs',
          propertiesJson: JSON.stringify({ path: '/docs?q=1' }),
        }),
      ),
    ).toMatchObject({ name: 'Docs', path: '/docs' });
    expect(
      factOf(
        event({
          callType: 'page',
          event: null,
          name: null,
          propertiesJson: JSON.stringify({ url: 'https://acme.example/blog/post#top' }),
          contextJson: '{}',
        }),
      ),
    ).toMatchObject({ name: null, path: '/blog/post' });
  });

  it('has no name for an identify call and survives unparseable JSON', () => {
    expect(
      factOf(event({ callType: 'identify', event: null, propertiesJson: '{', contextJson: 'null' })),
    ).toMatchObject({ callType: 'identify', name: null, path: null });
  });
});

describe('event time from the future', () => {
  const MINUTE = 60_000;
  // The scorer's clock (NOW) plus the allowed skew.
  const LATEST = NOW + 5 * MINUTE;
  const FAR_FUTURE = Date.parse('9999-12-31T00:00:00.000Z');
  // 10 points, half-life 10 days.
  const demo = model({ engagement: [{ id: 'demo', when: { event: 'Demo Requested' }, points: 10 }] });
  const demoAt = (eventId: string, timestamp: number, latest = LATEST): EngagementFact =>
    engagementFactOf(
      event({ metadata: { eventId, workspaceId: 'ws' }, event: 'Demo Requested', timestamp }),
      latest,
    );

  it('stamps a fact from 9999-12-31 at the latest time allowed and keeps earlier times as they are', () => {
    expect(demoAt('future', FAR_FUTURE).at).toBe(LATEST);
    expect(demoAt('skewed', NOW + MINUTE).at).toBe(NOW + MINUTE);
    expect(demoAt('old', NOW - 30 * DAY).at).toBe(NOW - 30 * DAY);
  });

  it('does not let a fact from the future decay the older ones', () => {
    const older = demoAt('older', NOW - 10 * DAY);
    const future = demoAt('future', FAR_FUTURE);
    const asOf = scoringInstant([older.at, FAR_FUTURE], LATEST);
    expect(asOf).toBe(LATEST);
    // The older one after a half-life (5) plus the new one (10); as of 9999 it would be 0 + 10.
    expect(scoreContact(demo, {}, [older, future], asOf).engagement).toBe(15);
  });

  it('lets a fact from the future decay like any other as time goes on, never counting as newer than now', () => {
    const future = demoAt('future', FAR_FUTURE);
    // Ten days (a half-life) later, with the clock ten days on: 5 for the clamped one, 10 for the new one (the
    // unclamped one would still count 10).
    const fresh = demoAt('fresh', NOW + 10 * DAY, LATEST + 10 * DAY);
    expect(scoreContact(demo, {}, [future, fresh], fresh.at).engagement).toBe(15);
  });

  it('scores as of the newest event when none is in the future', () => {
    expect(scoringInstant([NOW - 2 * DAY, NOW - DAY], LATEST)).toBe(NOW - DAY);
  });
});

describe('DEFAULT_SCORING_MODEL parity with the walking-skeleton table', () => {
  // The fixed table this model replaces gave: pricing page 10, demo request 25, identify 5, any other call 1.
  const today: [Partial<TrackingEvent>, string, number][] = [
    [{ callType: 'track', event: 'Pricing Page Viewed' }, 'pricing-page-viewed', 10],
    [{ callType: 'track', event: 'Demo Requested' }, 'demo-requested', 25],
    [{ callType: 'identify', event: null }, 'identified', 5],
    [{ callType: 'track', event: 'Button Clicked' }, 'track-call', 1],
    [{ callType: 'page', event: null, name: 'Pricing' }, 'page-call', 1],
    [{ callType: 'screen', event: null, name: 'Home' }, 'screen-call', 1],
    [{ callType: 'group', event: null, groupId: 'acme' }, 'group-call', 1],
    [{ callType: 'alias', event: null, previousId: 'anon-1' }, 'alias-call', 1],
  ];

  it.each(today)('%j gives %s %d points when fresh', (partial, rule, points) => {
    const fact = factOf(event({ ...partial, timestamp: NOW }));
    expect(scoreContact(DEFAULT_SCORING_MODEL, {}, [fact], NOW).breakdown).toEqual([
      expect.objectContaining({ rule, kind: 'engagement', points }),
    ]);
  });

  it('keeps summing like the table did: page + identify + pricing page = 16', () => {
    const facts = [
      factOf(event({ metadata: { eventId: 'a', workspaceId: 'ws' }, callType: 'page', event: null })),
      factOf(event({ metadata: { eventId: 'b', workspaceId: 'ws' }, callType: 'identify', event: null })),
      factOf(event({ metadata: { eventId: 'c', workspaceId: 'ws' }, event: 'Pricing Page Viewed' })),
    ];
    expect(scoreContact(DEFAULT_SCORING_MODEL, {}, facts, Math.max(...facts.map((f) => f.at))).total).toBe(
      16,
    );
  });

  it('scores a lead form and fit: a VP at a 500-person software company on a form is 45, free mail costs 10', () => {
    const form: EngagementFact = {
      eventId: 'lead-1',
      callType: 'form',
      name: 'contact-us',
      path: null,
      at: NOW,
    };
    const vp = { title: 'VP Marketing', companySize: 500, industry: 'Software', freeMail: false };
    expect(scoreContact(DEFAULT_SCORING_MODEL, vp, [form], NOW)).toMatchObject({
      fit: 35,
      engagement: 10,
      total: 45,
    });
    expect(scoreContact(DEFAULT_SCORING_MODEL, { ...vp, freeMail: true }, [form], NOW).total).toBe(35);
    expect(scoreContact(DEFAULT_SCORING_MODEL, { disposableEmail: true }, [], NOW).total).toBe(-50);
  });

  it('recognises Head, Director and Chief titles but not managers', () => {
    const titleRule = (title: string) =>
      scoreContact(DEFAULT_SCORING_MODEL, { title }, [], NOW).breakdown.map((l) => l.rule);
    for (const title of ['Head of Growth', 'Marketing Director', 'Chief Revenue Officer', 'SVP Sales'])
      expect(titleRule(title)).toEqual(['senior-title']);
    expect(titleRule('Marketing Manager')).toEqual([]);
  });
});

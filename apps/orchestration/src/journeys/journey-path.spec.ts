import {
  END_OF_JOURNEY,
  afterStep,
  chooseSplit,
  eventEnters,
  holds,
  nextAction,
  type PathContext,
} from './journey-path';
import { journeyOf } from './testing/journey-documents';

const contact = (
  attributes: Record<string, string>,
  properties: Record<string, unknown> = {},
): PathContext => ({
  contactId: 'c-1',
  attributes,
  stage: 'lead',
  score: 30,
  properties,
});

const onboarding = journeyOf({
  name: 'Onboarding',
  entry: { on: 'event', event: 'Trial Started' },
  steps: [
    {
      id: 'by-size',
      type: 'branch',
      branches: [{ when: [{ attribute: 'companySize', op: 'gte', value: 500 }], next: 'enterprise' }],
      otherwise: 'test',
    },
    {
      id: 'test',
      type: 'split',
      paths: [
        { weight: 50, next: 'a' },
        { weight: 50, next: 'b' },
      ],
    },
    { id: 'a', type: 'email', subject: 'A', html: 'a', next: 'done' },
    { id: 'b', type: 'email', subject: 'B', html: 'b', next: 'done' },
    { id: 'enterprise', type: 'wait', duration: '1h' },
    { id: 'done', type: 'exit' },
  ],
});

describe('journey paths', () => {
  it('compares numbers numerically though attributes arrive as strings', () => {
    const big = { attribute: 'companySize', op: 'gte' as const, value: 500 };
    expect(holds(big, contact({ companySize: '1200' }))).toBe(true);
    // As text "90" > "500"; as a number it is not.
    expect(holds(big, contact({ companySize: '90' }))).toBe(false);
    expect(holds(big, contact({}))).toBe(false);
    expect(holds({ attribute: 'country', op: 'in', value: ['DE', 'FR'] }, contact({ country: 'de' }))).toBe(
      true,
    );
  });

  it('walks decisions to the next effect, listing the decisions passed', () => {
    const enterprise = nextAction(onboarding, null, contact({ companySize: '800' }), 'ws:onboarding', 1_000);
    expect(enterprise).toMatchObject({
      kind: 'wait',
      step: { id: 'enterprise' },
      untilMs: 1_000 + 3_600_000,
    });
    expect(enterprise.passed).toEqual(['by-size']);
    const small = nextAction(onboarding, null, contact({ companySize: '10' }), 'ws:onboarding', 0);
    expect(small).toMatchObject({ kind: 'send', step: { type: 'email' } });
    expect(small.passed).toEqual(['by-size', 'test']);
  });

  it('goes on after an effect by its next, else the list order, and ends after the last step', () => {
    expect(afterStep(onboarding, 'a')).toBe('done');
    expect(afterStep(onboarding, 'enterprise')).toBe('done');
    const linear = journeyOf({
      name: 'Linear',
      entry: { on: 'score', atLeast: 50 },
      steps: [
        { id: 'one', type: 'email', subject: '1', html: '1' },
        { id: 'two', type: 'email', subject: '2', html: '2' },
      ],
    });
    expect(afterStep(linear, 'one')).toBe('two');
    expect(afterStep(linear, 'two')).toBe(END_OF_JOURNEY);
    expect(nextAction(linear, END_OF_JOURNEY, contact({}), 'k', 0).kind).toBe('completed');
  });

  it('splits 50/30/20 within ±1% over 100,000 contacts', () => {
    const paths = [
      { weight: 50, next: 'a' },
      { weight: 30, next: 'b' },
      { weight: 20, next: 'c' },
    ];
    const counts = new Map<string, number>();
    for (let i = 0; i < 100_000; i += 1) {
      const path = chooseSplit(paths, `contact-${i}`, 'ws_1:journey:split');
      counts.set(path, (counts.get(path) ?? 0) + 1);
    }
    expect(Math.abs((counts.get('a') ?? 0) / 100_000 - 0.5)).toBeLessThanOrEqual(0.01);
    expect(Math.abs((counts.get('b') ?? 0) / 100_000 - 0.3)).toBeLessThanOrEqual(0.01);
    expect(Math.abs((counts.get('c') ?? 0) / 100_000 - 0.2)).toBeLessThanOrEqual(0.01);
  });

  it('sends a contact down the same path of a split every time, and other splits independently', () => {
    const paths = [
      { weight: 50, next: 'a' },
      { weight: 50, next: 'b' },
    ];
    const contacts = Array.from({ length: 200 }, (_, i) => `c-${i}`);
    const first = contacts.map((c) => chooseSplit(paths, c, 'ws:j:split'));
    expect(contacts.map((c) => chooseSplit(paths, c, 'ws:j:split'))).toEqual(first);
    // Another split (another key) does not mirror this one.
    const other = contacts.map((c) => chooseSplit(paths, c, 'ws:j:other-split'));
    expect(other).not.toEqual(first);
  });

  it('enters a keyed journey with the key from a nested property, and not without it', () => {
    const entry = { on: 'event' as const, event: 'Cart Abandoned', key: 'cart.id', where: [] };
    const call = (properties: Record<string, unknown>) => ({
      callType: 'track',
      name: 'Cart Abandoned',
      properties,
    });
    expect(eventEnters(entry, call({ cart: { id: 42 } }), contact({}))).toEqual({ enters: true, key: '42' });
    expect(eventEnters(entry, call({ cart: {} }), contact({}))).toEqual({ enters: false });
    expect(eventEnters(entry, { ...call({ cart: { id: 1 } }), name: 'Cart Viewed' }, contact({}))).toEqual({
      enters: false,
    });
  });

  it('applies the entry’s property filters', () => {
    const entry = {
      on: 'event' as const,
      event: 'Order Completed',
      where: [{ property: 'total', op: 'gt' as const, value: 100 }],
    };
    const call = (total: number) => ({ callType: 'track', name: 'Order Completed', properties: { total } });
    expect(eventEnters(entry, call(150), contact({}))).toEqual({ enters: true, key: null });
    expect(eventEnters(entry, call(50), contact({}))).toEqual({ enters: false });
  });
});

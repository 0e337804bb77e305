import fc from 'fast-check';
import {
  MANUAL_SOURCE,
  applyChange,
  emptyFieldState,
  mergeLock,
  mergeStates,
  mergeValue,
  survivingValue,
  survivorshipRules,
  type FieldLock,
  type FieldState,
  type FieldValue,
  type SurvivorshipRules,
} from './survivorship';

const SOURCES = ['hubspot', 'salesforce', 'leads', 'shopify'] as const;
const FIELDS = ['email', 'phone', 'lifecyclestage'] as const;

type Change = { field: string } & FieldValue;
type Lock = { field: string } & FieldLock;

const rulesArb: fc.Arbitrary<SurvivorshipRules> = fc
  .record({
    sources: fc.shuffledSubarray([...SOURCES], { minLength: 1 }),
    default: fc.constantFrom('source-priority' as const, 'most-recent' as const),
    fields: fc.dictionary(
      fc.constantFrom(...FIELDS),
      fc.record({ rule: fc.constantFrom('source-priority' as const, 'most-recent' as const) }),
    ),
  })
  .map((raw) => survivorshipRules.parse(raw));

/** Changes with clashing times and values on purpose, so ties are common; event ids are unique. */
const changesArb = fc
  .array(
    fc.record({
      field: fc.constantFrom(...FIELDS),
      value: fc.constantFrom<string | null>(null, '', '  ', 'a', 'b', 'c'),
      source: fc.constantFrom(...SOURCES, MANUAL_SOURCE),
      sourceAt: fc.integer({ min: 0, max: 5 }),
    }),
    { maxLength: 40 },
  )
  .map((changes) => changes.map((c, i) => ({ ...c, eventId: `e-${String(i).padStart(3, '0')}` })));

const locksArb = fc.array(
  fc.record({ field: fc.constantFrom(...FIELDS), locked: fc.boolean(), at: fc.integer({ min: 0, max: 5 }) }),
  { maxLength: 6 },
);

/** Every field's state after taking in the changes and locks in the given order. */
function fold(rules: SurvivorshipRules, events: readonly (Change | Lock)[]): Record<string, FieldState> {
  const states: Record<string, FieldState> = {};
  for (const event of events) {
    const state = states[event.field] ?? emptyFieldState();
    states[event.field] = 'locked' in event ? mergeLock(state, event) : mergeValue(state, event);
  }
  return states;
}

const survivors = (rules: SurvivorshipRules, states: Record<string, FieldState>) =>
  Object.fromEntries(FIELDS.map((f) => [f, survivingValue(rules, f, states[f] ?? emptyFieldState())]));

const filled = (c: Change) => c.value !== null && c.value.trim() !== '';

describe('survivorship', () => {
  it('gives the same golden record whatever order the changes and locks arrive in', () => {
    fc.assert(
      fc.property(
        rulesArb,
        changesArb,
        locksArb,
        fc.infiniteStream(fc.nat()),
        (rules, changes, locks, seeds) => {
          const events: (Change | Lock)[] = [...changes, ...locks];
          const shuffled = events
            .map((event) => ({ event, key: seeds.next().value }))
            .sort((a, b) => a.key - b.key)
            .map(({ event }) => event);
          expect(fold(rules, shuffled)).toEqual(fold(rules, events));
          expect(survivors(rules, fold(rules, shuffled))).toEqual(survivors(rules, fold(rules, events)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never replaces a value with an empty one', () => {
    fc.assert(
      fc.property(rulesArb, changesArb, (rules, changes) => {
        const states = fold(rules, changes);
        for (const field of FIELDS) {
          const hasValue = changes.some((c) => c.field === field && filled(c));
          const surviving = survivingValue(rules, field, states[field] ?? emptyFieldState());
          expect(surviving !== null).toBe(hasValue);
          if (surviving) expect(surviving.value?.trim()).not.toBe('');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the highest-priority source’s value under source-priority, the latest under most-recent', () => {
    fc.assert(
      fc.property(rulesArb, changesArb, (rules, changes) => {
        const automatic = changes.filter((c) => c.source !== MANUAL_SOURCE);
        const states = fold(rules, automatic);
        for (const field of FIELDS) {
          const candidates = automatic.filter((c) => c.field === field && filled(c));
          const surviving = survivingValue(rules, field, states[field] ?? emptyFieldState());
          if (candidates.length === 0) {
            expect(surviving).toBeNull();
            continue;
          }
          const rank = (source: string) =>
            rules.sources.includes(source) ? rules.sources.indexOf(source) : rules.sources.length;
          const rule = rules.fields[field]?.rule ?? rules.default;
          if (rule === 'source-priority')
            expect(rank(surviving?.source ?? '')).toBe(Math.min(...candidates.map((c) => rank(c.source))));
          else expect(surviving?.sourceAt).toBe(Math.max(...candidates.map((c) => c.sourceAt)));
          expect(surviving?.rule).toBe(rule);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('merges two records into the record their changes would have made together, whichever folds into which', () => {
    fc.assert(
      fc.property(rulesArb, changesArb, locksArb, fc.nat(), (rules, changes, locks, cut) => {
        const events: (Change | Lock)[] = [...changes, ...locks];
        const at = events.length === 0 ? 0 : cut % (events.length + 1);
        const [left, right] = [fold(rules, events.slice(0, at)), fold(rules, events.slice(at))];
        const merged = (a: Record<string, FieldState>, b: Record<string, FieldState>) =>
          Object.fromEntries(
            FIELDS.map((f) => [f, mergeStates(a[f] ?? emptyFieldState(), b[f] ?? emptyFieldState())]),
          );
        const together = fold(rules, events);
        expect(survivors(rules, merged(left, right))).toEqual(survivors(rules, together));
        expect(survivors(rules, merged(right, left))).toEqual(survivors(rules, together));
      }),
      { numRuns: 300 },
    );
  });

  it('decides again under new rules from what it kept, as if the changes had come under them', () => {
    fc.assert(
      fc.property(rulesArb, rulesArb, changesArb, (before, after, changes) => {
        // Folding keeps each source's latest value whatever the rules: deciding later under `after` is the same.
        expect(survivors(after, fold(before, changes))).toEqual(survivors(after, fold(after, changes)));
      }),
      { numRuns: 300 },
    );
  });

  const rules = survivorshipRules.parse({
    sources: ['salesforce', 'hubspot'],
    default: 'most-recent',
    fields: { lifecyclestage: { rule: 'source-priority' } },
  });
  const value = (source: string, v: string | null, sourceAt: number, eventId: string): FieldValue => ({
    source,
    value: v,
    sourceAt,
    eventId,
  });

  it('keeps a value locked by hand against later changes, and lets them through once it is unlocked', () => {
    let state = mergeValue(emptyFieldState(), value(MANUAL_SOURCE, '+49 30 1234', 10, 'm1'));
    state = mergeLock(state, { locked: true, at: 10 });
    state = mergeValue(state, value('hubspot', '+49 30 9999', 20, 'h1'));
    expect(survivingValue(rules, 'phone', state)).toMatchObject({
      value: '+49 30 1234',
      rule: 'manual-lock',
    });
    state = mergeLock(state, { locked: false, at: 30 });
    expect(survivingValue(rules, 'phone', state)).toMatchObject({
      value: '+49 30 9999',
      source: 'hubspot',
      rule: 'most-recent',
    });
  });

  it('logs a conflict with both values, the rule and the winner, and names the fields whose value changed', () => {
    const first = applyChange(rules, {}, [
      { field: 'lifecyclestage', ...value('salesforce', 'customer', 10, 's1') },
      { field: 'email', ...value('salesforce', 'ada@example.com', 10, 's1') },
    ]);
    expect(first.changed.sort()).toEqual(['email', 'lifecyclestage']);
    expect(first.conflicts).toEqual([]);
    const second = applyChange(rules, first.fields, [
      { field: 'lifecyclestage', ...value('hubspot', 'lead', 20, 'h1') },
      { field: 'email', ...value('hubspot', 'ada@lovelace.example', 20, 'h1') },
    ]);
    // Salesforce outranks HubSpot for the stage; for the email the later value wins.
    expect(second.changed).toEqual(['email']);
    expect(second.conflicts).toEqual([
      {
        field: 'lifecyclestage',
        rule: 'source-priority',
        winner: value('salesforce', 'customer', 10, 's1'),
        loser: value('hubspot', 'lead', 20, 'h1'),
      },
      {
        field: 'email',
        rule: 'most-recent',
        winner: value('hubspot', 'ada@lovelace.example', 20, 'h1'),
        loser: value('salesforce', 'ada@example.com', 10, 's1'),
      },
    ]);
  });

  it('refuses rules with an unknown rule or field key', () => {
    expect(survivorshipRules.safeParse({ sources: ['hubspot'], default: 'newest' }).success).toBe(false);
    expect(
      survivorshipRules.safeParse({
        sources: ['hubspot'],
        fields: { email: { rule: 'most-recent', lock: true } },
      }).success,
    ).toBe(false);
    expect(survivorshipRules.safeParse({ sources: [] }).success).toBe(false);
  });
});

import { durationMs, parseJourney } from './journey-definition';
import { journeyErrors } from './testing/journey-documents';

const valid = `
name: Abandoned cart
entry: { on: event, event: Cart Abandoned, key: cart.id, where: [{ property: cart.total, op: gte, value: 20 }] }
reentry: { after: 7d }
steps:
  - { id: remind, type: email, subject: "Your cart", html: "<p>{{ event.cart.id }}</p>" }
  - { id: pause, type: wait, duration: 1d }
  - id: by-value
    type: branch
    branches: [{ when: [{ property: cart.total, op: gt, value: 200 }], next: vip }]
    otherwise: done
  - { id: vip, type: email, subject: "10% off", html: "<p>vip</p>" }
  - { id: done, type: exit }
`;

describe('journey definitions', () => {
  it('parses a keyed event journey written in YAML, with defaults filled', () => {
    const parsed = parseJourney(valid, 'application/yaml');
    expect(parsed.ok).toBe(true);
    const journey = parsed.ok ? parsed.value : undefined;
    expect(journey?.entry).toEqual({
      on: 'event',
      event: 'Cart Abandoned',
      key: 'cart.id',
      where: [{ property: 'cart.total', op: 'gte', value: 20 }],
    });
    expect(journey?.steps[0]).toMatchObject({ id: 'remind', category: 'marketing' });
    expect(journey?.reentry).toEqual({ after: '7d' });
  });

  it('names the field of a next that goes nowhere', () => {
    expect(journeyErrors(valid.replace('next: vip', 'next: vipp'))).toContainEqual({
      field: 'steps[2].branches[0].next',
      reason: 'no step with id vipp',
    });
  });

  it('refuses a step nothing leads to', () => {
    // An exit does not fall through to the step listed after it.
    const stranded = `${valid}  - { id: orphan, type: email, subject: "x", html: "x" }\n`;
    expect(journeyErrors(stranded)).toContainEqual({
      field: 'steps[5].id',
      reason: 'step orphan is never reached',
    });
  });

  it('refuses unknown step types and bad durations, each at its field', () => {
    const errors = journeyErrors(
      valid
        .replace('duration: 1d', 'duration: tomorrow')
        .replace('id: done, type: exit', 'id: done, type: teleport'),
    );
    const fields = errors.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['steps[1].duration', 'steps[4].type']));
    expect(errors.find((e) => e.field === 'steps[1].duration')?.reason).toBe(
      'a duration such as 30s, 15m, 2h, 3d or 1w',
    );
  });

  it('refuses a duplicate step id at the second one', () => {
    // vip becomes a second remind; the branch that named vip now goes nowhere as well.
    expect(journeyErrors(valid.replace('id: vip, type: email', 'id: remind, type: email'))).toEqual(
      expect.arrayContaining([
        { field: 'steps[3].id', reason: 'duplicate step id remind' },
        { field: 'steps[2].branches[0].next', reason: 'no step with id vip' },
      ]),
    );
  });

  it('names the field of an email or wait whose next goes nowhere', () => {
    expect(journeyErrors(valid.replace('duration: 1d }', 'duration: 1d, next: later }'))).toContainEqual({
      field: 'steps[1].next',
      reason: 'no step with id later',
    });
  });

  it('refuses property conditions in a journey that does not enter on an event', () => {
    const lifecycle = valid.replace(/entry: .*\n/, 'entry: { on: lifecycle, stage: mql }\n');
    expect(journeyErrors(lifecycle)).toContainEqual({
      field: 'steps[2].branches',
      reason: 'property conditions need an entry on an event',
    });
  });

  it('answers a YAML syntax error with its line', () => {
    expect(journeyErrors('name: x\nsteps: [\n')).toEqual([
      {
        field: '(body)',
        reason: expect.stringMatching(/^not valid YAML: .* at line 3/) as unknown as string,
      },
    ]);
  });

  it('reads durations in seconds to weeks', () => {
    expect([
      durationMs('30s'),
      durationMs('15m'),
      durationMs('2h'),
      durationMs('3d'),
      durationMs('1w'),
    ]).toEqual([30_000, 900_000, 7_200_000, 259_200_000, 604_800_000]);
    expect(durationMs('2 days')).toBeNaN();
  });

  it('takes a wait for an event with both ways out, and refuses match outside a keyed journey', () => {
    const waiting = `
name: Cart
entry: { on: event, event: Cart Abandoned, key: cart.id }
steps:
  - { id: wait-order, type: wait_event, event: Order Completed, match: cart.id, timeout: 1h, onEvent: done }
  - { id: remind, type: email, subject: "Cart", html: "<p>c</p>" }
  - { id: done, type: exit }
`;
    expect(parseJourney(waiting, 'application/yaml').ok).toBe(true);
    const unkeyed = waiting.replace(', key: cart.id', '');
    expect(journeyErrors(unkeyed)).toContainEqual({
      field: 'steps[0].match',
      reason: 'match needs a keyed journey (an entry on an event with a key)',
    });
    expect(journeyErrors(waiting.replace('onEvent: done', 'onEvent: gone'))).toContainEqual({
      field: 'steps[0].onEvent',
      reason: 'no step with id gone',
    });
  });
});

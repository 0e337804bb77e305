import { successorsOf } from './journey-definition';
import { dryRun } from './journey-dry-run';
import { END_OF_JOURNEY, afterWaitCondition, nextAction, type PathContext } from './journey-path';
import { journeyErrors, journeyFromYaml } from './testing/journey-documents';

/** The wait_condition step: waits until the contact meets conditions, or its timeout; as written, planned, dry-run. */

const valid = `
name: Upgrade nudge
entry: { on: event, event: Trial Started }
steps:
  - id: await-pro
    type: wait_condition
    where: [{ attribute: plan, op: eq, value: pro }, { attribute: score, op: gte, value: 20 }]
    timeout: 3d
    onMet: thanks
    onTimeout: nudge
  - { id: nudge, type: email, subject: "Still thinking?", html: "<p>Pro is waiting</p>", next: done }
  - { id: thanks, type: email, subject: "Welcome to Pro", html: "<p>Thanks</p>" }
  - { id: done, type: exit }
`;

const contact = (
  attributes: Record<string, string>,
  score = 30,
  stage: string | null = 'lead',
): PathContext => ({
  contactId: 'c-1',
  attributes,
  stage,
  score,
  properties: {},
});

describe('wait_condition steps', () => {
  const journey = journeyFromYaml(valid);

  it('parses one, its conditions with the default op filled', () => {
    expect(journey.steps[0]).toEqual({
      id: 'await-pro',
      type: 'wait_condition',
      where: [
        { attribute: 'plan', op: 'eq', value: 'pro' },
        { attribute: 'score', op: 'gte', value: 20 },
      ],
      timeout: '3d',
      onMet: 'thanks',
      onTimeout: 'nudge',
    });
  });

  it('refuses a missing timeout, a bad duration and a bad condition, each at its field', () => {
    expect(journeyErrors(valid.replace('    timeout: 3d\n', ''))).toContainEqual(
      expect.objectContaining({ field: 'steps[0].timeout' }),
    );
    expect(journeyErrors(valid.replace('timeout: 3d', 'timeout: soon'))).toContainEqual({
      field: 'steps[0].timeout',
      reason: 'a duration such as 30s, 15m, 2h, 3d or 1w',
    });
    expect(journeyErrors(valid.replace('op: eq, value: pro', 'op: like, value: pro'))).toContainEqual(
      expect.objectContaining({ field: 'steps[0].where[0].op' }),
    );
    expect(
      journeyErrors(valid.replace('{ attribute: plan, op: eq, value: pro }', '{ attribute: plan, op: eq }')),
    ).toContainEqual({
      field: 'steps[0].where[0].value',
      reason: 'value is required for this op',
    });
    expect(journeyErrors(valid.replace(/where: \[.*\]/, 'where: []'))).toContainEqual(
      expect.objectContaining({ field: 'steps[0].where' }),
    );
  });

  it('refuses event properties (they never change while the contact waits) and exits that go nowhere', () => {
    expect(
      journeyErrors(valid.replace('{ attribute: plan, op: eq', '{ property: plan, op: eq')),
    ).toContainEqual({
      field: 'steps[0].where[0].property',
      reason: 'a wait for a condition tests contact attributes, not event properties',
    });
    expect(journeyErrors(valid.replace('onMet: thanks', 'onMet: thank'))).toContainEqual({
      field: 'steps[0].onMet',
      reason: 'no step with id thank',
    });
    expect(journeyErrors(valid.replace('onTimeout: nudge', 'onTimeout: nudj'))).toContainEqual({
      field: 'steps[0].onTimeout',
      reason: 'no step with id nudj',
    });
  });

  it('reaches both exits, and falls through to the next step when an exit is not named', () => {
    expect(successorsOf(journey.steps, 0)).toEqual(['thanks', 'nudge']);
    const unnamed = journeyFromYaml(valid.replace('    onTimeout: nudge\n', ''));
    expect(afterWaitCondition(unnamed, 'await-pro', true)).toBe('thanks');
    expect(afterWaitCondition(unnamed, 'await-pro', false)).toBe('nudge');
    // Neither named: both go to nudge, and nothing leads to thanks any more.
    expect(
      journeyErrors(valid.replace('    onMet: thanks\n', '').replace('    onTimeout: nudge\n', '')),
    ).toContainEqual({ field: 'steps[2].id', reason: 'step thanks is never reached' });
    // The step is the last: both exits end the journey.
    const last = journeyFromYaml(`
name: Last
entry: { on: score, atLeast: 10 }
steps:
  - { id: await, type: wait_condition, where: [{ attribute: stage, value: customer }], timeout: 1h }
`);
    expect(afterWaitCondition(last, 'await', true)).toBe(END_OF_JOURNEY);
  });

  it('goes on at once by onMet when the contact already meets the conditions', () => {
    const action = nextAction(journey, null, contact({ plan: 'Pro' }, 25), 'ws:j', 1_000);
    expect(action).toMatchObject({ kind: 'wait_condition', step: { id: 'await-pro' }, met: true });
    expect(afterWaitCondition(journey, 'await-pro', true)).toBe('thanks');
  });

  it('waits until the timeout when it does not, and then goes by onTimeout', () => {
    // Every condition must hold: plan is pro but the score is short.
    const action = nextAction(journey, null, contact({ plan: 'pro' }, 10), 'ws:j', 1_000);
    expect(action).toMatchObject({ kind: 'wait_condition', met: false, untilMs: 1_000 + 3 * 86_400_000 });
    expect(afterWaitCondition(journey, 'await-pro', false)).toBe('nudge');
  });

  it('tests stage and score as a branch does', () => {
    const staged = journeyFromYaml(`
name: Sales ready
entry: { on: score, atLeast: 10 }
steps:
  - { id: await, type: wait_condition, where: [{ attribute: stage, op: in, value: [sql, opportunity] }], timeout: 1w }
  - { id: done, type: exit }
`);
    expect(nextAction(staged, null, contact({}, 0, 'SQL'), 'k', 0)).toMatchObject({ met: true });
    expect(nextAction(staged, null, contact({}, 0, 'mql'), 'k', 0)).toMatchObject({ met: false });
    expect(nextAction(staged, null, contact({}, 0, null), 'k', 0)).toMatchObject({ met: false });
  });

  it('dry-runs the exit a contact would take now', () => {
    const request = (attributes: Record<string, string>) => ({
      contact: {
        contactId: 'c-1',
        attributes: { email: 'ada@example.com', ...attributes },
        stage: 'lead',
        score: 50,
      },
      event: { name: 'Trial Started', properties: {} },
    });
    const met = dryRun(journey, request({ plan: 'pro' }), 'ws:j');
    expect(met.path.map((s) => [s.stepId, s.action])).toEqual([
      ['await-pro', 'meets the conditions now: goes on at once (condition-met)'],
      ['thanks', 'skips the email: no marketing consent'],
      ['done', 'leaves the journey'],
    ]);
    const waits = dryRun(journey, request({ plan: 'free' }), 'ws:j');
    expect(waits.path.map((s) => [s.stepId, s.action])).toEqual([
      ['await-pro', 'waits up to 3d for the contact to meet the conditions; shown: it does not (timed-out)'],
      ['nudge', 'skips the email: no marketing consent'],
      ['done', 'leaves the journey'],
    ]);
  });
});

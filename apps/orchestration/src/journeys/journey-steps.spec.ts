import { parseJourney } from './journey-definition';
import { dryRun } from './journey-dry-run';
import { afterStep, nextAction, reachesGoal, type PathContext } from './journey-path';
import { journeyErrors, journeyOf } from './testing/journey-documents';

/** Audience, webhook, wait_until, update_attribute steps and the journey goal, as written, planned and dry-run. */

const valid = `
name: Trial nurture
entry: { on: event, event: Trial Started }
goal: { event: Subscription Created, where: [{ property: plan, op: neq, value: free }] }
steps:
  - { id: tag, type: update_attribute, attribute: nurtureTrack, value: "{{ event.plan | default: 'basic' }}" }
  - { id: retarget, type: audience, audience: trial-users, action: add }
  - { id: morning, type: wait_until, time: "09:00", weekdays: [mon, tue, wed, thu, fri] }
  - { id: crm, type: webhook, url: "https://hooks.example.com/trial?token=abc", secret: crm }
  - { id: untarget, type: audience, audience: trial-users, action: remove }
`;

const contact = (attributes: Record<string, string>, zone?: string): PathContext => ({
  contactId: 'c-1',
  attributes,
  stage: 'lead',
  score: 10,
  properties: {},
  ...(zone ? { zone } : {}),
});

describe('journey definitions with audience, webhook, wait_until, update_attribute steps and a goal', () => {
  it('parses them, with defaults filled', () => {
    const parsed = parseJourney(valid, 'application/yaml');
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    expect(parsed.value.goal).toEqual({
      event: 'Subscription Created',
      where: [{ property: 'plan', op: 'neq', value: 'free' }],
    });
    expect(parsed.value.steps[1]).toEqual({
      id: 'retarget',
      type: 'audience',
      audience: 'trial-users',
      action: 'add',
      consent: 'adsMarketingConsent',
    });
    expect(parsed.value.steps[3]).toMatchObject({ type: 'webhook', secret: 'crm' });
  });

  it('names the field of a bad audience step', () => {
    const errors = journeyErrors(
      valid.replace('audience: trial-users, action: add', 'audience: "trial users!", action: subscribe'),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'steps[1].audience', reason: 'letters, digits, ., - and _ (at most 100)' },
        expect.objectContaining({ field: 'steps[1].action' }),
      ]),
    );
  });

  it('names the field of a bad webhook step: no URL credentials, http(s) only, a template that parses', () => {
    expect(
      journeyErrors(
        valid.replace('https://hooks.example.com/trial?token=abc', 'https://user:pw@hooks.example.com/'),
      ),
    ).toContainEqual({
      field: 'steps[3].url',
      reason: 'no credentials in the URL: anyone who can read the journey would read them',
    });
    expect(
      journeyErrors(valid.replace('https://hooks.example.com/trial?token=abc', 'ftp://hooks.example.com/')),
    ).toContainEqual({ field: 'steps[3].url', reason: 'an http or https URL' });
    const templated = journeyErrors(
      valid.replace('secret: crm }', 'secret: crm, body: "{\\"plan\\": {{ event.plan | nosuch }}}" }'),
    );
    expect(templated).toContainEqual({
      field: 'steps[3].body',
      reason: expect.stringMatching(
        /^not a valid Liquid template: undefined filter: nosuch/,
      ) as unknown as string,
    });
    expect(journeyErrors(valid.replace('secret: crm', 'secret: CRM'))).toContainEqual({
      field: 'steps[3].secret',
      reason: 'lower-case letters, digits, - and _ (at most 64)',
    });
  });

  it('names the field of a bad wait_until step', () => {
    const errors = journeyErrors(
      valid.replace(
        'time: "09:00", weekdays: [mon, tue, wed, thu, fri]',
        'time: "9am", weekdays: [mon, mon, funday]',
      ),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'steps[2].time', reason: 'a time of day as HH:mm, e.g. 09:00' },
        expect.objectContaining({ field: 'steps[2].weekdays[2]' }),
      ]),
    );
    expect(
      journeyErrors(valid.replace('weekdays: [mon, tue, wed, thu, fri]', 'weekdays: [mon, mon]')),
    ).toContainEqual({
      field: 'steps[2].weekdays',
      reason: 'each day at most once',
    });
  });

  it('refuses an update_attribute step on identities, consents or a broken template', () => {
    expect(
      journeyErrors(valid.replace('attribute: nurtureTrack', 'attribute: emailMarketingConsent')),
    ).toContainEqual({
      field: 'steps[0].attribute',
      reason: 'identities, stage, score and consents are not set by journeys',
    });
    expect(journeyErrors(valid.replace('attribute: nurtureTrack', 'attribute: email'))).toContainEqual({
      field: 'steps[0].attribute',
      reason: 'identities, stage, score and consents are not set by journeys',
    });
    expect(journeyErrors(valid.replace('attribute: nurtureTrack', 'attribute: "a.b"'))).toContainEqual({
      field: 'steps[0].attribute',
      reason: 'letters, digits, - and _ (at most 64), starting with a letter',
    });
    expect(
      journeyErrors(valid.replace(`"{{ event.plan | default: 'basic' }}"`, '"{{ event.plan"')),
    ).toContainEqual({
      field: 'steps[0].value',
      reason: expect.stringMatching(
        /^not a valid Liquid template: output "{{ event.plan" not closed/,
      ) as unknown as string,
    });
  });

  it('names a bad goal and a next that goes nowhere on the new steps', () => {
    expect(journeyErrors(valid.replace('goal: { event: Subscription Created,', 'goal: { name: x,'))).toEqual(
      expect.arrayContaining([
        { field: 'goal.event', reason: 'required' },
        { field: 'goal.name', reason: 'unknown field' },
      ]),
    );
    expect(journeyErrors(valid.replace('action: add }', 'action: add, next: nowhere }'))).toContainEqual({
      field: 'steps[1].next',
      reason: 'no step with id nowhere',
    });
  });
});

describe('planning the new steps', () => {
  const nurture = (() => {
    const parsed = parseJourney(valid, 'application/yaml');
    if (!parsed.ok) throw new Error('invalid');
    return parsed.value;
  })();

  it('hands audience, webhook and attribute steps to the engine as effects, in order', () => {
    expect(nextAction(nurture, null, contact({}), 'k', 0)).toMatchObject({
      kind: 'effect',
      step: { id: 'tag' },
    });
    expect(nextAction(nurture, afterStep(nurture, 'tag'), contact({}), 'k', 0)).toMatchObject({
      kind: 'effect',
      step: { id: 'retarget' },
    });
    expect(afterStep(nurture, 'retarget')).toBe('morning');
    expect(nextAction(nurture, 'crm', contact({}), 'k', 0)).toMatchObject({
      kind: 'effect',
      step: { type: 'webhook' },
    });
  });

  it('waits until the next weekday 09:00 in the contact’s zone', () => {
    // Friday 2026-03-27 10:00 in Berlin (09:00Z): Monday 09:00, after the change to summer time: 07:00Z.
    const friday = Date.parse('2026-03-27T09:00:00Z');
    const action = nextAction(nurture, 'morning', contact({}, 'Europe/Berlin'), 'k', friday);
    expect(action).toMatchObject({ kind: 'wait', step: { id: 'morning', type: 'wait_until' } });
    expect(action.kind === 'wait' ? new Date(action.untilMs).toISOString() : null).toBe(
      '2026-03-30T07:00:00.000Z',
    );
  });

  it('resolves the zone from the contact’s attributes when the engine gave none', () => {
    const monday = Date.parse('2026-01-19T06:00:00Z');
    const tokyo = nextAction(nurture, 'morning', contact({ timezone: 'Asia/Tokyo' }), 'k', monday);
    // 15:00 in Tokyo on Monday: Tuesday 09:00 JST.
    expect(tokyo.kind === 'wait' ? new Date(tokyo.untilMs).toISOString() : null).toBe(
      '2026-01-20T00:00:00.000Z',
    );
    const german = nextAction(nurture, 'morning', contact({ country: 'DE' }), 'k', monday);
    // 07:00 in Berlin: 09:00 the same day.
    expect(german.kind === 'wait' ? new Date(german.untilMs).toISOString() : null).toBe(
      '2026-01-19T08:00:00.000Z',
    );
  });

  it('reaches the goal only with its event and where its conditions hold', () => {
    const goal = nurture.goal;
    if (!goal) throw new Error('no goal');
    const call = (name: string, properties: Record<string, unknown>) => ({
      callType: 'track',
      name,
      properties,
    });
    expect(reachesGoal(goal, call('Subscription Created', { plan: 'pro' }), contact({}))).toBe(true);
    expect(reachesGoal(goal, call('Subscription Created', { plan: 'free' }), contact({}))).toBe(false);
    expect(reachesGoal(goal, call('Trial Started', { plan: 'pro' }), contact({}))).toBe(false);
    expect(
      reachesGoal(goal, { ...call('Subscription Created', { plan: 'pro' }), callType: 'page' }, contact({})),
    ).toBe(false);
  });
});

describe('the dry run of the new steps', () => {
  const nurture = journeyOf({
    name: 'Trial nurture',
    entry: { on: 'event', event: 'Trial Started' },
    goal: { event: 'Subscription Created' },
    steps: [
      { id: 'tag', type: 'update_attribute', attribute: 'track', value: 'fast' },
      {
        id: 'by-track',
        type: 'branch',
        branches: [{ when: [{ attribute: 'track', value: 'fast' }], next: 'retarget' }],
        otherwise: 'crm',
      },
      { id: 'retarget', type: 'audience', audience: 'trial-users', action: 'add' },
      { id: 'morning', type: 'wait_until', time: '09:00' },
      { id: 'crm', type: 'webhook', url: 'https://hooks.example.com/t?token=secret' },
    ],
  });

  it('lists what each step would do, without doing it', () => {
    const result = dryRun(
      nurture,
      {
        contact: {
          contactId: 'c-1',
          attributes: { email: 'ada@example.com', timezone: 'Europe/Berlin' },
          stage: 'lead',
          score: 0,
        },
        event: { name: 'Trial Started', properties: {} },
      },
      'ws:nurture',
    );
    expect(result.goal).toBe(
      'leaves as converted when Subscription Created is tracked, wherever the contact is',
    );
    expect(
      result.path.map((s) => [s.stepId, s.type, s.action.replace(/now that is .*$/, 'now that is …')]),
    ).toEqual([
      ['tag', 'update_attribute', 'sets track to "fast" and announces it'],
      // The literal value set above is what the branch sees.
      ['by-track', 'branch', 'decides'],
      ['retarget', 'audience', 'skips the audience trial-users: no consent (adsMarketingConsent)'],
      ['morning', 'wait_until', 'waits until 09:00 in Europe/Berlin: now that is …'],
      // The host only: the URL's query may hold the receiver's token.
      ['crm', 'webhook', 'posts a signed JSON payload to hooks.example.com (secret default)'],
      ['(end)', 'end', 'completes the journey'],
    ]);
    expect(result.path[3]?.action).toMatch(/now that is \d{4}-\d\d-\d\dT09:00:00\+0[12]:00$/);
  });
});

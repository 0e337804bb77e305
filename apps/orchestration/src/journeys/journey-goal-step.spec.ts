import { dryRun } from './journey-dry-run';
import { goalsAhead, nextAction, type PathContext } from './journey-path';
import { journeyErrors, journeyFromYaml } from './testing/journey-documents';

/** The goal step: reached meeting its conditions, the contact leaves as converted; from before it, it jumps there. */

const nurture = `
name: Trial to paid
entry: { on: event, event: Trial Started }
steps:
  - { id: day-one, type: email, subject: "Welcome", html: "<p>Hi</p>" }
  - { id: pause, type: wait, duration: 2d }
  - id: by-plan
    type: branch
    branches: [{ when: [{ attribute: plan, value: team }], next: team-tips }]
    otherwise: solo-tips
  - { id: team-tips, type: email, subject: "Invite your team", html: "<p>Team</p>", next: paid }
  - { id: solo-tips, type: email, subject: "Tips", html: "<p>Solo</p>" }
  - id: paid
    type: goal
    where: [{ attribute: stage, value: customer }]
    next: last-call
  - { id: last-call, type: email, subject: "Last call", html: "<p>Upgrade</p>" }
`;

const contact = (stage: string, attributes: Record<string, string> = {}): PathContext => ({
  contactId: 'c-1',
  attributes: { email: 'ada@example.com', emailMarketingConsent: 'true', ...attributes },
  stage,
  score: 10,
  properties: {},
});

describe('goal steps', () => {
  const journey = journeyFromYaml(nurture);

  it('parses one, its conditions with the default op filled', () => {
    expect(journey.steps[5]).toEqual({
      id: 'paid',
      type: 'goal',
      where: [{ attribute: 'stage', op: 'eq', value: 'customer' }],
      next: 'last-call',
    });
  });

  it('refuses one without conditions, with event-property conditions, or going to a missing step', () => {
    const base = (goal: string) => `
name: G
entry: { on: event, event: X }
steps:
  - ${goal}
  - { id: after, type: exit }
`;
    expect(journeyErrors(base('{ id: g, type: goal, where: [] }')).map((e) => e.field)).toEqual([
      'steps[0].where',
    ]);
    expect(
      journeyErrors(base('{ id: g, type: goal, where: [{ property: plan, value: pro }] }')).map(
        (e) => e.field,
      ),
    ).toEqual(['steps[0].where[0].property']);
    expect(
      journeyErrors(
        base('{ id: g, type: goal, where: [{ attribute: plan, value: pro }], next: nowhere }'),
      ).map((e) => e.field),
    ).toContain('steps[0].next');
  });

  it('lists the goals ahead of a step, across branches, and none past them', () => {
    expect(goalsAhead(journey, null).map((g) => g.id)).toEqual(['paid']);
    expect(goalsAhead(journey, 'pause').map((g) => g.id)).toEqual(['paid']);
    expect(goalsAhead(journey, 'solo-tips').map((g) => g.id)).toEqual(['paid']);
    expect(goalsAhead(journey, 'last-call')).toEqual([]);
    const noGoal = journeyFromYaml(`
name: No goal
entry: { on: event, event: Trial Started }
steps:
  - { id: day-one, type: email, subject: "Welcome", html: "<p>Hi</p>" }
`);
    expect(goalsAhead(noGoal, null)).toEqual([]);
  });

  it('sends as usual while the goal is not met, and passes the goal step on to its next', () => {
    const lead = contact('lead');
    expect(nextAction(journey, null, lead, 'k', 0)).toMatchObject({ kind: 'send', step: { id: 'day-one' } });
    expect(nextAction(journey, 'solo-tips', lead, 'k', 0)).toMatchObject({
      kind: 'send',
      step: { id: 'solo-tips' },
    });
    // Past solo-tips: the goal step is walked past (not met) to last-call.
    expect(nextAction(journey, 'paid', lead, 'k', 0)).toEqual({
      kind: 'send',
      step: journey.steps[6],
      passed: ['paid'],
    });
  });

  it('converts a contact who meets the goal from anywhere before it, even mid-wait', () => {
    const customer = contact('customer');
    for (const from of [null, 'pause', 'by-plan', 'team-tips', 'paid'])
      expect(nextAction(journey, from, customer, 'k', 0)).toEqual({
        kind: 'goal',
        step: journey.steps[5],
        passed: [],
      });
    // Past the goal there is nothing to convert to: the last email goes out.
    expect(nextAction(journey, 'last-call', customer, 'k', 0)).toMatchObject({
      kind: 'send',
      step: { id: 'last-call' },
    });
  });

  it('shows both in the dry run: passing the goal, and leaving at it', () => {
    const request = (stage: string) => ({
      contact: {
        contactId: 'c-1',
        attributes: { email: 'ada@example.com', emailMarketingConsent: 'true' },
        stage,
        score: 10,
      },
      event: { name: 'Trial Started', properties: {} },
    });
    const lead = dryRun(journey, request('lead'), 'ws:j');
    expect(lead.path.map((s) => `${s.stepId}:${s.type}`)).toEqual([
      'day-one:email',
      'pause:wait',
      'by-plan:branch',
      'solo-tips:email',
      'paid:goal',
      'last-call:email',
      '(end):end',
    ]);
    expect(lead.path[4]?.action).toMatch(/does not meet the goal: goes on/);
    const customer = dryRun(journey, request('customer'), 'ws:j');
    expect(customer.path).toEqual([
      { stepId: 'paid', type: 'goal', action: 'meets the goal: leaves as converted' },
    ]);
  });
});

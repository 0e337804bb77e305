import {
  FALLBACK_RULE_ID,
  chooseTeam,
  isWorking,
  parseRoutingRules,
  pickOwner,
  type RoutingMember,
  type RoutingRules,
} from './routing-rules';

const member = (ownerId: string, extra: Partial<RoutingMember> = {}): RoutingMember => ({
  ownerId,
  capacity: 10,
  timezone: 'UTC',
  ...extra,
});

const RULES: RoutingRules = {
  acceptWithinMinutes: 30,
  teams: [
    { id: 'dach', members: [member('rep-anna')] },
    { id: 'emea', members: [member('rep-bert')] },
    { id: 'enterprise', members: [member('rep-carl')] },
    { id: 'smb', members: [member('rep-dora')] },
    { id: 'inbound', members: [member('rep-emil')] },
  ],
  rules: [
    { id: 'dach-territory', teamId: 'dach', when: { countries: ['DE', 'AT', 'CH'] } },
    { id: 'emea-region', teamId: 'emea', when: { regions: ['EMEA'] } },
    { id: 'enterprise-segment', teamId: 'enterprise', when: { companySize: { min: 1000 } } },
    { id: 'smb-segment', teamId: 'smb', when: { companySize: { max: 49 } } },
  ],
  fallbackTeamId: 'inbound',
};

describe('chooseTeam', () => {
  it('routes by country (territory)', () => {
    expect(chooseTeam(RULES, { country: 'AT', region: 'EMEA' })).toEqual({
      teamId: 'dach',
      ruleId: 'dach-territory',
    });
  });

  it('routes by sales region, case-insensitively, when no earlier rule matches', () => {
    expect(chooseTeam(RULES, { country: 'FR', region: 'emea' })).toEqual({
      teamId: 'emea',
      ruleId: 'emea-region',
    });
  });

  it('routes by company size (segment), bounds inclusive', () => {
    expect(chooseTeam(RULES, { country: 'US', companySize: 1000 })).toEqual({
      teamId: 'enterprise',
      ruleId: 'enterprise-segment',
    });
    expect(chooseTeam(RULES, { country: 'US', companySize: 49 })).toEqual({
      teamId: 'smb',
      ruleId: 'smb-segment',
    });
  });

  it('takes the first matching rule when several match', () => {
    // Germany with 5,000 employees matches the territory and the enterprise segment: territory comes first.
    expect(chooseTeam(RULES, { country: 'DE', companySize: 5000 }).ruleId).toBe('dach-territory');
  });

  it('falls back when nothing matches, including leads missing the attribute a rule tests', () => {
    expect(chooseTeam(RULES, { country: 'US', companySize: 200 })).toEqual({
      teamId: 'inbound',
      ruleId: FALLBACK_RULE_ID,
    });
    expect(chooseTeam(RULES, {})).toEqual({ teamId: 'inbound', ruleId: 'fallback' });
  });

  it('requires every condition of a rule', () => {
    const rules: RoutingRules = {
      ...RULES,
      rules: [
        {
          id: 'dach-enterprise',
          teamId: 'enterprise',
          when: { countries: ['DE'], companySize: { min: 1000 } },
        },
      ],
    };
    expect(chooseTeam(rules, { country: 'DE', companySize: 20 }).ruleId).toBe('fallback');
    expect(chooseTeam(rules, { country: 'DE', companySize: 2000 }).ruleId).toBe('dach-enterprise');
  });
});

describe('isWorking', () => {
  const berlinOffice = member('rep-anna', {
    timezone: 'Europe/Berlin',
    workingHours: { days: [1, 2, 3, 4, 5], start: '09:00', end: '17:00' },
  });

  it('is always true without working hours', () => {
    expect(isWorking(member('rep-any'), new Date('2025-01-05T03:00:00Z'))).toBe(true);
  });

  it("reads the clock in the member's own time zone", () => {
    const at = new Date('2025-01-08T14:30:00Z'); // Wednesday: 15:30 in Berlin, 09:30 in New York
    const newYork = member('rep-nina', {
      timezone: 'America/New_York',
      workingHours: { days: [1, 2, 3, 4, 5], start: '10:00', end: '18:00' },
    });
    expect(isWorking(berlinOffice, at)).toBe(true);
    expect(isWorking(newYork, at)).toBe(false);
    expect(isWorking(newYork, new Date('2025-01-08T15:00:00Z'))).toBe(true);
  });

  it('follows daylight saving time', () => {
    // 07:30 UTC is 08:30 in Berlin on Friday (CET, +1) but 09:30 on Monday after the switch (CEST, +2).
    expect(isWorking(berlinOffice, new Date('2025-03-28T07:30:00Z'))).toBe(false);
    expect(isWorking(berlinOffice, new Date('2025-03-31T07:30:00Z'))).toBe(true);
    // New York moves on 9 March: 13:30 UTC is 08:30 EST before, 09:30 EDT after.
    const newYork = member('rep-nina', {
      timezone: 'America/New_York',
      workingHours: { days: [1, 2, 3, 4, 5], start: '09:00', end: '17:00' },
    });
    expect(isWorking(newYork, new Date('2025-03-07T13:30:00Z'))).toBe(false);
    expect(isWorking(newYork, new Date('2025-03-10T13:30:00Z'))).toBe(true);
  });

  it('skips days off and treats the end of the shift as exclusive', () => {
    expect(isWorking(berlinOffice, new Date('2025-01-11T10:00:00Z'))).toBe(false); // Saturday
    expect(isWorking(berlinOffice, new Date('2025-01-08T15:59:00Z'))).toBe(true); // 16:59
    expect(isWorking(berlinOffice, new Date('2025-01-08T16:00:00Z'))).toBe(false); // 17:00
    expect(isWorking(berlinOffice, new Date('2025-01-08T08:00:00Z'))).toBe(true); // 09:00
  });
});

describe('pickOwner', () => {
  const now = new Date('2025-01-08T12:00:00Z');
  const team = [member('rep-1'), member('rep-2'), member('rep-3')];

  it('starts at cursor % n', () => {
    expect(pickOwner(team, 0, new Map(), now)?.ownerId).toBe('rep-1');
    expect(pickOwner(team, 4, new Map(), now)?.ownerId).toBe('rep-2');
    expect(pickOwner(team, 5, new Map(), now)?.ownerId).toBe('rep-3');
  });

  it('skips members at capacity', () => {
    const loads = new Map([
      ['rep-1', 10],
      ['rep-2', 9],
    ]);
    expect(pickOwner(team, 0, loads, now)?.ownerId).toBe('rep-2');
    loads.set('rep-2', 10);
    expect(pickOwner(team, 0, loads, now)?.ownerId).toBe('rep-3');
  });

  it('takes nobody with capacity 0', () => {
    expect(pickOwner([member('rep-away', { capacity: 0 })], 0, new Map(), now)).toBeUndefined();
  });

  it('skips excluded members (the owner who missed the SLA)', () => {
    expect(pickOwner(team, 1, new Map(), now, new Set(['rep-2']))?.ownerId).toBe('rep-3');
  });

  it('skips members out of hours and answers undefined when nobody is eligible', () => {
    const asleep = member('rep-tokyo', {
      timezone: 'Asia/Tokyo',
      workingHours: { days: [1, 2, 3, 4, 5], start: '09:00', end: '17:00' },
    });
    // 12:00 UTC is 21:00 in Tokyo.
    expect(pickOwner([asleep, member('rep-2')], 0, new Map(), now)?.ownerId).toBe('rep-2');
    const full = new Map([['rep-2', 10]]);
    expect(pickOwner([asleep, member('rep-2')], 0, full, now)).toBeUndefined();
  });

  it.each([2, 3, 7])('spreads 1,000 leads over %i members within one of each other', (k) => {
    const members = Array.from({ length: k }, (_, i) => member(`rep-${i}`, { capacity: 1000 }));
    const loads = new Map<string, number>();
    for (let cursor = 0; cursor < 1000; cursor += 1) {
      const owner = pickOwner(members, cursor, loads, now);
      if (!owner) throw new Error('everyone is eligible');
      loads.set(owner.ownerId, (loads.get(owner.ownerId) ?? 0) + 1);
    }
    const counts = members.map((m) => loads.get(m.ownerId) ?? 0);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });
});

describe('parseRoutingRules', () => {
  const valid = {
    acceptWithinMinutes: 0.05,
    teams: [
      {
        id: 'emea',
        members: [
          {
            ownerId: 'rep-anna',
            capacity: 5,
            timezone: 'Europe/Berlin',
            workingHours: { days: [1, 2, 3, 4, 5], start: '09:00', end: '17:30' },
          },
        ],
      },
      { id: 'na', members: [{ ownerId: 'rep-carl', capacity: 5, timezone: 'America/New_York' }] },
    ],
    rules: [{ id: 'emea-territory', teamId: 'emea', when: { countries: ['de', 'FR'] } }],
    fallbackTeamId: 'na',
  };

  it('accepts valid rules (fractional SLA) and normalises country codes to upper case', () => {
    const parsed = parseRoutingRules(valid);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.rules.rules[0]?.when.countries).toEqual(['DE', 'FR']);
  });

  const errorsOf = (input: unknown) => {
    const parsed = parseRoutingRules(input);
    return parsed.ok ? [] : parsed.errors;
  };

  it('names each bad field with a reason', () => {
    expect(
      errorsOf({
        ...valid,
        acceptWithinMinutes: 0,
        teams: [
          {
            id: 'emea',
            members: [
              {
                ownerId: 'rep-anna',
                capacity: 1.5,
                timezone: 'Mars/Olympus',
                workingHours: { days: [0], start: '9am', end: '17:00' },
              },
            ],
          },
          valid.teams[1],
        ],
      }).map((e) => e.field),
    ).toEqual(
      expect.arrayContaining([
        'acceptWithinMinutes',
        'teams.0.members.0.capacity',
        'teams.0.members.0.timezone',
        'teams.0.members.0.workingHours.days.0',
        'teams.0.members.0.workingHours.start',
      ]),
    );
  });

  it('checks references and uniqueness', () => {
    const errors = errorsOf({
      ...valid,
      teams: [
        ...valid.teams,
        { id: 'na', members: [valid.teams[1]?.members[0], valid.teams[1]?.members[0]] },
      ],
      rules: [
        { id: 'r1', teamId: 'apac', when: {} },
        { id: 'r1', teamId: 'na', when: {} },
      ],
      fallbackTeamId: 'latam',
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'teams.2.id', reason: "duplicate team id 'na'" },
        { field: 'teams.2.members.1.ownerId', reason: "'rep-carl' is already a member of this team" },
        { field: 'rules.0.teamId', reason: "no team 'apac'" },
        { field: 'rules.1.id', reason: "duplicate rule id 'r1'" },
        { field: 'fallbackTeamId', reason: "no team 'latam'" },
      ]),
    );
  });

  it('refuses a shift ending before it starts, an empty size band, bad country codes and unknown keys', () => {
    const errors = errorsOf({
      ...valid,
      teams: [
        {
          id: 'emea',
          members: [
            {
              ownerId: 'rep-anna',
              capacity: 5,
              timezone: 'UTC',
              workingHours: { days: [1], start: '18:00', end: '09:00' },
            },
          ],
        },
        valid.teams[1],
      ],
      rules: [
        { id: 'fallback', teamId: 'emea', when: { companySize: { min: 500, max: 10 } } },
        { id: 'r2', teamId: 'emea', when: { countries: ['Germany'], territory: 'x' } },
      ],
    });
    expect(errors.map((e) => e.field)).toEqual(
      expect.arrayContaining([
        'teams.0.members.0.workingHours.end',
        'rules.0.id',
        'rules.0.when.companySize.max',
        'rules.1.when.countries.0',
        'rules.1.when',
      ]),
    );
  });

  it('reports a missing body as one error on the body', () => {
    expect(errorsOf(undefined)).toEqual([{ field: 'body', reason: 'Required' }]);
  });
});

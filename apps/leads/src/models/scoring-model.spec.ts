import {
  DEFAULT_SCORING_MODEL,
  parseScoringModel,
  validateScoringModel,
  type ScoringModelError,
} from './scoring-model';

const VALID_YAML = `
mqlThreshold: 40
engagementHalfLifeDays: 14
fit:
  - { id: senior-title, attribute: title, matches: "\\\\b(vp|head|director)\\\\b", points: 20 }
  - { id: mid-market, attribute: companySize, min: 200, max: 5000, points: 15 }
  - { id: software, attribute: industry, equals: [software, saas], points: 10 }
  - { id: nordics, attribute: country, equals: [se, no, dk], points: 3 }
  - { id: free-mail, attribute: freeMail, is: true, points: -10 }
engagement:
  - { id: form-submitted, when: { callType: form }, points: 5 }
  - { id: pricing-page, when: { event: Pricing Page Viewed }, points: 10, cap: 30, halfLifeDays: 7 }
  - { id: docs, when: { callType: page, pathPrefix: /docs }, points: 2 }
  - { id: anything-else, when: {}, points: 1 }
`;

function errorsOf(text: string, contentType?: string): ScoringModelError[] {
  const result = parseScoringModel(text, contentType);
  if (result.ok) throw new Error('expected the model to be rejected');
  return result.errors;
}

const base = { mqlThreshold: 50, engagementHalfLifeDays: 30 };

function validationErrors(model: Record<string, unknown>): ScoringModelError[] {
  const result = validateScoringModel({ ...base, ...model });
  if (result.ok) throw new Error('expected the model to be rejected');
  return result.errors;
}

describe('parseScoringModel', () => {
  it('reads a YAML model and normalises single values to lists', () => {
    const result = parseScoringModel(VALID_YAML, 'application/yaml');
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.model.mqlThreshold).toBe(40);
    expect(result.model.fit[0]).toEqual({
      id: 'senior-title',
      attribute: 'title',
      matches: '\\b(vp|head|director)\\b',
      points: 20,
    });
    expect(result.model.engagement[1]?.when.event).toEqual(['Pricing Page Viewed']);
    expect(result.model.engagement[3]?.when).toEqual({});
  });

  it('keeps YAML 1.2 semantics: the country code NO stays a string', () => {
    const result = parseScoringModel(VALID_YAML, 'text/yaml');
    expect(result.ok && result.model.fit[3]?.equals).toEqual(['se', 'no', 'dk']);
  });

  it('reads JSON by content type, and JSON-looking text without one', () => {
    const json = JSON.stringify({ ...base, fit: [], engagement: [] });
    expect(parseScoringModel(json, 'application/json; charset=utf-8')).toMatchObject({ ok: true });
    expect(parseScoringModel(json)).toMatchObject({ ok: true });
  });

  it('defaults fit and engagement to no rules', () => {
    expect(validateScoringModel(base)).toEqual({ ok: true, model: { ...base, fit: [], engagement: [] } });
  });

  it('reports a YAML syntax error with its line', () => {
    const errors = errorsOf('mqlThreshold: 40\nfit: [ { id: a\n', 'application/yaml');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.field).toBe('(body)');
    expect(errors[0]?.reason).toMatch(/^not valid YAML: .* at line \d+, column \d+$/);
  });

  it('reports a JSON syntax error by its position, without quoting the input back', () => {
    expect(errorsOf('{"mqlThreshold": ', 'application/json')).toEqual([
      { field: '(body)', reason: expect.stringMatching(/^not valid JSON( at position \d+)?$/) as unknown },
    ]);
    expect(errorsOf('"echo-me"x', 'application/json')).toEqual([
      { field: '(body)', reason: expect.not.stringContaining('echo-me') as unknown },
    ]);
  });

  it('refuses YAML nested deeper than the platform allows as too deep, and NUL in any value', () => {
    const deep = `mqlThreshold: ${'['.repeat(5_000)}${']'.repeat(5_000)}\n`;
    expect(errorsOf(deep, 'application/yaml')).toEqual([
      { field: '(body)', reason: 'nests deeper than 64 levels' },
    ]);
    expect(errorsOf('mqlThreshold: 50\nfit:\n  - id: "a\\0b"\n', 'application/yaml')).toEqual([
      { field: 'fit.0.id', reason: 'must not contain the NUL character (\\u0000)' },
    ]);
  });

  it('rejects YAML whose aliases expand past the value limit, before validating it', () => {
    // 600 uses of one 600-value list: 360,000 values to validate from a 10 KB body.
    const values = Array.from({ length: 600 }, (_, i) => `v${i}`).join(', ');
    const aliases = Array.from({ length: 599 }, () => '*rule').join(', ');
    const yaml = [
      'mqlThreshold: 50',
      'engagementHalfLifeDays: 30',
      `fit: [&rule { id: a, attribute: industry, equals: [${values}], points: 1 }, ${aliases}]`,
    ].join('\n');
    expect(errorsOf(yaml, 'application/yaml')).toEqual([
      { field: '(body)', reason: expect.stringContaining('YAML aliases') as unknown },
    ]);
  });

  it('accepts the largest model the rules allow, which stays under the value limit', () => {
    const values = (prefix: string) => Array.from({ length: 500 }, (_, i) => `${prefix}${i}`);
    const model = {
      ...base,
      fit: Array.from({ length: 200 }, (_, r) => ({
        id: `fit-${r}`,
        attribute: 'industry',
        equals: values('industry-'),
        points: 1,
      })),
      engagement: Array.from({ length: 200 }, (_, r) => ({
        id: `engagement-${r}`,
        when: { callType: 'track', event: values('Event '), pathPrefix: '/docs' },
        points: 1,
        cap: 10,
        halfLifeDays: 7,
      })),
    };
    expect(parseScoringModel(JSON.stringify(model), 'application/json')).toMatchObject({ ok: true });
  });

  it('rejects a body that is not a model object', () => {
    expect(errorsOf('', 'application/yaml')).toEqual([
      { field: '(body)', reason: expect.any(String) as unknown },
    ]);
    expect(errorsOf('- just\n- a list\n', 'application/yaml')[0]?.field).toBe('(body)');
  });
});

describe('scoring model validation', () => {
  it('names missing required fields', () => {
    const result = validateScoringModel({ fit: [] });
    expect(result).toEqual({
      ok: false,
      errors: expect.arrayContaining([
        { field: 'mqlThreshold', reason: 'required' },
        { field: 'engagementHalfLifeDays', reason: 'required' },
      ]) as unknown,
    });
  });

  it('rejects a regex that does not compile, with its position in the model', () => {
    const errors = validationErrors({
      fit: [
        { id: 'ok', attribute: 'title', equals: 'CEO', points: 5 },
        { id: 'bad', attribute: 'title', matches: '(vp|director', points: 5 },
      ],
    });
    expect(errors).toEqual([
      {
        field: 'fit[1].matches',
        reason: expect.stringMatching(/^not a valid regular expression/) as unknown,
      },
    ]);
  });

  it('accepts patterns that backtrack catastrophically elsewhere: they run on a linear-time engine', () => {
    const result = validateScoringModel({
      ...base,
      fit: [
        { id: 'nested', attribute: 'title', matches: '^(a+)+$', points: 5 },
        { id: 'alternation', attribute: 'title', matches: '(a|aa)+$', points: 5 },
      ],
    });
    expect(result.ok).toBe(true);
  });

  it('rejects lookarounds and backreferences, which the linear-time engine does not have', () => {
    const errors = validationErrors({
      fit: [
        { id: 'ahead', attribute: 'title', matches: 'vp(?= sales)', points: 5 },
        { id: 'behind', attribute: 'title', matches: '(?<=senior )vp', points: 5 },
        { id: 'backref', attribute: 'title', matches: '(v)\\1p', points: 5 },
      ],
    });
    expect(errors.map((e) => e.field)).toEqual(['fit[0].matches', 'fit[1].matches', 'fit[2].matches']);
    for (const error of errors)
      expect(error.reason).toMatch(/^not a valid regular expression: .*no lookarounds or backreferences/);
  });

  it('rejects duplicate rule ids across fit and engagement', () => {
    const errors = validationErrors({
      fit: [{ id: 'vip', attribute: 'title', equals: 'CEO', points: 5 }],
      engagement: [{ id: 'vip', when: { callType: 'identify' }, points: 5 }],
    });
    expect(errors).toEqual([
      { field: 'engagement[0].id', reason: 'duplicate rule id "vip" (already used by fit[0])' },
    ]);
  });

  it('rejects an unknown attribute, naming the allowed ones', () => {
    const errors = validationErrors({ fit: [{ id: 'x', attribute: 'shoeSize', min: 40, points: 5 }] });
    expect(errors).toEqual([
      {
        field: 'fit[0].attribute',
        reason: expect.stringMatching(/^unknown value "shoeSize"; expected one of title, /) as unknown,
      },
    ]);
  });

  it('rejects unknown fields and call types', () => {
    const errors = validationErrors({
      engagement: [{ id: 'x', when: { callType: 'click', evnt: 'Signup' }, points: 5 }],
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        {
          field: 'engagement[0].when.callType',
          reason: expect.stringMatching(/^unknown value "click"/) as unknown,
        },
        { field: 'engagement[0].when.evnt', reason: 'unknown field' },
      ]),
    );
  });

  it('asks each fit rule for exactly one condition that fits its attribute', () => {
    expect(
      validationErrors({
        fit: [{ id: 'a', attribute: 'title', equals: 'CEO', matches: 'chief', points: 1 }],
      }),
    ).toEqual([
      {
        field: 'fit[0]',
        reason: 'needs exactly one condition: title rules take equals or matches, not both',
      },
    ]);
    expect(validationErrors({ fit: [{ id: 'a', attribute: 'industry', points: 1 }] })).toEqual([
      { field: 'fit[0]', reason: 'needs exactly one condition: industry rules take equals or matches' },
    ]);
    expect(
      validationErrors({ fit: [{ id: 'a', attribute: 'companySize', equals: '50', points: 1 }] }),
    ).toEqual([
      { field: 'fit[0].equals', reason: 'does not apply to companySize; companySize rules take min/max' },
    ]);
    expect(validationErrors({ fit: [{ id: 'a', attribute: 'freeMail', min: 1, points: 1 }] })).toEqual([
      { field: 'fit[0].min', reason: 'does not apply to freeMail; freeMail rules take is' },
    ]);
    expect(
      validationErrors({ fit: [{ id: 'a', attribute: 'companySize', min: 500, max: 50, points: 1 }] }),
    ).toEqual([{ field: 'fit[0].min', reason: 'must not be greater than max' }]);
  });

  it('rejects fractional points, a zero cap and a non-positive half-life', () => {
    const errors = validationErrors({
      engagement: [{ id: 'a', when: { callType: 'track' }, points: 2.5, cap: 0, halfLifeDays: 0 }],
    });
    expect(errors.map((e) => e.field).sort()).toEqual([
      'engagement[0].cap',
      'engagement[0].halfLifeDays',
      'engagement[0].points',
    ]);
  });

  it('rejects an event condition on calls that carry no name', () => {
    expect(
      validationErrors({
        engagement: [{ id: 'a', when: { callType: 'identify', event: 'Signed Up' }, points: 1 }],
      }),
    ).toEqual([
      {
        field: 'engagement[0].when.event',
        reason: 'identify calls have no event or page name, so this could never match',
      },
    ]);
  });

  it('rejects a path prefix that is not a path', () => {
    expect(
      validationErrors({ engagement: [{ id: 'a', when: { pathPrefix: 'pricing' }, points: 1 }] }),
    ).toEqual([{ field: 'engagement[0].when.pathPrefix', reason: 'must start with "/"' }]);
  });
});

describe('DEFAULT_SCORING_MODEL', () => {
  it('is a valid model with the MQL threshold at 50', () => {
    expect(validateScoringModel(DEFAULT_SCORING_MODEL)).toEqual({ ok: true, model: DEFAULT_SCORING_MODEL });
    expect(DEFAULT_SCORING_MODEL.mqlThreshold).toBe(50);
  });

  it('cannot be changed by a caller (it is shared by every workspace)', () => {
    expect(Object.isFrozen(DEFAULT_SCORING_MODEL)).toBe(true);
    expect(Object.isFrozen(DEFAULT_SCORING_MODEL.engagement[0]?.when)).toBe(true);
  });
});

import { z } from 'zod';
import { parseDocument, validateDocument } from '@tributary/runtime';
import type { ContactAttributeName } from '../contacts/contact-attributes';
import { ruleRegexProblem } from './rule-regex';

/** Contact attributes a fit rule can test, grouped by the one kind of condition that makes sense for each. */
export const TEXT_ATTRIBUTES = [
  'title',
  'industry',
  'country',
  'region',
  'companyDomain',
] as const satisfies readonly ContactAttributeName[];
export const NUMBER_ATTRIBUTES = ['companySize'] as const satisfies readonly ContactAttributeName[];
export const FLAG_ATTRIBUTES = [
  'freeMail',
  'disposableEmail',
] as const satisfies readonly ContactAttributeName[];
export const FIT_ATTRIBUTES = [...TEXT_ATTRIBUTES, ...NUMBER_ATTRIBUTES, ...FLAG_ATTRIBUTES] as const;
export type FitAttribute = (typeof FIT_ATTRIBUTES)[number];

/** Tracking call types plus `form`: a lead-form submission (`leads.captured`) counts as engagement too. */
export const ENGAGEMENT_CALL_TYPES = [
  'track',
  'page',
  'screen',
  'identify',
  'group',
  'alias',
  'form',
] as const;
export type EngagementCallType = (typeof ENGAGEMENT_CALL_TYPES)[number];

/** Calls that carry no event or page name, so an `event` condition on them could never match. */
const NAMELESS_CALL_TYPES: readonly EngagementCallType[] = ['identify', 'group', 'alias'];

const MAX_REGEX_LENGTH = 500;
/**
 * Values a model may hold, counting every use of a YAML alias as a copy. The largest valid model (200 + 200 rules of
 * 500 values each) stays below it; a few hundred aliases of a long list do not, and validating them would block
 * the event loop for minutes on a 256 KB body.
 */
export const MAX_MODEL_VALUES = 250_000;

const ruleId = z
  .string({ invalid_type_error: 'must be a string' })
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    'must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit',
  );

const points = z
  .number({ invalid_type_error: 'must be a whole number' })
  .int('must be a whole number')
  .min(-1000, 'must be between -1000 and 1000')
  .max(1000, 'must be between -1000 and 1000');

const halfLifeDays = z
  .number({ invalid_type_error: 'must be a number of days' })
  .positive('must be more than 0 days')
  .max(3650, 'must be at most 3650 days');

/** One string or a list of them; always a list once parsed. */
const textList = z.preprocess(
  (value) => (typeof value === 'string' ? [value] : value),
  z
    .array(z.string({ invalid_type_error: 'must be a string' }).trim().min(1, 'must not be empty').max(200), {
      invalid_type_error: 'must be a string or a list of strings',
    })
    .min(1, 'must list at least one value')
    .max(500, 'must list at most 500 values'),
);

const regexSource = z
  .string({ invalid_type_error: 'must be a regular expression source string' })
  .min(1, 'must not be empty')
  .max(MAX_REGEX_LENGTH, `must be at most ${MAX_REGEX_LENGTH} characters`)
  .superRefine((source, ctx) => {
    // Compiled by the engine that runs it (linear time, see rule-regex.ts), so what passes here also runs there.
    const problem = ruleRegexProblem(source);
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
  });

const fitRuleSchema = z
  .object({
    id: ruleId,
    attribute: z.enum(FIT_ATTRIBUTES),
    /** Any of these values, compared case-insensitively. */
    equals: textList.optional(),
    /** Regular expression source, matched case-insensitively anywhere in the value. */
    matches: regexSource.optional(),
    /** Inclusive bounds, for numeric attributes. */
    min: z.number({ invalid_type_error: 'must be a number' }).finite().optional(),
    max: z.number({ invalid_type_error: 'must be a number' }).finite().optional(),
    /** For yes/no attributes. */
    is: z.boolean({ invalid_type_error: 'must be true or false' }).optional(),
    points,
  })
  .strict()
  .superRefine((rule, ctx) => {
    const given = [
      rule.equals !== undefined && 'equals',
      rule.matches !== undefined && 'matches',
      (rule.min !== undefined || rule.max !== undefined) && 'min/max',
      rule.is !== undefined && 'is',
    ].filter((kind): kind is string => kind !== false);
    const attribute: FitAttribute = rule.attribute;
    const allowed = (TEXT_ATTRIBUTES as readonly string[]).includes(attribute)
      ? ['equals', 'matches']
      : (NUMBER_ATTRIBUTES as readonly string[]).includes(attribute)
        ? ['min/max']
        : ['is'];
    const expected = allowed.join(' or ');
    const wrong = given.filter((kind) => !allowed.includes(kind));
    for (const kind of wrong) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [kind === 'min/max' ? (rule.min !== undefined ? 'min' : 'max') : kind],
        message: `does not apply to ${attribute}; ${attribute} rules take ${expected}`,
      });
    }
    if (wrong.length > 0) return;
    if (given.length !== 1) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `needs exactly one condition: ${attribute} rules take ${expected}${given.length > 1 ? ', not both' : ''}`,
      });
    }
    if (rule.min !== undefined && rule.max !== undefined && rule.min > rule.max) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['min'], message: 'must not be greater than max' });
    }
  });

const engagementRuleSchema = z
  .object({
    id: ruleId,
    /** Every condition given must hold; `{}` matches every fact (a catch-all, best placed last). */
    when: z
      .object({
        callType: z.enum(ENGAGEMENT_CALL_TYPES).optional(),
        /** Track event name or page/screen/form name, compared case-insensitively. */
        event: textList.optional(),
        /** Start of the page path, compared case-insensitively. */
        pathPrefix: z
          .string({ invalid_type_error: 'must be a string' })
          .startsWith('/', 'must start with "/"')
          .max(500)
          .optional(),
      })
      .strict(),
    points,
    /** Most points (in absolute value) the rule can give, after decay. */
    cap: z
      .number({ invalid_type_error: 'must be a whole number' })
      .int('must be a whole number')
      .positive('must be at least 1')
      .max(100_000)
      .optional(),
    /** Overrides the model's engagementHalfLifeDays for this rule. */
    halfLifeDays: halfLifeDays.optional(),
  })
  .strict()
  .superRefine((rule, ctx) => {
    const callType = rule.when.callType;
    if (rule.when.event !== undefined && callType && NAMELESS_CALL_TYPES.includes(callType)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['when', 'event'],
        message: `${callType} calls have no event or page name, so this could never match`,
      });
    }
  });

export const scoringModelSchema = z
  .object({
    /** Score at which a lead becomes an MQL. */
    mqlThreshold: z
      .number({ invalid_type_error: 'must be a number' })
      .positive('must be more than 0')
      .max(1_000_000),
    /** Engagement points halve every this many days (a rule may override it). */
    engagementHalfLifeDays: halfLifeDays,
    fit: z.array(fitRuleSchema).max(200, 'at most 200 fit rules').default([]),
    engagement: z.array(engagementRuleSchema).max(200, 'at most 200 engagement rules').default([]),
  })
  .strict()
  .superRefine((model, ctx) => {
    // Ids name breakdown lines on `leads.scored`, so they are unique across fit and engagement.
    const seen = new Map<string, string>();
    const check = (kind: 'fit' | 'engagement', rules: readonly { id: string }[]): void => {
      rules.forEach((rule, index) => {
        const first = seen.get(rule.id);
        if (first)
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [kind, index, 'id'],
            message: `duplicate rule id "${rule.id}" (already used by ${first})`,
          });
        else seen.set(rule.id, `${kind}[${index}]`);
      });
    };
    check('fit', model.fit);
    check('engagement', model.engagement);
  });

export type ScoringModel = z.output<typeof scoringModelSchema>;
export type FitRule = ScoringModel['fit'][number];
export type EngagementRule = ScoringModel['engagement'][number];

/** One validation problem: where (`fit[2].matches`, `(body)`) and why. */
export interface ScoringModelError {
  field: string;
  reason: string;
}

const MODEL_SHAPE = 'must be an object with mqlThreshold, engagementHalfLifeDays, fit and engagement';

export type ScoringModelParseResult =
  { ok: true; model: ScoringModel } | { ok: false; errors: ScoringModelError[] };

/** Validates an already-parsed model (e.g. a JSON body Nest parsed). */
export function validateScoringModel(value: unknown): ScoringModelParseResult {
  const result = validateDocument(scoringModelSchema, value, MODEL_SHAPE);
  return result.ok ? { ok: true, model: result.value } : result;
}

/** Parses and validates a model sent as YAML or JSON (see parseDocument). */
export function parseScoringModel(text: string, contentType?: string): ScoringModelParseResult {
  const parsed = parseDocument(text, contentType, MAX_MODEL_VALUES);
  return parsed.ok ? validateScoringModel(parsed.value) : parsed;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * The built-in model (version 0) of every workspace that has not stored one. Engagement keeps the walking
 * skeleton's points (pricing page 10, demo request 25, identify 5, any other call 1) under the same rule ids; a lead
 * form submission gives 10. Frozen: it is shared by every workspace and every caller.
 */
export const DEFAULT_SCORING_MODEL: ScoringModel = deepFreeze(
  scoringModelSchema.parse({
    mqlThreshold: 50,
    engagementHalfLifeDays: 30,
    fit: [
      {
        id: 'senior-title',
        attribute: 'title',
        matches: '\\b(vp|svp|evp|vice president|director|head|chief)\\b',
        points: 15,
      },
      { id: 'target-company-size', attribute: 'companySize', min: 50, max: 5000, points: 10 },
      {
        id: 'target-industry',
        attribute: 'industry',
        equals: ['software', 'saas', 'computer software', 'internet', 'information technology', 'technology'],
        points: 10,
      },
      { id: 'free-mail', attribute: 'freeMail', is: true, points: -10 },
      { id: 'disposable-email', attribute: 'disposableEmail', is: true, points: -50 },
    ],
    engagement: [
      { id: 'pricing-page-viewed', when: { callType: 'track', event: 'Pricing Page Viewed' }, points: 10 },
      { id: 'demo-requested', when: { callType: 'track', event: 'Demo Requested' }, points: 25 },
      { id: 'identified', when: { callType: 'identify' }, points: 5 },
      { id: 'form-submitted', when: { callType: 'form' }, points: 10 },
      { id: 'track-call', when: { callType: 'track' }, points: 1 },
      { id: 'page-call', when: { callType: 'page' }, points: 1 },
      { id: 'screen-call', when: { callType: 'screen' }, points: 1 },
      { id: 'group-call', when: { callType: 'group' }, points: 1 },
      { id: 'alias-call', when: { callType: 'alias' }, points: 1 },
    ],
  }),
);

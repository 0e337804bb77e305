import { Liquid } from 'liquidjs';
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { parseDocument, validateDocument, type DocumentParseResult } from '@tributary/runtime';
import { WEEKDAYS } from './local-time';
import { cronProblem } from './journey-schedule';

/**
 * A journey as a workspace writes it (YAML or JSON): how contacts enter, then steps run in list order unless a step
 * names its `next`. Validated into field errors; ids are checked to resolve, and every step to be reachable.
 */

/** `30s`, `15m`, `2h`, `3d`, `1w` → milliseconds. */
export function durationMs(text: string): number {
  const match = /^(\d{1,6})\s*(s|m|h|d|w)$/.exec(text.trim());
  if (!match) return Number.NaN;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[match[2] as 's'];
  return Number(match[1]) * unit;
}

const duration = z
  .string()
  .refine((text) => Number.isFinite(durationMs(text)), 'a duration such as 30s, 15m, 2h, 3d or 1w');

const stepId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, - and _ (at most 64)');

const OPERATORS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'contains', 'exists', 'not_exists', 'in'] as const;
export type ConditionOperator = (typeof OPERATORS)[number];

/** A test on a contact attribute (`attribute`) or the entry event's property (`property`). */
const condition = z
  .object({
    attribute: z.string().min(1).optional(),
    property: z.string().min(1).optional(),
    op: z.enum(OPERATORS).default('eq'),
    value: z
      .union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))])
      .optional(),
  })
  .strict()
  .refine((c) => (c.attribute === undefined) !== (c.property === undefined), {
    message: 'name exactly one of attribute or property',
  })
  .refine((c) => c.op === 'exists' || c.op === 'not_exists' || c.value !== undefined, {
    message: 'value is required for this op',
    path: ['value'],
  });
export type Condition = z.output<typeof condition>;

const STAGES = ['subscriber', 'lead', 'mql', 'sql', 'opportunity', 'customer', 'disqualified'] as const;

const entry = z.discriminatedUnion('on', [
  z
    .object({
      on: z.literal('event'),
      /** A track call's event name, e.g. `Cart Abandoned`. */
      event: z.string().min(1),
      where: z.array(condition).max(20).default([]),
      /** Property whose value keys the enrollment (one per cart id): keyed journeys. */
      key: z.string().min(1).optional(),
    })
    .strict(),
  z.object({ on: z.literal('lifecycle'), stage: z.enum(STAGES) }).strict(),
  z.object({ on: z.literal('score'), atLeast: z.number().int() }).strict(),
  /** A lead given to an owner by the lead service's routing (optionally only to a team or an owner). */
  z
    .object({
      on: z.literal('assigned'),
      team: z.string().min(1).optional(),
      owner: z.string().min(1).optional(),
    })
    .strict(),
  /** An owner did not accept an assigned lead within the workspace's SLA. */
  z.object({ on: z.literal('sla_breached'), team: z.string().min(1).optional() }).strict(),
  /**
   * Attribute conditions, evaluated each time the contact changes: the contact enters when they come to hold (held
   * before, the change does not enter it again).
   */
  z.object({ on: z.literal('attribute'), where: z.array(condition).min(1).max(20) }).strict(),
  /**
   * Everyone in the workspace who matches `where` (and `stage`) at each occurrence of `cron` (five fields, read in
   * `timezone`, else the workspace's zone) or once `at` an instant: exactly one of the two.
   */
  z
    .object({
      on: z.literal('schedule'),
      cron: z
        .string()
        .max(200)
        .superRefine((pattern, ctx) => {
          const problem = cronProblem(pattern);
          if (problem !== null)
            ctx.addIssue({
              code: 'custom',
              message: `not a five-field cron such as "0 9 * * 1" (Mondays 09:00): ${problem}`,
            });
        })
        .optional(),
      at: z
        .string()
        .datetime({ offset: true, message: 'an ISO instant with its offset, e.g. 2027-01-15T09:00:00+01:00' })
        // Written ahead of time; a publish that comes after it runs it at once (see journey-scheduler.service.ts).
        .refine((text) => Date.parse(text) > Date.now(), 'must be in the future')
        .optional(),
      timezone: z
        .string()
        .refine((zone) => IANAZone.isValidZone(zone), 'an IANA time zone such as Europe/Berlin')
        .optional(),
      where: z.array(condition).max(20).default([]),
      stage: z.enum(STAGES).optional(),
    })
    .strict(),
]);
export type JourneyEntry = z.output<typeof entry>;

const reentry = z.union([z.literal('never'), z.literal('always'), z.object({ after: duration }).strict()]);

const next = stepId.optional();

const emailStep = z
  .object({
    id: stepId,
    type: z.literal('email'),
    subject: z.string().min(1).max(998),
    html: z.string().min(1),
    text: z.string().optional(),
    from: z.string().email().optional(),
    /** Marketing needs consent and honours caps; transactional (receipts, resets) does not. */
    category: z.enum(['marketing', 'transactional']).default('marketing'),
    next,
  })
  .strict();

const smsStep = z
  .object({
    id: stepId,
    type: z.literal('sms'),
    /** Up to 10 segments; a Liquid template like an email's. */
    body: z.string().min(1).max(1_600),
    category: z.enum(['marketing', 'transactional']).default('marketing'),
    next,
  })
  .strict();

const waitStep = z.object({ id: stepId, type: z.literal('wait'), duration, next }).strict();

/** Waits for the contact's next `event` (with the enrollment's key in `match`, for keyed journeys) or the timeout. */
const waitEventStep = z
  .object({
    id: stepId,
    type: z.literal('wait_event'),
    event: z.string().min(1),
    /** Property of the awaited event that must equal the enrollment's key, e.g. cart.id. */
    match: z.string().min(1).optional(),
    timeout: duration,
    /** Where the contact goes when the event came; the step after this one when not named. */
    onEvent: stepId.optional(),
    /** Where the contact goes when the time ran out; the step after this one when not named. */
    onTimeout: stepId.optional(),
  })
  .strict();

/** Waits until the contact meets `where` (at once when it already does), looked at each time it changes, or the timeout. */
const waitConditionStep = z
  .object({
    id: stepId,
    type: z.literal('wait_condition'),
    /** Tests on the contact's attributes (stage and score too), as a branch's. */
    where: z.array(condition).min(1).max(20),
    timeout: duration,
    /** Where the contact goes when the conditions came to hold; the step after this one when not named. */
    onMet: stepId.optional(),
    /** Where the contact goes when the time ran out; the step after this one when not named. */
    onTimeout: stepId.optional(),
  })
  .strict();

/**
 * A conversion point in the flow: a contact who reaches it meeting its conditions leaves as converted; one who does
 * not goes on (`next`, else the step after it). A contact anywhere before it who comes to meet them leaves at once.
 */
const goalStep = z
  .object({
    id: stepId,
    type: z.literal('goal'),
    /** Tests on the contact's attributes (stage and score too), as a wait_condition's. */
    where: z.array(condition).min(1).max(20),
    next,
  })
  .strict();

const branchStep = z
  .object({
    id: stepId,
    type: z.literal('branch'),
    branches: z
      .array(z.object({ when: z.array(condition).min(1), next: stepId }).strict())
      .min(1)
      .max(20),
    otherwise: stepId,
  })
  .strict();

const splitStep = z
  .object({
    id: stepId,
    type: z.literal('split'),
    paths: z
      .array(z.object({ weight: z.number().int().min(1).max(100), next: stepId }).strict())
      .min(2)
      .max(10),
  })
  .strict();

const exitStep = z.object({ id: stepId, type: z.literal('exit') }).strict();

// Parses templates when a journey is written: a typo should be a field error, not a failure at the first contact.
const templateChecker = new Liquid({ strictFilters: true });
const template = (maxLength: number) =>
  z
    .string()
    .min(1)
    .max(maxLength)
    .superRefine((text, ctx) => {
      try {
        templateChecker.parse(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not a valid Liquid template: ${(error as Error).message}` });
      }
    });

/** Adds the contact to, or removes it from, an ad platform audience (its email and phone, hashed). */
const audienceStep = z
  .object({
    id: stepId,
    type: z.literal('audience'),
    /** The audience (user list) in the workspace's ad account, e.g. trial-users. */
    audience: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, ., - and _ (at most 100)'),
    action: z.enum(['add', 'remove']),
    /** The attribute that must be "true" before a contact is added (unknown is no consent); removing needs none. */
    consent: z.string().min(1).max(100).default('adsMarketingConsent'),
    next,
  })
  .strict();

const httpUrl = z
  .string()
  .max(2_000)
  .url()
  .superRefine((text, ctx) => {
    const url = new URL(text);
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      ctx.addIssue({ code: 'custom', message: 'an http or https URL' });
    if (url.username !== '' || url.password !== '')
      ctx.addIssue({
        code: 'custom',
        message: 'no credentials in the URL: anyone who can read the journey would read them',
      });
  });

/** POSTs the contact, journey and step as JSON, signed with the workspace's secret, once per visit. */
const webhookStep = z
  .object({
    id: stepId,
    type: z.literal('webhook'),
    url: httpUrl,
    /** A Liquid template that renders the JSON body (use the json filter); the standard payload when absent. */
    body: template(20_000).optional(),
    /** Which of the workspace's signing secrets (JOURNEY_WEBHOOK_SECRETS) signs it. */
    secret: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, - and _ (at most 64)')
      .default('default'),
    next,
  })
  .strict();

/** Waits until a time of day (on some weekdays) in the contact's time zone. */
const waitUntilStep = z
  .object({
    id: stepId,
    type: z.literal('wait_until'),
    time: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day as HH:mm, e.g. 09:00'),
    weekdays: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .max(7)
      .refine((days) => new Set(days).size === days.length, 'each day at most once')
      .optional(),
    next,
  })
  .strict();

/** What only the lead service or the contact may change: identities, computed fields and consents. */
export function isProtectedAttribute(name: string): boolean {
  return (
    ['email', 'phone', 'stage', 'score', 'userId', 'anonymousId'].includes(name) || /Consent$/.test(name)
  );
}

/** Sets a contact attribute (announced on contacts.attributes) that later branches and templates read. */
const updateAttributeStep = z
  .object({
    id: stepId,
    type: z.literal('update_attribute'),
    attribute: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'letters, digits, - and _ (at most 64), starting with a letter')
      .refine(
        (name) => !isProtectedAttribute(name),
        'identities, stage, score and consents are not set by journeys',
      ),
    /** A Liquid template, e.g. "trial" or "{{ event.plan }}". */
    value: template(1_000),
    next,
  })
  .strict();

/**
 * Stores rendered content for the contact under a named slot of the workspace's website (a banner, a hero), read by
 * the site through GET /v1/onsite/:slot; the latest visit's content wins, and it expires after `ttl` when given.
 */
const onsiteStep = z
  .object({
    id: stepId,
    type: z.literal('onsite'),
    slot: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, - and _ (at most 64)'),
    /** A Liquid template rendered as HTML (outputs escaped), e.g. "<p>Welcome back, {{ contact.firstName }}</p>". */
    content: template(20_000),
    ttl: duration.optional(),
    next,
  })
  .strict();

const step = z.discriminatedUnion('type', [
  emailStep,
  smsStep,
  waitStep,
  waitEventStep,
  waitConditionStep,
  goalStep,
  branchStep,
  splitStep,
  exitStep,
  audienceStep,
  webhookStep,
  waitUntilStep,
  updateAttributeStep,
  onsiteStep,
]);
export type JourneyStep = z.output<typeof step>;
export type EmailStep = z.output<typeof emailStep>;
export type SmsStep = z.output<typeof smsStep>;
/** A step that sends a message to the contact. */
export type MessageStep = EmailStep | SmsStep;
export type WaitEventStep = z.output<typeof waitEventStep>;
export type WaitConditionStep = z.output<typeof waitConditionStep>;
export type GoalStep = z.output<typeof goalStep>;
export type AudienceStep = z.output<typeof audienceStep>;
export type WebhookStep = z.output<typeof webhookStep>;
export type WaitUntilStep = z.output<typeof waitUntilStep>;
export type UpdateAttributeStep = z.output<typeof updateAttributeStep>;
export type OnsiteStep = z.output<typeof onsiteStep>;
/** A step whose effect step-effects.ts runs: outside systems (ad platform, webhook), the profile or on-site slots. */
export type EffectStep = AudienceStep | WebhookStep | UpdateAttributeStep | OnsiteStep;

/** The contact's tracked event that ends its journey as a conversion, wherever it is. */
const goal = z
  .object({
    event: z.string().min(1),
    /** Tests on the goal event's properties (`property`) or the contact (`attribute`). */
    where: z.array(condition).max(20).default([]),
  })
  .strict();
export type JourneyGoal = z.output<typeof goal>;

const journeySchema = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(2000).optional(),
    entry,
    reentry: reentry.default('never'),
    goal: goal.optional(),
    steps: z.array(step).min(1).max(200),
  })
  .strict()
  .superRefine((journey, ctx) => {
    const ids = new Map<string, number>();
    journey.steps.forEach((s, i) => {
      if (ids.has(s.id))
        ctx.addIssue({ code: 'custom', path: ['steps', i, 'id'], message: `duplicate step id ${s.id}` });
      ids.set(s.id, i);
    });
    const refer = (target: string | undefined, path: (string | number)[]): void => {
      if (target !== undefined && !ids.has(target))
        ctx.addIssue({ code: 'custom', path, message: `no step with id ${target}` });
    };
    journey.steps.forEach((s, i) => {
      if (s.type === 'branch') {
        s.branches.forEach((b, j) => refer(b.next, ['steps', i, 'branches', j, 'next']));
        refer(s.otherwise, ['steps', i, 'otherwise']);
      } else if (s.type === 'split')
        s.paths.forEach((p, j) => refer(p.next, ['steps', i, 'paths', j, 'next']));
      else if (s.type === 'wait_event') {
        refer(s.onEvent, ['steps', i, 'onEvent']);
        refer(s.onTimeout, ['steps', i, 'onTimeout']);
        if (s.match !== undefined && (journey.entry.on !== 'event' || journey.entry.key === undefined))
          ctx.addIssue({
            code: 'custom',
            path: ['steps', i, 'match'],
            message: 'match needs a keyed journey (an entry on an event with a key)',
          });
      } else if (s.type === 'wait_condition' || s.type === 'goal') {
        if (s.type === 'wait_condition') {
          refer(s.onMet, ['steps', i, 'onMet']);
          refer(s.onTimeout, ['steps', i, 'onTimeout']);
        } else refer(s.next, ['steps', i, 'next']);
        // The entry event never changes while the contact waits: only the contact can come to meet the conditions.
        s.where.forEach((c, j) => {
          if (c.property !== undefined)
            ctx.addIssue({
              code: 'custom',
              path: ['steps', i, 'where', j, 'property'],
              message: `a ${s.type === 'goal' ? 'goal step' : 'wait for a condition'} tests contact attributes, not event properties`,
            });
        });
      } else if (s.type !== 'exit') refer(s.next, ['steps', i, 'next']);
    });
    if (journey.entry.on === 'attribute' || journey.entry.on === 'schedule')
      journey.entry.where.forEach((c, j) => {
        if (c.property !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['entry', 'where', j, 'property'],
            message: `${journey.entry.on === 'schedule' ? 'a schedule' : 'an attribute'} entry tests contact attributes, not event properties`,
          });
      });
    if (
      journey.entry.on === 'schedule' &&
      (journey.entry.cron === undefined) === (journey.entry.at === undefined)
    )
      ctx.addIssue({
        code: 'custom',
        path: ['entry', journey.entry.cron === undefined ? 'cron' : 'at'],
        message: 'name exactly one of cron (recurring) or at (once)',
      });
    if (
      journey.entry.on === 'schedule' &&
      journey.entry.at !== undefined &&
      journey.entry.timezone !== undefined
    )
      ctx.addIssue({
        code: 'custom',
        path: ['entry', 'timezone'],
        message: 'at carries its own offset; timezone is for cron',
      });
    if (journey.entry.on !== 'event') {
      const usesProperty = (conditions: readonly Condition[]): boolean =>
        conditions.some((c) => c.property !== undefined);
      journey.steps.forEach((s, i) => {
        if (s.type === 'branch' && s.branches.some((b) => usesProperty(b.when)))
          ctx.addIssue({
            code: 'custom',
            path: ['steps', i, 'branches'],
            message: 'property conditions need an entry on an event',
          });
      });
    }
    // Each step reachable from the first: a typo in a `next` otherwise strands a step silently.
    const reached = new Set<string>();
    const stack = journey.steps[0] ? [journey.steps[0].id] : [];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      const index = ids.get(id);
      if (reached.has(id) || index === undefined) continue;
      reached.add(id);
      for (const target of successorsOf(journey.steps, index)) stack.push(target);
    }
    journey.steps.forEach((s, i) => {
      if (!reached.has(s.id))
        ctx.addIssue({ code: 'custom', path: ['steps', i, 'id'], message: `step ${s.id} is never reached` });
    });
  });

export type JourneyDefinition = z.output<typeof journeySchema>;

/** The steps a step can go to: its branches, paths or `next`, else the one after it in the list. */
export function successorsOf(steps: readonly JourneyStep[], index: number): string[] {
  const s = steps[index];
  if (!s || s.type === 'exit') return [];
  if (s.type === 'branch') return [...s.branches.map((b) => b.next), s.otherwise];
  if (s.type === 'split') return s.paths.map((p) => p.next);
  if (s.type === 'wait_event' || s.type === 'wait_condition') {
    const after = steps[index + 1]?.id;
    const reached = s.type === 'wait_event' ? s.onEvent : s.onMet;
    return [reached ?? after, s.onTimeout ?? after].filter((id): id is string => id !== undefined);
  }
  const following = s.next ?? steps[index + 1]?.id;
  return following ? [following] : [];
}

/** Values a journey may hold once YAML aliases are expanded: well above any real journey. */
const MAX_JOURNEY_VALUES = 50_000;
const JOURNEY_SHAPE = 'must be an object with name, entry and steps';

export function validateJourney(value: unknown): DocumentParseResult<JourneyDefinition> {
  return validateDocument(journeySchema, value, JOURNEY_SHAPE);
}

export function parseJourney(text: string, contentType?: string): DocumentParseResult<JourneyDefinition> {
  const parsed = parseDocument(text, contentType, MAX_JOURNEY_VALUES);
  return parsed.ok ? validateJourney(parsed.value) : parsed;
}

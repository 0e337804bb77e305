import { DateTime, IANAZone } from 'luxon';
import { z } from 'zod';
import type { ContactAttributes } from '../contacts/contact-attributes';

/** The rule id an assignment carries when no rule matched and the fallback team took the lead. */
export const FALLBACK_RULE_ID = 'fallback';

const id = z
  .string()
  .min(1, 'must not be empty')
  .max(100, 'at most 100 characters')
  .regex(/^[A-Za-z0-9._:@-]+$/, 'letters, digits and . _ : @ - only');

// 24:00 is allowed as an end so a shift can run to midnight.
const clock = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, "must be 'HH:mm' (00:00–24:00)");

const minutesOf = (hhmm: string): number => {
  const [hours, minutes] = hhmm.split(':').map(Number);
  return (hours ?? 0) * 60 + (minutes ?? 0);
};

const workingHoursSchema = z
  .object({
    days: z
      .array(z.number().int().min(1, 'ISO weekday 1 (Mon)–7 (Sun)').max(7, 'ISO weekday 1 (Mon)–7 (Sun)'))
      .min(1, 'name at least one working day')
      .max(7),
    start: clock.refine((value) => value !== '24:00', 'a shift cannot start at 24:00'),
    end: clock,
  })
  .strict()
  .superRefine((hours, ctx) => {
    // Overnight shifts would make "which day" ambiguous; model them as two members or two windows instead.
    if (minutesOf(hours.end) <= minutesOf(hours.start))
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be after start (no overnight shifts)' });
  });

const memberSchema = z
  .object({
    ownerId: id,
    /** Most open (assigned, not closed) leads this owner holds at once; 0 takes no new leads (e.g. on leave). */
    capacity: z.number().int('must be a whole number').min(0).max(100_000),
    timezone: z
      .string()
      .refine((zone) => IANAZone.isValidZone(zone), 'must be an IANA time zone, e.g. Europe/Berlin'),
    workingHours: workingHoursSchema.optional(),
  })
  .strict();

const teamSchema = z
  .object({
    id,
    members: z.array(memberSchema).min(1, 'a team needs at least one member').max(500),
  })
  .strict();

const companySizeSchema = z
  .object({
    min: z.number().int().min(0).optional(),
    max: z.number().int().min(0).optional(),
  })
  .strict()
  .superRefine((size, ctx) => {
    if (size.min === undefined && size.max === undefined)
      ctx.addIssue({ code: 'custom', message: 'give min, max or both' });
    if (size.min !== undefined && size.max !== undefined && size.min > size.max)
      ctx.addIssue({ code: 'custom', path: ['max'], message: 'must be at least min' });
  });

const ruleSchema = z
  .object({
    id: id.refine((value) => value !== FALLBACK_RULE_ID, `'${FALLBACK_RULE_ID}' is reserved`),
    teamId: id,
    when: z
      .object({
        /** Territory by country, ISO 3166-1 alpha-2 (stored upper case, as contacts carry it). */
        countries: z
          .array(
            z
              .string()
              .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166-1 alpha-2 code, e.g. DE')
              .transform((code) => code.toUpperCase()),
          )
          .min(1)
          .optional(),
        /** Territory by sales region (EMEA, NA, ...), compared case-insensitively. */
        regions: z.array(z.string().min(1).max(50)).min(1).optional(),
        /** Segment by employees, bounds inclusive. */
        companySize: companySizeSchema.optional(),
      })
      .strict(),
  })
  .strict();

/** A workspace's routing rules as PUT on `/v1/routing-rules` (JSON). */
export const routingRulesSchema = z
  .object({
    /** The SLA: an owner must accept within this many minutes or the lead is reassigned (fractions allowed). */
    acceptWithinMinutes: z.number().positive('must be greater than 0').max(525_600, 'at most a year'),
    teams: z.array(teamSchema).min(1, 'define at least one team').max(100),
    /** Checked in order; the first whose conditions all hold picks the team. */
    rules: z.array(ruleSchema).max(500),
    /** Team of leads no rule matches. */
    fallbackTeamId: id,
  })
  .strict()
  .superRefine((config, ctx) => {
    const teamIds = new Set<string>();
    config.teams.forEach((team, t) => {
      if (teamIds.has(team.id))
        ctx.addIssue({ code: 'custom', path: ['teams', t, 'id'], message: `duplicate team id '${team.id}'` });
      teamIds.add(team.id);
      const owners = new Set<string>();
      team.members.forEach((member, m) => {
        if (owners.has(member.ownerId))
          ctx.addIssue({
            code: 'custom',
            path: ['teams', t, 'members', m, 'ownerId'],
            message: `'${member.ownerId}' is already a member of this team`,
          });
        owners.add(member.ownerId);
      });
    });
    const ruleIds = new Set<string>();
    config.rules.forEach((rule, r) => {
      if (ruleIds.has(rule.id))
        ctx.addIssue({ code: 'custom', path: ['rules', r, 'id'], message: `duplicate rule id '${rule.id}'` });
      ruleIds.add(rule.id);
      if (!teamIds.has(rule.teamId))
        ctx.addIssue({ code: 'custom', path: ['rules', r, 'teamId'], message: `no team '${rule.teamId}'` });
    });
    if (!teamIds.has(config.fallbackTeamId))
      ctx.addIssue({
        code: 'custom',
        path: ['fallbackTeamId'],
        message: `no team '${config.fallbackTeamId}'`,
      });
  });

export type RoutingRules = z.infer<typeof routingRulesSchema>;
export type RoutingTeam = RoutingRules['teams'][number];
export type RoutingMember = RoutingTeam['members'][number];
export type RoutingRule = RoutingRules['rules'][number];

/** One problem with submitted rules, named by its JSON path (e.g. `teams.0.members.1.timezone`). */
export interface RoutingRulesError {
  field: string;
  reason: string;
}

/** Validates and normalises routing rules; every problem is reported at once. */
export function parseRoutingRules(
  input: unknown,
): { ok: true; rules: RoutingRules } | { ok: false; errors: RoutingRulesError[] } {
  const parsed = routingRulesSchema.safeParse(input);
  if (parsed.success) return { ok: true, rules: parsed.data };
  return {
    ok: false,
    errors: parsed.error.issues.map((issue) => ({
      field: issue.path.join('.') || 'body',
      reason: issue.message,
    })),
  };
}

function matches(rule: RoutingRule, attributes: ContactAttributes): boolean {
  const { countries, regions, companySize } = rule.when;
  if (countries && !(attributes.country && countries.includes(attributes.country.toUpperCase())))
    return false;
  if (
    regions &&
    !(
      attributes.region && regions.some((region) => region.toLowerCase() === attributes.region?.toLowerCase())
    )
  )
    return false;
  if (companySize) {
    const size = attributes.companySize;
    if (size === undefined) return false;
    if (companySize.min !== undefined && size < companySize.min) return false;
    if (companySize.max !== undefined && size > companySize.max) return false;
  }
  return true;
}

/**
 * The team a lead goes to: the first rule whose conditions all hold (territory by country or region, segment by
 * company size; a lead missing an attribute a rule tests does not match it), else the fallback team.
 */
export function chooseTeam(
  rules: RoutingRules,
  attributes: ContactAttributes,
): { teamId: string; ruleId: string } {
  const rule = rules.rules.find((candidate) => matches(candidate, attributes));
  return rule
    ? { teamId: rule.teamId, ruleId: rule.id }
    : { teamId: rules.fallbackTeamId, ruleId: FALLBACK_RULE_ID };
}

/** Whether a member is on shift at `at`, in their own time zone; no working hours means always. */
export function isWorking(member: RoutingMember, at: Date): boolean {
  const hours = member.workingHours;
  if (!hours) return true;
  const local = DateTime.fromJSDate(at, { zone: member.timezone });
  if (!hours.days.includes(local.weekday)) return false;
  const minute = local.hour * 60 + local.minute;
  return minute >= minutesOf(hours.start) && minute < minutesOf(hours.end);
}

/**
 * Round-robin choice: starting at `cursor % n`, the first member who is working at `at`, holds fewer open leads
 * than their capacity (`loads`: open leads per ownerId, missing = 0) and is not excluded (e.g. the owner who just
 * missed the SLA). Undefined when nobody is eligible: the lead waits.
 */
export function pickOwner(
  members: readonly RoutingMember[],
  cursor: number,
  loads: ReadonlyMap<string, number>,
  at: Date,
  exclude: ReadonlySet<string> = new Set(),
): RoutingMember | undefined {
  const n = members.length;
  if (n === 0) return undefined;
  const start = ((Math.trunc(cursor) % n) + n) % n;
  for (let step = 0; step < n; step += 1) {
    const member = members[(start + step) % n];
    if (!member || exclude.has(member.ownerId)) continue;
    if ((loads.get(member.ownerId) ?? 0) >= member.capacity) continue;
    if (isWorking(member, at)) return member;
  }
  return undefined;
}

/** The team `teamId` of the rules, else the fallback team (a team removed since the lead was routed). */
export function teamOf(rules: RoutingRules, teamId: string): RoutingTeam {
  const team =
    rules.teams.find((candidate) => candidate.id === teamId) ??
    rules.teams.find((candidate) => candidate.id === rules.fallbackTeamId);
  // Validation guarantees the fallback team exists.
  if (!team) throw new Error(`routing rules without fallback team '${rules.fallbackTeamId}'`);
  return team;
}

import type { TrackingEvent } from '@tributary/contracts';
import type { ContactAttributes } from '../contacts/contact-attributes';
import type { EngagementRule, FitRule, ScoringModel } from './scoring-model';
import { compileRuleRegex, type RuleRegex } from './rule-regex';

/** What engagement scoring needs to remember of an event: enough to rescore it under any model version. */
export interface EngagementFact {
  eventId: string;
  /** A tracking call type, or `form` for a lead-form submission. */
  callType: string;
  /** Track event name, page/screen name or form id; null when the call has none. */
  name: string | null;
  /** Page path (no query or fragment) when the event carries one. */
  path: string | null;
  /** When it happened, epoch ms. */
  at: number;
}

/** One rule's share of a score, as stored on the contact and carried on `leads.scored`. */
export interface ScoreBreakdownLine {
  rule: string;
  kind: 'fit' | 'engagement';
  points: number;
  reason: string;
}

export interface ContactScore {
  fit: number;
  engagement: number;
  total: number;
  breakdown: ScoreBreakdownLine[];
}

const DAY_MS = 86_400_000;

function jsonObject(text: string | null): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim().length > 0 ? value.trim() : undefined;
}

/** A path without query or fragment from a path (`/pricing?x=1`) or an absolute URL; undefined otherwise. */
function pathFrom(value: unknown, isUrl: boolean): string | undefined {
  const text = nonEmpty(value);
  if (!text) return undefined;
  if (isUrl) {
    try {
      return new URL(text).pathname;
    } catch {
      return undefined;
    }
  }
  const path = text.split(/[?#]/, 1)[0] ?? '';
  return path.startsWith('/') ? path : undefined;
}

function pathOf(event: TrackingEvent): string | null {
  const properties = jsonObject(event.propertiesJson) ?? {};
  const page = jsonObject(event.contextJson)?.['page'];
  const context = page && typeof page === 'object' ? (page as Record<string, unknown>) : {};
  const fromProperties = [pathFrom(properties['path'], false), pathFrom(properties['url'], true)];
  const fromContext = [pathFrom(context['path'], false), pathFrom(context['url'], true)];
  // A page call's properties describe the page itself; on other calls `properties.path` may mean anything
  // (a downloaded file, say), so the page the SDK was on comes first.
  const candidates =
    event.callType === 'page' ? [...fromProperties, ...fromContext] : [...fromContext, ...fromProperties];
  return candidates.find((path) => path !== undefined) ?? null;
}

/**
 * The instant to score as of after events at `times` (epoch ms, at least one): the newest of them, but never after
 * `latest`, the latest time an event may claim (the scorer's clock plus the allowed skew). Any producer may publish
 * to `tracking.events`, not only the edge that clamps client times, and one event stamped `9999-12-31` must not move
 * a contact's clock: scored as of then, every other fact would have decayed to nothing.
 */
export function scoringInstant(times: readonly number[], latest: number): number {
  return Math.min(Math.max(...times), latest);
}

/**
 * The engagement fact of a tracking call: track → event name, page/screen → page name, path from page data. Its
 * time is never after `latest` (see `scoringInstant`): stored as it came, a fact from the future would count as
 * newer than any later event, never decaying.
 */
export function engagementFactOf(event: TrackingEvent, latest: number): EngagementFact {
  const name =
    event.callType === 'track'
      ? event.event
      : event.callType === 'page' || event.callType === 'screen'
        ? event.name
        : null;
  return {
    eventId: event.metadata.eventId,
    callType: event.callType,
    name: nonEmpty(name) ?? null,
    path: pathOf(event),
    at: Math.min(event.timestamp, latest),
  };
}

/** `points × 0.5^(age / half-life)`; a fact from the future (clock skew) counts fully. */
export function decayedPoints(points: number, ageMs: number, halfLifeDays: number): number {
  return points * 0.5 ** (Math.max(0, ageMs) / (halfLifeDays * DAY_MS));
}

/**
 * Rounds half away from zero (2.5 → 3, -2.5 → -3), so a penalty decays exactly like a bonus. The tiny epsilon
 * keeps values that are a half in exact arithmetic (0.5^n products) from falling just short in floating point.
 */
export function roundPoints(value: number): number {
  const rounded = Math.floor(Math.abs(value) + 0.5 + 1e-9);
  return rounded === 0 ? 0 : Math.sign(value) * rounded;
}

// Rules are immutable once parsed, so their normalised conditions are computed once per rule object.
const regexCache = new WeakMap<FitRule, RuleRegex>();
// A stored model validated before patterns ran on RE2 may hold one it cannot compile (a lookaround): that rule
// matches nothing rather than failing every score of the workspace.
const NEVER: RuleRegex = { test: () => false };
const valueSetCache = new WeakMap<object, Set<string>>();

function valueSet(owner: object, values: readonly string[]): Set<string> {
  let set = valueSetCache.get(owner);
  if (!set) {
    set = new Set(values.map((value) => value.trim().toLowerCase()));
    valueSetCache.set(owner, set);
  }
  return set;
}

function regexOf(rule: FitRule, source: string): RuleRegex {
  let regex = regexCache.get(rule);
  if (!regex) {
    try {
      regex = compileRuleRegex(source);
    } catch {
      regex = NEVER;
    }
    regexCache.set(rule, regex);
  }
  return regex;
}

/** Why a fit rule matched, or undefined when it does not. An attribute the contact lacks never matches. */
function fitReason(rule: FitRule, attributes: ContactAttributes): string | undefined {
  const value = attributes[rule.attribute];
  if (rule.is !== undefined) {
    return value === rule.is ? `${rule.attribute} is ${String(rule.is)}` : undefined;
  }
  if (rule.min !== undefined || rule.max !== undefined) {
    if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
    if (rule.min !== undefined && value < rule.min) return undefined;
    if (rule.max !== undefined && value > rule.max) return undefined;
    const bounds = [rule.min !== undefined && `≥ ${rule.min}`, rule.max !== undefined && `≤ ${rule.max}`];
    return `${rule.attribute} ${bounds.filter(Boolean).join(' and ')}`;
  }
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (rule.equals !== undefined) {
    if (!valueSet(rule, rule.equals).has(value.trim().toLowerCase())) return undefined;
    return rule.equals.length === 1
      ? `${rule.attribute} is "${rule.equals[0]}"`
      : `${rule.attribute} is one of ${rule.equals.join(', ')}`;
  }
  if (rule.matches !== undefined) {
    return regexOf(rule, rule.matches).test(value)
      ? `${rule.attribute} matches /${rule.matches}/i`
      : undefined;
  }
  return undefined;
}

function engagementMatches(rule: EngagementRule, fact: EngagementFact): boolean {
  const when = rule.when;
  if (when.callType !== undefined && fact.callType !== when.callType) return false;
  if (when.event !== undefined) {
    if (fact.name === null || !valueSet(when, when.event).has(fact.name.trim().toLowerCase())) return false;
  }
  if (when.pathPrefix !== undefined) {
    if (fact.path === null || !fact.path.toLowerCase().startsWith(when.pathPrefix.toLowerCase()))
      return false;
  }
  return true;
}

/**
 * The engagement rule a fact counts for: the FIRST rule, in model order, whose conditions all hold, so specific
 * rules go before catch-alls (a pricing-page view is not also a generic track call). Undefined: it counts for none.
 */
export function engagementRuleFor(model: ScoringModel, fact: EngagementFact): EngagementRule | undefined {
  return model.engagement.find((rule) => engagementMatches(rule, fact));
}

function compareFacts(a: EngagementFact, b: EngagementFact): number {
  if (a.at !== b.at) return a.at - b.at;
  if (a.eventId !== b.eventId) return a.eventId < b.eventId ? -1 : 1;
  const ka = `${a.callType}\u0000${a.name ?? ''}\u0000${a.path ?? ''}`;
  const kb = `${b.callType}\u0000${b.name ?? ''}\u0000${b.path ?? ''}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function formatDays(days: number): string {
  return `${Number(days.toFixed(2))} d`;
}

/**
 * Scores a contact under a model as of `asOf` (epoch ms). Pure and deterministic: facts are sorted by (at, eventId)
 * and de-duplicated by eventId first, so the same inputs give the same output in any order.
 *
 * - Fit: every matching fit rule counts its points once.
 * - Engagement: each fact counts for the first matching engagement rule only, worth
 *   `points × 0.5^((asOf − at) / halfLife)` (the rule's half-life, else the model's; facts after `asOf` count fully).
 *   A rule's decayed points are summed, limited to ±cap, then rounded half away from zero to an integer; rules that
 *   round to 0 are left out of the breakdown.
 * - total = fit + engagement, each the sum of its breakdown lines (fit rules first, then engagement, in model order).
 */
export function scoreContact(
  model: ScoringModel,
  attributes: ContactAttributes,
  facts: readonly EngagementFact[],
  asOf: number,
): ContactScore {
  const breakdown: ScoreBreakdownLine[] = [];
  for (const rule of model.fit) {
    const reason = fitReason(rule, attributes);
    if (reason !== undefined) breakdown.push({ rule: rule.id, kind: 'fit', points: rule.points, reason });
  }

  const sums = new Map<EngagementRule, { points: number; count: number }>();
  const seen = new Set<string>();
  for (const fact of [...facts].sort(compareFacts)) {
    if (seen.has(fact.eventId)) continue;
    seen.add(fact.eventId);
    const rule = engagementRuleFor(model, fact);
    if (!rule) continue;
    const halfLife = rule.halfLifeDays ?? model.engagementHalfLifeDays;
    const sum = sums.get(rule) ?? { points: 0, count: 0 };
    sum.points += decayedPoints(rule.points, asOf - fact.at, halfLife);
    sum.count += 1;
    sums.set(rule, sum);
  }
  for (const rule of model.engagement) {
    const sum = sums.get(rule);
    if (!sum) continue;
    const capped =
      rule.cap !== undefined && Math.abs(sum.points) > rule.cap
        ? Math.sign(sum.points) * rule.cap
        : sum.points;
    const points = roundPoints(capped);
    if (points === 0) continue;
    const halfLife = rule.halfLifeDays ?? model.engagementHalfLifeDays;
    const reason =
      `${sum.count} event${sum.count === 1 ? '' : 's'}, half-life ${formatDays(halfLife)}` +
      (capped !== sum.points ? `, capped at ${rule.cap}` : '');
    breakdown.push({ rule: rule.id, kind: 'engagement', points, reason });
  }

  const sumOf = (kind: ScoreBreakdownLine['kind']) =>
    breakdown.filter((line) => line.kind === kind).reduce((total, line) => total + line.points, 0);
  const fit = sumOf('fit');
  const engagement = sumOf('engagement');
  return { fit, engagement, total: fit + engagement, breakdown };
}

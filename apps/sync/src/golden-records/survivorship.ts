import { z } from 'zod';

/**
 * Survivorship as data: which value of a field a golden record keeps when sources disagree. Per workspace and entity:
 * the sources in priority order (highest first) and, per field, the rule that decides (the default for the rest).
 * - `source-priority`: the value of the highest-priority source that has one; the most recent within a source.
 * - `most-recent`: the value changed last by its source's own clock; priority breaks a tie.
 * Whatever the rule, a value is never replaced by an empty one, and a field locked by hand keeps the manual value.
 */
export const survivorshipRules = z
  .object({
    sources: z.array(z.string().min(1)).min(1),
    default: z.enum(['source-priority', 'most-recent']).default('most-recent'),
    fields: z.record(z.object({ rule: z.enum(['source-priority', 'most-recent']) }).strict()).default({}),
  })
  .strict();

export type SurvivorshipRules = z.output<typeof survivorshipRules>;
export type FieldRule = SurvivorshipRules['default'];

/** The source whose values a person set by hand (the API); it may lock a field. */
export const MANUAL_SOURCE = 'manual';

/** One source's value of one field, as a change reported it. */
export interface FieldValue {
  value: string | null;
  source: string;
  /** When the source changed it, by the source's clock. */
  sourceAt: number;
  /** The change it came with: the last tie-break, so equal values from equal instants still order. */
  eventId: string;
}

/** A lock set or lifted by hand: the latest one (by its time) stands. */
export interface FieldLock {
  locked: boolean;
  at: number;
}

/**
 * What a golden record keeps of a field: each source's latest value (a newer empty value never replaces a filled one)
 * and the lock. Each is the maximum of what arrived under an order that does not depend on the rules, so the state is
 * the same whatever order the changes came in, and a change of the rules decides again from the same state.
 */
export interface FieldState {
  bySource: Record<string, FieldValue>;
  lock: FieldLock | null;
}

/** A field's surviving value with its provenance: the source, the source's time and the rule that decided. */
export interface SurvivingValue extends FieldValue {
  rule: FieldRule | 'manual-lock';
}

export const emptyFieldState = (): FieldState => ({ bySource: {}, lock: null });

const isEmpty = (value: string | null) => value === null || value.trim() === '';

/** Lower is better; sources not listed rank below all listed ones, the manual source above all. */
function rankOf(rules: SurvivorshipRules, source: string): number {
  if (source === MANUAL_SOURCE) return -1;
  const index = rules.sources.indexOf(source);
  return index < 0 ? rules.sources.length : index;
}

export function ruleOf(rules: SurvivorshipRules, field: string): FieldRule {
  return rules.fields[field]?.rule ?? rules.default;
}

/** Positive when `a` should survive over `b` under `rule`: a total order, so merging is commutative. */
export function compareValues(
  rules: SurvivorshipRules,
  rule: FieldRule,
  a: FieldValue,
  b: FieldValue,
): number {
  const byContent = Number(!isEmpty(a.value)) - Number(!isEmpty(b.value));
  if (byContent !== 0) return byContent;
  const byRank = rankOf(rules, b.source) - rankOf(rules, a.source);
  const byTime = a.sourceAt - b.sourceAt;
  const primary = rule === 'source-priority' ? [byRank, byTime] : [byTime, byRank];
  for (const difference of primary) if (difference !== 0) return difference;
  const byValue = (a.value ?? '').localeCompare(b.value ?? '', 'en');
  if (byValue !== 0) return byValue;
  return a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
}

/** Within one source the rank is equal, so this order is the same under every rule set. */
const NO_RULES: SurvivorshipRules = { sources: [MANUAL_SOURCE], default: 'most-recent', fields: {} };

/** The field's state once `incoming` is taken in (the state is not changed in place). */
export function mergeValue(state: FieldState, incoming: FieldValue): FieldState {
  const held = state.bySource[incoming.source];
  if (held && compareValues(NO_RULES, 'most-recent', held, incoming) >= 0) return state;
  return { bySource: { ...state.bySource, [incoming.source]: incoming }, lock: state.lock };
}

/** Two states of one field as one (a merge of two golden records): each source's latest, and the later lock. */
export function mergeStates(a: FieldState, b: FieldState): FieldState {
  let merged = a;
  for (const value of Object.values(b.bySource)) merged = mergeValue(merged, value);
  return b.lock ? mergeLock(merged, b.lock) : merged;
}

/** The field's state once a lock change is taken in: the later one stands; at one instant, locked wins. */
export function mergeLock(state: FieldState, incoming: FieldLock): FieldState {
  const current = state.lock;
  const later =
    !current ||
    incoming.at > current.at ||
    (incoming.at === current.at && incoming.locked && !current.locked);
  return later ? { ...state, lock: incoming } : state;
}

/** The best value under the field's rule among the sources' latest ones, or null when none holds one. */
function bestOf(rules: SurvivorshipRules, field: string, state: FieldState): FieldValue | null {
  const rule = ruleOf(rules, field);
  let best: FieldValue | null = null;
  for (const value of Object.values(state.bySource))
    if (!best || compareValues(rules, rule, value, best) > 0) best = value;
  return best;
}

/** What survives: the manual value of a locked field, else the best value (null when no source has one). */
export function survivingValue(
  rules: SurvivorshipRules,
  field: string,
  state: FieldState,
): SurvivingValue | null {
  const manual = state.bySource[MANUAL_SOURCE];
  if (state.lock?.locked && manual && !isEmpty(manual.value)) return { ...manual, rule: 'manual-lock' };
  const best = bestOf(rules, field, state);
  if (!best || isEmpty(best.value)) return null;
  return { ...best, rule: ruleOf(rules, field) };
}

/**
 * A conflict worth logging: two sources hold different non-empty values of a field, and one of them lost. Reports
 * both values, the rule, and which won.
 */
export interface FieldConflict {
  field: string;
  rule: SurvivingValue['rule'];
  winner: FieldValue;
  loser: FieldValue;
}

/** Takes a change's values into a record's fields: the new states, what now survives, and the conflicts it met. */
export function applyChange(
  rules: SurvivorshipRules,
  fields: Readonly<Record<string, FieldState>>,
  values: readonly ({ field: string } & FieldValue)[],
): { fields: Record<string, FieldState>; changed: string[]; conflicts: FieldConflict[] } {
  const next: Record<string, FieldState> = { ...fields };
  const changed: string[] = [];
  const conflicts: FieldConflict[] = [];
  for (const { field, ...incoming } of values) {
    const before = next[field] ?? emptyFieldState();
    const was = survivingValue(rules, field, before);
    const after = mergeValue(before, incoming);
    next[field] = after;
    const now = survivingValue(rules, field, after);
    if ((was?.value ?? null) !== (now?.value ?? null)) changed.push(field);
    if (!now || isEmpty(incoming.value)) continue;
    // The incoming value lost to another source's, or beat one: either way the two disagreed.
    const other = now.eventId === incoming.eventId ? was : now;
    if (other && other.source !== incoming.source && other.value !== incoming.value && !isEmpty(other.value))
      conflicts.push({
        field,
        rule: now.rule,
        winner: valueOf(now.eventId === incoming.eventId ? incoming : other),
        loser: valueOf(now.eventId === incoming.eventId ? other : incoming),
      });
  }
  return { fields: next, changed, conflicts };
}

const valueOf = ({ value, source, sourceAt, eventId }: FieldValue): FieldValue => ({
  value,
  source,
  sourceAt,
  eventId,
});

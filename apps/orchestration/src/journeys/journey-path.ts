import { createHash } from 'node:crypto';
import { contactZone } from '../engine/send-policy';
import {
  durationMs,
  successorsOf,
  type Condition,
  type EffectStep,
  type GoalStep,
  type JourneyDefinition,
  type JourneyEntry,
  type JourneyGoal,
  type JourneyStep,
} from './journey-definition';
import { nextLocalTime } from './local-time';

/** What a journey decides on: who the contact is now and the event that enrolled it (event entries). */
export interface PathContext {
  contactId: string;
  attributes: Readonly<Record<string, string>>;
  stage: string | null;
  score: number;
  /** The entry event's properties; empty for other entries. */
  properties: Readonly<Record<string, unknown>>;
  /** The contact's time zone as send policy resolves it (own, country's, workspace's); else from its attributes. */
  zone?: string;
}

/** A call's properties from their JSON; anything but an object is none. */
export function parseProperties(json: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** Reads `a.b.c` out of an object (event properties nest). */
export function valueAt(source: Readonly<Record<string, unknown>>, path: string): unknown {
  let value: unknown = source;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function asNumber(value: unknown): number {
  return typeof value === 'number'
    ? value
    : typeof value === 'string' && value.trim() !== ''
      ? Number(value)
      : NaN;
}

/** One condition; attribute values arrive as strings, so numbers compare numerically whatever their spelling. */
export function holds(condition: Condition, context: PathContext): boolean {
  const actual =
    condition.attribute !== undefined
      ? condition.attribute === 'stage'
        ? (context.stage ?? undefined)
        : condition.attribute === 'score'
          ? context.score
          : context.attributes[condition.attribute]
      : valueAt(context.properties, condition.property ?? '');
  const expected = condition.value;
  switch (condition.op) {
    case 'exists':
      return actual !== undefined && actual !== null && actual !== '';
    case 'not_exists':
      return actual === undefined || actual === null || actual === '';
    case 'eq':
      return actual !== undefined && String(actual).toLowerCase() === String(expected).toLowerCase();
    case 'neq':
      return actual === undefined || String(actual).toLowerCase() !== String(expected).toLowerCase();
    case 'contains':
      return typeof actual === 'string' && actual.toLowerCase().includes(String(expected).toLowerCase());
    case 'in':
      return (
        Array.isArray(expected) &&
        actual !== undefined &&
        expected.some((option) => String(option).toLowerCase() === String(actual).toLowerCase())
      );
    default: {
      const a = asNumber(actual);
      const b = asNumber(expected);
      if (Number.isNaN(a) || Number.isNaN(b)) return false;
      return condition.op === 'gt'
        ? a > b
        : condition.op === 'gte'
          ? a >= b
          : condition.op === 'lt'
            ? a < b
            : a <= b;
    }
  }
}

export function allHold(conditions: readonly Condition[], context: PathContext): boolean {
  return conditions.every((c) => holds(c, context));
}

/**
 * A point in [0, 1) fixed per contact and step: the same contact takes the same path of a split on every visit,
 * replica and version, and contacts spread evenly (SHA-256 is uniform enough for ±1% over 100,000).
 */
export function splitPoint(contactId: string, stepKey: string): number {
  const digest = createHash('sha256').update(`${stepKey}\u0000${contactId}`).digest();
  return digest.readUInt32BE(0) / 0x1_0000_0000;
}

/** The path of a weighted split this contact takes. */
export function chooseSplit(
  paths: readonly { weight: number; next: string }[],
  contactId: string,
  stepKey: string,
): string {
  const total = paths.reduce((sum, p) => sum + p.weight, 0);
  let point = splitPoint(contactId, stepKey) * total;
  for (const path of paths) {
    point -= path.weight;
    if (point < 0) return path.next;
  }
  return (paths[paths.length - 1] as { next: string }).next;
}

/** What the engine does next: an effect (send, wait), or the journey is over. */
export type NextAction =
  | { kind: 'send'; step: JourneyStep & { type: 'email' | 'sms' }; passed: string[] }
  | { kind: 'wait'; step: JourneyStep & { type: 'wait' | 'wait_until' }; untilMs: number; passed: string[] }
  | { kind: 'wait_event'; step: JourneyStep & { type: 'wait_event' }; untilMs: number; passed: string[] }
  /** `met`: the contact meets the step's conditions now (then it goes on at once). */
  | {
      kind: 'wait_condition';
      step: JourneyStep & { type: 'wait_condition' };
      untilMs: number;
      met: boolean;
      passed: string[];
    }
  | { kind: 'effect'; step: EffectStep; passed: string[] }
  | { kind: 'exit'; step: JourneyStep & { type: 'exit' }; passed: string[] }
  /** A goal step whose conditions the contact meets: it leaves as converted. */
  | { kind: 'goal'; step: GoalStep; passed: string[] }
  | { kind: 'completed'; passed: string[] };

/**
 * From step `fromId`, decides branches and splits (no effects, no I/O) up to the next step with an effect: the
 * engine runs that, the dry run lists it. `passed` are the decision steps walked on the way.
 */
export function nextAction(
  journey: JourneyDefinition,
  /** null = the start; END_OF_JOURNEY = past the last step. */
  fromId: string | null,
  context: PathContext,
  splitKey: string,
  now: number,
): NextAction {
  const passed: string[] = [];
  // A contact who meets a goal still ahead of it jumps there: nothing before the goal is for a converted contact.
  const reached = goalsAhead(journey, fromId).find((goal) => allHold(goal.where, context));
  if (reached) return { kind: 'goal', step: reached, passed };
  let id: string | undefined = fromId ?? journey.steps[0]?.id;
  // A definition is acyclic through decisions only if validated; the bound stops a loop of branches anyway.
  for (let hops = 0; id !== undefined && hops <= journey.steps.length; hops += 1) {
    const index = journey.steps.findIndex((s) => s.id === id);
    const step = journey.steps[index];
    if (!step) break;
    if (step.type === 'email' || step.type === 'sms') return { kind: 'send', step, passed };
    if (step.type === 'wait') return { kind: 'wait', step, untilMs: now + durationMs(step.duration), passed };
    if (step.type === 'wait_until') {
      const zone = context.zone ?? contactZone(context.attributes, 'UTC');
      const until = nextLocalTime(new Date(now), zone, step.time, step.weekdays);
      return { kind: 'wait', step, untilMs: until.getTime(), passed };
    }
    if (
      step.type === 'audience' ||
      step.type === 'webhook' ||
      step.type === 'update_attribute' ||
      step.type === 'onsite'
    )
      return { kind: 'effect', step, passed };
    if (step.type === 'wait_event')
      return { kind: 'wait_event', step, untilMs: now + durationMs(step.timeout), passed };
    if (step.type === 'wait_condition')
      return {
        kind: 'wait_condition',
        step,
        untilMs: now + durationMs(step.timeout),
        met: allHold(step.where, context),
        passed,
      };
    if (step.type === 'exit') return { kind: 'exit', step, passed };
    // A goal step reached here is not met (checked above): the contact goes on.
    passed.push(step.id);
    id =
      step.type === 'goal'
        ? successorsOf(journey.steps, index)[0]
        : step.type === 'branch'
          ? (step.branches.find((b) => allHold(b.when, context))?.next ?? step.otherwise)
          : chooseSplit(step.paths, context.contactId, `${splitKey}:${step.id}`);
  }
  return { kind: 'completed', passed };
}

/** Per definition (cached as loaded), the goal steps ahead of each step: the walk runs once per step. */
const goalsAheadCache = new WeakMap<JourneyDefinition, Map<string, GoalStep[]>>();

/**
 * The goal steps still ahead of an enrollment at `fromId` (null = not started; the step itself included): those a
 * contact who comes to meet their conditions jumps to, leaving as converted.
 */
export function goalsAhead(journey: JourneyDefinition, fromId: string | null): GoalStep[] {
  const start = fromId ?? journey.steps[0]?.id;
  if (start === undefined || !journey.steps.some((s) => s.type === 'goal')) return [];
  let byStep = goalsAheadCache.get(journey);
  if (!byStep) goalsAheadCache.set(journey, (byStep = new Map()));
  const cached = byStep.get(start);
  if (cached) return cached;
  const seen = new Set<string>();
  const goals: GoalStep[] = [];
  const stack = [start];
  for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
    if (seen.has(id)) continue;
    seen.add(id);
    const index = journey.steps.findIndex((s) => s.id === id);
    const step = journey.steps[index];
    if (!step) continue;
    if (step.type === 'goal') goals.push(step);
    stack.push(...successorsOf(journey.steps, index));
  }
  byStep.set(start, goals);
  return goals;
}

/** Whether a tracking call reaches a journey's goal: its event, with the goal's conditions holding. */
export function reachesGoal(
  goal: JourneyGoal,
  event: { callType: string; name: string | null; properties: Readonly<Record<string, unknown>> },
  context: PathContext,
): boolean {
  if (event.callType !== 'track' || event.name !== goal.event) return false;
  return allHold(goal.where, { ...context, properties: event.properties });
}

/** Where a wait for an event goes on: its onEvent or onTimeout, else the step after it. */
export function afterWaitEvent(journey: JourneyDefinition, stepId: string, arrived: boolean): string {
  const index = journey.steps.findIndex((s) => s.id === stepId);
  const step = journey.steps[index];
  const named = step?.type === 'wait_event' ? (arrived ? step.onEvent : step.onTimeout) : undefined;
  return named ?? journey.steps[index + 1]?.id ?? END_OF_JOURNEY;
}

/** Where a wait for a condition goes on: its onMet or onTimeout, else the step after it. */
export function afterWaitCondition(journey: JourneyDefinition, stepId: string, met: boolean): string {
  const index = journey.steps.findIndex((s) => s.id === stepId);
  const step = journey.steps[index];
  const named = step?.type === 'wait_condition' ? (met ? step.onMet : step.onTimeout) : undefined;
  return named ?? journey.steps[index + 1]?.id ?? END_OF_JOURNEY;
}

/** Where an enrollment is once past its last step (no step id can look like it). */
export const END_OF_JOURNEY = '(end)';

/** The step after an effect step (email, wait): its `next`, else the following one; END_OF_JOURNEY after the last. */
export function afterStep(journey: JourneyDefinition, stepId: string): string {
  const index = journey.steps.findIndex((s) => s.id === stepId);
  return successorsOf(journey.steps, index)[0] ?? END_OF_JOURNEY;
}

/** Whether a tracking event enters a journey with this entry; its enrollment key when keyed. */
export function eventEnters(
  entry: JourneyEntry,
  event: { callType: string; name: string | null; properties: Readonly<Record<string, unknown>> },
  context: PathContext,
): { enters: false } | { enters: true; key: string | null } {
  if (entry.on !== 'event' || event.callType !== 'track' || event.name !== entry.event)
    return { enters: false };
  if (!allHold(entry.where, { ...context, properties: event.properties })) return { enters: false };
  if (entry.key === undefined) return { enters: true, key: null };
  const key = valueAt(event.properties, entry.key);
  // A keyed journey without its key cannot tell one cart from another: no enrollment rather than a shared one.
  if (key === undefined || key === null || key === '') return { enters: false };
  return { enters: true, key: String(key) };
}

import { DateTime } from 'luxon';
import { z } from 'zod';
import { contactZone } from '../engine/send-policy';
import { durationMs, type EffectStep, type JourneyDefinition } from './journey-definition';
import { firstOccurrence } from './journey-schedule';
import {
  afterStep,
  afterWaitCondition,
  afterWaitEvent,
  allHold,
  eventEnters,
  nextAction,
  type PathContext,
} from './journey-path';

export const dryRunRequest = z
  .object({
    version: z.number().int().min(1).optional(),
    contact: z
      .object({
        contactId: z.string().min(1).max(256).default('dry-run-contact'),
        attributes: z.record(z.union([z.string(), z.number(), z.boolean()])).default({}),
        stage: z.string().nullable().default(null),
        score: z.number().default(0),
      })
      .strict(),
    event: z
      .object({ name: z.string().min(1), properties: z.record(z.unknown()).default({}) })
      .strict()
      .optional(),
  })
  .strict();
export type DryRunRequest = z.output<typeof dryRunRequest>;

export interface DryRunStep {
  stepId: string;
  type: string;
  action: string;
}

export interface DryRunResult {
  enters: boolean;
  reason: string | null;
  key: string | null;
  path: DryRunStep[];
  /** For a journey with a goal: what ends it early as a conversion, wherever the contact is. */
  goal?: string;
  /** For a scheduled journey: when it runs, and its next run from now. */
  schedule?: string;
}

/** Effects a dry run lists before it stops: a journey that loops through sends would otherwise never end. */
const MAX_DRY_RUN_EFFECTS = 100;

/**
 * The path a contact would take now, with the decisions the engine would make (same split key, so a split shows the
 * branch this contact really gets); sends and waits are listed, not done.
 */
export function dryRun(
  journey: JourneyDefinition,
  request: DryRunRequest,
  splitKey: string,
  /** The workspace's time zone, for contacts whose own and country's are unknown. */
  workspaceZone = 'UTC',
): DryRunResult {
  const attributes: Record<string, string> = Object.fromEntries(
    Object.entries(request.contact.attributes).map(([k, v]) => [k, String(v)]),
  );
  const zone = contactZone(attributes, workspaceZone);
  const context: PathContext = {
    contactId: request.contact.contactId,
    attributes,
    stage: request.contact.stage,
    score: request.contact.score,
    properties: request.event?.properties ?? {},
    zone,
  };
  const goal: Pick<DryRunResult, 'goal' | 'schedule'> = journey.goal
    ? {
        goal: `leaves as converted when ${journey.goal.event} is tracked${journey.goal.where.length > 0 ? ' (with its conditions)' : ''}, wherever the contact is`,
      }
    : {};
  const entry = journey.entry;
  if (entry.on === 'schedule') {
    const scheduleZone = entry.timezone ?? workspaceZone;
    const next = firstOccurrence(entry, scheduleZone, new Date());
    const when =
      entry.cron !== undefined ? `runs on "${entry.cron}" in ${scheduleZone}` : `runs once at ${entry.at}`;
    goal.schedule = `${when}; next: ${next ? (DateTime.fromJSDate(next, { zone: scheduleZone }).toISO({ suppressMilliseconds: true }) ?? '') : 'none (it has passed)'}; enters whoever matches then`;
    if (entry.stage !== undefined && context.stage !== entry.stage)
      return {
        enters: false,
        reason: `a scheduled run enters only ${entry.stage} contacts`,
        key: null,
        path: [],
        ...goal,
      };
    if (!allHold(entry.where, context))
      return {
        enters: false,
        reason: 'does not match the schedule’s conditions now',
        key: null,
        path: [],
        ...goal,
      };
  }
  let key: string | null = null;
  if (entry.on === 'event') {
    if (!request.event)
      return {
        enters: false,
        reason: `enters on the event ${entry.event}; give one`,
        key,
        path: [],
        ...goal,
      };
    const decision = eventEnters(
      entry,
      { callType: 'track', name: request.event.name, properties: context.properties },
      context,
    );
    if (!decision.enters)
      return {
        enters: false,
        reason: `the event does not match the entry (${entry.event}, its filters or key)`,
        key,
        path: [],
        ...goal,
      };
    key = decision.key;
  } else if (entry.on === 'lifecycle' && context.stage !== entry.stage)
    return { enters: false, reason: `enters when a contact becomes ${entry.stage}`, key, path: [], ...goal };
  else if (entry.on === 'score' && context.score < entry.atLeast)
    return {
      enters: false,
      reason: `enters when the score reaches ${entry.atLeast}`,
      key,
      path: [],
      ...goal,
    };
  else if (entry.on === 'attribute' && !allHold(entry.where, context))
    return {
      enters: false,
      reason: 'enters when the contact comes to meet the entry conditions',
      key,
      path: [],
      ...goal,
    };

  const path: DryRunStep[] = [];
  let from: string | null = null;
  for (let effects = 0; effects < MAX_DRY_RUN_EFFECTS; effects += 1) {
    const action = nextAction(journey, from, context, splitKey, Date.now());
    for (const stepId of action.passed) {
      const step = journey.steps.find((s) => s.id === stepId);
      path.push({
        stepId,
        type: step?.type ?? 'decision',
        action: step?.type === 'goal' ? 'does not meet the goal: goes on' : 'decides',
      });
    }
    if (action.kind === 'completed') {
      path.push({ stepId: '(end)', type: 'end', action: 'completes the journey' });
      break;
    }
    if (action.kind === 'exit') {
      path.push({ stepId: action.step.id, type: 'exit', action: 'leaves the journey' });
      break;
    }
    if (action.kind === 'goal') {
      path.push({ stepId: action.step.id, type: 'goal', action: 'meets the goal: leaves as converted' });
      break;
    }
    if (action.kind === 'wait_event') {
      const { step } = action;
      path.push({
        stepId: step.id,
        type: 'wait_event',
        action: `waits up to ${step.timeout} for ${step.event}${step.match ? ` with the same ${step.match}` : ''}; shown: it does not come`,
      });
      from = afterWaitEvent(journey, step.id, false);
      continue;
    }
    if (action.kind === 'wait_condition') {
      const { step, met } = action;
      path.push({
        stepId: step.id,
        type: 'wait_condition',
        action: met
          ? 'meets the conditions now: goes on at once (condition-met)'
          : `waits up to ${step.timeout} for the contact to meet the conditions; shown: it does not (timed-out)`,
      });
      from = afterWaitCondition(journey, step.id, met);
      continue;
    }
    if (action.kind === 'wait') {
      const { step } = action;
      path.push({
        stepId: step.id,
        type: step.type,
        action:
          step.type === 'wait'
            ? `waits ${step.duration} (${durationMs(step.duration) / 1000} s)`
            : `waits until ${step.time}${step.weekdays ? ` on ${step.weekdays.join(', ')}` : ''} in ${zone}: now that is ${DateTime.fromMillis(action.untilMs, { zone }).toISO({ suppressMilliseconds: true }) ?? ''}`,
      });
    } else if (action.kind === 'effect') {
      path.push({
        stepId: action.step.id,
        type: action.step.type,
        action: effectAction(action.step, context),
      });
    } else {
      const { step } = action;
      const email = step.type === 'email';
      const consent = attributes[email ? 'emailMarketingConsent' : 'smsMarketingConsent'];
      path.push({
        stepId: step.id,
        type: step.type,
        action:
          step.category === 'marketing' && consent !== 'true'
            ? `skips the ${email ? 'email' : 'SMS'}: no marketing consent`
            : !attributes[email ? 'email' : 'phone']
              ? `skips the ${email ? 'email' : 'SMS'}: no ${email ? 'address' : 'phone number'}`
              : email
                ? `sends "${step.subject}" (${step.category})`
                : `texts "${step.body}" (${step.category})`,
      });
    }
    from = afterStep(journey, action.step.id);
  }
  return { enters: true, reason: null, key, path, ...goal };
}

/** What an audience, webhook or attribute step would do; a literal attribute value is applied for later branches. */
function effectAction(step: EffectStep, context: PathContext): string {
  const attributes = context.attributes;
  if (step.type === 'audience') {
    const identifiers = [attributes['email'] ? 'email' : null, attributes['phone'] ? 'phone' : null].filter(
      Boolean,
    );
    if (identifiers.length === 0) return `skips the audience ${step.audience}: no email or phone to match`;
    if (step.action === 'add' && attributes[step.consent] !== 'true')
      return `skips the audience ${step.audience}: no consent (${step.consent})`;
    return `${step.action === 'add' ? 'adds to' : 'removes from'} the ad audience ${step.audience} (hashed ${identifiers.join(' and ')})`;
  }
  if (step.type === 'webhook')
    return `posts a signed ${step.body ? 'templated ' : ''}JSON payload to ${new URL(step.url).host} (secret ${step.secret})`;
  if (step.type === 'onsite')
    return `shows content in the on-site slot ${step.slot}${step.ttl ? ` for ${step.ttl}` : ''}`;
  if (!/{[{%]/.test(step.value)) context.attributes = { ...attributes, [step.attribute]: step.value };
  return `sets ${step.attribute} to "${step.value}" and announces it`;
}

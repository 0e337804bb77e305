import { Schema, type Connection, type Model } from 'mongoose';
import type { EventMetadata } from '@tributary/contracts';
import { STORE_CONNECTION } from '@tributary/store';
import type { Logger } from '@tributary/observability';

/**
 * Orchestration's own state: who each contact is (from the lead service's announcements), where each contact is in
 * each journey (enrollments double as durable timers), and every message it decided to send.
 */

/** A contact as journeys see it, kept from `leads.scored` and `lifecycle.changed`; `_id` is the contactId. */
export interface ContactProfileDoc {
  _id: string;
  workspaceId: string;
  attributes: Record<string, string>;
  /** Attributes journeys set (update_attribute): kept under the lead service's, which win where they name one. */
  journeyAttributes?: Record<string, string>;
  stage: string | null;
  score: number;
  /** occurredAt of the newest score applied: an older one redelivered late does not overwrite it. */
  scoredAt: number;
  updatedAt: Date;
}

const profileSchema = new Schema<ContactProfileDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    attributes: { type: Schema.Types.Mixed, default: {} },
    journeyAttributes: { type: Schema.Types.Mixed },
    stage: { type: String, default: null },
    score: { type: Number, default: 0 },
    scoredAt: { type: Number, default: 0 },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'contact_profiles', minimize: false },
);

/** converted: the contact reached the journey's goal and left it there. */
export type EnrollmentState = 'active' | 'completed' | 'exited' | 'converted';

/**
 * A contact's run through one journey: one document per (workspace, journey, contact[, key]). It is its own timer:
 * `wakeAt` is when the engine must look at it next (unset when nothing is due), claimed with a lease.
 */
export interface EnrollmentDoc {
  _id: string;
  workspaceId: string;
  journeyId: string;
  /** The journey version it follows; a newer published version does not move it. */
  version: number;
  contactId: string;
  key: string | null;
  /** Re-entries so far: 0 on the first run; part of every message key, so a new run sends again. */
  run: number;
  state: EnrollmentState;
  /** The step to run next; null = the first. */
  stepId: string | null;
  /** Set while waiting at a wait step: waking finds it and goes past it. */
  waitingAt: string | null;
  /** The event a wait_event step waits for; null otherwise (what the intake looks enrollments up by). */
  awaitingEvent: string | null;
  /** Set while waiting at a wait_condition step (what the intake looks enrollments up by when the contact changes). */
  awaitingCondition?: boolean;
  /**
   * Set by the intake when the awaited event came, or the awaited condition came to hold: the wake-up takes the
   * step's onEvent (onMet) way.
   */
  eventArrived: boolean;
  /** The event name of its journey version's goal, null without one (what the intake looks enrollments up by). */
  goalEvent?: string | null;
  /** Set by the intake when the goal was reached: the next wake-up ends the enrollment as converted. */
  goalReachedAt?: Date | null;
  /** The goal step reached from before it (null: the journey's goal): where the conversion is recorded. */
  goalStepId?: string | null;
  /** Whether its journey version has goal steps (what the intake looks enrollments up by when the contact changes). */
  goalSteps?: boolean;
  /** Effects done in this run: part of the message key, so a step visited twice (a loop) sends twice. */
  seq: number;
  /** The entry event's properties (event entries), what templates and property branches read. */
  propertiesJson: string;
  /** The event that enrolled it: announcements derive their ids from it, so a re-run announces the same ones. */
  cause: EventMetadata;
  /** W3C trace context of the entry (traceparent, tracestate): every later step continues the entry's trace. */
  trace: Record<string, string>;
  wakeAt?: Date;
  leaseUntil: Date;
  leaseOwner: string | null;
  reason: string | null;
  enteredAt: Date;
  completedAt: Date | null;
  updatedAt: Date;
}

const enrollmentSchema = new Schema<EnrollmentDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    journeyId: { type: String, required: true },
    version: { type: Number, required: true },
    contactId: { type: String, required: true },
    key: { type: String, default: null },
    run: { type: Number, default: 0 },
    state: { type: String, required: true },
    stepId: { type: String, default: null },
    waitingAt: { type: String, default: null },
    awaitingEvent: { type: String, default: null },
    awaitingCondition: { type: Boolean },
    eventArrived: { type: Boolean, default: false },
    goalEvent: { type: String, default: null },
    goalReachedAt: { type: Date, default: null },
    goalStepId: { type: String, default: null },
    goalSteps: { type: Boolean },
    seq: { type: Number, default: 0 },
    propertiesJson: { type: String, default: '{}' },
    cause: { type: Schema.Types.Mixed, required: true },
    trace: { type: Schema.Types.Mixed, default: {} },
    wakeAt: { type: Date },
    leaseUntil: { type: Date, required: true },
    leaseOwner: { type: String, default: null },
    reason: { type: String, default: null },
    enteredAt: { type: Date, required: true },
    completedAt: { type: Date, default: null },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'enrollments' },
);
/**
 * One secondary index: every query besides `_id` asks for a contact's enrollments (a merge's, an event's waits and
 * goals, a profile change's condition waits), and a contact has a handful. Each index is paid on every enrollment
 * write, twice per timer: five of them (one per lookup, and an unused `wakeAt`) made the 50,000-timer drain take
 * 104 s instead of 85 s with the first four, and the one left keeps the store's work per write smallest.
 * `syncEnrollmentIndexes` drops the older ones from existing stores.
 */
enrollmentSchema.index({ contactId: 1, workspaceId: 1 });

/**
 * The timer index: `_id` is `t|<due ms, 15 digits>|<enrollmentId>`, so due timers are an `_id` range read in due
 * order (the one range FerretDB serves from an index; a range on `wakeAt` decoded every enrollment on each claim).
 * An entry only says "look at this enrollment then": the claim checks the enrollment's own `wakeAt` and lease, so a
 * stale entry costs a read and is dropped.
 */
export interface TimerDoc {
  _id: string;
}

export function timerId(dueMs: number, enrollmentId: string): string {
  return `t|${String(Math.max(0, Math.floor(dueMs))).padStart(15, '0')}|${enrollmentId}`;
}

/** The enrollment a timer entry points at. */
export function enrollmentOfTimer(id: string): string {
  return id.slice(id.indexOf('|', 2) + 1);
}

/** The `_id` range of every timer entry due at or before `ms`: `$gte`/`$lt` bounds, the form FerretDB pushes down. */
export function timersDueBy(ms: number): { $gte: string; $lt: string } {
  return { $gte: 't|', $lt: `t|${String(Math.max(0, Math.floor(ms) + 1)).padStart(15, '0')}|` };
}

const timerSchema = new Schema<TimerDoc>(
  { _id: { type: String, required: true } },
  { versionKey: false, collection: 'journey_timers' },
);

export type MessageStatus = 'sending' | 'sent' | 'skipped' | 'failed';

/**
 * An email or text being sent, `_id` its message key: inserted before the provider call, deleted once the message's
 * record is written. One found at a rerun is a send whose outcome was never recorded (a crash, a lost lease, a
 * retry after 429/5xx): it is sent again, its attempts counted here.
 */
export interface MessageClaimDoc {
  _id: string;
  attempts: number;
  /** The claims (lease owners) its attempts went out under: the tag the provider can be asked about. */
  tags: string[];
  /** Whether the last attempt may have been taken (no answer yet, or none readable); a 429 or 5xx says it was not. */
  uncertain: boolean;
  createdAt: Date;
  updatedAt: Date;
}

const messageClaimSchema = new Schema<MessageClaimDoc>(
  {
    _id: { type: String, required: true },
    attempts: { type: Number, required: true },
    tags: { type: [String], default: [] },
    uncertain: { type: Boolean, default: true },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'message_claims' },
);

/**
 * One effect a journey decided on, `_id` its deterministic key. Emails and texts are written once, with their outcome
 * (a MessageClaimDoc stands for them while they are being sent); audience and webhook steps record `sending` here
 * before their call and complete it after.
 */
export interface MessageDoc {
  _id: string;
  workspaceId: string;
  enrollmentId: string;
  journeyId: string;
  stepId: string;
  contactId: string;
  channel: string;
  provider: string;
  status: MessageStatus;
  reason: string | null;
  providerMessageId: string | null;
  recipient: string | null;
  attempts: number;
  /** What the provider last reported that moves the message on (delivered, bounced …); see delivery-feedback.ts. */
  delivery?: MessageDeliveryState;
  /** When the provider first reported each kind of feedback about it, by event (delivered, opened, clicked …). */
  feedback?: Record<string, Date>;
  createdAt: Date;
  updatedAt: Date;
}

/** A message's delivery as its provider reports it; `rank` orders the states, so a late or repeated report cannot undo a later one. */
export interface MessageDeliveryState {
  status: string;
  rank: number;
  reason: string | null;
  at: Date;
}

const messageSchema = new Schema<MessageDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    enrollmentId: { type: String, required: true },
    journeyId: { type: String, required: true },
    stepId: { type: String, required: true },
    contactId: { type: String, required: true },
    channel: { type: String, required: true },
    provider: { type: String, required: true },
    status: { type: String, required: true },
    reason: { type: String, default: null },
    providerMessageId: { type: String, default: null },
    recipient: { type: String, default: null },
    attempts: { type: Number, default: 0 },
    delivery: { type: Schema.Types.Mixed },
    feedback: { type: Schema.Types.Mixed },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'messages' },
);
messageSchema.index({ workspaceId: 1, contactId: 1 });
// A claim reads its enrollments' messages in one query.
messageSchema.index({ enrollmentId: 1 });

export const CONTACT_PROFILE_MODEL = Symbol('CONTACT_PROFILE_MODEL');
export const ENROLLMENT_MODEL = Symbol('ENROLLMENT_MODEL');
export const MESSAGE_MODEL = Symbol('MESSAGE_MODEL');
export const MESSAGE_CLAIM_MODEL = Symbol('MESSAGE_CLAIM_MODEL');
export const TIMER_MODEL = Symbol('TIMER_MODEL');

/** A Nest provider of the mongoose model `name` on the service's store connection, made once per connection. */
export function modelProvider<T>(token: symbol, name: string, schema: Schema<T>) {
  return {
    provide: token,
    inject: [STORE_CONNECTION],
    useFactory: (connection: Connection): Model<T> =>
      (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema),
  };
}

/**
 * Makes the enrollments' indexes those of the schema (mongoose `syncIndexes`: creates what is missing, drops what the
 * schema no longer has). Replicas starting together may race on a drop: the loser's error changes nothing.
 */
export async function syncEnrollmentIndexes(model: Model<EnrollmentDoc>, logger: Logger): Promise<void> {
  try {
    const dropped = await model.syncIndexes();
    if (dropped.length > 0)
      logger.info({ dropped }, 'enrollment indexes the schema no longer has were dropped');
  } catch (error) {
    logger.warn({ err: error }, 'enrollment indexes not synced (another replica may be at it)');
  }
}

export const engineModelProviders = [
  modelProvider(CONTACT_PROFILE_MODEL, 'ContactProfile', profileSchema),
  modelProvider(ENROLLMENT_MODEL, 'Enrollment', enrollmentSchema),
  modelProvider(MESSAGE_MODEL, 'Message', messageSchema),
  modelProvider(MESSAGE_CLAIM_MODEL, 'MessageClaim', messageClaimSchema),
  modelProvider(TIMER_MODEL, 'JourneyTimer', timerSchema),
];

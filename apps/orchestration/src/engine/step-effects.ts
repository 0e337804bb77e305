import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics } from '@tributary/contracts';
import { causedMetadata, type OutgoingEvent } from '@tributary/messaging';
import { SERVICE_CONFIG } from '@tributary/config';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import { isDuplicateKey, upsertRacing } from '@tributary/store';
import type { OrchestrationConfig } from '../config';
import type { AdAudiences } from '../channels/ad-audiences';
import { hashedMemberOf, normalisedEmail, normalisedPhone } from '../channels/audience-identifiers';
import type { WebhookPoster } from '../channels/signed-webhooks';
import { MessageTemplates, type TemplateData } from '../channels/templates';
import {
  durationMs,
  type AudienceStep,
  type EffectStep,
  type JourneyDefinition,
  type OnsiteStep,
  type UpdateAttributeStep,
  type WebhookStep,
} from '../journeys/journey-definition';
import { OnsiteSlots } from '../onsite/onsite-slots';
import type { PathContext } from '../journeys/journey-path';
import { AudienceGuards } from './audience-guards';
import {
  CONTACT_PROFILE_MODEL,
  MESSAGE_MODEL,
  type ContactProfileDoc,
  type EnrollmentDoc,
  type MessageDoc,
} from './engine.models';
import { maskAddress, type Outcome } from './message-sender';
import { contactZone } from './send-policy';
import { messageKeyOf, outcomeEvent } from './outcome-event';

export const AD_AUDIENCES = Symbol('AD_AUDIENCES');
export const WEBHOOK_POSTER = Symbol('WEBHOOK_POSTER');

const SOURCE = 'orchestration';

/** What a done effect step comes to: its journey.steps status and reason, and what else it announces. */
export interface EffectOutcome {
  stepStatus: 'advanced' | 'skipped';
  reason: string | null;
  events: OutgoingEvent[];
}

/** The same step later: the provider asked to wait, or another runner holds the step's record. */
export interface EffectRetry {
  retryAt: Date;
}

type RecordBase = Omit<
  MessageDoc,
  '_id' | 'status' | 'reason' | 'providerMessageId' | 'attempts' | 'createdAt' | 'updatedAt'
>;

/** Exponential backoff with full jitter, capped at 10 minutes: when the other side gave no Retry-After. */
function backoffMs(attempts: number): number {
  return Math.min(600_000, 1_000 * 2 ** attempts) * Math.random();
}

/**
 * The effects of a journey's audience, webhook and update_attribute steps. Audience and webhook steps are kept to
 * once as sends are: a record under the step's deterministic key (enrollment, run, step, seq) in `messages`, claimed
 * `sending` before the outside call and completed after, so a redelivered or rerun step finds it and calls nothing
 * again; retries are durable (the enrollment waits on its timer). An attribute update is idempotent by itself.
 */
@Injectable()
export class StepEffects {
  private readonly templates = new MessageTemplates();

  constructor(
    @Inject(MESSAGE_MODEL) private readonly records: Model<MessageDoc>,
    @Inject(CONTACT_PROFILE_MODEL) private readonly profiles: Model<ContactProfileDoc>,
    @Inject(AD_AUDIENCES) private readonly audiences: AdAudiences,
    @Inject(WEBHOOK_POSTER) private readonly webhooks: WebhookPoster,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    private readonly guards: AudienceGuards,
    private readonly onsite: OnsiteSlots,
  ) {}

  /** The contact's zone for a journey's wait_until steps; undefined, with no read, for a journey without one. */
  async zoneFor(
    workspaceId: string,
    journey: JourneyDefinition,
    attributes: Readonly<Record<string, string>>,
  ): Promise<string | undefined> {
    if (!journey.steps.some((s) => s.type === 'wait_until')) return undefined;
    return contactZone(attributes, (await this.guards.settings(workspaceId)).timezone);
  }

  /** Runs one effect step for an enrollment; a paused journey reaches no outside system. */
  run(
    enrollment: EnrollmentDoc,
    step: EffectStep,
    context: PathContext,
    paused: boolean,
  ): Promise<EffectOutcome | EffectRetry> {
    if (step.type === 'update_attribute') return this.updateAttribute(enrollment, step, context);
    if (step.type === 'onsite') return this.onsiteContent(enrollment, step, context, paused);
    return step.type === 'audience'
      ? this.audience(enrollment, step, context, paused)
      : this.webhook(enrollment, step, context, paused);
  }

  /**
   * Sets the attribute in the profile (also under `journeyAttributes`, so the next score from the lead service keeps
   * it) and in this run's context, so later branches and templates see it; announced on contacts.attributes.
   */
  private async updateAttribute(
    enrollment: EnrollmentDoc,
    step: UpdateAttributeStep,
    context: PathContext,
  ): Promise<EffectOutcome> {
    const value = await this.templates.render(step.value, this.templateData(enrollment, context), 'plain');
    const now = new Date();
    await upsertRacing(() =>
      this.profiles.updateOne(
        { _id: enrollment.contactId },
        {
          $set: {
            [`attributes.${step.attribute}`]: value,
            [`journeyAttributes.${step.attribute}`]: value,
            updatedAt: now,
          },
          $setOnInsert: { workspaceId: enrollment.workspaceId, stage: null, score: 0, scoredAt: 0 },
        },
        { upsert: true },
      ),
    );
    context.attributes = { ...context.attributes, [step.attribute]: value };
    const key = this.keyOf(enrollment, step);
    const announced: OutgoingEvent<typeof Topics.ContactsAttributes> = {
      topic: Topics.ContactsAttributes,
      key: enrollment.contactId,
      event: {
        metadata: causedMetadata(enrollment.cause, SOURCE, `attribute/${key}`),
        contactId: enrollment.contactId,
        attribute: step.attribute,
        value,
        journeyId: enrollment.journeyId,
        journeyVersion: enrollment.version,
        enrollmentId: enrollment._id,
        stepId: step.id,
      },
    };
    return { stepStatus: 'advanced', reason: null, events: [announced] };
  }

  /**
   * Renders the content (HTML, outputs escaped) and stores it for the contact under the slot, where the website
   * reads it; the same visit rerun writes nothing new. A paused journey shows nothing new, as it sends nothing.
   */
  private async onsiteContent(
    enrollment: EnrollmentDoc,
    step: OnsiteStep,
    context: PathContext,
    paused: boolean,
  ): Promise<EffectOutcome> {
    if (paused) return { stepStatus: 'skipped', reason: 'journey-paused', events: [] };
    const content = await this.templates.render(step.content, this.templateData(enrollment, context), 'html');
    await this.onsite.store({
      workspaceId: enrollment.workspaceId,
      slot: step.slot,
      contactId: enrollment.contactId,
      content,
      visitKey: this.keyOf(enrollment, step),
      journeyId: enrollment.journeyId,
      stepId: step.id,
      expiresAt: step.ttl ? new Date(Date.now() + durationMs(step.ttl)) : null,
    });
    return { stepStatus: 'advanced', reason: null, events: [] };
  }

  private async audience(
    enrollment: EnrollmentDoc,
    step: AudienceStep,
    context: PathContext,
    paused: boolean,
  ): Promise<EffectOutcome | EffectRetry> {
    const key = this.keyOf(enrollment, step);
    const recorded = await this.records.findById(key).lean();
    if (recorded && recorded.status !== 'sending') return this.replay(enrollment, step, recorded);
    const member = hashedMemberOf(context.attributes);
    const email = context.attributes['email'] ? normalisedEmail(context.attributes['email']) : null;
    const phone = context.attributes['phone'] ? normalisedPhone(context.attributes['phone']) : null;
    const base: RecordBase = {
      ...this.baseOf(enrollment, step),
      channel: 'audience',
      provider: this.audiences.name,
      recipient: email ? maskAddress(email) : phone ? maskAddress(phone) : null,
    };
    const skip = paused
      ? 'journey-paused'
      : member === null
        ? 'no-identifier'
        : step.action === 'add' && context.attributes[step.consent] !== 'true'
          ? 'no-consent'
          : null;
    if (skip || member === null) return this.finish(enrollment, step, key, base, 'skipped', skip, null, 0);
    const account = this.config.AD_AUDIENCE_ACCOUNTS[enrollment.workspaceId];
    if (!account)
      // Never someone else's account: a workspace without its own uploads nothing.
      return this.finish(enrollment, step, key, base, 'failed', 'no-ad-account', null, 0);
    const attempts = await this.claim(key, base, recorded);
    if (attempts === null) return { retryAt: new Date(Date.now() + this.config.JOURNEY_TIMER_LEASE_MS) };
    const result = await this.audiences.submit({
      account,
      audience: step.audience,
      action: step.action,
      member,
    });
    const call = { enrollment, step, key, base, attempts };
    if (result.ok) return this.finish(enrollment, step, key, base, 'sent', null, result.requestId, attempts);
    return this.refused(call, result, this.config.MESSAGE_MAX_ATTEMPTS, 'ad audience upload');
  }

  private async webhook(
    enrollment: EnrollmentDoc,
    step: WebhookStep,
    context: PathContext,
    paused: boolean,
  ): Promise<EffectOutcome | EffectRetry> {
    const key = this.keyOf(enrollment, step);
    const recorded = await this.records.findById(key).lean();
    if (recorded && recorded.status !== 'sending') return this.replay(enrollment, step, recorded);
    // The host only: a path or query may carry the receiver's own token.
    const base: RecordBase = {
      ...this.baseOf(enrollment, step),
      channel: 'webhook',
      provider: this.webhooks.name,
      recipient: new URL(step.url).host,
    };
    if (paused) return this.finish(enrollment, step, key, base, 'skipped', 'journey-paused', null, 0);
    const secret = this.config.JOURNEY_WEBHOOK_SECRETS[`${enrollment.workspaceId}:${step.secret}`];
    if (!secret)
      return this.finish(enrollment, step, key, base, 'failed', `no-signing-secret: ${step.secret}`, null, 0);
    const body = await this.webhookBody(enrollment, step, context, key);
    if (body === null) return this.finish(enrollment, step, key, base, 'failed', 'body-not-json', null, 0);
    const attempts = await this.claim(key, base, recorded);
    if (attempts === null) return { retryAt: new Date(Date.now() + this.config.JOURNEY_TIMER_LEASE_MS) };
    const result = await this.webhooks.post({ url: step.url, body, secret, key, attempt: attempts });
    if (result.ok) return this.finish(enrollment, step, key, base, 'sent', null, null, attempts);
    const call = { enrollment, step, key, base, attempts };
    return this.refused(call, result, this.config.JOURNEY_WEBHOOK_MAX_ATTEMPTS, 'webhook');
  }

  /** A refused call: due again later (Retry-After, else backoff) while attempts remain and it may help, else failed. */
  private async refused(
    call: {
      enrollment: EnrollmentDoc;
      step: AudienceStep | WebhookStep;
      key: string;
      base: RecordBase;
      attempts: number;
    },
    result: { retryable: boolean; retryAfterMs?: number; reason: string },
    maxAttempts: number,
    what: string,
  ): Promise<EffectOutcome | EffectRetry> {
    const { enrollment, step, key, base, attempts } = call;
    if (result.retryable && attempts < maxAttempts) {
      this.logger.warn(
        { messageKey: key, attempts, reason: result.reason },
        `${what} refused for now; retrying`,
      );
      return { retryAt: new Date(Date.now() + (result.retryAfterMs ?? backoffMs(attempts))) };
    }
    return this.finish(enrollment, step, key, base, 'failed', result.reason, null, attempts);
  }

  /** The step's template rendered (null when that is not JSON), else the standard payload. */
  private async webhookBody(
    enrollment: EnrollmentDoc,
    step: WebhookStep,
    context: PathContext,
    key: string,
  ): Promise<string | null> {
    if (step.body !== undefined) {
      const rendered = await this.templates.render(
        step.body,
        this.templateData(enrollment, context),
        'plain',
      );
      try {
        JSON.parse(rendered);
        return rendered;
      } catch {
        return null;
      }
    }
    return JSON.stringify({
      id: key,
      type: 'journey.webhook',
      workspaceId: enrollment.workspaceId,
      journey: { id: enrollment.journeyId, version: enrollment.version },
      step: { id: step.id },
      enrollment: { id: enrollment._id, key: enrollment.key },
      contact: {
        id: enrollment.contactId,
        stage: context.stage,
        score: context.score,
        attributes: context.attributes,
      },
      properties: context.properties,
    });
  }

  /**
   * Claims the step's record (`sending`) before the outside call, or counts one more attempt on a claim of its own
   * earlier run; the attempt number, or null when another runner has just claimed it.
   */
  private async claim(key: string, base: RecordBase, recorded: MessageDoc | null): Promise<number | null> {
    const attempts = (recorded?.attempts ?? 0) + 1;
    const now = new Date();
    if (recorded) {
      await this.records.updateOne({ _id: key }, { $set: { attempts, updatedAt: now } });
      return attempts;
    }
    try {
      await this.records.create({
        _id: key,
        ...base,
        status: 'sending',
        reason: null,
        providerMessageId: null,
        attempts,
        createdAt: now,
        updatedAt: now,
      });
      return attempts;
    } catch (error) {
      if (isDuplicateKey(error)) return null;
      throw error;
    }
  }

  /** Records the step's outcome under its key and says what to announce. */
  private async finish(
    enrollment: EnrollmentDoc,
    step: AudienceStep | WebhookStep,
    key: string,
    base: RecordBase,
    status: Outcome['status'],
    reason: string | null,
    providerMessageId: string | null,
    attempts: number,
  ): Promise<EffectOutcome> {
    const now = new Date();
    await this.records.updateOne(
      { _id: key },
      {
        $set: { ...base, status, reason, providerMessageId, attempts, updatedAt: now },
        $setOnInsert: { createdAt: now },
      },
      { upsert: true },
    );
    return this.outcome(enrollment, step, {
      status,
      reason,
      providerMessageId,
      attempts,
      recipient: base.recipient,
      provider: base.provider,
    });
  }

  /** A step already done: the same outcome, announced again with the same ids. */
  private replay(
    enrollment: EnrollmentDoc,
    step: AudienceStep | WebhookStep,
    recorded: MessageDoc,
  ): EffectOutcome {
    return this.outcome(enrollment, step, {
      status: recorded.status as Outcome['status'],
      reason: recorded.reason,
      providerMessageId: recorded.providerMessageId,
      attempts: recorded.attempts,
      recipient: recorded.recipient,
      provider: recorded.provider,
    });
  }

  private outcome(
    enrollment: EnrollmentDoc,
    step: AudienceStep | WebhookStep,
    outcome: Outcome,
  ): EffectOutcome {
    const key = this.keyOf(enrollment, step);
    const announced = outcomeEvent(enrollment, step, key, outcome);
    return {
      stepStatus: outcome.status === 'sent' ? 'advanced' : 'skipped',
      reason: outcome.reason,
      events: [announced],
    };
  }

  /** The step's deterministic key, as a send's: enrollment, run, step and effect count. */
  private keyOf(enrollment: EnrollmentDoc, step: EffectStep): string {
    return messageKeyOf(enrollment, step.id);
  }

  private baseOf(enrollment: EnrollmentDoc, step: EffectStep) {
    return {
      workspaceId: enrollment.workspaceId,
      enrollmentId: enrollment._id,
      journeyId: enrollment.journeyId,
      stepId: step.id,
      contactId: enrollment.contactId,
    };
  }

  private templateData(enrollment: EnrollmentDoc, context: PathContext): TemplateData {
    return {
      contact: {
        ...context.attributes,
        id: enrollment.contactId,
        stage: context.stage,
        score: context.score,
      },
      event: context.properties as Record<string, unknown>,
      journey: { id: enrollment.journeyId, version: enrollment.version },
      unsubscribe_url: '',
    };
  }
}

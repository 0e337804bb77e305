import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { TtlCache } from '@tributary/access';
import { SERVICE_CONFIG } from '@tributary/config';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import { findByIds, insertClaims, type BatchCollection } from '@tributary/store';
import type { OrchestrationConfig } from '../config';
import type { MessageStep } from '../journeys/journey-definition';
import type { PathContext } from '../journeys/journey-path';
import { CLAIM_TAG_ARG, type EmailProvider, type SentLookup } from '../channels/email-provider';
import type { SmsProvider } from '../channels/sms-provider';
import { MessageTemplates } from '../channels/templates';
import { AudienceGuards, normalAddress, type SuppressionDoc } from './audience-guards';
import { Coalescer } from './coalescer';
import {
  MESSAGE_CLAIM_MODEL,
  MESSAGE_MODEL,
  type ContactProfileDoc,
  type EnrollmentDoc,
  type MessageClaimDoc,
  type MessageDoc,
  type MessageStatus,
} from './engine.models';
import { messageKeyOf } from './outcome-event';
import { capWindowStart, contactZone, quietUntil } from './send-policy';

export const EMAIL_PROVIDER = Symbol('EMAIL_PROVIDER');
const STORE_WINDOW_MS = 10;
/** How long a provider's answer about a claim tag is reused (and so the least wait when it is rate-limited). */
const LOOKUP_CACHE_MS = 15_000;
export const SMS_PROVIDER = Symbol('SMS_PROVIDER');
/** How far the provider's clock may be behind ours when a lookup asks for what it took since a claim was made. */
const CLOCK_SKEW_MS = 10_000;

/** `a***@example.com`, `+49***78`: enough to recognise an address in an outcome, never the address itself. */
export function maskAddress(address: string): string {
  const at = address.indexOf('@');
  if (at > 0) return `${address[0] ?? ''}***${address.slice(at)}`;
  return address.length > 6 ? `${address.slice(0, 3)}***${address.slice(-2)}` : '***';
}

/** What a claim's enrollments will ask the store, read once for the whole claim. */
export interface ClaimFacts {
  /** Suppressions of the claimed contacts' addresses, by suppression id. */
  suppressions: Map<string, SuppressionDoc>;
}

/** A message's outcome as the engine records and announces it. */
export interface Outcome {
  status: Exclude<MessageStatus, 'sending'>;
  reason: string | null;
  providerMessageId: string | null;
  attempts: number;
  recipient: string | null;
  provider: string;
}

/**
 * Sends a journey's email and SMS steps, each message once: a claim is inserted before the provider call and the
 * message's record after (then the claim goes); a rerun finding the record does not call again. Finding only the
 * claim (a crash or a lost lease between the call and the record), it calls again: neither SendGrid nor Twilio's
 * message create has an idempotency key, so that window, one provider call long, is where a second message can go.
 * Consent, suppressions, quiet hours and caps are checked here, at send time.
 */
@Injectable()
export class MessageSender {
  private readonly templates = new MessageTemplates();
  private readonly sentLookups = new TtlCache<SentLookup>(LOOKUP_CACHE_MS, 1_000);
  // The sends of a claim run at once; their single reads and writes go to the store as one command each.
  // Provider answers arrive spread over tens of milliseconds: a short window gathers their reads and writes.
  private readonly messageReads = new Coalescer<string, MessageDoc | null>(
    async (keys) => {
      const found = await findByIds(this.messages.collection as unknown as BatchCollection<MessageDoc>, keys);
      return keys.map((key) => found.get(key) ?? null);
    },
    { windowMs: STORE_WINDOW_MS },
  );
  private readonly claimReads = new Coalescer<string, MessageClaimDoc | null>(
    async (keys) => {
      const found = await findByIds(
        this.claims.collection as unknown as BatchCollection<MessageClaimDoc>,
        keys,
      );
      return keys.map((key) => found.get(key) ?? null);
    },
    { windowMs: STORE_WINDOW_MS },
  );
  private readonly claimInserts = new Coalescer<MessageClaimDoc, boolean>(
    async (docs) => {
      const taken = await insertClaims(
        this.claims.collection as unknown as BatchCollection<MessageClaimDoc>,
        docs,
      );
      return docs.map((_, i) => !taken.has(i));
    },
    { windowMs: STORE_WINDOW_MS },
  );
  // A message's record is written once, as an insert: FerretDB inserts 500 in a tenth of the time it takes to update
  // 500 (which is why the claim is a document of its own). One there already is the same outcome.
  private readonly recordInserts = new Coalescer<MessageDoc, void>(
    async (docs) => {
      await insertClaims(this.messages.collection as unknown as BatchCollection<MessageDoc>, docs);
      return docs.map(() => undefined);
    },
    { windowMs: STORE_WINDOW_MS },
  );
  private readonly claimDeletes = new Coalescer<string, void>(
    async (keys) => {
      await this.claims.deleteMany({ _id: { $in: keys } });
      return keys.map(() => undefined);
    },
    { windowMs: STORE_WINDOW_MS },
  );

  constructor(
    @Inject(MESSAGE_MODEL) private readonly messages: Model<MessageDoc>,
    @Inject(MESSAGE_CLAIM_MODEL) private readonly claims: Model<MessageClaimDoc>,
    @Inject(EMAIL_PROVIDER) private readonly email: EmailProvider,
    @Inject(SMS_PROVIDER) private readonly sms: SmsProvider,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    private readonly guards: AudienceGuards,
  ) {}

  /** The suppressions of a claim's contacts (their email and phone), in one read. */
  async factsFor(
    claimed: readonly EnrollmentDoc[],
    profiles: ReadonlyMap<string, ContactProfileDoc>,
  ): Promise<ClaimFacts> {
    const addresses = claimed.flatMap((e) => {
      const attributes = profiles.get(e.contactId)?.attributes ?? {};
      const email = attributes['email'];
      const phone = attributes['phone'];
      return [
        ...(email ? [`${e.workspaceId}:email:${normalAddress('email', email)}`] : []),
        ...(phone ? [`${e.workspaceId}:sms:${normalAddress('sms', phone)}`] : []),
      ];
    });
    return { suppressions: await this.guards.suppressionsAmong(addresses) };
  }

  /**
   * Sends one email or SMS step once: the message key is the enrollment, its run, the step and the effect count, so a
   * redelivery, a rerun or another replica finds the same record.
   */
  async send(
    enrollment: EnrollmentDoc,
    step: MessageStep,
    context: PathContext,
    paused: boolean,
    facts: ClaimFacts,
  ): Promise<Outcome | { retryAt: Date; waiting?: string }> {
    const key = messageKeyOf(enrollment, step.id);
    const [recorded, claim] = await Promise.all([this.messageReads.add(key), this.claimReads.add(key)]);
    if (recorded && recorded.status !== 'sending')
      return {
        status: recorded.status,
        reason: recorded.reason,
        providerMessageId: recorded.providerMessageId,
        attempts: recorded.attempts,
        recipient: recorded.recipient,
        provider: recorded.provider,
      };
    const channel = step.type;
    const address = context.attributes[channel === 'email' ? 'email' : 'phone'];
    const consent = context.attributes[channel === 'email' ? 'emailMarketingConsent' : 'smsMarketingConsent'];
    const marketing = step.category === 'marketing';
    const workspaceId = enrollment.workspaceId;
    const suppressionId = address
      ? `${workspaceId}:${channel}:${normalAddress(channel, address)}`
      : undefined;
    const suppression = suppressionId ? (facts.suppressions.get(suppressionId) ?? null) : null;
    // An unsubscribe stops marketing; a bounce, spam report or STOP stops everything to that address.
    const suppressed =
      suppression !== null &&
      (marketing ||
        suppression.reason === 'bounce' ||
        suppression.reason === 'spamreport' ||
        // Carriers refuse every text from the sender once a number texted STOP (Twilio 21610).
        suppression.reason === 'sms-stop');
    const skip = paused
      ? 'journey-paused'
      : !address
        ? 'no-address'
        : suppressed
          ? `suppressed: ${suppression.reason}`
          : marketing && consent !== 'true'
            ? 'no-consent'
            : null;
    const base = {
      workspaceId,
      enrollmentId: enrollment._id,
      journeyId: enrollment.journeyId,
      stepId: step.id,
      contactId: enrollment.contactId,
      channel,
      provider: channel === 'email' ? this.email.name : this.sms.name,
      recipient: address ? maskAddress(address) : null,
    };
    if (skip)
      return this.record(key, base, claim !== null, {
        status: 'skipped',
        reason: skip,
        providerMessageId: null,
        attempts: 0,
      });
    const settings = await this.guards.settings(workspaceId);
    const zone = contactZone(context.attributes, settings.timezone);
    const caps = marketing ? settings.frequencyCaps.filter((cap) => cap.channel === channel) : [];
    const capKeys = caps.map(
      (cap) => `${workspaceId}:${enrollment.contactId}:${channel}:${cap.limit}/${cap.per}`,
    );
    if (!claim) {
      // Quiet hours hold marketing until the contact's morning; a send already under way is finished.
      const quiet = marketing ? settings.quietHours[channel] : undefined;
      const opens = quiet ? quietUntil(new Date(), zone, quiet) : null;
      if (opens) return { retryAt: opens, waiting: 'quiet-hours' };
      for (const [i, cap] of caps.entries()) {
        const fits = await this.guards.reserveSend(
          capKeys[i] as string,
          key,
          cap.limit,
          capWindowStart(new Date(), zone, cap.per),
        );
        if (!fits) {
          await Promise.all(capKeys.slice(0, i).map((capKey) => this.guards.releaseSend(capKey, key)));
          return this.record(key, base, false, {
            status: 'skipped',
            reason: `frequency-cap: ${cap.limit} per ${cap.per}`,
            providerMessageId: null,
            attempts: 0,
          });
        }
      }
    }
    const unsubscribeUrl = `${this.config.PUBLIC_BASE_URL}/v1/unsubscribe/${this.guards.unsubscribeToken(workspaceId, channel, address as string)}`;
    const data = {
      contact: {
        ...context.attributes,
        id: enrollment.contactId,
        stage: context.stage,
        score: context.score,
      },
      event: context.properties as Record<string, unknown>,
      journey: { id: enrollment.journeyId, version: enrollment.version },
      unsubscribe_url: unsubscribeUrl,
    };
    const subject = step.type === 'email' ? await this.templates.render(step.subject, data, 'plain') : '';
    const text = step.type === 'sms' ? await this.templates.render(step.body, data, 'plain') : '';
    if (claim?.uncertain) {
      // An earlier attempt may have been taken: ask the provider before sending again.
      const taken =
        step.type === 'email'
          ? await this.takenEarlier(claim, address as string, subject)
          : await this.textTakenEarlier(claim, address as string, text);
      if (typeof taken === 'object' && taken !== null)
        return { retryAt: new Date(Date.now() + taken.askAfterMs), waiting: 'provider-lookup' };
      if (taken)
        return this.record(key, base, true, {
          status: 'sent',
          reason: null,
          providerMessageId: taken,
          attempts: claim.attempts,
        });
    }
    const attempts = (claim?.attempts ?? 0) + 1;
    const now = new Date();
    const tag = enrollment.leaseOwner ?? 'unleased';
    if (claim)
      await this.claims.updateOne(
        { _id: key },
        { $set: { attempts, uncertain: true, updatedAt: now }, $addToSet: { tags: tag } },
      );
    else {
      const fresh = await this.claimInserts.add({
        _id: key,
        attempts,
        tags: [tag],
        uncertain: true,
        createdAt: now,
        updatedAt: now,
      });
      // Another runner recorded it between the read and here: it owns this send.
      if (!fresh) return { retryAt: new Date(Date.now() + this.config.JOURNEY_TIMER_LEASE_MS) };
    }
    const result =
      step.type === 'sms'
        ? await this.sms.send({
            to: address as string,
            body: text,
            key,
            workspaceId,
          })
        : await this.email.send({
            to: address as string,
            from: step.from ?? this.config.EMAIL_FROM,
            subject,
            html: await this.templates.render(step.html, data, 'html'),
            ...(step.text ? { text: await this.templates.render(step.text, data, 'plain') } : {}),
            // RFC 8058 one-click unsubscribe: mailbox providers show the button and POST to the link.
            headers: marketing
              ? {
                  'List-Unsubscribe': `<${unsubscribeUrl}>`,
                  'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
                }
              : {},
            customArgs: {
              tributary_message_key: key,
              workspace_id: enrollment.workspaceId,
              journey_id: enrollment.journeyId,
              [CLAIM_TAG_ARG]: tag,
            },
            categories: [step.category, `journey:${enrollment.journeyId}`],
          });
    if (result.ok)
      return this.record(key, base, true, {
        status: 'sent',
        reason: null,
        providerMessageId: result.providerMessageId,
        attempts,
      });
    // Refused with an answer (429, 5xx): not taken, so a later attempt need not ask the provider first.
    if (result.retryable && result.maybeTaken !== true)
      await this.claims.updateOne(
        { _id: key },
        // A deferral never reached the provider: it spends none of the message's attempts.
        { $set: { uncertain: false, ...(result.deferred ? { attempts: attempts - 1 } : {}) } },
      );
    if (result.retryable && (result.deferred === true || attempts < this.config.MESSAGE_MAX_ATTEMPTS)) {
      // Retry-After when the provider gave one, else exponential backoff with full jitter (capped at 10 min).
      const backoff = Math.min(600_000, 1_000 * 2 ** attempts) * Math.random();
      this.logger.warn(
        { messageKey: key, attempts, reason: result.reason },
        'message provider refused for now; retrying',
      );
      return { retryAt: new Date(Date.now() + (result.retryAfterMs ?? backoff)) };
    }
    // Never sent: the caps do not count it.
    await Promise.all(capKeys.map((capKey) => this.guards.releaseSend(capKey, key)));
    return this.record(key, base, true, {
      status: 'failed',
      reason: result.reason,
      providerMessageId: null,
      attempts,
    });
  }

  /**
   * The provider's id of this email if an earlier attempt of the claim was taken after all; when to ask again if the
   * provider cannot answer now (its lookup is rate-limited). A provider that cannot be asked at all answers no, and
   * the email goes again: the documented window.
   */
  private async takenEarlier(
    claim: MessageClaimDoc,
    address: string,
    subject: string,
  ): Promise<string | null | { askAfterMs: number }> {
    const lookup = this.email.sentWith?.bind(this.email);
    if (!lookup) return null;
    for (const tag of claim.tags) {
      // One question per claim tag and replica: the enrollments of a killed replica's claim come back together.
      const answer = await this.sentLookups.get(tag, async () => lookup(tag));
      if (!answer || !answer.ok) {
        if (answer?.retryAfterMs !== undefined)
          return { askAfterMs: Math.max(answer.retryAfterMs, LOOKUP_CACHE_MS) };
        this.logger.warn({ reason: answer?.reason }, 'provider cannot say what it took; sending again');
        return null;
      }
      const found = answer.sent.find((m) => m.to === address.toLowerCase() && m.subject === subject);
      if (found) return found.providerMessageId || null;
    }
    return null;
  }

  /**
   * The provider's id of this text if an earlier attempt went out after all: a text of the same body to the number,
   * created since the claim's first attempt (less CLOCK_SKEW_MS). A message resource carries nothing of ours, so an
   * identical text to the same number in that span (another journey's) is taken for this one: the text is then
   * not sent rather than sent twice. A provider that cannot be asked answers no, and the text goes again.
   */
  private async textTakenEarlier(
    claim: MessageClaimDoc,
    address: string,
    body: string,
  ): Promise<string | null | { askAfterMs: number }> {
    const lookup = this.sms.sentTo?.bind(this.sms);
    if (!lookup) return null;
    const answer = await lookup(address, new Date(claim.createdAt.getTime() - CLOCK_SKEW_MS));
    if (!answer.ok) {
      if (answer.retryAfterMs !== undefined) return { askAfterMs: answer.retryAfterMs };
      this.logger.warn({ reason: answer.reason }, 'provider cannot say what it took; sending again');
      return null;
    }
    return answer.sent.find((m) => m.body === body)?.providerMessageId ?? null;
  }

  private async record(
    key: string,
    base: Omit<
      MessageDoc,
      '_id' | 'status' | 'reason' | 'providerMessageId' | 'attempts' | 'createdAt' | 'updatedAt'
    >,
    /** Whether a claim stands for this message (this run's or an earlier one's): dropped once the record is in. */
    claimed: boolean,
    outcome: Omit<Outcome, 'recipient' | 'provider'>,
  ): Promise<Outcome> {
    const now = new Date();
    await this.recordInserts.add({ _id: key, ...base, ...outcome, createdAt: now, updatedAt: now });
    // Not waited for: a claim left behind is never read past the record (a rerun finds the record first).
    if (claimed)
      this.claimDeletes
        .add(key)
        .catch((error: unknown) => this.logger.warn({ err: error, messageKey: key }, 'claim not dropped'));
    return { ...outcome, recipient: base.recipient, provider: base.provider };
  }
}

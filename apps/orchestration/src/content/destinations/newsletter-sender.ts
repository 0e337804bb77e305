import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Model } from 'mongoose';
import pLimit from 'p-limit';
import { SERVICE_CONFIG } from '@tributary/config';
import { isDuplicateKey } from '@tributary/store';
import type { OrchestrationConfig } from '../../config';
import type { EmailProvider, ProviderResult } from '../../channels/email-provider';
import { normalisedEmail } from '../../channels/audience-identifiers';
import { AudienceGuards } from '../../engine/audience-guards';
import { CONTACT_PROFILE_MODEL, type ContactProfileDoc } from '../../engine/engine.models';
import { EMAIL_PROVIDER } from '../../engine/message-sender';
import type { DestinationOutcome } from '../content-workflow';
import { NEWSLETTER_SEND_MODEL, type NewsletterSendDoc } from '../content.models';
import type { CallPolicy } from './destination-http';

/** Who a workspace's newsletter goes to and from whom. */
export interface NewsletterSettings {
  from: string;
  fromName?: string;
  /** A fixed list, or every contact with email marketing consent (and an address). */
  audience: 'recipients' | 'consented_contacts';
  recipients?: string[];
}

/** One content version as a newsletter. */
export interface NewsletterIssue {
  /** The item's `_id` (workspace and content id): with the version and address, the key of each email. */
  itemId: string;
  workspaceId: string;
  contentId: string;
  version: number;
  subject: string;
  html: string;
  /** Where the CMS shows it, for a "read online" link. */
  onlineUrl: string | null;
}

/** Emails under way at once: SendGrid takes one recipient per call here, as journeys send. */
const CONCURRENCY = 8;

const escapeAttribute = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Sends a content version as a newsletter through the journeys' email provider (SendGrid), one email per recipient,
 * each recorded `sending` before the call and `sent` after: a later round sends only to whom it did not reach, and
 * a replica that lost its lease cannot send the same email again while the record is fresh. Suppressed addresses
 * (unsubscribes, bounces, spam reports) get nothing; every email carries RFC 8058 one-click unsubscribe.
 */
@Injectable()
export class NewsletterSender {
  constructor(
    @Inject(EMAIL_PROVIDER) private readonly email: EmailProvider,
    @Inject(NEWSLETTER_SEND_MODEL) private readonly sends: Model<NewsletterSendDoc>,
    @Inject(CONTACT_PROFILE_MODEL) private readonly profiles: Model<ContactProfileDoc>,
    private readonly guards: AudienceGuards,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
  ) {}

  async send(
    issue: NewsletterIssue,
    settings: NewsletterSettings,
    policy: CallPolicy,
  ): Promise<DestinationOutcome> {
    if (this.email.name === 'none')
      return { ok: false, retryable: false, reason: 'no email provider is configured (SENDGRID_API_KEY)' };
    const audience = await this.audienceOf(issue.workspaceId, settings);
    if (typeof audience === 'string') return { ok: false, retryable: false, reason: audience };
    const suppressions = await this.guards.suppressionsAmong(
      audience.map((address) => `${issue.workspaceId}:email:${address}`),
    );
    const targets = audience.filter((address) => !suppressions.has(`${issue.workspaceId}:email:${address}`));
    const keyOf = (address: string) => `${issue.itemId}:${issue.version}:${address}`;
    const existing = new Map(
      (await this.sends.find({ _id: { $in: targets.map(keyOf) } }).lean()).map((doc) => [doc._id, doc]),
    );
    const counts = { sent: 0, refused: 0, waiting: 0 };
    let problem: { reason: string; retryAfterMs?: number } | undefined;
    const limit = pLimit(CONCURRENCY);
    await Promise.all(
      targets.map((address) =>
        limit(async () => {
          const key = keyOf(address);
          const prior = existing.get(key);
          if (prior?.status === 'sent') counts.sent += 1;
          else if (prior?.status === 'failed') counts.refused += 1;
          else if (!(await this.claim(key, prior))) counts.waiting += 1;
          else {
            const result = await this.sendOne(issue, settings, address, key, policy);
            if (result.ok) {
              counts.sent += 1;
              await this.record(key, 'sent', result.providerMessageId, null);
            } else if (result.retryable) {
              counts.waiting += 1;
              problem ??= {
                reason: result.reason,
                ...(result.retryAfterMs ? { retryAfterMs: result.retryAfterMs } : {}),
              };
              await this.record(key, 'retry', null, result.reason);
            } else {
              counts.refused += 1;
              await this.record(key, 'failed', null, result.reason);
            }
          }
        }),
      ),
    );
    const note = `${counts.sent} sent, ${counts.refused} refused, ${suppressions.size} suppressed`;
    if (counts.waiting > 0)
      return {
        ok: false,
        retryable: true,
        ...(problem?.retryAfterMs ? { retryAfterMs: problem.retryAfterMs } : {}),
        reason: `${counts.waiting} of ${targets.length} emails not sent yet (${note}): ${problem?.reason ?? 'another round is sending them'}`,
      };
    return { ok: true, remoteId: null, remoteUrl: null, note };
  }

  /** The recipients, normalised and deduplicated; a string says why there are none to send to. */
  private async audienceOf(workspaceId: string, settings: NewsletterSettings): Promise<string[] | string> {
    const max = this.config.CONTENT_NEWSLETTER_MAX_RECIPIENTS;
    let raw: string[];
    if (settings.audience === 'recipients') raw = settings.recipients ?? [];
    else {
      // Contact profiles carry no workspace index: a scan, bounded by the cap.
      const profiles = await this.profiles
        .find({ workspaceId, 'attributes.emailMarketingConsent': 'true' }, { 'attributes.email': 1 })
        .limit(max + 1)
        .lean();
      if (profiles.length > max)
        return `more than ${max} consented contacts (CONTENT_NEWSLETTER_MAX_RECIPIENTS): nothing sent`;
      raw = profiles.map((p) => p.attributes['email'] ?? '');
    }
    const audience = [...new Set(raw.map(normalisedEmail).filter((a): a is string => a !== null))];
    return audience.length === 0 ? 'the newsletter audience has no email address' : audience;
  }

  /** Takes the email for this round: new, marked for retry, or left `sending` by a round longer ago than a lease. */
  private async claim(key: string, prior: NewsletterSendDoc | undefined): Promise<boolean> {
    const now = new Date();
    if (!prior)
      try {
        await this.sends.create({
          _id: key,
          status: 'sending',
          providerMessageId: null,
          reason: null,
          updatedAt: now,
        });
        return true;
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    const stale = now.getTime() - new Date(prior.updatedAt).getTime() > this.config.CONTENT_LEASE_MS;
    if (prior.status === 'sending' && !stale) return false;
    const { modifiedCount } = await this.sends.updateOne(
      { _id: key, status: prior.status, updatedAt: prior.updatedAt },
      { $set: { status: 'sending', updatedAt: now } },
    );
    return modifiedCount > 0;
  }

  private async record(
    key: string,
    status: NewsletterSendDoc['status'],
    providerMessageId: string | null,
    reason: string | null,
  ): Promise<void> {
    await this.sends.updateOne(
      { _id: key },
      { $set: { status, providerMessageId, reason, updatedAt: new Date() } },
    );
  }

  /** One email, retried in the call while the provider asks for a wait no longer than the policy's. */
  private async sendOne(
    issue: NewsletterIssue,
    settings: NewsletterSettings,
    address: string,
    key: string,
    policy: CallPolicy,
  ): Promise<ProviderResult> {
    const unsubscribeUrl = `${this.config.PUBLIC_BASE_URL}/v1/unsubscribe/${this.guards.unsubscribeToken(issue.workspaceId, 'email', address)}`;
    const online = issue.onlineUrl
      ? `<p><a href="${escapeAttribute(issue.onlineUrl)}">Read it online</a></p>`
      : '';
    const email = {
      to: address,
      from: settings.fromName ? `${settings.fromName} <${settings.from}>` : settings.from,
      subject: issue.subject,
      html: `${issue.html}${online}<p><a href="${escapeAttribute(unsubscribeUrl)}">Unsubscribe</a></p>`,
      headers: {
        'List-Unsubscribe': `<${unsubscribeUrl}>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      },
      customArgs: {
        tributary_content_send: key,
        workspace_id: issue.workspaceId,
        content_id: issue.contentId,
      },
      categories: ['marketing', `content:${issue.contentId}`],
    };
    for (let attempt = 0; ; attempt += 1) {
      const result = await this.email.send(email);
      if (result.ok || !result.retryable || attempt >= policy.retries) return result;
      const wait =
        Math.max(result.retryAfterMs ?? 0, policy.baseDelayMs * 2 ** (attempt + 1)) *
        (1 + 0.2 * Math.random());
      if (wait > policy.maxWaitMs) return result;
      await sleep(wait);
    }
  }
}

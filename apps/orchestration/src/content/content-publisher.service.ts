import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Model } from 'mongoose';
import { PollLoop } from '@tributary/runtime';
import { SERVICE_CONFIG } from '@tributary/config';
import { SERVICE_LOGGER, type Logger } from '@tributary/observability';
import type { OrchestrationConfig } from '../config';
import { timerId, timersDueBy } from '../engine/engine.models';
import { ContentAnnouncer } from './content-announcer';
import { contentStep, type StepFacts } from './content-steps';
import {
  afterAttempt,
  dueDestinations,
  settle,
  startPublishing,
  type ContentAction,
  type DestinationOutcome,
  type DestinationState,
  type Goal,
  type RetryPolicy,
} from './content-workflow';
import {
  CONTENT_ITEM_MODEL,
  CONTENT_TIMER_MODEL,
  CONTENT_VERSION_MODEL,
  type ContentItemDoc,
  type ContentTimerDoc,
  type ContentVersionDoc,
} from './content.models';
import { DestinationSettings, type ResolvedDestinations } from './destination-settings';
import type { CallPolicy } from './destinations/destination-http';
import { LinkedInSocial, type SocialPost } from './destinations/linkedin-social';
import { NewsletterSender } from './destinations/newsletter-sender';
import { WordPressCms } from './destinations/wordpress-cms';

/** Items claimed per store round trip; content is written by people, so a round rarely finds more. */
const CLAIM_BATCH = 50;
/** axios-retry's base inside one call: waits of 2^n × this (at least the Retry-After), plus jitter. */
const CALL_BACKOFF_MS = 250;
/** LinkedIn's commentary limit. */
const MAX_COMMENTARY = 3_000;

/** The publisher no longer holds the item (its lease ran out and another replica took it): it stops there. */
class LeaseLostError extends Error {}

const versionId = (item: ContentItemDoc, version: number): string =>
  `${item.workspaceId}:${item.contentId}:${version}`;

/** A URL-safe slug of the title plus part of the content id: stable per version, unique per item. */
export function slugFor(title: string, contentId: string): string {
  const words = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
  const suffix = contentId.replace(/^c_/, '').slice(0, 8);
  return words ? `${words}-${suffix}` : suffix;
}

/** Text of an HTML body, for a social post. */
function plainText(html: string): string {
  return html
    .replace(/<(br|\/p|\/h[1-6]|\/li)\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * Publishes and unpublishes content. Due items (a schedule that came, a destination's retry, a step not yet
 * announced) are found through due-time entries (`t|<ms>|<item>`, an `_id` range) and claimed with a lease, so of
 * two replicas one works each item; a killed replica's items are taken over at the lease's end. Each destination's
 * outcome is written as it comes (with its remote id), so a retry calls only the destinations not done yet.
 */
@Injectable()
export class ContentPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly loop: PollLoop;
  private readonly callPolicy: CallPolicy;
  private readonly retryPolicy: RetryPolicy;

  constructor(
    @Inject(CONTENT_ITEM_MODEL) private readonly items: Model<ContentItemDoc>,
    @Inject(CONTENT_VERSION_MODEL) private readonly versions: Model<ContentVersionDoc>,
    @Inject(CONTENT_TIMER_MODEL) private readonly timers: Model<ContentTimerDoc>,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    private readonly announcer: ContentAnnouncer,
    private readonly settings: DestinationSettings,
    private readonly newsletter: NewsletterSender,
  ) {
    this.callPolicy = {
      retries: config.CONTENT_CALL_RETRIES,
      maxWaitMs: config.CONTENT_CALL_MAX_WAIT_MS,
      baseDelayMs: CALL_BACKOFF_MS,
      timeoutMs: config.PROVIDER_TIMEOUT_MS,
    };
    this.retryPolicy = {
      maxAttempts: config.CONTENT_MAX_ATTEMPTS,
      baseDelayMs: config.CONTENT_RETRY_BASE_MS,
      maxDelayMs: config.CONTENT_RETRY_MAX_MS,
    };
    this.loop = new PollLoop(
      () => this.tick(),
      config.CONTENT_POLL_MS,
      (error) =>
        this.logger.error(
          { event: 'content-round-failed', reason: (error as Error).message },
          'content round failed',
        ),
    );
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** Claims and works due items until none is due. */
  private async tick(): Promise<void> {
    while (!this.loop.stopped) {
      const claimed = await this.claim(new Date());
      if (claimed.length === 0) return;
      for (const item of claimed) {
        if (this.loop.stopped) return;
        await this.work(item);
      }
      if (claimed.length < CLAIM_BATCH) return;
    }
  }

  /**
   * Claims up to a batch of due items: the due entries (an `_id` range, unsorted: FerretDB sorts by reading every
   * match), then a lease on their items. The entries read are dropped; a claimed item keeps an entry at its lease's
   * end, so a replica killed while working it leaves it to another.
   */
  async claim(now: Date): Promise<ContentItemDoc[]> {
    const due = await this.timers
      .find({ _id: timersDueBy(now.getTime()) }, { _id: 1 })
      .limit(CLAIM_BATCH)
      .lean();
    if (due.length === 0) return [];
    const ids = [...new Set(due.map((d) => d._id.slice(d._id.indexOf('|', 2) + 1)))];
    const claimed = await this.lease(ids, now);
    await this.timers.deleteMany({ _id: { $in: due.map((d) => d._id) } });
    return claimed;
  }

  /** Leases those of `ids` that are due and free; the ones this call got. */
  private async lease(ids: readonly string[], now: Date): Promise<ContentItemDoc[]> {
    const owner = randomUUID();
    const leaseUntil = new Date(now.getTime() + this.config.CONTENT_LEASE_MS);
    await this.announcer.addTimers(ids.map((itemId) => ({ at: leaseUntil, itemId })));
    const leased = await this.items.updateMany(
      { _id: { $in: [...ids] }, wakeAt: { $lte: now }, leaseUntil: { $lte: now } },
      { $set: { leaseOwner: owner, leaseUntil }, $inc: { revision: 1 } },
    );
    const claimed =
      leased.modifiedCount === 0
        ? []
        : (await this.items.find({ _id: { $in: [...ids] } }).lean()).filter(
            (item) => item.leaseOwner === owner,
          );
    const missed = ids.filter((id) => !claimed.some((item) => item._id === id));
    if (missed.length > 0)
      await this.timers.deleteMany({ _id: { $in: missed.map((id) => timerId(leaseUntil.getTime(), id)) } });
    return claimed;
  }

  /**
   * Works an item this replica holds (claimed here, or leased by the publish or unpublish request that calls this):
   * announces what is pending, starts a due schedule, runs a round of destination calls, and lets the item go.
   */
  async work(claimed: ContentItemDoc): Promise<ContentItemDoc> {
    let item = claimed;
    try {
      await this.announcer.flush(item._id);
      if (item.status === 'scheduled' && item.publishAt && item.publishAt.getTime() <= Date.now()) {
        const version = item.approvedVersion ?? item.latestVersion;
        item = await this.write(
          item,
          { status: 'publishing', destinations: startPublishing(item.destinations, version) },
          [this.facts(item, 'publishing', version, { from: 'scheduled' })],
        );
      }
      if (item.status === 'publishing' || item.status === 'unpublishing') item = await this.round(item);
      item = await this.release(item);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        this.logger.info(
          { event: 'content-lease-lost', itemId: item._id },
          'another replica took the content over',
        );
        return item;
      }
      this.logger.error(
        { event: 'content-work-failed', itemId: item._id, reason: (error as Error).message },
        'content could not be worked; its lease ends and a later round retries it',
      );
      return item;
    }
    await this.announcer.flush(item._id);
    return item;
  }

  /** Calls each due destination once (with in-call retries), writing each outcome as it comes, then settles. */
  private async round(start: ContentItemDoc): Promise<ContentItemDoc> {
    let item = start;
    const goal: Goal = item.status === 'publishing' ? 'publish' : 'unpublish';
    const version =
      goal === 'publish'
        ? (item.approvedVersion ?? item.latestVersion)
        : (item.publishedVersion ?? item.latestVersion);
    const content = await this.versions.findById(versionId(item, version)).lean();
    if (!content) throw new Error(`version ${version} of ${item.contentId} is missing`);
    let settings: ResolvedDestinations | undefined;
    const tried = new Set<string>();
    for (;;) {
      const name = dueDestinations(item.destinations, goal, new Date()).find((n) => !tried.has(n));
      if (name === undefined) break;
      tried.add(name);
      const state = item.destinations.find((d) => d.name === name) as DestinationState;
      item = await this.renew(item);
      settings ??= await this.settingsOf(item);
      const outcome = await this.call(item, content, state, goal, settings);
      const after = afterAttempt(state, outcome, goal, version, new Date(), this.retryPolicy);
      const action: ContentAction | undefined =
        after.status === 'published'
          ? 'destination_published'
          : after.status === 'removed'
            ? 'destination_removed'
            : after.status === 'failed'
              ? 'destination_failed'
              : undefined;
      if (!action && !outcome.ok)
        this.logger.warn(
          { event: 'content-destination-retry', itemId: item._id, destination: name, reason: outcome.reason },
          'content destination refused for now; retrying later',
        );
      item = await this.write(
        item,
        { destinations: item.destinations.map((d) => (d.name === name ? after : d)) },
        action ? [this.facts(item, action, version, { destination: after, title: content.title })] : [],
      );
    }
    const settled = settle(item.destinations, goal);
    if (settled.status === item.status) return item;
    const reached = goal === 'publish' && item.destinations.some((d) => d.status === 'published');
    return this.write(item, { status: settled.status, ...(reached ? { publishedVersion: version } : {}) }, [
      this.facts(item, settled.status as ContentAction, version, {
        from: item.status,
        title: content.title,
        reason:
          item.destinations
            .filter((d) => d.status === 'failed')
            .map((d) => `${d.name}: ${d.lastError ?? 'failed'}`)
            .join('; ') || null,
      }),
    ]);
  }

  /** The workspace's destination settings; unreadable ones (a changed CONTENT_SECRETS_KEY) as none. */
  private async settingsOf(item: ContentItemDoc): Promise<ResolvedDestinations> {
    try {
      return await this.settings.resolve(item.workspaceId);
    } catch {
      this.logger.error(
        { event: 'content-settings-unreadable', workspaceId: item.workspaceId },
        'destination settings cannot be opened (was CONTENT_SECRETS_KEY changed?)',
      );
      return {};
    }
  }

  private async call(
    item: ContentItemDoc,
    content: ContentVersionDoc,
    state: DestinationState,
    goal: Goal,
    settings: ResolvedDestinations,
  ): Promise<DestinationOutcome> {
    const notConfigured = (what: string): DestinationOutcome => ({
      ok: false,
      retryable: false,
      reason: `${what} is not configured for this workspace (PUT /v1/content-destinations/${state.name})`,
    });
    const cmsUrl =
      item.destinations.find((d) => d.name === 'cms' && d.status === 'published')?.remoteUrl ?? null;
    switch (state.name) {
      case 'cms': {
        if (!settings.cms) return notConfigured('WordPress');
        const cms = new WordPressCms(settings.cms, this.callPolicy);
        const type = item.kind === 'landing_page' ? 'page' : 'post';
        if (goal === 'unpublish') return cms.remove(type, state.remoteId ?? '');
        return cms.publish(
          {
            type,
            slug: slugFor(content.title, item.contentId),
            title: content.title,
            content: content.body,
            excerpt: content.excerpt,
          },
          state.remoteId,
          // An earlier round may have created it without the answer arriving: look for it first.
          state.attempts > 0,
        );
      }
      case 'social': {
        if (!settings.social) return notConfigured('The social account');
        const social = new LinkedInSocial(settings.social, this.callPolicy);
        if (goal === 'unpublish') return social.remove(state.remoteId ?? '');
        return social.publish(this.socialPost(item, content, cmsUrl));
      }
      case 'newsletter': {
        // Sent email cannot be recalled: startUnpublishing keeps it, so only a publish gets here.
        if (goal === 'unpublish') return { ok: true, remoteId: null, remoteUrl: null, note: 'kept' };
        if (!settings.newsletter) return notConfigured('The newsletter');
        return this.newsletter.send(
          {
            itemId: item._id,
            workspaceId: item.workspaceId,
            contentId: item.contentId,
            version: content.version,
            subject: content.title,
            html: content.body,
            onlineUrl: cmsUrl,
          },
          settings.newsletter,
          this.callPolicy,
        );
      }
    }
  }

  /** A social post of the item: its text (a social post's body; else title and excerpt), linking to the CMS copy. */
  private socialPost(item: ContentItemDoc, content: ContentVersionDoc, cmsUrl: string | null): SocialPost {
    const text =
      item.kind === 'social_post'
        ? plainText(content.body)
        : [content.title, content.excerpt ? plainText(content.excerpt) : ''].filter(Boolean).join('\n\n');
    // Escaping (LinkedIn's little text) may lengthen it: leave room.
    const commentary = text.length > MAX_COMMENTARY - 200 ? `${text.slice(0, MAX_COMMENTARY - 201)}…` : text;
    return { commentary, article: cmsUrl ? { source: cmsUrl, title: content.title } : null };
  }

  private facts(
    item: ContentItemDoc,
    action: ContentAction,
    version: number,
    extra: Partial<StepFacts> = {},
  ): StepFacts {
    return {
      action,
      from: null,
      actor: null,
      correlationId: item.flowId ?? `content:${item._id}`,
      version,
      title: item.title,
      ...extra,
    };
  }

  /** Writes a change of the item this publisher holds, with its steps; LeaseLostError when it holds it no more. */
  private async write(
    item: ContentItemDoc,
    set: Partial<ContentItemDoc>,
    steps: StepFacts[],
  ): Promise<ContentItemDoc> {
    const now = new Date();
    const next: ContentItemDoc = { ...item, ...set, revision: item.revision + 1, updatedAt: now };
    const entries = steps.map((facts) => contentStep(next, next.revision, facts));
    const { matchedCount } = await this.items.updateOne(
      { _id: item._id, leaseOwner: item.leaseOwner },
      {
        $set: {
          ...set,
          updatedAt: now,
          ...Object.fromEntries(entries.map((entry) => [`outbox.${entry.event.metadata.eventId}`, entry])),
        },
        $inc: { revision: 1 },
      },
    );
    if (matchedCount === 0) throw new LeaseLostError();
    return next;
  }

  /** Extends the lease before a destination call (an entry at its new end first, in case this replica dies). */
  private async renew(item: ContentItemDoc): Promise<ContentItemDoc> {
    const leaseUntil = new Date(Date.now() + this.config.CONTENT_LEASE_MS);
    await this.announcer.addTimers([{ at: leaseUntil, itemId: item._id }]);
    const { matchedCount } = await this.items.updateOne(
      { _id: item._id, leaseOwner: item.leaseOwner },
      { $set: { leaseUntil } },
    );
    if (matchedCount === 0) throw new LeaseLostError();
    return { ...item, leaseUntil };
  }

  /** Lets the item go, due again when its schedule or a destination's next round comes (never, when settled). */
  private async release(item: ContentItemDoc): Promise<ContentItemDoc> {
    const wake =
      item.status === 'scheduled' && item.publishAt
        ? item.publishAt
        : item.status === 'publishing'
          ? settle(item.destinations, 'publish').wakeAt
          : item.status === 'unpublishing'
            ? settle(item.destinations, 'unpublish').wakeAt
            : null;
    if (wake) await this.announcer.addTimers([{ at: wake, itemId: item._id }]);
    const { matchedCount } = await this.items.updateOne(
      { _id: item._id, leaseOwner: item.leaseOwner },
      {
        $set: { leaseOwner: null, leaseUntil: new Date(0), ...(wake ? { wakeAt: wake } : {}) },
        ...(wake ? {} : { $unset: { wakeAt: 1 } }),
        $inc: { revision: 1 },
      },
    );
    if (matchedCount === 0) throw new LeaseLostError();
    await this.timers.deleteMany({ _id: timerId(new Date(item.leaseUntil).getTime(), item._id) });
    const released: ContentItemDoc = {
      ...item,
      leaseOwner: null,
      leaseUntil: new Date(0),
      revision: item.revision + 1,
    };
    if (wake) released.wakeAt = wake;
    else delete released.wakeAt;
    return released;
  }
}

import { Inject, Injectable } from '@nestjs/common';
import pLimit from 'p-limit';
import type { LeadCaptured } from '@tributary/contracts';
import { EventPublisher } from '@tributary/messaging';
import { ContactRepository } from '../contacts/contact.repository';
import { emailDomainOf } from '../enrichment/enrichment.port';
import { LeadEnricher } from '../enrichment/lead-enricher';
import { IDENTITY_OPTIONS } from '../identity/identity-resolver.service';
import type { IdentityOptions } from '../identity/identity-rules';
import { needsOwner } from '../lifecycle/lifecycle';
import { ScoringModelStore } from '../models/scoring-model.store';
import { LEAD_ROUTING, type LeadRouting } from '../routing/lead-routing.port';
import { captureKeys, planCapture, sortCaptures, type NewLead, type PlannedLead } from './capture-plan';
import { LeadClock } from './lead-clock';
import { attributesOfLead } from './lead-profile';
import { OneEventPath } from './one-event-path.service';
import { PendingEnrichments } from './pending-enrichments';

/**
 * Store calls a batch keeps in flight at once: enough to hide round trips, few enough not to starve the connection
 * pool that HTTP requests and the other partitions share.
 */
const BATCH_STORE_CONCURRENCY = 32;

/**
 * Captured leads a batch at a time. Leads whose email and source record nobody owns yet (most form leads) become new
 * contacts that are already enriched, scored and staged, created, announced and routed together. The others (a
 * known person, a key taken meanwhile) take the one-lead path afterwards, in order.
 */
@Injectable()
export class CaptureBatch {
  constructor(
    @Inject(IDENTITY_OPTIONS) private readonly identityOptions: IdentityOptions,
    private readonly contacts: ContactRepository,
    private readonly enricher: LeadEnricher,
    private readonly models: ScoringModelStore,
    private readonly pending: PendingEnrichments,
    @Inject(LEAD_ROUTING) private readonly routing: LeadRouting,
    private readonly oneEvent: OneEventPath,
    private readonly publisher: EventPublisher,
    private readonly clock: LeadClock,
  ) {}

  /**
   * A partition's batch of captured leads: one write binding the new leads' keys, one of their contacts, one
   * produce of their announcements and one batch routing. A lead with one key (an email) needs no read first:
   * binding it is the check. The keys of leads with several are read first (one read), so that none binds some and
   * finds the others taken.
   */
  async onLeadsCaptured(leads: readonly LeadCaptured[]): Promise<void> {
    const severalKeys = leads
      .map((lead) => captureKeys(lead, this.identityOptions))
      .filter((keys) => keys.length > 1);
    const bound = await this.contacts.boundKeys(severalKeys.flat());
    const { fresh, later } = sortCaptures(leads, this.identityOptions, bound);
    const limit = pLimit(BATCH_STORE_CONCURRENCY);
    const planned = await Promise.all(fresh.map((item) => limit(() => this.plan(item))));
    // A key someone else bound meanwhile leaves its lead to the one-lead path.
    const created = await this.contacts.createAll(planned);
    // The scores and stage moves are announced while the batch is routed: other topics, and a redelivery redoes
    // either. Both settle before a failure is thrown, so the one-lead retry never runs beside this routing.
    const settled = await Promise.allSettled([
      this.publisher.publishAll(created.flatMap((lead) => lead.announce)),
      (async () => {
        for (const { contact } of created)
          if (contact.enrichment.state === 'pending')
            await this.pending.schedule({
              contactId: contact._id,
              workspaceId: contact.workspaceId,
              email: contact.attributes.email ?? null,
            });
        await this.routing.assignMany(
          created
            .filter(({ contact }) => needsOwner(contact.stage))
            .map(({ contact, lead }) => ({
              workspaceId: contact.workspaceId,
              contactId: contact._id,
              attributes: contact.attributes ?? {},
              cause: lead.metadata,
            })),
          { newContacts: true },
        );
      })(),
    ]);
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
    const made = new Set(created.map(({ lead }) => lead));
    for (const { lead } of fresh) if (!made.has(lead)) later.add(lead);
    for (const lead of leads) if (later.has(lead)) await this.oneEvent.onLeadCaptured(lead);
  }

  /** Enriches a new lead and plans its contact under the workspace's current model; nothing is written here. */
  private async plan(item: NewLead): Promise<PlannedLead> {
    const ws = item.lead.metadata.workspaceId;
    const given = attributesOfLead(item.lead);
    const enrichment = await this.enricher.enrich({
      workspaceId: ws,
      email: given.email,
      domain: emailDomainOf(given.email),
    });
    const now = new Date();
    const scoring = await this.models.current(ws);
    return planCapture({ item, given, enrichment, scoring, latest: this.clock.latest(), now });
  }
}

import { Injectable } from '@nestjs/common';
import type { LeadCaptured, RecordChanged, TrackingEvent } from '@tributary/contracts';
import { ContactRepository } from '../contacts/contact.repository';
import { emailDomainOf } from '../enrichment/enrichment.port';
import { LeadEnricher } from '../enrichment/lead-enricher';
import { IdentityResolver } from '../identity/identity-resolver.service';
import { engagementFactOf } from '../models/scoring-engine';
import { LeadClock } from './lead-clock';
import {
  attributesOfCrmFields,
  attributesOfLead,
  attributesOfTraits,
  crmStageOf,
  paidOrderEmail,
} from './lead-profile';
import { LeadScoring } from './lead-scoring.service';
import { PendingEnrichments } from './pending-enrichments';
import { StageMoves } from './stage-moves.service';

/**
 * One event at a time: a tracking event or a capture the batches leave over (identity links, traits, a known
 * person, a write that lost a race), and every CRM or shop change. Each step is idempotent on its own (fact ids,
 * conditional stage moves, one assignment claim per lead), so a redelivery finishes what a crash left half-way.
 */
@Injectable()
export class OneEventPath {
  constructor(
    private readonly identities: IdentityResolver,
    private readonly contacts: ContactRepository,
    private readonly enricher: LeadEnricher,
    private readonly pending: PendingEnrichments,
    private readonly scoring: LeadScoring,
    private readonly stages: StageMoves,
    private readonly clock: LeadClock,
  ) {}

  /** A behavioural event: identity links, traits, one engagement fact, then score and maybe MQL. */
  async onTrackingEvent(event: TrackingEvent): Promise<void> {
    const contactId = await this.identities.resolveEvent(event);
    const attributes = attributesOfTraits(event);
    const contact = await this.contacts.record({
      contactId,
      workspaceId: event.metadata.workspaceId,
      fact: engagementFactOf(event, this.clock.latest()),
      attributes,
    });
    // A person who told us their email is reachable; only a capture makes them a sales lead.
    if (attributes.email) await this.stages.move(contact, { kind: 'subscribed' }, event.metadata);
    await this.scoring.advance(contact, event.metadata, event.timestamp, 'event', { events: [event] });
  }

  /** A lead from a form, CRM or shop: enrich, score, stage `lead`, route to an owner, MQL when the score says so. */
  async onLeadCaptured(lead: LeadCaptured): Promise<void> {
    const ws = lead.metadata.workspaceId;
    const contactId = await this.identities.resolveLead({
      workspaceId: ws,
      email: lead.email,
      source: lead.source,
      externalId: lead.externalId,
      leadId: lead.leadId,
      cause: lead.metadata,
    });
    const given = attributesOfLead(lead);
    const enrichment = await this.enricher.enrich({
      workspaceId: ws,
      email: given.email,
      domain: emailDomainOf(given.email),
    });
    const contact = await this.contacts.record({
      contactId,
      workspaceId: ws,
      fact: {
        eventId: lead.metadata.eventId,
        callType: 'form',
        name: lead.formId ?? lead.source,
        path: null,
        at: Math.min(lead.capturedAt, this.clock.latest()),
      },
      // What the person or their CRM said beats what a provider guessed.
      attributes: { ...enrichment.attributes, ...given },
      source: lead.source,
      enrichment: { state: enrichment.state, sources: enrichment.sources, failure: enrichment.failure },
    });
    if (enrichment.state === 'pending')
      await this.pending.schedule({ contactId, workspaceId: ws, email: given.email ?? null });
    await this.stages.move(contact, { kind: 'lead-captured' }, lead.metadata);
    await this.scoring.advance(contact, lead.metadata, lead.capturedAt, 'lead-captured', { route: true });
  }

  /** CRM and shop changes: late lifecycle stages come from the systems that own them, and profile fields rescore. */
  async onRecordChanged(record: RecordChanged): Promise<void> {
    const ws = record.metadata.workspaceId;
    if (record.system === 'shopify' && record.objectType === 'order') {
      const email = paidOrderEmail(record.fieldsJson);
      const contactId = email ? await this.identities.findByEmail(ws, email) : null;
      if (!contactId) return;
      const contact = await this.contacts.read(contactId);
      if (contact) await this.stages.move(contact, { kind: 'purchase', source: 'shopify' }, record.metadata);
      return;
    }
    if (record.objectType !== 'contact' || record.operation === 'delete') return;
    const contactId = await this.identities.findByExternalId(ws, record.system, record.externalId);
    if (!contactId) return;
    const attributes = attributesOfCrmFields(record.fieldsJson);
    let contact = await this.contacts.read(contactId);
    if (!contact) return;
    if (Object.keys(attributes).length > 0) {
      contact = await this.contacts.record({ contactId, workspaceId: ws, attributes });
      await this.scoring.advance(contact, record.metadata, record.changedAt, 'crm-update');
    }
    const stage = crmStageOf(record.fieldsJson);
    if (stage)
      await this.stages.move(contact, { kind: 'crm-stage', stage, source: record.system }, record.metadata);
  }
}

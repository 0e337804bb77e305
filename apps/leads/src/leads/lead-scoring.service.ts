import { Injectable } from '@nestjs/common';
import type { EventMetadata, TrackingEvent } from '@tributary/contracts';
import { EventPublisher } from '@tributary/messaging';
import type { ContactAttributes } from '../contacts/contact-attributes';
import { factsOf, type ContactDoc, type EnrichmentState } from '../contacts/contact.model';
import { ContactRepository } from '../contacts/contact.repository';
import { emailDomainOf } from '../enrichment/enrichment.port';
import { LeadEnricher } from '../enrichment/lead-enricher';
import { ScoringModelStore } from '../models/scoring-model.store';
import { scoreContact, scoringInstant } from '../models/scoring-engine';
import { scoredAnnouncement } from './lead-announcements';
import { LeadClock } from './lead-clock';
import { isRescoreNeeded, scoreFieldsOf, type Scored } from './score-fields';
import { StageMoves } from './stage-moves.service';

/**
 * Scores one stored contact under its workspace's current model, announces it and lets the score qualify it: the
 * one-event path, the rescore CLI and re-enrichment all end here.
 */
@Injectable()
export class LeadScoring {
  constructor(
    private readonly contacts: ContactRepository,
    private readonly models: ScoringModelStore,
    private readonly enricher: LeadEnricher,
    private readonly stages: StageMoves,
    private readonly publisher: EventPublisher,
    private readonly clock: LeadClock,
  ) {}

  /** Scores as of the cause's time, never after the clock's latest, and qualifies. */
  async advance(
    contact: ContactDoc,
    cause: EventMetadata,
    at: number,
    trigger: string,
    options: { route?: boolean; events?: readonly TrackingEvent[] } = {},
  ): Promise<void> {
    const asOf = scoringInstant([at], this.clock.latest());
    const scored = await this.score(contact, asOf, trigger, cause, options.events);
    if (scored) await this.stages.qualify(contact, scored, cause, options.route ?? false);
  }

  /** Recomputes a contact under the workspace's current model (the `rescore` CLI); true when the score changed. */
  async rescore(contact: ContactDoc, asOf: number, cause: EventMetadata): Promise<boolean> {
    const before = contact.score;
    const scored = await this.score(contact, asOf, 'rescore', cause);
    if (scored) await this.stages.qualify(contact, scored, cause, false);
    return scored !== null && scored.total !== before;
  }

  /** The re-enrichment sweeper found the provider back: fill the profile, rescore, qualify. */
  async applyEnrichment(contactId: string, cause: EventMetadata): Promise<EnrichmentState> {
    const contact = await this.contacts.read(contactId);
    if (!contact) return 'none';
    const outcome = await this.enricher.enrich({
      workspaceId: contact.workspaceId,
      email: contact.attributes?.email,
      domain: emailDomainOf(contact.attributes?.email),
    });
    if (outcome.state !== 'enriched') return outcome.state;
    // Enrichment fills gaps only: anything the person or a CRM said stays.
    const gaps = Object.fromEntries(
      Object.entries(outcome.attributes).filter(
        ([name]) => contact.attributes?.[name as keyof ContactAttributes] === undefined,
      ),
    ) as ContactAttributes;
    const updated = await this.contacts.record({
      contactId,
      workspaceId: contact.workspaceId,
      attributes: gaps,
      enrichment: { state: 'enriched', sources: outcome.sources },
    });
    await this.advance(updated, cause, Date.now(), 'enriched', { route: updated.stage === 'lead' });
    return 'enriched';
  }

  /**
   * Scores the contact as of `asOf` and announces it. The score is stored only for the revision it was computed
   * on: when a newer change landed meanwhile, its writer scores it instead (null).
   */
  async score(
    contact: ContactDoc,
    asOf: number,
    trigger: string,
    cause: EventMetadata,
    events?: readonly TrackingEvent[],
  ): Promise<Scored | null> {
    const { version, model } = await this.models.current(contact.workspaceId);
    const result = scoreContact(model, contact.attributes ?? {}, factsOf(contact), asOf);
    const previousScore = contact.score ?? 0;
    if (isRescoreNeeded(contact, version, result)) {
      if (!(await this.contacts.saveScore(contact._id, contact.revision, scoreFieldsOf(result, version))))
        return null;
      contact.score = result.total;
    }
    await this.publisher.publish(
      scoredAnnouncement({
        contactId: contact._id,
        cause,
        result,
        version,
        previousScore,
        trigger,
        enrichmentState: contact.enrichment?.state ?? 'none',
        profile: contact,
        events,
      }),
    );
    return { total: result.total, mqlThreshold: model.mqlThreshold };
  }
}

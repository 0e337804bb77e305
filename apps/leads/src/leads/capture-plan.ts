import type { LeadCaptured } from '@tributary/contracts';
import type { OutgoingEvent } from '@tributary/messaging';
import type { ContactAttributes } from '../contacts/contact-attributes';
import { newContact, packFact, type StoredFact } from '../contacts/contact.model';
import type { NewContact } from '../contacts/contact.repository';
import type { EnrichmentOutcome } from '../enrichment/lead-enricher';
import {
  defaultContactId,
  identityKey,
  normalizeEmail,
  type IdentityOptions,
} from '../identity/identity-rules';
import type { IdentityDoc } from '../identity/identity.model';
import { planMove, type LifecycleCause, type LifecycleStage } from '../lifecycle/lifecycle';
import { scoreContact } from '../models/scoring-engine';
import type { VersionedScoringModel } from '../models/scoring-model.store';
import { lifecycleAnnouncement, scoredAnnouncement, stageChangeOf } from './lead-announcements';
import { scoreFieldsOf } from './score-fields';

/** A captured lead of a batch that names nobody we know: it becomes a new contact in one insert. */
export interface NewLead {
  lead: LeadCaptured;
  contactId: string;
  keys: string[];
}

/** A new lead ready to write: its identity entries, its contact, and what it announces once written. */
export interface PlannedLead extends NewContact {
  lead: LeadCaptured;
  announce: OutgoingEvent[];
}

/** The identity keys a captured lead binds: its normalised email, its source record. */
export function captureKeys(lead: LeadCaptured, options: IdentityOptions): string[] {
  const ws = lead.metadata.workspaceId;
  const email = normalizeEmail(lead.email, options);
  return [
    ...(email ? [identityKey(ws, 'email', email)] : []),
    ...(lead.externalId ? [identityKey(ws, 'ext', `${lead.source}:${lead.externalId}`)] : []),
  ];
}

/**
 * Which leads of a batch become new contacts together (`fresh`) and which take the one-lead path afterwards
 * (`later`): a lead with a key that is `bound` already, or that an earlier lead of the batch claims, so a second
 * capture of the same person finds the first one's contact.
 */
export function sortCaptures(
  leads: readonly LeadCaptured[],
  options: IdentityOptions,
  bound: ReadonlySet<string>,
): { fresh: NewLead[]; later: Set<LeadCaptured> } {
  const fresh: NewLead[] = [];
  const later = new Set<LeadCaptured>();
  const claimed = new Set<string>();
  for (const lead of leads) {
    const leadKeys = captureKeys(lead, options);
    if (leadKeys.some((key) => bound.has(key) || claimed.has(key))) later.add(lead);
    else {
      leadKeys.forEach((key) => claimed.add(key));
      const contactId = defaultContactId(lead.metadata.workspaceId, `lead:${lead.leadId}`);
      fresh.push({ lead, contactId, keys: leadKeys });
    }
  }
  return { fresh, later };
}

/**
 * A new lead's contact in one insert: enriched, scored, at stage `lead` (and `mql` when the score is there), with
 * the stage history a one-lead run would write (same announcement ids), so a redelivery finishes what is missing.
 */
export function planCapture(input: {
  item: NewLead;
  /** What the lead itself says (`attributesOfLead`). */
  given: ContactAttributes;
  enrichment: EnrichmentOutcome;
  scoring: VersionedScoringModel;
  /** The latest time an event may claim (the clock plus the allowed skew). */
  latest: number;
  now: Date;
}): PlannedLead {
  const { item, given, enrichment, latest, now } = input;
  const { lead, contactId, keys } = item;
  const { version, model } = input.scoring;
  const ws = lead.metadata.workspaceId;
  const identities = keys.map((key): IdentityDoc => ({
    _id: key,
    workspaceId: ws,
    contactId,
    updatedAt: now,
  }));
  const fact: StoredFact = {
    eventId: lead.metadata.eventId,
    callType: 'form',
    name: lead.formId ?? lead.source,
    path: null,
    at: Math.min(lead.capturedAt, latest),
  };
  // What the person or their CRM said beats what a provider guessed.
  const attributes = Object.fromEntries(
    Object.entries({ ...enrichment.attributes, ...given }).filter(([, value]) => value !== undefined),
  ) as ContactAttributes;
  const result = scoreContact(model, attributes, [fact], fact.at);
  const moves: ReturnType<typeof stageChangeOf>[] = [];
  const moveTo = (from: LifecycleStage | null, cause: LifecycleCause): LifecycleStage | null => {
    const decision = planMove(from, cause);
    if (!decision.move) return from;
    moves.push(stageChangeOf(from, decision.move, lead.metadata, now));
    return decision.move.to;
  };
  const asLead = moveTo(null, { kind: 'lead-captured' });
  const stage = moveTo(asLead, { kind: 'score', score: result.total, threshold: model.mqlThreshold });
  const contact = newContact(contactId, ws, now, {
    ...scoreFieldsOf(result, version),
    eventCount: 1,
    lastRule: fact.name ?? fact.callType,
    attributes,
    facts: [packFact(fact)],
    factIds: [fact.eventId],
    scoredRevision: 1,
    stage,
    stageHistory: moves.map(({ entry }) => entry),
    enrichment: {
      state: enrichment.state,
      sources: enrichment.sources,
      attempts: 0,
      ...(enrichment.failure ? { failure: enrichment.failure } : {}),
    },
    sources: [lead.source],
  });
  // The score first, as the one-lead path announces it, then the stage moves (ids derived from the capture).
  const announce = [
    scoredAnnouncement({
      contactId,
      cause: lead.metadata,
      result,
      version,
      previousScore: 0,
      trigger: 'lead-captured',
      enrichmentState: enrichment.state,
      profile: { attributes, stage },
    }),
    ...moves.map(({ entry, metadata }) => lifecycleAnnouncement(contact, entry, result.total, metadata)),
  ];
  return { contact, announce, lead, identities };
}

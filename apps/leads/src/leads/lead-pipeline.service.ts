import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import {
  Topics,
  type EventMetadata,
  type LeadCaptured,
  type RecordChanged,
  type TrackingEvent,
} from '@tributary/contracts';
import { EventPublisher, causedMetadata, type OutgoingEvent } from '@tributary/messaging';
import type { ContactAttributes } from '../contacts/contact-attributes';
import {
  CONTACT_MODEL,
  MAX_FACTS,
  factsOf,
  newContact,
  packFact,
  type ContactDoc,
  type EnrichmentState,
  type StageChange,
  type StoredFact,
} from '../contacts/contact.model';
import { IDENTITY_OPTIONS, IdentityResolver } from '../identity/identity-resolver.service';
import {
  defaultContactId,
  identityKey,
  normalizeEmail,
  planIdentity,
  type IdentityOptions,
  type IdentityPlan,
  type IdentityRef,
} from '../identity/identity-rules';
import { IDENTITY_MODEL, type IdentityDoc } from '../identity/identity.model';
import {
  needsOwner,
  planMove,
  targetOf,
  type LifecycleCause,
  type LifecycleStage,
} from '../lifecycle/lifecycle';
import { emailDomainOf } from '../enrichment/enrichment.port';
import { LeadEnricher } from '../enrichment/lead-enricher';
import { ScoringModelStore } from '../models/scoring-model.store';
import { engagementFactOf, scoreContact, scoringInstant, type ContactScore } from '../models/scoring-engine';
import { LeadRouter } from '../routing/lead-router.service';
import { PendingEnrichments } from './pending-enrichments';
import {
  attributesOfCrmFields,
  attributesOfLead,
  attributesOfTraits,
  crmStageOf,
  paidOrderEmail,
} from './lead-profile';
import { findByIds, insertClaims, isDuplicateKey, type BatchCollection } from '@tributary/store';
import { LEADS_EVENT_SOURCE } from '../event-source';

/** How far ahead of this replica's clock an event may be stamped (ms, from `MAX_FUTURE_SKEW_SECONDS`). */
export const MAX_FUTURE_SKEW_MS = Symbol('MAX_FUTURE_SKEW_MS');

/** What a score computation produced, for lifecycle decisions. */
interface Scored {
  total: number;
  mqlThreshold: number;
}

/** The write that records what an event or a source told us about a contact. */
interface ContactChange {
  contactId: string;
  workspaceId: string;
  fact?: StoredFact;
  attributes?: ContactAttributes;
  source?: string;
  enrichment?: { state: EnrichmentState; sources: string[]; failure?: string };
}

/**
 * Store calls a batch keeps in flight at once: enough to hide round trips, few enough not to starve the connection
 * pool that HTTP requests and the other partitions share.
 */
const BATCH_STORE_CONCURRENCY = 32;

/**
 * Contacts this replica wrote last, reused by the next batch instead of a read. Safe because every write from it is
 * conditional on the revision it read (and on the contact not being merged): a stale copy only costs a re-read.
 */
const RECENT_CONTACTS = 20_000;

/** A captured lead of a batch that names nobody we know: it becomes a new contact in one insert. */
interface NewLead {
  lead: LeadCaptured;
  contactId: string;
  keys: string[];
}

/** A new lead ready to write: its identity entries, its contact, and what it announces once written. */
interface PlannedLead {
  lead: LeadCaptured;
  identities: IdentityDoc[];
  contact: ContactDoc;
  announce: OutgoingEvent[];
}

/** A tracking event that only adds an engagement fact, with the id it is about. */
interface PlainEngagement {
  event: TrackingEvent;
  subject: IdentityRef;
}

/** An event that only adds an engagement fact: it links no ids and tells nothing about the person. */
function isPlainEngagement(event: TrackingEvent, plan: IdentityPlan): boolean {
  return (
    plan.merges.length === 0 && plan.emailKey === null && Object.keys(attributesOfTraits(event)).length === 0
  );
}

/** One contact's share of a tracking batch, scored: the contact as it will be stored, and what it announces. */
interface PlannedEngagement {
  contact: ContactDoc;
  events: readonly TrackingEvent[];
  announce: OutgoingEvent;
  scored: Scored;
  cause: EventMetadata;
}

/** What one contact's share of a tracking batch is to write. */
type EngagementPlan =
  | { kind: 'retry'; events: readonly TrackingEvent[] }
  | (PlannedEngagement & { kind: 'insert' })
  | (PlannedEngagement & { kind: 'unchanged' })
  | (PlannedEngagement & {
      kind: 'update';
      filter: Record<string, unknown>;
      update: Record<string, unknown>;
    });

type EngagementUpdate = Extract<EngagementPlan, { kind: 'update' }>;

/** What one contact's share of a tracking batch came to. */
type EngagementOutcome =
  | { kind: 'retry'; events: readonly TrackingEvent[] }
  | { kind: 'scored'; contact: ContactDoc; announce: OutgoingEvent; scored: Scored; cause: EventMetadata };

/** Whether a stored score is stale for this model version or result (a model change, or decay since). */
function isRescoreNeeded(contact: ContactDoc, version: number, result: ContactScore): boolean {
  return (
    contact.scoredRevision !== contact.revision ||
    contact.modelVersion !== version ||
    contact.score !== result.total
  );
}

/** The score fields of a contact document, as `scoreContact` computed them under model `version`. */
function scoreFieldsOf(result: ContactScore, version: number) {
  return {
    score: result.total,
    fitScore: result.fit,
    engagementScore: result.engagement,
    breakdown: result.breakdown,
    modelVersion: version,
  };
}

/** `leads.scored` for a contact, caused by `cause`: the same event whichever path scored it. */
function scoredAnnouncement(input: {
  contactId: string;
  cause: EventMetadata;
  result: ContactScore;
  version: number;
  previousScore: number;
  trigger: string;
  enrichmentState: EnrichmentState;
}): OutgoingEvent {
  const { contactId, result } = input;
  return {
    topic: Topics.LeadsScored,
    key: contactId,
    event: {
      metadata: causedMetadata(input.cause, LEADS_EVENT_SOURCE, 'lead-scored'),
      contactId,
      score: result.total,
      previousScore: input.previousScore,
      breakdown: result.breakdown.map((line) => ({ ...line })),
      fitScore: result.fit,
      engagementScore: result.engagement,
      modelVersion: input.version,
      trigger: input.trigger,
      enrichmentState: input.enrichmentState,
    },
  };
}

/** A stage move caused by `cause`, with the id of the `lifecycle.changed` that announces it (derived from the cause). */
function stageChangeOf(
  from: LifecycleStage | null,
  move: { to: LifecycleStage; reason: string },
  cause: EventMetadata,
  at: Date,
): { entry: StageChange; metadata: EventMetadata } {
  const metadata = causedMetadata(cause, LEADS_EVENT_SOURCE, `lifecycle/${move.to}`);
  return {
    entry: {
      from,
      to: move.to,
      reason: move.reason,
      at,
      eventId: metadata.eventId,
      causeEventId: cause.eventId,
    },
    metadata,
  };
}

/** `lifecycle.changed` for a recorded move; without `metadata`, rebuilt from the entry (a redelivery's re-announcement). */
function lifecycleAnnouncement(
  contact: Pick<ContactDoc, '_id' | 'workspaceId'>,
  change: StageChange,
  score: number,
  metadata?: EventMetadata,
): OutgoingEvent {
  return {
    topic: Topics.LifecycleChanged,
    key: contact._id,
    event: {
      metadata: metadata ?? {
        eventId: change.eventId,
        occurredAt: new Date(change.at).getTime(),
        workspaceId: contact.workspaceId,
        source: LEADS_EVENT_SOURCE,
        correlationId: change.causeEventId,
        causationId: change.causeEventId,
      },
      contactId: contact._id,
      from: change.from,
      to: change.to,
      reason: change.reason,
      score,
    },
  };
}

/** `attributes.title` style paths, so a patch sets fields without replacing what other sources told us. */
function dotted(attributes: ContactAttributes | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(attributes ?? {}))
    if (value !== undefined) out[`attributes.${name}`] = value;
  return out;
}

/**
 * The lead pipeline of one workspace's contacts: capture → identity → enrichment → score → lifecycle → routing.
 * Every step is idempotent on its own (fact ids, conditional stage moves, one assignment claim per lead) and every
 * event it publishes has an id derived from its cause, so a redelivery repeats nothing downstream and a crash
 * half-way is finished by the redelivery.
 */
@Injectable()
export class LeadPipeline {
  constructor(
    @Inject(CONTACT_MODEL) private readonly contacts: Model<ContactDoc>,
    @Inject(IDENTITY_MODEL) private readonly identityIndex: Model<IdentityDoc>,
    @Inject(IDENTITY_OPTIONS) private readonly identityOptions: IdentityOptions,
    private readonly identities: IdentityResolver,
    private readonly models: ScoringModelStore,
    private readonly enricher: LeadEnricher,
    private readonly router: LeadRouter,
    private readonly pending: PendingEnrichments,
    private readonly publisher: EventPublisher,
    @Inject(MAX_FUTURE_SKEW_MS) private readonly maxFutureSkewMs: number,
  ) {}

  /**
   * The latest time an event may claim now: its producer's clock may be ahead of ours by the allowed skew, no more.
   * Every event time that becomes a fact or an as-of instant passes through it (no producer is trusted with time).
   */
  private latest(): number {
    return Date.now() + this.maxFutureSkewMs;
  }

  private readonly recent = new LRUCache<string, ContactDoc>({ max: RECENT_CONTACTS });

  /** The identity index's driver collection, for the batch reads and inserts. */
  private get identityCollection(): BatchCollection<IdentityDoc> {
    return this.identityIndex.collection as unknown as BatchCollection<IdentityDoc>;
  }

  /** The contacts' driver collection, for the batch reads and inserts. */
  private get contactCollection(): BatchCollection<ContactDoc> {
    return this.contacts.collection as unknown as BatchCollection<ContactDoc>;
  }

  /**
   * A partition's batch of behavioural events, in offset order. Plain engagement (no identity link, no traits) is
   * the bulk of the traffic: its contacts are read once, each gets one write with all its new facts and its new
   * score, and the scores go out in one produce. Everything else (identify/alias, traits, a merged contact, a write
   * that lost a race) takes the one-event path, in order, after the plain events before it.
   */
  async onTrackingEvents(events: readonly TrackingEvent[]): Promise<void> {
    let plain: PlainEngagement[] = [];
    for (const event of events) {
      const plan = planIdentity(event, this.identityOptions);
      if (isPlainEngagement(event, plan)) {
        plain.push({ event, subject: plan.subject });
        continue;
      }
      await this.recordEngagement(plain);
      plain = [];
      await this.onTrackingEvent(event);
    }
    await this.recordEngagement(plain);
  }

  /** A behavioural event: identity links, traits, one engagement fact, then score and maybe MQL. */
  async onTrackingEvent(event: TrackingEvent): Promise<void> {
    const contactId = await this.identities.resolveEvent(event);
    const attributes = attributesOfTraits(event);
    const contact = await this.record({
      contactId,
      workspaceId: event.metadata.workspaceId,
      fact: engagementFactOf(event, this.latest()),
      attributes,
    });
    // A person who told us their email is reachable; only a capture makes them a sales lead.
    if (attributes.email) await this.move(contact, { kind: 'subscribed' }, event.metadata);
    await this.advance(contact, event.metadata, event.timestamp, 'event');
  }

  /**
   * A partition's batch of captured leads. Leads whose email and source record nobody owns yet (most form leads)
   * become new contacts that are already enriched, scored and staged: one `insertMany` binding their keys, one of
   * the contacts, one produce of their announcements, and one batch routing. The others (a known person, a key taken
   * meanwhile) take the one-lead path afterwards, in order, so a second capture of the same person in this batch
   * finds the first one's contact. A lead with one key (an email) needs no read first: binding it is the check. The
   * keys of leads with several are read first (one `$in` read), so that none binds some and finds the others taken.
   */
  async onLeadsCaptured(leads: readonly LeadCaptured[]): Promise<void> {
    const keysOf = (lead: LeadCaptured): string[] => {
      const ws = lead.metadata.workspaceId;
      const email = normalizeEmail(lead.email, this.identityOptions);
      return [
        ...(email ? [identityKey(ws, 'email', email)] : []),
        ...(lead.externalId ? [identityKey(ws, 'ext', `${lead.source}:${lead.externalId}`)] : []),
      ];
    };
    const severalKeys = leads.map(keysOf).filter((keys) => keys.length > 1);
    const bound =
      severalKeys.length > 0
        ? await findByIds(this.identityCollection, severalKeys.flat(), { _id: 1 })
        : new Map<string, unknown>();
    const fresh: NewLead[] = [];
    const later = new Set<LeadCaptured>();
    const claimed = new Set<string>();
    for (const lead of leads) {
      const leadKeys = keysOf(lead);
      if (leadKeys.some((key) => bound.has(key) || claimed.has(key))) later.add(lead);
      else {
        leadKeys.forEach((key) => claimed.add(key));
        const contactId = defaultContactId(lead.metadata.workspaceId, `lead:${lead.leadId}`);
        fresh.push({ lead, contactId, keys: leadKeys });
      }
    }
    const limit = pLimit(BATCH_STORE_CONCURRENCY);
    const planned = await Promise.all(fresh.map((item) => limit(() => this.planLead(item))));
    const created = await this.createLeads(planned);
    // The scores and stage moves are announced while the batch is routed: other topics, and a redelivery redoes
    // either. Both settle before a failure is thrown, so the one-record retry never runs beside this routing.
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
        await this.router.assignMany(
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
    for (const lead of leads) if (later.has(lead)) await this.onLeadCaptured(lead);
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
    const contact = await this.record({
      contactId,
      workspaceId: ws,
      fact: {
        eventId: lead.metadata.eventId,
        callType: 'form',
        name: lead.formId ?? lead.source,
        path: null,
        at: Math.min(lead.capturedAt, this.latest()),
      },
      // What the person or their CRM said beats what a provider guessed.
      attributes: { ...enrichment.attributes, ...given },
      source: lead.source,
      enrichment: { state: enrichment.state, sources: enrichment.sources, failure: enrichment.failure },
    });
    if (enrichment.state === 'pending')
      await this.pending.schedule({ contactId, workspaceId: ws, email: given.email ?? null });
    await this.move(contact, { kind: 'lead-captured' }, lead.metadata);
    await this.advance(contact, lead.metadata, lead.capturedAt, 'lead-captured', { route: true });
  }

  /** CRM and shop changes: late lifecycle stages come from the systems that own them, and profile fields rescore. */
  async onRecordChanged(record: RecordChanged): Promise<void> {
    const ws = record.metadata.workspaceId;
    if (record.system === 'shopify' && record.objectType === 'order') {
      const email = paidOrderEmail(record.fieldsJson);
      const contactId = email ? await this.identities.findByEmail(ws, email) : null;
      if (!contactId) return;
      const contact = await this.read(contactId);
      if (contact) await this.move(contact, { kind: 'purchase', source: 'shopify' }, record.metadata);
      return;
    }
    if (record.objectType !== 'contact' || record.operation === 'delete') return;
    const contactId = await this.identities.findByExternalId(ws, record.system, record.externalId);
    if (!contactId) return;
    const attributes = attributesOfCrmFields(record.fieldsJson);
    let contact = await this.read(contactId);
    if (!contact) return;
    if (Object.keys(attributes).length > 0) {
      contact = await this.record({ contactId, workspaceId: ws, attributes });
      await this.advance(contact, record.metadata, record.changedAt, 'crm-update');
    }
    const stage = crmStageOf(record.fieldsJson);
    if (stage) await this.move(contact, { kind: 'crm-stage', stage, source: record.system }, record.metadata);
  }

  /** An owner accepted their lead: SQL. */
  async accept(
    workspaceId: string,
    contactId: string,
    ownerId: string | undefined,
    cause: EventMetadata,
  ): Promise<Awaited<ReturnType<LeadRouter['accept']>>> {
    const outcome = await this.router.accept(workspaceId, contactId, ownerId);
    if (outcome.status === 'accepted' || outcome.status === 'already-accepted') {
      const contact = await this.read(contactId);
      if (contact) await this.move(contact, { kind: 'owner-accepted' }, cause);
    }
    return outcome;
  }

  /** Sales moved a lead by hand: disqualified (frees the owner) or recycled to nurture. */
  async moveByHand(
    contactId: string,
    cause: Extract<LifecycleCause, { kind: 'disqualify' | 'recycle' }>,
    metadata: EventMetadata,
  ): Promise<{ moved: boolean; stage: LifecycleStage | null; why?: string }> {
    const contact = await this.read(contactId);
    if (!contact || contact.workspaceId !== metadata.workspaceId)
      return { moved: false, stage: null, why: 'no such contact' };
    const decision = planMove(contact.stage ?? null, cause);
    // The same request retried (same Idempotency-Key) finds its own earlier move: that is a success, not a conflict.
    const retried = (contact.stageHistory ?? []).some(
      (change) => change.causeEventId === metadata.eventId && change.to === targetOf(cause),
    );
    const stage = await this.move(contact, cause, metadata);
    const moved = decision.move ? stage === decision.move.to : retried;
    if (cause.kind === 'disqualify' && stage === 'disqualified')
      await this.router.close(contact.workspaceId, contactId);
    // Back to nurture: the owner is freed and the lead's next qualifying cause gives it an owner again. `moved`, not
    // the stage: a refused recycle of a contact already at `lead` must not recycle its current round.
    if (cause.kind === 'recycle' && moved)
      await this.router.recycle(contact.workspaceId, contactId, metadata);
    if (decision.move) return { moved, stage };
    return retried ? { moved: true, stage } : { moved: false, stage, why: decision.why };
  }

  /** The re-enrichment sweeper found the provider back: fill the profile, rescore, qualify. */
  async applyEnrichment(contactId: string, cause: EventMetadata): Promise<EnrichmentState> {
    const contact = await this.read(contactId);
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
    const updated = await this.record({
      contactId,
      workspaceId: contact.workspaceId,
      attributes: gaps,
      enrichment: { state: 'enriched', sources: outcome.sources },
    });
    await this.advance(updated, cause, Date.now(), 'enriched', { route: updated.stage === 'lead' });
    return 'enriched';
  }

  /** Recomputes a contact under the workspace's current model (the `rescore` CLI); true when the score changed. */
  async rescore(contact: ContactDoc, asOf: number, cause: EventMetadata): Promise<boolean> {
    const before = contact.score;
    const scored = await this.score(contact, asOf, 'rescore', cause);
    if (scored) await this.qualify(contact, scored, cause, false);
    return scored !== null && scored.total !== before;
  }

  /**
   * A new lead's contact in one insert: enriched, scored, at stage `lead` (and `mql` when the score is there), with
   * the stage history a one-lead run would write (same announcement ids), so a redelivery finishes what is missing.
   * Nothing is written here: `createLeads` binds the keys and inserts the contacts of a whole batch.
   */
  private async planLead({ lead, contactId, keys }: NewLead): Promise<PlannedLead> {
    const ws = lead.metadata.workspaceId;
    const given = attributesOfLead(lead);
    const enrichment = await this.enricher.enrich({
      workspaceId: ws,
      email: given.email,
      domain: emailDomainOf(given.email),
    });
    const now = new Date();
    const identities = keys.map((key): IdentityDoc => ({
      _id: key,
      workspaceId: ws,
      contactId,
      updatedAt: now,
    }));
    const { version, model } = await this.models.current(ws);
    const fact: StoredFact = {
      eventId: lead.metadata.eventId,
      callType: 'form',
      name: lead.formId ?? lead.source,
      path: null,
      at: Math.min(lead.capturedAt, this.latest()),
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
      }),
      ...moves.map(({ entry, metadata }) => lifecycleAnnouncement(contact, entry, result.total, metadata)),
    ];
    return { contact, announce, lead, identities };
  }

  /**
   * Writes a batch of planned leads, as the one-lead path would: their keys bound first (one `insertMany`), then the
   * contacts of the leads whose keys were all free (another). A key or contact someone else took meanwhile leaves
   * that lead to the one-lead path; a key it did bind points at its contact id, which that path then creates.
   */
  private async createLeads(planned: readonly PlannedLead[]): Promise<PlannedLead[]> {
    const entries = planned.flatMap((lead) => lead.identities.map((entry) => ({ entry, lead })));
    const taken = await insertClaims(
      this.identityCollection,
      entries.map(({ entry }) => entry),
    );
    const blocked = new Set(entries.filter((_, index) => taken.has(index)).map(({ lead }) => lead));
    const free = planned.filter((lead) => !blocked.has(lead));
    const existed = await insertClaims(
      this.contactCollection,
      free.map(({ contact }) => contact),
    );
    const created = free.filter((_, index) => !existed.has(index));
    for (const { contact } of created) this.recent.set(contact._id, contact);
    return created;
  }

  /**
   * Plain engagement events of one batch, in a handful of store commands whatever its size: one `$in` read of the
   * identities, one of the contacts not in `recent`, one `insertMany` of new contacts, one `bulkWrite` of the others
   * (each conditional on the revision read), one produce for all scores.
   */
  private async recordEngagement(plain: readonly PlainEngagement[]): Promise<void> {
    if (plain.length === 0) return;
    const owners = await findByIds(
      this.identityCollection,
      plain.flatMap(({ subject }) => subject.keys),
      { contactId: 1 },
    );
    const groups = new Map<string, TrackingEvent[]>();
    for (const { event, subject } of plain) {
      const key = subject.keys.find((candidate) => owners.has(candidate));
      const contactId = (key && owners.get(key)?.contactId) || subject.fallbackContactId;
      const group = groups.get(contactId);
      if (group) group.push(event);
      else groups.set(contactId, [event]);
    }
    const unknown = [...groups.keys()].filter((contactId) => !this.recent.has(contactId));
    const read = await findByIds(this.contactCollection, unknown);
    const plans: EngagementPlan[] = [];
    for (const [contactId, group] of groups)
      plans.push(
        await this.planEngagement(contactId, this.recent.get(contactId) ?? read.get(contactId), group),
      );
    const outcomes = await this.writeEngagement(plans);
    const retry = new Set<TrackingEvent>();
    const scored: Extract<EngagementOutcome, { kind: 'scored' }>[] = [];
    for (const outcome of outcomes) {
      if (outcome.kind === 'retry') outcome.events.forEach((event) => retry.add(event));
      else scored.push(outcome);
    }
    await this.publisher.publishAll(scored.map((outcome) => outcome.announce));
    // Stage moves are rare and conditional; the common case (no move, no owner needed) makes no store call.
    for (const outcome of scored) await this.qualify(outcome.contact, outcome.scored, outcome.cause, false);
    for (const { event } of plain) if (retry.has(event)) await this.onTrackingEvent(event);
  }

  /**
   * One contact's new engagement facts and its new score, as one write: an insert for a new contact, else an update
   * conditional on the revision read (and on the contact not being merged). A merged contact takes the one-event path.
   */
  private async planEngagement(
    contactId: string,
    existing: ContactDoc | undefined,
    events: readonly TrackingEvent[],
  ): Promise<EngagementPlan> {
    const first = events[0];
    const last = events[events.length - 1];
    if (!first || !last || existing?.mergedInto) return { kind: 'retry', events };
    const workspaceId = first.metadata.workspaceId;
    const { version, model } = await this.models.current(workspaceId);
    const known = new Set(existing?.factIds ?? []);
    const fresh: StoredFact[] = [];
    const latest = this.latest();
    for (const event of events) {
      const fact = engagementFactOf(event, latest);
      if (known.has(fact.eventId)) continue;
      known.add(fact.eventId);
      fresh.push(fact);
    }
    const asOf = scoringInstant(
      events.map((event) => event.timestamp),
      latest,
    );
    const facts = [...factsOf(existing), ...fresh].slice(-MAX_FACTS);
    const result = scoreContact(model, existing?.attributes ?? {}, facts, asOf);
    const scoreFields = scoreFieldsOf(result, version);
    const newest = fresh[fresh.length - 1];
    const now = new Date();
    // A redelivery after a crash between the MQL move and routing: route under the cause that made the move.
    const mqlCause = (existing?.stageHistory ?? []).find(
      (change) =>
        change.to === 'mql' && events.some((event) => event.metadata.eventId === change.causeEventId),
    );
    const scored = {
      cause:
        events.find((event) => event.metadata.eventId === mqlCause?.causeEventId)?.metadata ?? last.metadata,
      scored: { total: result.total, mqlThreshold: model.mqlThreshold },
      announce: scoredAnnouncement({
        contactId,
        cause: last.metadata,
        result,
        version,
        previousScore: existing?.score ?? 0,
        trigger: 'event',
        enrichmentState: existing?.enrichment?.state ?? 'none',
      }),
    };
    if (!existing) {
      const contact = newContact(contactId, workspaceId, now, {
        ...scoreFields,
        eventCount: fresh.length,
        lastRule: newest ? (newest.name ?? newest.callType) : '',
        facts: facts.map(packFact),
        factIds: facts.map((fact) => fact.eventId),
        scoredRevision: 1,
      });
      return { kind: 'insert', contact, events, ...scored };
    }
    if (fresh.length === 0 && !isRescoreNeeded(existing, version, result))
      return { kind: 'unchanged', contact: existing, events, ...scored };
    const revision = existing.revision + (fresh.length > 0 ? 1 : 0);
    // The bounded list as computed, not `$push` + `$slice`: the write is conditional on the revision read, and
    // FerretDB ignores `$slice`, which left facts unbounded on the dev stack.
    const set: Partial<ContactDoc> = newest
      ? {
          ...scoreFields,
          scoredRevision: revision,
          updatedAt: now,
          lastRule: newest.name ?? newest.callType,
          facts: facts.map(packFact),
          factIds: facts.map((fact) => fact.eventId),
        }
      : { ...scoreFields, scoredRevision: revision, updatedAt: now };
    return {
      kind: 'update',
      filter: { _id: contactId, revision: existing.revision, mergedInto: { $exists: false } },
      update: newest ? { $set: set, $inc: { revision: 1, eventCount: fresh.length } } : { $set: set },
      // What the write leaves, fields others change without a revision (stage, owner) as read: a stale stage only
      // costs a conditional move that fails and re-reads.
      contact: { ...existing, ...set, revision, eventCount: existing.eventCount + fresh.length },
      events,
      ...scored,
    };
  }

  /**
   * Writes a batch's engagement plans: new contacts in one `insertMany`, the others in one `bulkWrite`. When some
   * conditional update matched nothing (a race, a merge), the contacts are read back to tell which writes landed;
   * the others' events take the one-event path.
   */
  private async writeEngagement(plans: readonly EngagementPlan[]): Promise<EngagementOutcome[]> {
    const inserts: PlannedEngagement[] = [];
    const updates: EngagementUpdate[] = [];
    for (const plan of plans)
      if (plan.kind === 'insert') inserts.push(plan);
      else if (plan.kind === 'update') updates.push(plan);
    const taken = await insertClaims(
      this.contactCollection,
      inserts.map((plan) => plan.contact),
    );
    let landed = (_plan: EngagementUpdate): boolean => true;
    if (updates.length > 0) {
      const result = await this.contacts.collection.bulkWrite(
        updates.map((plan) => ({ updateOne: { filter: plan.filter as never, update: plan.update } })),
        { ordered: false },
      );
      if (result.matchedCount < updates.length) {
        const current = await findByIds(
          this.contactCollection,
          updates.map((plan) => plan.contact._id),
        );
        landed = (plan) => {
          const stored = current.get(plan.contact._id);
          const factIds = new Set(stored?.factIds ?? []);
          return (
            stored !== undefined &&
            stored.revision === plan.contact.revision &&
            plan.contact.factIds.every((id) => factIds.has(id))
          );
        };
      }
    }
    const missed = new Set(inserts.filter((_, index) => taken.has(index)));
    return plans.map((plan): EngagementOutcome => {
      if (plan.kind === 'retry') return plan;
      const wrote = plan.kind === 'unchanged' || (plan.kind === 'insert' ? !missed.has(plan) : landed(plan));
      if (!wrote) {
        this.recent.delete(plan.contact._id);
        return { kind: 'retry', events: plan.events };
      }
      this.recent.set(plan.contact._id, plan.contact);
      return {
        kind: 'scored',
        contact: plan.contact,
        announce: plan.announce,
        scored: plan.scored,
        cause: plan.cause,
      };
    });
  }

  /** Scores as of the cause's time, never after `latest()`, and qualifies (every path but the batched ones). */
  private async advance(
    contact: ContactDoc,
    cause: EventMetadata,
    at: number,
    trigger: string,
    options: { route?: boolean } = {},
  ): Promise<void> {
    const scored = await this.score(contact, scoringInstant([at], this.latest()), trigger, cause);
    if (scored) await this.qualify(contact, scored, cause, options.route ?? false);
  }

  /** MQL when the score crossed the threshold; a new MQL, or a captured lead, goes to an owner. */
  private async qualify(
    contact: ContactDoc,
    scored: Scored,
    cause: EventMetadata,
    route: boolean,
  ): Promise<void> {
    const stageBefore = contact.stage ?? null;
    const stage = await this.move(
      contact,
      { kind: 'score', score: scored.total, threshold: scored.mqlThreshold },
      cause,
    );
    // This cause made it an MQL now, or made it one before a crash that came ahead of routing (its redelivery).
    const madeMql =
      stage === 'mql' &&
      (stageBefore !== 'mql' ||
        (contact.stageHistory ?? []).some(
          (change) => change.causeEventId === cause.eventId && change.to === 'mql',
        ));
    if ((route || madeMql) && needsOwner(stage))
      await this.router.assign({
        workspaceId: contact.workspaceId,
        contactId: contact._id,
        attributes: contact.attributes ?? {},
        cause,
      });
  }

  /**
   * Records a change. With a fact: insert the contact if it is new, else append the fact unless it is there already
   * (a redelivery leaves the contact as it is). Insert first because FerretDB answers a conditional update that
   * matches nothing by scanning the collection, while a duplicate-key insert fails at once.
   */
  private async record(change: ContactChange): Promise<ContactDoc> {
    const now = new Date();
    const { fact } = change;
    const enrichment = change.enrichment
      ? { ...change.enrichment, attempts: 0 }
      : { state: 'none' as const, sources: [], attempts: 0 };
    if (fact) {
      const created = newContact(change.contactId, change.workspaceId, now, {
        eventCount: 1,
        lastRule: fact.name ?? fact.callType,
        attributes: Object.fromEntries(
          Object.entries(change.attributes ?? {}).filter(([, value]) => value !== undefined),
        ),
        facts: [packFact(fact)],
        factIds: [fact.eventId],
        enrichment,
        sources: change.source ? [change.source] : [],
      });
      if (await this.insertContact(created)) return created;
    }
    const set: Record<string, unknown> = {
      workspaceId: change.workspaceId,
      updatedAt: now,
      ...dotted(change.attributes),
    };
    if (change.enrichment) set['enrichment'] = enrichment;
    if (fact) set['lastRule'] = fact.name ?? fact.callType;
    const update: Record<string, unknown> = { $set: set, $inc: { revision: 1, eventCount: fact ? 1 : 0 } };
    if (fact)
      update['$push'] = {
        facts: { $each: [packFact(fact)], $slice: -MAX_FACTS },
        factIds: { $each: [fact.eventId], $slice: -MAX_FACTS },
      };
    if (change.source) update['$addToSet'] = { sources: change.source };
    const filter = fact
      ? { _id: change.contactId, factIds: { $ne: fact.eventId } }
      : { _id: change.contactId };
    const doc = await this.contacts.collection.findOneAndUpdate(filter as never, update, {
      returnDocument: 'after',
    });
    if (doc) return doc as unknown as ContactDoc;
    // The fact was recorded before (redelivery), or a profile change for a contact that does not exist.
    const existing = await this.read(change.contactId);
    if (!existing) throw new Error(`contact ${change.contactId} does not exist`);
    return existing;
  }

  /**
   * Scores the contact as of `asOf` under the workspace's current model and announces it. The score is stored only
   * for the revision it was computed on: when a newer change landed meanwhile, its writer scores it instead.
   */
  private async score(
    contact: ContactDoc,
    asOf: number,
    trigger: string,
    cause: EventMetadata,
  ): Promise<Scored | null> {
    const { version, model } = await this.models.current(contact.workspaceId);
    const result = scoreContact(model, contact.attributes ?? {}, factsOf(contact), asOf);
    const previousScore = contact.score ?? 0;
    if (isRescoreNeeded(contact, version, result)) {
      // findAndModify, not update: FerretDB answers the same conditional write several times faster that way.
      const written = await this.contacts.collection.findOneAndUpdate(
        { _id: contact._id, revision: contact.revision } as never,
        { $set: { ...scoreFieldsOf(result, version), scoredRevision: contact.revision } },
      );
      if (!written) return null;
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
      }),
    );
    return { total: result.total, mqlThreshold: model.mqlThreshold };
  }

  /**
   * Moves the contact's stage when `lifecycleCause` asks for it, with a write conditional on the stage it had, and
   * announces `lifecycle.changed`. A redelivered cause that moved it before announces that move again (same id).
   */
  private async move(
    contact: ContactDoc,
    lifecycleCause: LifecycleCause,
    cause: EventMetadata,
  ): Promise<LifecycleStage | null> {
    const from = contact.stage ?? null;
    const decision = planMove(from, lifecycleCause);
    if (!decision.move) {
      const target = targetOf(lifecycleCause);
      for (const earlier of contact.stageHistory ?? [])
        if (earlier.causeEventId === cause.eventId && earlier.to === target)
          await this.announce(contact, earlier, contact.score);
      return from;
    }
    const { to } = decision.move;
    const { entry, metadata } = stageChangeOf(from, decision.move, cause, new Date());
    const moved = await this.contacts.collection.findOneAndUpdate(
      { _id: contact._id, stage: from } as never,
      { $set: { stage: to, updatedAt: entry.at }, $push: { stageHistory: entry } } as never,
      { returnDocument: 'after' },
    );
    if (!moved) {
      // Someone else moved it first: go on from where it is now.
      const now = await this.read(contact._id);
      contact.stage = now?.stage ?? from;
      contact.stageHistory = now?.stageHistory ?? contact.stageHistory;
      return contact.stage;
    }
    contact.stage = to;
    contact.stageHistory = [...(contact.stageHistory ?? []), entry];
    await this.announce(contact, entry, contact.score, metadata);
    if (to === 'customer') await this.router.close(contact.workspaceId, contact._id, { final: true });
    return to;
  }

  private async announce(
    contact: ContactDoc,
    change: StageChange,
    score: number,
    metadata?: EventMetadata,
  ): Promise<void> {
    await this.publisher.publish(lifecycleAnnouncement(contact, change, score, metadata));
  }

  /** Inserts a new contact and remembers it; false when it exists already (a redelivery or another writer). */
  private async insertContact(contact: ContactDoc): Promise<boolean> {
    try {
      await this.contacts.collection.insertOne(contact as never);
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      return false;
    }
    this.recent.set(contact._id, contact);
    return true;
  }

  private async read(contactId: string): Promise<ContactDoc | null> {
    return this.contacts.findById(contactId).lean<ContactDoc>();
  }
}

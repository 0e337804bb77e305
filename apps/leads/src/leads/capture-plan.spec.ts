import { Topics, type LeadCaptured } from '@tributary/contracts';
import { leadCapturedFixture } from '@tributary/testing';
import { derivedEventId } from '@tributary/messaging';
import { factsOf } from '../contacts/contact.model';
import type { EnrichmentOutcome } from '../enrichment/lead-enricher';
import { identityKey } from '../identity/identity-rules';
import { scoringModelSchema } from '../models/scoring-model';
import type { VersionedScoringModel } from '../models/scoring-model.store';
import { LEADS_EVENT_SOURCE } from '../event-source';
import { captureKeys, planCapture, sortCaptures, type NewLead } from './capture-plan';
import { attributesOfLead } from './lead-profile';

const ws = 'ws_capture';
const t0 = Date.UTC(2026, 0, 5, 12);
const latest = t0 + 60_000;
const now = new Date(t0 + 30_000);
const options = { stripPlusAddressing: true };
const scoring: VersionedScoringModel = {
  version: 2,
  model: scoringModelSchema.parse({
    mqlThreshold: 30,
    engagementHalfLifeDays: 14,
    fit: [{ id: 'senior-title', attribute: 'title', matches: '\\bvp\\b', points: 25 }],
    engagement: [{ id: 'form', when: { callType: 'form' }, points: 10 }],
  }),
};
const enriched: EnrichmentOutcome = { attributes: {}, state: 'enriched', sources: [] };

let leads = 0;
function lead(partial: Partial<LeadCaptured> = {}): LeadCaptured {
  leads += 1;
  return leadCapturedFixture({
    metadata: {
      eventId: `capture-${leads}`,
      occurredAt: t0,
      workspaceId: ws,
      source: 'forms',
      correlationId: `capture-${leads}`,
    },
    leadId: `lead-${leads}`,
    email: `person-${leads}@acme.example`,
    formId: 'demo-form',
    capturedAt: t0,
    ...partial,
  });
}

function plan(captured: LeadCaptured, enrichment: EnrichmentOutcome = enriched) {
  const item: NewLead = {
    lead: captured,
    contactId: `${ws}:lead:${captured.leadId}`,
    keys: captureKeys(captured, options),
  };
  return planCapture({ item, given: attributesOfLead(captured), enrichment, scoring, latest, now });
}

describe('captureKeys', () => {
  it("binds a lead's normalised email and its source record", () => {
    expect(
      captureKeys(lead({ email: ' Ada+News@ACME.example ', source: 'hubspot', externalId: '901' }), options),
    ).toEqual([identityKey(ws, 'email', 'ada@acme.example'), identityKey(ws, 'ext', 'hubspot:901')]);
    expect(captureKeys(lead({ email: 'not an address', externalId: null }), options)).toEqual([]);
  });
});

describe('sortCaptures', () => {
  it('creates together the leads nobody owns, and leaves known people and repeats to the one-lead path', () => {
    const known = lead({ email: 'known@acme.example' });
    const first = lead({ email: 'ada@acme.example' });
    const repeat = lead({ email: 'ADA@acme.example' });
    const other = lead({ email: 'bob@acme.example', source: 'hubspot', externalId: '7' });
    const sameRecord = lead({ email: 'robert@acme.example', source: 'hubspot', externalId: '7' });
    const bound = new Set([identityKey(ws, 'email', 'known@acme.example')]);

    const { fresh, later } = sortCaptures([known, first, repeat, other, sameRecord], options, bound);
    expect(fresh).toEqual([
      { lead: first, contactId: `${ws}:lead:${first.leadId}`, keys: captureKeys(first, options) },
      { lead: other, contactId: `${ws}:lead:${other.leadId}`, keys: captureKeys(other, options) },
    ]);
    expect([...later]).toEqual([known, repeat, sameRecord]);
  });
});

describe('planCapture', () => {
  it('plans a lead below the threshold as a scored contact at stage lead, bound to its keys', () => {
    const captured = lead({ email: 'ada@acme.example', source: 'hubspot', externalId: '901' });
    const planned = plan(captured);
    const contactId = `${ws}:lead:${captured.leadId}`;

    expect(planned.identities).toEqual([
      { _id: identityKey(ws, 'email', 'ada@acme.example'), workspaceId: ws, contactId, updatedAt: now },
      { _id: identityKey(ws, 'ext', 'hubspot:901'), workspaceId: ws, contactId, updatedAt: now },
    ]);
    expect(planned.contact).toMatchObject({
      _id: contactId,
      score: 10,
      modelVersion: 2,
      eventCount: 1,
      scoredRevision: 1,
      lastRule: 'demo-form',
      stage: 'lead',
      sources: ['hubspot'],
      enrichment: { state: 'enriched', sources: [], attempts: 0 },
    });
    expect(planned.contact.stageHistory).toEqual([
      {
        from: null,
        to: 'lead',
        reason: 'lead-captured',
        at: now,
        eventId: derivedEventId(captured.metadata.eventId, `${LEADS_EVENT_SOURCE}/lifecycle/lead`),
        causeEventId: captured.metadata.eventId,
      },
    ]);
    expect(planned.announce.map(({ topic }) => topic)).toEqual([Topics.LeadsScored, Topics.LifecycleChanged]);
  });

  it('makes an MQL in the same insert when the score is there, announcing the score first, then each move', () => {
    const captured = lead({ rawFieldsJson: JSON.stringify({ jobtitle: 'VP Sales' }) });
    const planned = plan(captured);

    expect(planned.contact).toMatchObject({ score: 35, fitScore: 25, engagementScore: 10, stage: 'mql' });
    expect(planned.contact.stageHistory.map(({ from, to }) => [from, to])).toEqual([
      [null, 'lead'],
      ['lead', 'mql'],
    ]);
    const scoredId = derivedEventId(captured.metadata.eventId, `${LEADS_EVENT_SOURCE}/lead-scored`);
    expect(planned.announce).toMatchObject([
      { topic: Topics.LeadsScored, event: { metadata: { eventId: scoredId }, score: 35 } },
      ...planned.contact.stageHistory.map(({ eventId, from, to }) => ({
        topic: Topics.LifecycleChanged,
        event: { metadata: { eventId }, from, to, score: 35 },
      })),
    ]);
  });

  it('lets what the person said win over what a provider guessed, and keeps a pending enrichment', () => {
    const captured = lead({ rawFieldsJson: JSON.stringify({ jobtitle: 'Engineer' }) });
    const planned = plan(captured, {
      attributes: { title: 'VP Engineering', industry: 'software', country: undefined },
      state: 'pending',
      sources: ['company-table'],
      failure: 'clearbit: unavailable',
    });
    expect(planned.contact.attributes).toEqual({
      email: captured.email,
      title: 'Engineer',
      industry: 'software',
    });
    expect(planned.contact.enrichment).toEqual({
      state: 'pending',
      sources: ['company-table'],
      attempts: 0,
      failure: 'clearbit: unavailable',
    });
    expect(planned.announce[0]?.event).toMatchObject({
      enrichmentState: 'pending',
      trigger: 'lead-captured',
    });
  });

  it('never dates the capture after the latest time an event may claim', () => {
    const planned = plan(lead({ capturedAt: Date.UTC(9999, 11, 31) }));
    expect(factsOf(planned.contact).map((fact) => fact.at)).toEqual([latest]);
  });
});

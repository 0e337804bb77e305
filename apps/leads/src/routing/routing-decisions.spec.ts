import { Topics } from '@tributary/contracts';
import { derivedEventId, originMetadata } from '@tributary/messaging';
import {
  MAX_REMEMBERED_CAUSES,
  acceptStatusOf,
  acceptanceOf,
  breachOf,
  causeSeen,
  closedOf,
  decisionOf,
  firstAssignment,
  isAdopted,
  nextRoundOf,
  recountVerdict,
  recycleIsNoOp,
  recycledSetOf,
  remember,
  routeOf,
  routedAssignment,
  unroutedDecision,
} from './routing-decisions';
import { LEASE, RULES, assigned, cause, lead, member, now, rulesOf, ws } from './testing/decision-fixtures';

describe('firstAssignment', () => {
  it('claims the lead for routing under a lease, keeping only what the team choice reads', () => {
    const claim = firstAssignment(
      {
        workspaceId: ws,
        contactId: `${ws}:ada`,
        attributes: { country: 'DE', companySize: 40, title: 'CTO' },
        cause,
      },
      now,
      LEASE,
    );
    expect(claim).toMatchObject({
      _id: `${ws}:ada`,
      state: 'routing',
      n: 1,
      round: 1,
      reason: 'routed',
      ownerId: null,
      causeIds: ['scored-1'],
      routingAttributes: { country: 'DE', companySize: 40 },
      leaseUntil: new Date(now.getTime() + LEASE),
      outbox: [],
      pending: false,
    });
    expect(claim.leaseToken).toEqual(expect.any(String));
  });
});

describe('routeOf', () => {
  it('routes by the first matching rule, else to the fallback team under the fallback rule', () => {
    const de = lead({ routingAttributes: { country: 'DE' } });
    expect(routeOf(de, RULES)).toMatchObject({
      team: { id: 'dach' },
      ruleId: 'dach-territory',
      exclude: null,
    });
    const fr = lead({ routingAttributes: { country: 'FR' } });
    expect(routeOf(fr, RULES)).toMatchObject({ team: { id: 'inbound' }, ruleId: 'fallback', exclude: null });
  });

  it('keeps the team a queued lead was routed to', () => {
    const queued = lead({ routingAttributes: { country: 'FR' }, teamId: 'dach', ruleId: 'dach-territory' });
    expect(routeOf(queued, RULES)).toMatchObject({ team: { id: 'dach' }, ruleId: 'dach-territory' });
  });

  it('after a missed SLA excludes the owner who missed it, or hands a one-member team to the fallback team', () => {
    const missedInTeam = lead({ reason: 'sla-reassigned', previousOwnerId: 'rep-2', teamId: 'inbound' });
    expect(routeOf(missedInTeam, RULES)).toMatchObject({ team: { id: 'inbound' }, exclude: 'rep-2' });
    const missedAlone = lead({
      reason: 'sla-reassigned',
      previousOwnerId: 'rep-solo',
      teamId: 'dach',
      ruleId: 'dach-territory',
    });
    expect(routeOf(missedAlone, RULES)).toMatchObject({
      team: { id: 'inbound' },
      ruleId: 'fallback',
      exclude: 'rep-solo',
    });
  });

  it('gives the lead back to the owner who missed it when nobody else ever takes leads', () => {
    const alone = rulesOf({
      acceptWithinMinutes: 15,
      teams: [{ id: 'inbound', members: [member('rep-solo'), member('rep-on-leave', 0)] }],
      rules: [],
      fallbackTeamId: 'inbound',
    });
    const missed = lead({ reason: 'sla-reassigned', previousOwnerId: 'rep-solo', teamId: 'inbound' });
    expect(routeOf(missed, alone)).toMatchObject({ team: { id: 'inbound' }, exclude: null });
  });
});

describe('decisionOf', () => {
  const inbound = RULES.rules.teams[1];
  if (!inbound) throw new Error('inbound team expected');
  const choice = { team: inbound, ruleId: 'fallback', rules: RULES, ticket: 7 };

  it('assigns with an SLA and queues the `leads.assigned` event under an id derived from the cause', () => {
    const { set, outbox } = decisionOf(lead(), choice, 'rep-1', now, LEASE);
    const acceptDueAt = new Date(now.getTime() + 15 * 60_000);
    expect(set).toMatchObject({
      state: 'assigned',
      ownerId: 'rep-1',
      teamId: 'inbound',
      ruleId: 'fallback',
      rulesVersion: 3,
      ticket: 7,
      reason: 'routed',
      assignedAt: now,
      acceptDueAt,
      pending: true,
      leaseUntil: new Date(now.getTime() + LEASE),
    });
    expect(outbox).toEqual([
      {
        topic: Topics.LeadsAssigned,
        event: {
          metadata: expect.objectContaining({
            eventId: derivedEventId('scored-1', 'scoring/lead-assigned/1'),
            causationId: 'scored-1',
          }) as unknown,
          contactId: `${ws}:ada`,
          ownerId: 'rep-1',
          teamId: 'inbound',
          ruleId: 'fallback',
          reason: 'routed',
          previousOwnerId: null,
          assignedAt: now.getTime(),
          acceptDueAt: acceptDueAt.getTime(),
        },
      },
    ]);
  });

  it('queues the lead without events (keeping when it first queued), its lease given back', () => {
    const earlier = new Date(now.getTime() - 60_000);
    expect(decisionOf(lead({ queuedAt: earlier }), choice, null, now, LEASE)).toEqual({
      set: expect.objectContaining({ state: 'queued', queuedAt: earlier, leaseToken: null }) as unknown,
      outbox: [],
    });
  });

  it('announces the breach that started the assignment, with whoever got it (or nobody), and renews to the same owner', () => {
    const missed = assigned('rep-2');
    const breach = breachOf(missed, now, LEASE);
    if (!breach) throw new Error('breach expected');
    const next = { ...missed, ...breach.set };
    const reassigned = decisionOf(next, choice, 'rep-3', now, LEASE);
    expect(reassigned.outbox.map((entry) => [entry.topic, entry.event.ownerId])).toEqual([
      [Topics.LeadsSlaBreached, 'rep-2'],
      [Topics.LeadsAssigned, 'rep-3'],
    ]);
    expect(reassigned.outbox[0]?.event).toMatchObject({ reassignedTo: 'rep-3' });
    expect(reassigned.set).toMatchObject({ reason: 'sla-reassigned', breach: null });
    expect(decisionOf(next, choice, 'rep-2', now, LEASE).set).toMatchObject({ reason: 'sla-renewed' });
    const waiting = decisionOf(next, choice, null, now, LEASE);
    expect(waiting.outbox.map((entry) => [entry.topic, entry.event])).toEqual([
      [Topics.LeadsSlaBreached, { ...breach.breach, reassignedTo: null }],
    ]);
    expect(waiting.set).toMatchObject({ state: 'queued', pending: true });
  });

  it('records a lead of a workspace without rules as unrouted', () => {
    expect(unroutedDecision(now)).toEqual({
      set: { state: 'unrouted', leaseToken: null, updatedAt: now },
      outbox: [],
    });
  });
});

describe('isAdopted', () => {
  const reservation = { workspaceId: ws, ownerId: 'rep-1', holdId: `${ws}:ada#1` };

  it('keeps a hold the lead took over (routing) or recorded (same owner, same assignment)', () => {
    expect(isAdopted(lead(), reservation)).toBe(true);
    expect(isAdopted(assigned('rep-1'), reservation)).toBe(true);
  });

  it('gives it back for another owner, another assignment, a closed or recycled lead, or no lead', () => {
    expect(isAdopted(assigned('rep-2'), reservation)).toBe(false);
    expect(isAdopted(assigned('rep-1', { n: 2 }), reservation)).toBe(false);
    expect(isAdopted({ ...assigned('rep-1'), state: 'closed' }, reservation)).toBe(false);
    expect(isAdopted({ ...assigned('rep-1'), state: 'recycled' }, reservation)).toBe(false);
    expect(isAdopted(null, reservation)).toBe(false);
  });
});

describe('breachOf', () => {
  it('starts assignment n + 1 without the owner who missed it, under a fresh lease, breach event derived once', () => {
    const doc = assigned('rep-2');
    const later = new Date(now.getTime() + 16 * 60_000);
    const breach = breachOf(doc, later, LEASE);
    expect(breach?.breach).toEqual({
      metadata: expect.objectContaining({
        eventId: derivedEventId(doc.metadata?.eventId ?? '', 'scoring/lead-sla-breached/1'),
      }) as unknown,
      contactId: doc._id,
      ownerId: 'rep-2',
      teamId: 'inbound',
      assignedAt: now.getTime(),
      acceptDueAt: doc.acceptDueAt?.getTime(),
      breachedAt: later.getTime(),
    });
    expect(breach?.set).toMatchObject({
      state: 'routing',
      n: 2,
      reason: 'sla-reassigned',
      previousOwnerId: 'rep-2',
      ownerId: null,
      ticket: null,
      cause: breach?.breach.metadata,
      leaseUntil: new Date(later.getTime() + LEASE),
    });
  });

  it('breaches nothing that is not assigned', () => {
    expect(breachOf(lead(), now, LEASE)).toBeNull();
  });
});

describe('acceptanceOf', () => {
  const acceptedAt = new Date(now.getTime() + 7 * 60_000);
  const leaseUntil = new Date(acceptedAt.getTime() + LEASE);

  it('accepts the assignment and queues its `leads.accepted` under an id derived from its `leads.assigned`', () => {
    const doc = assigned('rep-2');
    const acceptance = acceptanceOf(doc, 'rep-2', acceptedAt, leaseUntil);
    const event = {
      metadata: {
        eventId: derivedEventId(doc.metadata?.eventId ?? '', 'scoring/lead-accepted/1'),
        occurredAt: acceptedAt.getTime(),
        workspaceId: ws,
        source: 'scoring',
        correlationId: cause.correlationId,
        causationId: doc.metadata?.eventId,
      },
      contactId: doc._id,
      ownerId: 'rep-2',
      teamId: 'inbound',
      assignedAt: now.getTime(),
      acceptedAt: acceptedAt.getTime(),
    };
    expect(acceptance).toEqual({
      set: { state: 'accepted', acceptedAt, pending: true, leaseUntil, updatedAt: acceptedAt },
      outbox: [{ topic: Topics.LeadsAccepted, event }],
      event,
    });
  });

  it('gives the same event for the same accept, whoever finishes it, and a new id for a later assignment', () => {
    const doc = assigned('rep-2');
    const finisher = acceptanceOf(doc, undefined, acceptedAt, new Date(leaseUntil.getTime() + 60_000));
    expect(finisher?.event).toEqual(acceptanceOf(doc, 'rep-2', acceptedAt, leaseUntil)?.event);
    const reassigned = acceptanceOf({ ...doc, n: 2 }, 'rep-2', acceptedAt, leaseUntil);
    expect(reassigned?.event.metadata.eventId).toBe(
      derivedEventId(doc.metadata?.eventId ?? '', 'scoring/lead-accepted/2'),
    );
  });

  it('accepts nothing that is not assigned to that owner', () => {
    const doc = assigned('rep-2');
    expect(acceptanceOf(doc, 'rep-1', acceptedAt, leaseUntil)).toBeNull();
    expect(acceptanceOf(lead(), undefined, acceptedAt, leaseUntil)).toBeNull();
    for (const state of ['accepted', 'queued', 'closed', 'recycled'] as const)
      expect(acceptanceOf({ ...doc, state }, 'rep-2', acceptedAt, leaseUntil)).toBeNull();
  });
});

describe('rounds and recycles', () => {
  it('opens round + 1 as a fresh routing of the next assignment, nothing of the old round kept', () => {
    const recycled = { ...assigned('rep-1'), state: 'recycled' as const, recycledAt: now, acceptedAt: now };
    const requalified = originMetadata({ workspaceId: ws, source: 'test', eventId: 'requalified' });
    const next = nextRoundOf(
      recycled,
      { workspaceId: ws, contactId: recycled._id, attributes: { country: 'DE' }, cause: requalified },
      now,
      LEASE,
    );
    expect(next).toMatchObject({
      state: 'routing',
      round: 2,
      n: 2,
      reason: 'requalified',
      ownerId: null,
      teamId: null,
      acceptedAt: null,
      recycledAt: null,
      cause: requalified,
      routingAttributes: { country: 'DE' },
      leaseUntil: new Date(now.getTime() + LEASE),
    });
  });

  it('recycles once per cause, never a lead closed for good or never routed', () => {
    const doc = assigned('rep-1');
    expect(recycleIsNoOp(doc, 'recycle-1')).toBe(false);
    const set = recycledSetOf(doc, 'recycle-1', now);
    expect(set).toMatchObject({
      state: 'recycled',
      recycledAt: now,
      closedAt: now,
      recycleIds: ['recycle-1'],
    });
    expect(recycleIsNoOp({ ...doc, ...set }, 'recycle-1')).toBe(true);
    expect(recycleIsNoOp({ ...doc, final: true }, 'recycle-2')).toBe(true);
    expect(recycleIsNoOp({ ...doc, state: 'unrouted' }, 'recycle-2')).toBe(true);
  });

  it('remembers causes once each, up to a bound, and knows the ones it saw', () => {
    expect(remember(['a', 'b'], 'b', 'c')).toEqual(['a', 'b', 'c']);
    const many = Array.from({ length: MAX_REMEMBERED_CAUSES }, (_, i) => `cause-${i}`);
    expect(remember(many, 'newest')).toEqual([...many.slice(1), 'newest']);
    expect(causeSeen(lead({ causeIds: ['earlier'] }), 'earlier')).toBe(true);
    expect(causeSeen(lead(), 'scored-1')).toBe(true);
    expect(causeSeen(lead(), 'never')).toBe(false);
  });
});

describe('answers', () => {
  it('says why an accept did not land, or to look again when the lead changed under it', () => {
    const doc = assigned('rep-1');
    expect(acceptStatusOf(null, undefined, false)).toBe('not-assigned');
    expect(acceptStatusOf(lead(), undefined, false)).toBe('not-assigned');
    expect(acceptStatusOf({ ...doc, state: 'recycled' }, 'rep-1', false)).toBe('not-assigned');
    expect(acceptStatusOf(doc, 'rep-2', false)).toBe('wrong-owner');
    expect(acceptStatusOf({ ...doc, state: 'accepted', acceptedAt: now }, 'rep-1', false)).toBe(
      'already-accepted',
    );
    expect(acceptStatusOf(doc, 'rep-1', false)).toBe('retry');
    expect(acceptStatusOf(doc, 'rep-1', true)).toBe('not-assigned');
    expect(acceptStatusOf({ ...doc, state: 'closed' }, 'rep-1', false)).toBe('not-assigned');
  });

  it('answers a close with the lead closed, keeping when it first closed', () => {
    const earlier = new Date(now.getTime() - 1_000);
    const later = new Date(now.getTime() + 1_000);
    expect(closedOf(assigned('rep-1'), later, true)).toMatchObject({
      state: 'closed',
      closedAt: later,
      final: true,
    });
    expect(closedOf({ ...assigned('rep-1'), closedAt: earlier }, later, false)).toMatchObject({
      state: 'closed',
      closedAt: earlier,
      final: false,
    });
  });

  it('answers an assign with nothing while the workspace has no rules', () => {
    expect(routedAssignment({ ...lead(), state: 'unrouted' })).toBeNull();
    expect(routedAssignment(null)).toBeNull();
    expect(routedAssignment(assigned('rep-1'))).toMatchObject({
      contactId: `${ws}:ada`,
      state: 'assigned',
      ownerId: 'rep-1',
      assignmentNumber: 1,
      round: 1,
    });
  });

  it('corrects an owner’s count only when a recount sees the same mismatch twice', () => {
    expect(recountVerdict(undefined, 3, 3)).toBe('balanced');
    expect(recountVerdict(undefined, 3, 4)).toBe('watch');
    expect(recountVerdict({ open: 3, held: 4 }, 3, 4)).toBe('correct');
    expect(recountVerdict({ open: 3, held: 4 }, 3, 5)).toBe('watch');
    expect(recountVerdict({ open: 2, held: 4 }, 3, 4)).toBe('watch');
  });
});

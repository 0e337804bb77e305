/**
 * Missed SLAs on the real stack: breached once however many replicas sweep, and reassigned to another member, to
 * the fallback team, or back to the same owner when nobody else can ever take the lead. See
 * testing/routing-harness.ts for how routers are built.
 */
import { Topics } from '@tributary/contracts';
import type { Assignment } from './routing.types';
import { countsOf, cause, holdsOf, openLeads, routingStack, setRules, team } from './testing/routing-harness';

const { oneReplica, twoReplicas, published } = routingStack('slb');

describe('SLA breaches', () => {
  it('a missed SLA is breached once by two sweeping replicas and the lead goes to another member', async () => {
    const { a, b, store, ws } = await twoReplicas('sla');
    await setRules(store, ws, {
      acceptWithinMinutes: 0.5,
      teams: team(['rep-1', 'rep-2', 'rep-3']),
      rules: [],
      fallbackTeamId: 'inbound',
    });
    const contactId = `${ws}:cy`;
    const first = await a.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: cause(ws) });
    if (!first?.ownerId || !first.acceptDueAt) throw new Error(`not assigned: ${JSON.stringify(first)}`);

    // Before the deadline nothing happens.
    expect(await a.sweeper.sweep(new Date(first.acceptDueAt.getTime() - 1_000))).toMatchObject({
      breached: 0,
    });
    const late = new Date(first.acceptDueAt.getTime() + 1_000);
    const reports = await Promise.all([a.sweeper.sweep(late), b.sweeper.sweep(late)]);
    expect(reports.map((r) => r.breached).reduce((x, y) => x + y, 0)).toBe(1);

    const now = await a.router.assignmentOf(ws, contactId);
    expect(now).toMatchObject({
      state: 'assigned',
      assignmentNumber: 2,
      reason: 'sla-reassigned',
      previousOwnerId: first.ownerId,
    });
    expect(now?.ownerId).not.toBe(first.ownerId);
    // The owner who missed it was freed; the new one holds the lead.
    const open = await openLeads(store, ws);
    expect(open[first.ownerId]).toBe(0);
    expect(open[now?.ownerId ?? '']).toBe(1);

    const breaches = await published(Topics.LeadsSlaBreached, ws, contactId);
    expect(breaches).toHaveLength(1);
    expect(breaches[0]).toMatchObject({
      ownerId: first.ownerId,
      teamId: 'inbound',
      reassignedTo: now?.ownerId,
      acceptDueAt: first.acceptDueAt.getTime(),
    });
    const assigned = await published(Topics.LeadsAssigned, ws, contactId);
    expect(assigned.map((e) => [e.ownerId, e.reason, e.previousOwnerId])).toEqual([
      [first.ownerId, 'routed', null],
      [now?.ownerId, 'sla-reassigned', first.ownerId],
    ]);
    expect(assigned[1]?.metadata.causationId).toBe(breaches[0]?.metadata.eventId);
  });

  it('missed SLAs of many leads are each breached once while two replicas sweep at once', async () => {
    // Each breach is claimed by an insert per assignment, so two sweeping replicas never both win one.
    const { a, b, store, ws } = await twoReplicas('sla-race');
    await setRules(store, ws, {
      acceptWithinMinutes: 0.5,
      teams: team(['rep-1', 'rep-2', 'rep-3']),
      rules: [],
      fallbackTeamId: 'inbound',
    });
    const leads = Array.from({ length: 8 }, (_, i) => `${ws}:lead-${i}`);
    const firsts: Assignment[] = [];
    for (const contactId of leads) {
      const first = await a.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: cause(ws) });
      if (!first?.acceptDueAt) throw new Error(`not assigned: ${JSON.stringify(first)}`);
      firsts.push(first);
    }
    const late = new Date(Math.max(...firsts.map((f) => f.acceptDueAt?.getTime() ?? 0)) + 1_000);
    const reports = await Promise.all([a.sweeper.sweep(late), b.sweeper.sweep(late)]);
    expect(reports.map((r) => r.breached).reduce((x, y) => x + y, 0)).toBe(leads.length);
    for (const [i, contactId] of leads.entries()) {
      const now = await a.router.assignmentOf(ws, contactId);
      expect(now).toMatchObject({
        state: 'assigned',
        assignmentNumber: 2,
        previousOwnerId: firsts[i]?.ownerId,
      });
      const breaches = await published(Topics.LeadsSlaBreached, ws, contactId);
      expect(breaches.map((e) => e.reassignedTo)).toEqual([now?.ownerId]);
      const assigned = await published(Topics.LeadsAssigned, ws, contactId);
      expect(
        new Set(assigned.filter((e) => e.reason === 'sla-reassigned').map((e) => e.metadata.eventId)).size,
      ).toBe(1);
    }
    // Every owner's open count is exactly the leads they hold now: both replicas released and counted on the same
    // owners' loads at once, and every one of those `$inc`s landed.
    const owners = await Promise.all(
      leads.map(async (contactId) => (await a.router.assignmentOf(ws, contactId))?.ownerId),
    );
    const holding: Record<string, number> = { 'rep-1': 0, 'rep-2': 0, 'rep-3': 0 };
    for (const owner of owners) holding[owner ?? 'nobody'] = (holding[owner ?? 'nobody'] ?? 0) + 1;
    expect(await openLeads(store, ws)).toEqual(holding);
    expect(countsOf(await holdsOf(store, ws))).toEqual(
      Object.fromEntries(Object.entries(holding).filter(([, held]) => held > 0)),
    );
  });

  it('a lead whose one-member team missed the SLA goes to the fallback team', async () => {
    const { router, sweeper, store, ws } = await oneReplica('sla-solo');
    await setRules(store, ws, {
      acceptWithinMinutes: 1,
      teams: [
        { id: 'dach', members: [{ ownerId: 'rep-solo', capacity: 5, timezone: 'UTC' }] },
        ...team(['rep-1', 'rep-2']),
      ],
      rules: [{ id: 'dach-territory', teamId: 'dach', when: { countries: ['DE'] } }],
      fallbackTeamId: 'inbound',
    });
    const contactId = `${ws}:gus`;
    const first = await router.assign({
      workspaceId: ws,
      contactId,
      attributes: { country: 'DE' },
      cause: cause(ws),
    });
    expect(first).toMatchObject({ ownerId: 'rep-solo', teamId: 'dach', ruleId: 'dach-territory' });
    if (!first?.acceptDueAt) throw new Error('not assigned');

    expect(await sweeper.sweep(new Date(first.acceptDueAt.getTime() + 1_000))).toMatchObject({ breached: 1 });
    const now = await router.assignmentOf(ws, contactId);
    expect(now).toMatchObject({
      state: 'assigned',
      assignmentNumber: 2,
      teamId: 'inbound',
      ruleId: 'fallback',
      reason: 'sla-reassigned',
      previousOwnerId: 'rep-solo',
    });
    expect(['rep-1', 'rep-2']).toContain(now?.ownerId);
    expect(await openLeads(store, ws)).toMatchObject({ 'rep-solo': 0, [now?.ownerId ?? '']: 1 });
    const breaches = await published(Topics.LeadsSlaBreached, ws, contactId);
    expect(breaches.map((e) => [e.ownerId, e.teamId, e.reassignedTo])).toEqual([
      ['rep-solo', 'dach', now?.ownerId],
    ]);
  });

  it('when nobody else can ever take it, the owner who missed the SLA gets it back with a fresh SLA', async () => {
    const { a, b, store, ws } = await twoReplicas('sla-renew');
    // One-member team that is also the fallback team; a colleague on leave (capacity 0) takes no leads.
    await setRules(store, ws, {
      acceptWithinMinutes: 1,
      teams: [
        {
          id: 'inbound',
          members: [
            { ownerId: 'rep-solo', capacity: 1, timezone: 'UTC' },
            { ownerId: 'rep-on-leave', capacity: 0, timezone: 'UTC' },
          ],
        },
      ],
      rules: [],
      fallbackTeamId: 'inbound',
    });
    const contactId = `${ws}:hal`;
    const first = await a.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: cause(ws) });
    if (!first?.acceptDueAt) throw new Error(`not assigned: ${JSON.stringify(first)}`);

    const late = new Date(first.acceptDueAt.getTime() + 1_000);
    const reports = await Promise.all([a.sweeper.sweep(late), b.sweeper.sweep(late)]);
    expect(reports.map((r) => r.breached).reduce((x, y) => x + y, 0)).toBe(1);
    const renewed = await a.router.assignmentOf(ws, contactId);
    expect(renewed).toMatchObject({
      state: 'assigned',
      ownerId: 'rep-solo',
      assignmentNumber: 2,
      reason: 'sla-renewed',
      previousOwnerId: 'rep-solo',
    });
    // A fresh SLA from the breach on, and the owner's capacity counted once (capacity 1 and not queued).
    expect(renewed?.acceptDueAt?.getTime()).toBe(late.getTime() + 60_000);
    expect(await openLeads(store, ws)).toEqual({ 'rep-solo': 1 });

    // Missed again: a second breach (its own id), the lead back again.
    const later = new Date(late.getTime() + 61_000);
    expect(await b.sweeper.sweep(later)).toMatchObject({ breached: 1 });
    expect(await a.router.assignmentOf(ws, contactId)).toMatchObject({
      ownerId: 'rep-solo',
      assignmentNumber: 3,
    });
    const breaches = await published(Topics.LeadsSlaBreached, ws, contactId);
    expect(breaches.map((e) => [e.ownerId, e.reassignedTo])).toEqual([
      ['rep-solo', 'rep-solo'],
      ['rep-solo', 'rep-solo'],
    ]);
    expect(new Set(breaches.map((e) => e.metadata.eventId)).size).toBe(2);
    const assigned = await published(Topics.LeadsAssigned, ws, contactId);
    expect(assigned.map((e) => [e.ownerId, e.reason])).toEqual([
      ['rep-solo', 'routed'],
      ['rep-solo', 'sla-renewed'],
      ['rep-solo', 'sla-renewed'],
    ]);
    expect(await openLeads(store, ws)).toEqual({ 'rep-solo': 1 });
  });
});

/**
 * The lead operations on the real stack (assign, accept, close, recycle): one owner per lead across replicas,
 * redeliveries and crashes, rounds of recycled leads. See testing/routing-harness.ts for how routers are built.
 */
import { Topics } from '@tributary/contracts';
import { derivedEventId, type EventPublisher } from '@tributary/messaging';
import type { Assignment } from './routing.types';
import { ownerLoadModel, routingClaimModel, routingHoldModel } from './routing.model';
import {
  cause,
  countsOf,
  createRouter,
  cursorOf,
  holdsOf,
  openLeads,
  routingStack,
  setTeam,
  storeAssignments,
  storedAssignment,
} from './testing/routing-harness';

const { oneReplica, twoReplicas, published } = routingStack('rt');

describe('lead router', () => {
  it('two replicas assigning the same leads at once give each one owner, announced under one eventId', async () => {
    const { a, b, store, ws } = await twoReplicas('race');
    await setTeam(store, ws, ['rep-1', 'rep-2', 'rep-3']);
    const leads = Array.from({ length: 6 }, (_, i) => `${ws}:lead-${i}`);
    // Every lead at once on both replicas: the claims race, and so do the `$inc`s of the team's cursor and of the
    // owners' loads, which the store applies atomically.
    const results = await Promise.all(
      leads.map(async (contactId) => {
        const input = { workspaceId: ws, contactId, attributes: { country: 'DE' }, cause: cause(ws) };
        return Promise.all([a.router.assign(input), b.router.assign(input)]);
      }),
    );

    for (const [i, contactId] of leads.entries()) {
      const stored = await a.router.assignmentOf(ws, contactId);
      expect(stored).toMatchObject({
        state: 'assigned',
        assignmentNumber: 1,
        teamId: 'inbound',
        ruleId: 'fallback',
      });
      // Whichever call lost the claim answered with the winner's owner or with the claim still in progress.
      const owners = (results[i] ?? [])
        .map((r) => r?.ownerId)
        .filter((o): o is string => typeof o === 'string');
      expect(new Set([...owners, stored?.ownerId])).toEqual(new Set([stored?.ownerId]));
      const announced = await published(Topics.LeadsAssigned, ws, contactId);
      expect(new Set(announced.map((e) => e.metadata.eventId)).size).toBe(1);
      expect(announced.every((e) => e.ownerId === stored?.ownerId)).toBe(true);
    }
    // Capacity taken once per lead, and the cursor moved once per lead: 6 leads over 3 reps is 2 each.
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 2, 'rep-2': 2, 'rep-3': 2 });
    expect(countsOf(await holdsOf(store, ws))).toEqual({ 'rep-1': 2, 'rep-2': 2, 'rep-3': 2 });
    expect(await cursorOf(store, ws, 'inbound')).toBe(leads.length);
  });

  it('a redelivered assign answers with the same owner and announces under the same eventId', async () => {
    const { a, b, store, ws } = await twoReplicas('redeliver');
    await setTeam(store, ws, ['rep-1', 'rep-2']);
    const contactId = `${ws}:ada`;
    const scored = cause(ws);
    const first = await a.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: scored });
    const again = await b.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: scored });
    expect(first?.ownerId).toBeTruthy();
    expect(again).toMatchObject({ ownerId: first?.ownerId, state: 'assigned', assignmentNumber: 1 });
    const announced = await published(Topics.LeadsAssigned, ws, contactId);
    expect(announced.map((e) => e.metadata.eventId)).toEqual([
      derivedEventId(scored.eventId, 'scoring/lead-assigned/1'),
    ]);
    expect(announced[0]).toMatchObject({ ownerId: first?.ownerId, reason: 'routed' });
    expect(announced[0]?.metadata.causationId).toBe(scored.eventId);
    expect(Object.values(await openLeads(store, ws)).reduce((x, y) => x + y, 0)).toBe(1);
  });

  it('a claim left half-way by a crashed replica is finished by the redelivery, keeping the capacity it took', async () => {
    const { router, replica, store, ws } = await oneReplica('crash');
    await setTeam(store, ws, ['rep-1', 'rep-2']);
    const contactId = `${ws}:bo`;
    const scored = cause(ws);
    // What a replica leaves when it dies after reserving rep-2's capacity, before recording the decision.
    await storeAssignments(replica, [
      storedAssignment(ws, contactId, { cause: scored, leaseToken: 'crashed-replica' }),
    ]);
    await ownerLoadModel(store).create({ _id: `${ws}:rep-2`, workspaceId: ws, ownerId: 'rep-2', open: 1 });
    await routingHoldModel(store).create({
      _id: `${contactId}#1`,
      workspaceId: ws,
      ownerId: 'rep-2',
      createdAt: new Date(),
    });

    const finished = await router.assign({ workspaceId: ws, contactId, attributes: {}, cause: scored });
    expect(finished).toMatchObject({ state: 'assigned', ownerId: 'rep-2' });
    expect(await openLeads(store, ws)).toEqual({ 'rep-2': 1 });
    const announced = await published(Topics.LeadsAssigned, ws, contactId);
    expect(announced.map((e) => [e.metadata.eventId, e.ownerId])).toEqual([
      [derivedEventId(scored.eventId, 'scoring/lead-assigned/1'), 'rep-2'],
    ]);
  });

  it('an accepted lead is not breached, and accept answers for every situation', async () => {
    const { router, sweeper, store, ws } = await oneReplica('accept');
    const contactId = `${ws}:di`;
    expect(await router.accept(ws, contactId)).toEqual({ status: 'not-assigned', assignment: null });
    await setTeam(store, ws, ['rep-1', 'rep-2'], undefined, 1);
    const assigned = await router.assign({ workspaceId: ws, contactId, attributes: {}, cause: cause(ws) });
    const owner = assigned?.ownerId ?? '';
    const other = owner === 'rep-1' ? 'rep-2' : 'rep-1';
    expect((await router.accept(ws, contactId, other)).status).toBe('wrong-owner');
    expect((await router.accept(ws, contactId, owner)).status).toBe('accepted');
    expect(await router.accept(ws, contactId, owner)).toMatchObject({
      status: 'already-accepted',
      assignment: { state: 'accepted', ownerId: owner },
    });
    // Another workspace cannot see or accept it.
    expect((await router.accept(`${ws}_other`, contactId)).status).toBe('not-assigned');
    const late = new Date((assigned?.acceptDueAt?.getTime() ?? 0) + 60_000);
    expect(await sweeper.sweep(late)).toMatchObject({ breached: 0 });
    expect(await router.assignmentOf(ws, contactId)).toMatchObject({ state: 'accepted', ownerId: owner });
  });

  it('an accept announces `leads.accepted` once, with owner, team and times; a repeated accept announces nothing', async () => {
    const { router, sweeper, store, ws } = await oneReplica('accepted');
    await setTeam(store, ws, ['rep-1', 'rep-2']);
    const contactId = `${ws}:fay`;
    const scored = cause(ws);
    const assigned = await router.assign({ workspaceId: ws, contactId, attributes: {}, cause: scored });
    if (!assigned?.ownerId || !assigned.assignedAt)
      throw new Error(`not assigned: ${JSON.stringify(assigned)}`);
    const assignedId = derivedEventId(scored.eventId, 'scoring/lead-assigned/1');

    const first = await router.accept(ws, contactId, assigned.ownerId);
    expect(first.status).toBe('accepted');
    const acceptedAt = first.assignment?.acceptedAt?.getTime();
    const expected = {
      metadata: {
        eventId: derivedEventId(assignedId, 'scoring/lead-accepted/1'),
        occurredAt: acceptedAt,
        workspaceId: ws,
        source: 'scoring',
        correlationId: scored.correlationId,
        causationId: assignedId,
      },
      contactId,
      ownerId: assigned.ownerId,
      teamId: 'inbound',
      assignedAt: assigned.assignedAt.getTime(),
      acceptedAt,
    };
    // Read up to a marker published after the accept (same key, same partition): every record before it counts.
    expect(await published(Topics.LeadsAccepted, ws, contactId)).toEqual([expected]);

    expect(await router.accept(ws, contactId, assigned.ownerId)).toMatchObject({
      status: 'already-accepted',
      assignment: { state: 'accepted', acceptedAt: first.assignment?.acceptedAt },
    });
    expect((await router.accept(ws, contactId)).status).toBe('already-accepted');
    // Past every lease and the SLA: the sweep finds nothing of the accept left to publish.
    expect(await sweeper.sweep(new Date(Date.now() + 2 * 60 * 60_000))).toMatchObject({
      republished: 0,
      breached: 0,
    });
    expect(await published(Topics.LeadsAccepted, ws, contactId)).toEqual([expected]);
  });

  it('two replicas accepting a lead at once accept it once and announce it once', async () => {
    const { a, b, store, ws } = await twoReplicas('accept-race');
    await setTeam(store, ws, ['rep-1']);
    const contactId = `${ws}:gil`;
    await a.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: cause(ws) });
    const outcomes = await Promise.all([
      a.router.accept(ws, contactId, 'rep-1'),
      b.router.accept(ws, contactId, 'rep-1'),
    ]);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['accepted', 'already-accepted']);
    const stored = await a.router.assignmentOf(ws, contactId);
    const announced = await published(Topics.LeadsAccepted, ws, contactId);
    expect(announced.map((e) => [e.ownerId, e.acceptedAt])).toEqual([
      ['rep-1', stored?.acceptedAt?.getTime()],
    ]);
  });

  it('an accept stored but not published (Kafka down, a crash) is published by the sweep once its lease ran out', async () => {
    const { router, sweeper, store, ws } = await oneReplica('accept-unpublished');
    await setTeam(store, ws, ['rep-1']);
    const contactId = `${ws}:hy`;
    const scored = cause(ws);
    await router.assign({ workspaceId: ws, contactId, attributes: {}, cause: scored });
    const kafkaDown = {
      publishAll: () => Promise.reject(new Error('kafka down')),
    } as unknown as EventPublisher;
    const down = await createRouter(store, kafkaDown);
    await expect(down.router.accept(ws, contactId, 'rep-1')).rejects.toThrow('kafka down');
    await down.close();

    // The accept stands: a repeat answers for it and announces nothing.
    expect(await router.accept(ws, contactId, 'rep-1')).toMatchObject({
      status: 'already-accepted',
      assignment: { state: 'accepted' },
    });
    expect(await published(Topics.LeadsAccepted, ws, contactId)).toEqual([]);
    const acceptedAt = (await router.assignmentOf(ws, contactId))?.acceptedAt?.getTime() ?? 0;
    // Within the accept's lease the outbox is the accepting router's; after it, the sweep's, once.
    expect(await sweeper.sweep(new Date(acceptedAt + 1_000))).toMatchObject({ republished: 0 });
    expect(await sweeper.sweep(new Date(acceptedAt + 31_000))).toMatchObject({ republished: 1 });
    expect(await sweeper.sweep(new Date(acceptedAt + 62_000))).toMatchObject({ republished: 0 });
    const announced = await published(Topics.LeadsAccepted, ws, contactId);
    expect(announced.map((e) => [e.metadata.eventId, e.ownerId, e.acceptedAt])).toEqual([
      [
        derivedEventId(derivedEventId(scored.eventId, 'scoring/lead-assigned/1'), 'scoring/lead-accepted/1'),
        'rep-1',
        acceptedAt,
      ],
    ]);
  });

  it("a flush of an outbox read before an accept leaves the accept's event to be published", async () => {
    const { router, sweeper, outbox, replica, store, ws } = await oneReplica('accept-outbox');
    await setTeam(store, ws, ['rep-1']);
    const contactId = `${ws}:jan`;
    const kafkaDown = {
      publishAll: () => Promise.reject(new Error('kafka down')),
    } as unknown as EventPublisher;
    const down = await createRouter(store, kafkaDown);
    // Assigned with its `leads.assigned` unpublished, then accepted with its `leads.accepted` unpublished too.
    await expect(
      down.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: cause(ws) }),
    ).rejects.toThrow('kafka down');
    const beforeAccept = await replica.assignments.assignment(contactId);
    if (!beforeAccept) throw new Error('not stored');
    await expect(down.router.accept(ws, contactId, 'rep-1')).rejects.toThrow('kafka down');
    await down.close();

    // A replica that read the outbox before the accept publishes what it read; its clear must not take the accept's.
    await outbox.flush(beforeAccept);
    expect(await sweeper.sweep(new Date(Date.now() + 31_000))).toMatchObject({ republished: 1 });
    expect(await router.assignmentOf(ws, contactId)).toMatchObject({ state: 'accepted', ownerId: 'rep-1' });
    const accepted = await published(Topics.LeadsAccepted, ws, contactId);
    expect(accepted.map((e) => e.ownerId)).toEqual(['rep-1']);
    const assigned = await published(Topics.LeadsAssigned, ws, contactId);
    expect(new Set(assigned.map((e) => e.metadata.eventId)).size).toBe(1);
  });

  it('an accept claimed by a replica that died before writing it is finished by the next accept, with its time', async () => {
    const { router, store, ws } = await oneReplica('accept-claimed');
    await setTeam(store, ws, ['rep-1']);
    const contactId = `${ws}:ivo`;
    await router.assign({ workspaceId: ws, contactId, attributes: {}, cause: cause(ws) });
    const claimedAt = new Date(Date.now() - 1);
    await routingClaimModel(store).create({
      _id: `${contactId}#accept-1`,
      workspaceId: ws,
      contactId,
      kind: 'accept',
      causeId: 'accept-of-a-dead-replica',
      set: { acceptedAt: claimedAt, leaseUntil: claimedAt },
      createdAt: claimedAt,
    });
    expect(await router.accept(ws, contactId, 'rep-1')).toMatchObject({
      status: 'already-accepted',
      assignment: { state: 'accepted', acceptedAt: claimedAt },
    });
    expect((await router.accept(ws, contactId, 'rep-1')).status).toBe('already-accepted');
    const announced = await published(Topics.LeadsAccepted, ws, contactId);
    expect(announced.map((e) => [e.ownerId, e.acceptedAt])).toEqual([['rep-1', claimedAt.getTime()]]);
  });

  it('a recycled lead gets an owner again on its next cause: once, round-robin going on, never for an old cause', async () => {
    const { a, b, store, ws } = await twoReplicas('recycle');
    await setTeam(store, ws, ['rep-1', 'rep-2', 'rep-3']);
    const contactId = `${ws}:ida`;
    const captured = cause(ws);
    const first = await a.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: captured });
    expect(first).toMatchObject({ state: 'assigned', ownerId: 'rep-1', round: 1 });
    // A later cause of round 1 (the MQL after the capture) is remembered too.
    const qualified = cause(ws);
    expect(
      await b.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: qualified }),
    ).toMatchObject({
      ownerId: 'rep-1',
      round: 1,
    });
    expect(await a.router.accept(ws, contactId, 'rep-1')).toMatchObject({ status: 'accepted' });

    const recycling = cause(ws);
    const recycled = await a.router.recycle(ws, contactId, recycling);
    expect(recycled).toMatchObject({ state: 'recycled', round: 1, ownerId: 'rep-1' });
    expect(recycled?.recycledAt).toBeInstanceOf(Date);
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 0 });
    // Nobody owns it until its next round: the old owner cannot accept it again.
    expect((await b.router.accept(ws, contactId, 'rep-1')).status).toBe('not-assigned');
    // Redelivered recycle and redelivered causes of round 1: nothing moves.
    expect(await b.router.recycle(ws, contactId, recycling)).toMatchObject({ state: 'recycled', round: 1 });
    for (const old of [captured, qualified])
      expect(await b.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: old })).toMatchObject(
        {
          state: 'recycled',
          round: 1,
        },
      );

    // Two new causes race on two replicas: one round 2, one owner, the cursor moved on (rep-1 had ticket 1).
    const requalified = [cause(ws), cause(ws)] as const;
    await Promise.all([
      a.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: requalified[0] }),
      b.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: requalified[1] }),
    ]);
    const second = await a.router.assignmentOf(ws, contactId);
    expect(second).toMatchObject({
      state: 'assigned',
      round: 2,
      assignmentNumber: 2,
      reason: 'requalified',
      ownerId: 'rep-2',
      previousOwnerId: null,
      acceptedAt: null,
      recycledAt: null,
    });
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 0, 'rep-2': 1 });

    // The old round's recycle and causes, redelivered once more, leave round 2 alone.
    expect(await a.router.recycle(ws, contactId, recycling)).toMatchObject({ state: 'assigned', round: 2 });
    expect(
      await b.router.assign({ workspaceId: ws, contactId, attributes: {}, cause: captured }),
    ).toMatchObject({
      state: 'assigned',
      round: 2,
      ownerId: 'rep-2',
    });

    const announced = await published(Topics.LeadsAssigned, ws, contactId);
    const winner = requalified.find(
      (c) => announced[1]?.metadata.eventId === derivedEventId(c.eventId, 'scoring/lead-assigned/2'),
    );
    expect(winner).toBeDefined();
    expect(announced.map((e) => [e.ownerId, e.reason])).toEqual([
      ['rep-1', 'routed'],
      ['rep-2', 'requalified'],
    ]);
    expect(announced[0]?.metadata.eventId).toBe(derivedEventId(captured.eventId, 'scoring/lead-assigned/1'));
  });

  it('recycling respects capacity, reopens a disqualified lead, and never a lead closed for good', async () => {
    const { router, sweeper, store, ws } = await oneReplica('recycle-closed');
    await setTeam(store, ws, ['rep-solo'], 1);
    const one = `${ws}:one`;
    const two = `${ws}:two`;
    const assign = (contactId: string) =>
      router.assign({ workspaceId: ws, contactId, attributes: {}, cause: cause(ws) });
    expect(await assign(one)).toMatchObject({ ownerId: 'rep-solo' });
    // Disqualified: closed, and no cause routes it again until it is recycled.
    await router.close(ws, one);
    expect(await assign(one)).toMatchObject({ state: 'closed', round: 1 });
    await router.recycle(ws, one, cause(ws));
    // The rep took another lead meanwhile, so the recycled lead's next round waits for room.
    expect(await assign(two)).toMatchObject({ ownerId: 'rep-solo' });
    expect(await assign(one)).toMatchObject({ state: 'queued', round: 2, ownerId: null });
    // The other lead became a customer: closed for good, its place goes to the waiting lead.
    await router.close(ws, two, { final: true });
    expect(await sweeper.sweep()).toMatchObject({ assigned: 1 });
    expect(await router.assignmentOf(ws, one)).toMatchObject({
      state: 'assigned',
      round: 2,
      ownerId: 'rep-solo',
    });
    expect(await router.recycle(ws, two, cause(ws))).toMatchObject({ state: 'closed', round: 1 });
    expect(await assign(two)).toMatchObject({ state: 'closed', round: 1 });
    expect(await openLeads(store, ws)).toEqual({ 'rep-solo': 1 });
    // Recycling a lead that was never routed changes nothing.
    expect(await router.recycle(ws, `${ws}:never`, cause(ws))).toBeNull();
  });

  it('a breach or a new round claimed by a replica that died before writing it is finished once its lease ran out', async () => {
    const { router, sweeper, store, ws } = await oneReplica('claims');
    await setTeam(store, ws, ['rep-1', 'rep-2'], undefined, 1);
    const claims = routingClaimModel(store);
    const past = new Date(Date.now() - 60_000);

    // A breach: the claim is there, the assignment still shows the owner who missed it.
    const missed = `${ws}:jo`;
    const first = await router.assign({
      workspaceId: ws,
      contactId: missed,
      attributes: {},
      cause: cause(ws),
    });
    if (!first?.ownerId || !first.acceptDueAt) throw new Error('not assigned');
    const late = new Date(first.acceptDueAt.getTime() + 1_000);
    const breachEventId = 'breach-of-a-dead-replica';
    await claims.create({
      _id: `${missed}#breach-1`,
      workspaceId: ws,
      contactId: missed,
      kind: 'breach',
      causeId: breachEventId,
      set: {
        state: 'routing',
        n: 2,
        reason: 'sla-reassigned',
        previousOwnerId: first.ownerId,
        ownerId: null,
        ticket: null,
        cause: { ...cause(ws), eventId: breachEventId },
        metadata: null,
        assignedAt: null,
        acceptDueAt: null,
        queuedAt: null,
        breach: {
          metadata: { ...cause(ws), eventId: breachEventId },
          contactId: missed,
          ownerId: first.ownerId,
          teamId: 'inbound',
          assignedAt: first.assignedAt?.getTime() ?? 0,
          acceptDueAt: first.acceptDueAt.getTime(),
          breachedAt: past.getTime(),
        },
        leaseToken: 'dead-replica',
        leaseUntil: past,
        updatedAt: past,
      },
      createdAt: past,
    });
    expect(await sweeper.sweep(late)).toMatchObject({ breached: 1 });
    expect(await router.assignmentOf(ws, missed)).toMatchObject({
      state: 'assigned',
      assignmentNumber: 2,
      previousOwnerId: first.ownerId,
    });
    const breaches = await published(Topics.LeadsSlaBreached, ws, missed);
    expect(breaches.map((e) => e.metadata.eventId)).toEqual([breachEventId]);
    // Nothing left to breach twice.
    expect(await sweeper.sweep(late)).toMatchObject({ breached: 0 });

    // A new round: claimed by a replica that died before writing it; the next cause finishes it (theirs).
    const recycledLead = `${ws}:kim`;
    await router.assign({ workspaceId: ws, contactId: recycledLead, attributes: {}, cause: cause(ws) });
    await router.recycle(ws, recycledLead, cause(ws));
    const deadCause = cause(ws);
    await claims.create({
      _id: `${recycledLead}#round-2`,
      workspaceId: ws,
      contactId: recycledLead,
      kind: 'round',
      causeId: deadCause.eventId,
      set: {
        ...storedAssignment(ws, recycledLead, { cause: deadCause }),
        _id: undefined,
        round: 2,
        n: 2,
        reason: 'requalified',
        leaseToken: 'dead-replica',
        leaseUntil: past,
      },
      createdAt: past,
    });
    const finished = await router.assign({
      workspaceId: ws,
      contactId: recycledLead,
      attributes: {},
      cause: cause(ws),
    });
    expect(finished).toMatchObject({
      state: 'assigned',
      round: 2,
      assignmentNumber: 2,
      reason: 'requalified',
    });
    const announced = await published(Topics.LeadsAssigned, ws, recycledLead);
    expect(announced.map((e) => e.metadata.eventId)[1]).toBe(
      derivedEventId(deadCause.eventId, 'scoring/lead-assigned/2'),
    );
  });

  it('leads of a workspace without rules stay unrouted until rules exist', async () => {
    const { router, store, ws } = await oneReplica('unrouted');
    const contactId = `${ws}:eve`;
    expect(await router.assign({ workspaceId: ws, contactId, attributes: {}, cause: cause(ws) })).toBeNull();
    expect(await router.assignmentOf(ws, contactId)).toMatchObject({ state: 'unrouted', ownerId: null });
    await setTeam(store, ws, ['rep-1']);
    const routed: Assignment | null = await router.assign({
      workspaceId: ws,
      contactId,
      attributes: {},
      cause: cause(ws),
    });
    expect(routed).toMatchObject({ state: 'assigned', ownerId: 'rep-1', rulesVersion: 1 });
  });
});

/**
 * Routing batches (`assignMany`) against other replicas and crashes, on the real stack: two replicas racing on
 * overlapping leads, on one owner's capacity and on a new team's cursor; a lead another replica claims while the
 * batch decides; a batch stopped before it announced; an announcement whose delete failed. See
 * testing/routing-harness.ts for how routers are built.
 */
import { Topics } from '@tributary/contracts';
import { derivedEventId } from '@tributary/messaging';
import { waitFor } from '@tributary/testing';
import { firstAssignment } from './routing-decisions';
import { routingAnnouncementModel } from './routing.model';
import type { RoutingRequest } from './routing.types';
import {
  announcementsOf,
  countsOf,
  holdsOf,
  ids,
  leadsOf,
  leadsPerOwner,
  openLeads,
  ownersOf,
  routingStack,
  setTeam,
  storeAssignments,
  type Replica,
} from './testing/routing-harness';

const { oneReplica, twoReplicas, publishedAbout } = routingStack('rbc');

/**
 * Makes another replica claim `input` (insert its first assignment under a lease of its own, then stall) while the
 * replica's next batch reads its owners' loads, i.e. after the batch found the lead unassigned.
 */
const claimWhileDeciding = (replica: Replica, input: RoutingRequest | undefined) => {
  if (!input) throw new Error('lead expected');
  return jest.spyOn(replica.ledger, 'loadsOf').mockImplementationOnce(async () => {
    await storeAssignments(replica, [
      { ...firstAssignment(input, new Date(), 30_000), leaseToken: 'other-replica' },
    ]);
    return new Map();
  });
};

describe('batch router with other replicas and crashes', () => {
  it("two replicas' first batches for a new team both get their turns: the cursor's creation race is retried", async () => {
    // Each round is a workspace whose team cursor does not exist yet; both replicas create it at once.
    for (let round = 0; round < 10; round += 1) {
      const { a, b, store, ws } = await twoReplicas(`cursor-race-${round}`);
      await setTeam(store, ws, ['rep-1', 'rep-2']);
      const inputs = leadsOf(ws, 8);

      const [fromA, fromB] = await Promise.all([
        a.router.assignMany(inputs.slice(0, 4)),
        b.router.assignMany(inputs.slice(4)),
      ]);

      expect({ round, states: [...fromA, ...fromB].map((r) => r?.state) }).toEqual({
        round,
        states: Array.from({ length: 8 }, () => 'assigned'),
      });
      for (const input of inputs)
        expect(await a.router.assignmentOf(ws, input.contactId)).toMatchObject({
          state: 'assigned',
          assignmentNumber: 1,
        });
    }
  });

  it('two replicas batching overlapping leads at once give each lead one owner and one hold', async () => {
    const { a, b, store, ws } = await twoReplicas('batch-race');
    await setTeam(store, ws, ['rep-1', 'rep-2', 'rep-3', 'rep-4']);
    const inputs = leadsOf(ws, 40);
    const contactIds = ids(inputs);

    const [fromA, fromB] = await Promise.all([
      a.router.assignMany(inputs.slice(0, 30)),
      b.router.assignMany(inputs.slice(10)),
    ]);

    const stored = await Promise.all(contactIds.map((contactId) => a.router.assignmentOf(ws, contactId)));
    expect(stored.map((doc) => [doc?.state, doc?.assignmentNumber])).toEqual(
      inputs.map(() => ['assigned', 1]),
    );
    const owners = ownersOf(stored);
    // Whoever answered with an owner answered with the lead's one owner (the other saw the claim in progress).
    const answered = [...fromA.map((r, i) => [i, r] as const), ...fromB.map((r, i) => [10 + i, r] as const)];
    const withOwner = answered.filter(([, result]) => result?.ownerId);
    expect(withOwner.map(([i, result]) => [i, result?.ownerId])).toEqual(
      withOwner.map(([i]) => [i, owners[i]]),
    );
    expect(withOwner.length).toBeGreaterThanOrEqual(40);
    // Capacity held once per lead, on its owner (holds are insert claims, one winner each).
    const holds = await holdsOf(store, ws);
    expect(holds).toEqual(leadsPerOwner(contactIds, owners));
    expect(Object.values(countsOf(holds)).reduce((x, y) => x + y, 0)).toBe(40);
    // The `open` counters equal the holds: concurrent `$inc`s of one owner's load all land.
    expect(await openLeads(store, ws)).toEqual(countsOf(holds));
    const announced = await publishedAbout(Topics.LeadsAssigned, ws, contactIds);
    for (const [i, input] of inputs.entries())
      expect([i, announced.get(input.contactId)?.map((e) => [e.metadata.eventId, e.ownerId])]).toEqual([
        i,
        [[derivedEventId(input.cause.eventId, 'scoring/lead-assigned/1'), owners[i]]],
      ]);
  });

  it('two replicas batching different leads for the same owners at once never fill anyone beyond capacity', async () => {
    // The batch counts optimistically and takes back what went above capacity: several rounds to meet the race.
    for (let round = 0; round < 4; round += 1) {
      const { a, b, store, ws } = await twoReplicas(`batch-capacity-race-${round}`);
      await setTeam(store, ws, ['rep-1', 'rep-2'], 3);
      const inputs = leadsOf(ws, 10);

      await Promise.all([a.router.assignMany(inputs.slice(0, 5)), b.router.assignMany(inputs.slice(5))]);

      const stored = await Promise.all(inputs.map((input) => a.router.assignmentOf(ws, input.contactId)));
      const states = stored.map((doc) => doc?.state);
      expect([round, states.filter((state) => state === 'assigned').length]).toEqual([round, 6]);
      expect([round, states.filter((state) => state === 'queued').length]).toEqual([round, 4]);
      const held = countsOf(await holdsOf(store, ws));
      expect([round, held]).toEqual([round, { 'rep-1': 3, 'rep-2': 3 }]);
      expect([round, await openLeads(store, ws)]).toEqual([round, { 'rep-1': 3, 'rep-2': 3 }]);
    }
  });

  it('a batch lead another replica claims while the batch decides is left to it, which adopts the capacity held', async () => {
    const { router, sweeper, replica, store, ws } = await oneReplica('batch-takeover');
    await setTeam(store, ws, ['rep-1', 'rep-2']);
    const inputs = leadsOf(ws, 3);
    const contactIds = ids(inputs);
    const taken = contactIds[1] ?? '';
    // Another replica claims one lead while the batch is choosing owners, then stalls before deciding.
    const loadsOf = claimWhileDeciding(replica, inputs[1]);

    const results = await router.assignMany(inputs);

    loadsOf.mockRestore();
    expect(results.map((r) => [r?.state, r?.ownerId])).toEqual([
      ['assigned', 'rep-1'],
      ['routing', null],
      ['assigned', 'rep-1'],
    ]);
    // The hold the batch took for it stays: whoever finishes the routing finds and adopts it, not a second one.
    expect(await holdsOf(store, ws)).toEqual({
      'rep-1': [`${contactIds[0]}#1`, `${contactIds[2]}#1`].sort(),
      'rep-2': [`${taken}#1`],
    });
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 2, 'rep-2': 1 });
    expect((await publishedAbout(Topics.LeadsAssigned, ws, contactIds)).get(taken)).toEqual([]);

    // That replica died; once its lease ran out the sweep finishes the lead on the capacity already held.
    expect(await sweeper.sweep(new Date(Date.now() + 120_000))).toMatchObject({ assigned: 1 });
    expect(await router.assignmentOf(ws, taken)).toMatchObject({ state: 'assigned', ownerId: 'rep-2' });
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 2, 'rep-2': 1 });
    const announced = await publishedAbout(Topics.LeadsAssigned, ws, contactIds);
    expect(contactIds.map((contactId) => announced.get(contactId)?.map((e) => e.ownerId))).toEqual([
      ['rep-1'],
      ['rep-2'],
      ['rep-1'],
    ]);
  });

  it('a batch that stopped before announcing is announced by the sweep, its lost leads left out', async () => {
    const { router, sweeper, outbox, replica, store, ws } = await oneReplica('batch-announce');
    await setTeam(store, ws, ['rep-1', 'rep-2']);
    const inputs = leadsOf(ws, 4);
    const contactIds = ids(inputs);
    const taken = contactIds[1] ?? '';
    // Another replica claims one lead while the batch decides; then the batch stops after inserting its assignments,
    // before anything is published (as in a crash).
    const loadsOf = claimWhileDeciding(replica, inputs[1]);
    const announce = jest.spyOn(outbox, 'announce').mockRejectedValueOnce(new Error('stopped'));

    await expect(router.assignMany(inputs)).rejects.toThrow('stopped');

    loadsOf.mockRestore();
    announce.mockRestore();
    const stored = await Promise.all(contactIds.map((contactId) => router.assignmentOf(ws, contactId)));
    expect(stored.map((doc) => doc?.state)).toEqual(['assigned', 'routing', 'assigned', 'assigned']);
    const before = await publishedAbout(Topics.LeadsAssigned, ws, contactIds);
    expect(contactIds.map((contactId) => before.get(contactId) ?? [])).toEqual(contactIds.map(() => []));
    const left = await routingAnnouncementModel(store).find().lean();
    expect(left.flatMap((doc) => doc.leads.map((lead) => lead.contactId)).sort()).toEqual(
      [...contactIds].sort(),
    );

    // Within the lease the batch may still be publishing: nothing happens. After it, the three that landed are
    // announced from the batch's announcement, and the other replica's lead, its lease over too, is taken over and
    // announced by its own routing (on the hold the batch took for it), once.
    expect(await sweeper.sweep(new Date(Date.now() + 1_000))).toMatchObject({ republished: 0, assigned: 0 });
    expect(await sweeper.sweep(new Date(Date.now() + 31_000))).toMatchObject({ republished: 3, assigned: 1 });
    const final = await Promise.all(contactIds.map((contactId) => router.assignmentOf(ws, contactId)));
    expect(final.map((doc) => doc?.state)).toEqual(['assigned', 'assigned', 'assigned', 'assigned']);
    const announced = await publishedAbout(Topics.LeadsAssigned, ws, contactIds);
    expect(contactIds.map((contactId) => announced.get(contactId)?.map((e) => e.ownerId))).toEqual(
      final.map((doc) => [doc?.ownerId]),
    );
    // Rebuilt from the assignments, the sweep's events are those the batch would have published.
    const rebuilt = inputs.flatMap((input, i) =>
      input.contactId === taken ? [] : [{ input, doc: stored[i] }],
    );
    expect(rebuilt).toHaveLength(3);
    for (const { input, doc } of rebuilt) {
      expect(announced.get(input.contactId)).toEqual([
        {
          metadata: expect.objectContaining({
            eventId: derivedEventId(input.cause.eventId, 'scoring/lead-assigned/1'),
            causationId: input.cause.eventId,
            workspaceId: ws,
          }) as unknown,
          contactId: input.contactId,
          ownerId: doc?.ownerId,
          teamId: 'inbound',
          ruleId: 'fallback',
          reason: 'routed',
          previousOwnerId: null,
          assignedAt: doc?.assignedAt?.getTime(),
          acceptDueAt: doc?.acceptDueAt?.getTime(),
        },
      ]);
    }
    expect(final.filter((doc) => doc?.contactId !== taken)).toEqual(
      stored.filter((doc) => doc?.contactId !== taken),
    );
    expect(await routingAnnouncementModel(store).countDocuments()).toBe(0);
    expect(await sweeper.sweep(new Date(Date.now() + 62_000))).toMatchObject({ republished: 0 });
  });

  it("an announcement whose delete failed is deleted with the next batch's, and never announced again", async () => {
    const { router, sweeper, store, ws } = await oneReplica('batch-spent');
    await setTeam(store, ws, ['rep-1', 'rep-2']);
    const first = leadsOf(ws, 3);
    const second = leadsOf(ws, 3, 3);
    const deleteMany = jest
      .spyOn(routingAnnouncementModel(store), 'deleteMany')
      .mockRejectedValueOnce(new Error('store hiccup'));

    await router.assignMany(first);
    await waitFor('the failed delete', async () => deleteMany.mock.calls.length === 1, { intervalMs: 20 });
    expect(await announcementsOf(store, ids(first))).toBe(1);
    await router.assignMany(second);
    await waitFor(
      'both announcements deleted',
      async () => (await announcementsOf(store, [...ids(first), ...ids(second)])) === 0,
      { intervalMs: 20 },
    );
    deleteMany.mockRestore();

    expect(await sweeper.sweep(new Date(Date.now() + 31_000))).toMatchObject({ republished: 0 });
    const announced = await publishedAbout(Topics.LeadsAssigned, ws, [...ids(first), ...ids(second)]);
    expect([...announced.values()].map((events) => events.length)).toEqual([1, 1, 1, 1, 1, 1]);
  });
});

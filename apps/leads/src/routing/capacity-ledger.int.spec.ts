/**
 * Owners' capacity on the real stack: a lead queued while its team is full and assigned once a place frees up, and
 * the recount that corrects an open count a crash left off its holds. See testing/routing-harness.ts for how routers
 * are built.
 */
import { Topics } from '@tributary/contracts';
import { ownerLoadModel, routingHoldModel } from './routing.model';
import {
  cause,
  countsOf,
  holdsOf,
  leadsOf,
  openLeads,
  routingStack,
  setTeam,
} from './testing/routing-harness';

const { oneReplica, twoReplicas, published } = routingStack('rc');

describe('capacity ledger', () => {
  it('a lead waits queued while the team is at capacity and is assigned once a close frees a place', async () => {
    const { router, sweeper, store, ws } = await oneReplica('capacity');
    await setTeam(store, ws, ['rep-solo'], 1);
    const first = await router.assign({
      workspaceId: ws,
      contactId: `${ws}:one`,
      attributes: {},
      cause: cause(ws),
    });
    expect(first).toMatchObject({ state: 'assigned', ownerId: 'rep-solo' });
    const second = await router.assign({
      workspaceId: ws,
      contactId: `${ws}:two`,
      attributes: {},
      cause: cause(ws),
    });
    expect(second).toMatchObject({ state: 'queued', ownerId: null, teamId: 'inbound' });

    // Still full: the sweep leaves it queued.
    expect(await sweeper.sweep()).toMatchObject({ assigned: 0 });
    expect(await router.assignmentOf(ws, `${ws}:two`)).toMatchObject({ state: 'queued' });

    // The first lead is disqualified: its owner has room again (twice closed, freed once).
    await router.close(ws, `${ws}:one`);
    expect(await router.close(ws, `${ws}:one`)).toMatchObject({ state: 'closed', ownerId: 'rep-solo' });
    expect(await openLeads(store, ws)).toEqual({ 'rep-solo': 0 });
    expect(await sweeper.sweep()).toMatchObject({ assigned: 1 });
    expect(await router.assignmentOf(ws, `${ws}:two`)).toMatchObject({
      state: 'assigned',
      ownerId: 'rep-solo',
    });
    expect(await openLeads(store, ws)).toEqual({ 'rep-solo': 1 });
    const announced = await published(Topics.LeadsAssigned, ws, `${ws}:two`);
    expect(announced.map((e) => [e.ownerId, e.reason])).toEqual([['rep-solo', 'routed']]);
  });

  it("two replicas' first reservations on a new owner both count: losing the race to create the load is not being full", async () => {
    // A fresh owner each round: their load document does not exist until the first reservation creates it.
    for (let round = 0; round < 5; round += 1) {
      const { a, b, store, ws } = await twoReplicas(`new-load-${round}`);
      const member = { ownerId: 'rep-new', capacity: 100, timezone: 'UTC' };
      const holds = Array.from({ length: 6 }, (_, i) => `${ws}:lead-${i}#1`);

      const reserved = await Promise.all(
        holds.map((holdId, i) => (i % 2 === 0 ? a : b).ledger.reserve(ws, member, holdId)),
      );

      expect([round, reserved]).toEqual([round, holds.map(() => true)]);
      expect([round, await openLeads(store, ws)]).toEqual([round, { 'rep-new': 6 }]);
      expect([round, await holdsOf(store, ws)]).toEqual([round, { 'rep-new': [...holds].sort() }]);
    }
  });

  it('an open count a crash left off its holds is corrected once the next recount finds the same mismatch', async () => {
    const { router, ledger, store, ws } = await oneReplica('recount');
    await setTeam(store, ws, ['rep-1', 'rep-2']);
    await router.assignMany(leadsOf(ws, 4));
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 2, 'rep-2': 2 });
    expect(await ledger.recountLoads()).toBe(0);
    // A crash between a hold and its count (rep-1 one low) and one between a release's delete and its uncount
    // (rep-2 one high).
    const holds = routingHoldModel(store);
    const hold = (id: string) => ({ _id: id, workspaceId: ws, ownerId: 'rep-1', createdAt: new Date() });
    await holds.create(hold(`${ws}:crashed-a#1`));
    const [released] = (await holdsOf(store, ws))['rep-2'] ?? [];
    await holds.deleteOne({ _id: released });

    // Seen once: it could be a reserve or release in flight, so nothing is touched.
    expect(await ledger.recountLoads()).toBe(0);
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 2, 'rep-2': 2 });
    // rep-1 changes in between (another hold): only rep-2's mismatch is the same, and only it is corrected.
    await holds.create(hold(`${ws}:crashed-b#1`));
    expect(await ledger.recountLoads()).toBe(1);
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 2, 'rep-2': 1 });
    expect(await ledger.recountLoads()).toBe(1);
    expect(await openLeads(store, ws)).toEqual(countsOf(await holdsOf(store, ws)));
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 4, 'rep-2': 1 });
    expect(await ledger.recountLoads()).toBe(0);
  });

  it('the sweep recounts a few owners at a time, in turn, and corrects a mismatch the second time it meets it', async () => {
    const { router, ledger, store, ws } = await oneReplica('recount-turns');
    await setTeam(store, ws, ['rep-1', 'rep-2', 'rep-3', 'rep-4', 'rep-5', 'rep-6']);
    await router.assignMany(leadsOf(ws, 6));
    // A crash left rep-6 one hold without its count.
    await routingHoldModel(store).create({
      _id: `${ws}:crashed#1`,
      workspaceId: ws,
      ownerId: 'rep-6',
      createdAt: new Date(),
    });
    const counts = jest.spyOn(routingHoldModel(store), 'countDocuments');
    const owners = await ownerLoadModel(store).countDocuments();

    // Every owner of the store is met once in ceil(owners / 4) calls; the second meeting corrects.
    let corrected = 0;
    let calls = 0;
    const perCall: number[] = [];
    while (corrected === 0 && calls < 2 * Math.ceil(owners / 4) + 2) {
      const before = counts.mock.calls.length;
      corrected = await ledger.recountLoads(4);
      perCall.push(counts.mock.calls.length - before);
      calls += 1;
    }
    counts.mockRestore();

    expect(corrected).toBe(1);
    expect(Math.max(...perCall)).toBeLessThanOrEqual(4);
    expect(calls).toBeGreaterThan(Math.ceil(owners / 4));
    expect(await openLeads(store, ws)).toEqual(countsOf(await holdsOf(store, ws)));
  });
});

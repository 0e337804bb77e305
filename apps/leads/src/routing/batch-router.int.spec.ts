/**
 * Routing batches (`assignMany`) on the real stack give what one `assign` after another would (round-robin,
 * capacity, queueing), once: a redelivered batch, a mixed one, one of "new" contacts that were not. Other replicas and
 * crashes: batch-concurrency.int.spec.ts. See testing/routing-harness.ts for how routers are built.
 */
import { Topics } from '@tributary/contracts';
import { derivedEventId } from '@tributary/messaging';
import { waitFor } from '@tributary/testing';
import { assignmentModel } from './routing.model';
import type { Assignment } from './routing.types';
import {
  announcementsOf,
  cause,
  countsOf,
  holdsOf,
  ids,
  leadsOf,
  leadsPerOwner,
  openLeads,
  ownersOf,
  routingStack,
  setTeam,
} from './testing/routing-harness';

const { oneReplica, publishedAbout } = routingStack('rb');

describe('batch router (assignMany)', () => {
  it('routes a batch round-robin, one owner and one capacity hold per lead, each announced once', async () => {
    const { router, store, ws } = await oneReplica('batch');
    await setTeam(store, ws, ['rep-1', 'rep-2', 'rep-3', 'rep-4']);
    const inputs = leadsOf(ws, 40);
    const contactIds = ids(inputs);

    const results = await router.assignMany(inputs);

    // Turns 1..40 in input order, as 40 `assign` calls in a row: rep-1, rep-2, rep-3, rep-4, rep-1, ...
    const owners = ownersOf(results);
    expect(owners).toEqual(inputs.map((_, i) => `rep-${(i % 4) + 1}`));
    expect(results.map((r) => [r?.state, r?.assignmentNumber, r?.teamId, r?.ruleId, r?.reason])).toEqual(
      inputs.map(() => ['assigned', 1, 'inbound', 'fallback', 'routed']),
    );
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 10, 'rep-2': 10, 'rep-3': 10, 'rep-4': 10 });
    expect(await holdsOf(store, ws)).toEqual(leadsPerOwner(contactIds, owners));
    // Recorded as answered, outboxes published and cleared, leases given back.
    const docs = await assignmentModel(store).find({ workspaceId: ws }).lean();
    expect(docs).toHaveLength(40);
    for (const doc of docs) {
      const i = contactIds.indexOf(doc._id);
      expect([doc._id, doc.state, doc.ownerId, doc.ticket, doc.pending, doc.outbox, doc.leaseToken]).toEqual([
        contactIds[i],
        'assigned',
        owners[i],
        i + 1,
        false,
        [],
        null,
      ]);
    }
    const announced = await publishedAbout(Topics.LeadsAssigned, ws, contactIds);
    for (const [i, input] of inputs.entries())
      expect(announced.get(input.contactId)?.map((e) => [e.metadata.eventId, e.ownerId, e.reason])).toEqual([
        [derivedEventId(input.cause.eventId, 'scoring/lead-assigned/1'), owners[i], 'routed'],
      ]);
    // The batch's announcement is deleted once published, though the batch did not wait for that.
    await waitFor(
      'the published announcement deleted',
      async () => (await announcementsOf(store, contactIds)) === 0,
      {
        intervalMs: 20,
      },
    );
    // The next lead, one at a time, takes the turn after the batch's.
    const [late] = leadsOf(ws, 1, 40);
    if (!late) throw new Error('lead expected');
    expect((await router.assign(late))?.ownerId).toBe('rep-1');
  });

  it('a redelivered batch answers with the same owners and changes nothing', async () => {
    const { router, store, ws } = await oneReplica('batch-again');
    await setTeam(store, ws, ['rep-1', 'rep-2', 'rep-3']);
    const inputs = leadsOf(ws, 12);
    const contactIds = ids(inputs);
    const first = await router.assignMany(inputs);
    const loads = await openLeads(store, ws);
    const holds = await holdsOf(store, ws);

    const again = await router.assignMany(inputs);

    expect(ownersOf(again)).toEqual(ownersOf(first));
    expect(again.map((r) => r?.assignedAt)).toEqual(first.map((r) => r?.assignedAt));
    expect(loads).toEqual({ 'rep-1': 4, 'rep-2': 4, 'rep-3': 4 });
    expect(await openLeads(store, ws)).toEqual(loads);
    expect(await holdsOf(store, ws)).toEqual(holds);
    const announced = await publishedAbout(Topics.LeadsAssigned, ws, contactIds);
    for (const [i, input] of inputs.entries())
      expect(announced.get(input.contactId)?.map((e) => [e.metadata.eventId, e.ownerId])).toEqual([
        [derivedEventId(input.cause.eventId, 'scoring/lead-assigned/1'), first[i]?.ownerId],
      ]);
    // The redelivery took no turns: the next lead is turn 13.
    const [late] = leadsOf(ws, 1, 12);
    if (!late) throw new Error('lead expected');
    expect((await router.assign(late))?.ownerId).toBe('rep-1');
  });

  it('respects capacity within a batch exactly as the same leads assigned one by one', async () => {
    const batched = await oneReplica('batch-capacity');
    const single = await oneReplica('single-capacity');
    for (const { store, ws } of [batched, single]) await setTeam(store, ws, ['rep-1', 'rep-2', 'rep-3'], 2);

    const inBatch = await batched.router.assignMany(leadsOf(batched.ws, 10));
    const oneByOne: (Assignment | null)[] = [];
    for (const input of leadsOf(single.ws, 10)) oneByOne.push(await single.router.assign(input));

    const shape = (results: (Assignment | null)[]) =>
      results.map((r) => [
        r?.state,
        r?.ownerId,
        r?.teamId,
        r?.ruleId,
        r?.assignmentNumber,
        r?.queuedAt === null,
      ]);
    expect(shape(inBatch)).toEqual(shape(oneByOne));
    expect(inBatch.map((r) => r?.state)).toEqual([...Array(6).fill('assigned'), ...Array(4).fill('queued')]);
    expect(await openLeads(batched.store, batched.ws)).toEqual({ 'rep-1': 2, 'rep-2': 2, 'rep-3': 2 });
    expect(countsOf(await holdsOf(batched.store, batched.ws))).toEqual({
      'rep-1': 2,
      'rep-2': 2,
      'rep-3': 2,
    });
    const queued = await assignmentModel(batched.store)
      .find({ workspaceId: batched.ws, state: 'queued' })
      .lean();
    expect(queued.map((doc) => doc.ticket).sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual([7, 8, 9, 10]);
    expect(queued.map((doc) => [doc.pending, doc.leaseToken])).toEqual(queued.map(() => [false, null]));
  });

  it('an owner filled up under the batch gets only what fits; the rest goes on as one by one', async () => {
    const { router, ledger, store, ws } = await oneReplica('batch-filled');
    await setTeam(store, ws, ['rep-1', 'rep-2'], 2);
    const [before] = leadsOf(ws, 1, 100);
    if (!before) throw new Error('lead expected');
    expect((await router.assign(before))?.ownerId).toBe('rep-1');
    // The batch read the loads before that lead was counted (as when another replica routes it meanwhile).
    const loadsOf = jest.spyOn(ledger, 'loadsOf').mockResolvedValueOnce(new Map());
    const inputs = leadsOf(ws, 4);

    const results = await router.assignMany(inputs);

    expect(loadsOf).toHaveBeenCalled();
    loadsOf.mockRestore();
    // As four `assign` calls in a row (turns 2..5) would give: rep-2, rep-1, rep-2, then nobody has room.
    expect(results.map((r) => [r?.state, r?.ownerId])).toEqual([
      ['assigned', 'rep-2'],
      ['assigned', 'rep-1'],
      ['assigned', 'rep-2'],
      ['queued', null],
    ]);
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 2, 'rep-2': 2 });
    expect(await holdsOf(store, ws)).toEqual({
      'rep-1': [`${before.contactId}#1`, `${inputs[1]?.contactId}#1`].sort(),
      'rep-2': [`${inputs[0]?.contactId}#1`, `${inputs[2]?.contactId}#1`].sort(),
    });
    const announced = await publishedAbout(Topics.LeadsAssigned, ws, ids(inputs));
    expect(inputs.map((input) => announced.get(input.contactId)?.map((e) => e.ownerId))).toEqual([
      ['rep-2'],
      ['rep-1'],
      ['rep-2'],
      [],
    ]);
  });

  it('a batch mixing leads assigned before with new ones keeps the old owners and routes the new', async () => {
    const { router, store, ws } = await oneReplica('batch-mixed');
    await setTeam(store, ws, ['rep-1', 'rep-2']);
    const inputs = leadsOf(ws, 8);
    const before: (Assignment | null)[] = [];
    for (const input of inputs.slice(0, 3)) before.push(await router.assign(input));
    expect(ownersOf(before)).toEqual(['rep-1', 'rep-2', 'rep-1']);

    // The old leads come back with new causes, interleaved with new leads; one new lead twice.
    const again = inputs.slice(0, 3).map((input) => ({ ...input, cause: cause(ws) }));
    const lead = (i: number) => {
      const input = inputs[i];
      if (!input) throw new Error('lead expected');
      return input;
    };
    const [old0, old1, old2] = again;
    if (!old0 || !old1 || !old2) throw new Error('leads expected');
    const batch = [lead(3), old0, lead(4), old1, lead(5), old2, lead(6), lead(7), lead(5)];

    const results = await router.assignMany(batch);

    // New leads take turns 4..8 in input order; the old ones and the repeat answer with what they have.
    expect(ownersOf(results)).toEqual([
      'rep-2',
      'rep-1',
      'rep-1',
      'rep-2',
      'rep-2',
      'rep-1',
      'rep-1',
      'rep-2',
      'rep-2',
    ]);
    expect(results.map((r) => [r?.state, r?.assignmentNumber])).toEqual(batch.map(() => ['assigned', 1]));
    expect(results[1]?.assignedAt).toEqual(before[0]?.assignedAt);
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 4, 'rep-2': 4 });
    const announced = await publishedAbout(Topics.LeadsAssigned, ws, ids(inputs));
    // One announcement per lead, under the cause of its first assignment.
    for (const input of inputs)
      expect(announced.get(input.contactId)?.map((e) => e.metadata.eventId)).toEqual([
        derivedEventId(input.cause.eventId, 'scoring/lead-assigned/1'),
      ]);
  });

  it('a batch said to be of new contacts, one of which had an assignment after all, keeps that one as it was', async () => {
    const { router, store, ws } = await oneReplica('batch-new');
    await setTeam(store, ws, ['rep-1', 'rep-2']);
    const inputs = leadsOf(ws, 4);
    const [old] = inputs;
    if (!old) throw new Error('lead expected');
    const before = await router.assign(old);
    expect(before?.ownerId).toBe('rep-1');

    const results = await router.assignMany([{ ...old, cause: cause(ws) }, ...inputs.slice(1)], {
      newContacts: true,
    });

    // Its assignment is unchanged; the capacity the batch reserved for it went back.
    expect([results[0]?.ownerId, results[0]?.assignedAt]).toEqual(['rep-1', before?.assignedAt]);
    expect(results.map((r) => [r?.state, r?.assignmentNumber])).toEqual(inputs.map(() => ['assigned', 1]));
    const holds = await holdsOf(store, ws);
    expect(holds).toEqual(leadsPerOwner(ids(inputs), ownersOf(results)));
    expect(await openLeads(store, ws)).toEqual(countsOf(holds));
    const announced = await publishedAbout(Topics.LeadsAssigned, ws, ids(inputs));
    for (const input of inputs)
      expect(announced.get(input.contactId)?.map((e) => e.metadata.eventId)).toEqual([
        derivedEventId(input.cause.eventId, 'scoring/lead-assigned/1'),
      ]);
  });

  it('a batch in a workspace without rules leaves its leads unrouted until rules exist', async () => {
    const { router, store, ws } = await oneReplica('batch-unrouted');
    const inputs = leadsOf(ws, 5);

    expect(await router.assignMany(inputs)).toEqual([null, null, null, null, null]);

    const docs = await assignmentModel(store).find({ workspaceId: ws }).lean();
    expect(docs.map((doc) => [doc.state, doc.leaseToken, doc.ownerId, doc.outbox])).toEqual(
      inputs.map(() => ['unrouted', null, null, []]),
    );
    expect(await openLeads(store, ws)).toEqual({});
    await setTeam(store, ws, ['rep-1', 'rep-2']);
    const routed = await router.assignMany(inputs.map((input) => ({ ...input, cause: cause(ws) })));
    expect(routed.map((r) => [r?.state, r?.ownerId])).toEqual([
      ['assigned', 'rep-1'],
      ['assigned', 'rep-2'],
      ['assigned', 'rep-1'],
      ['assigned', 'rep-2'],
      ['assigned', 'rep-1'],
    ]);
    expect(await openLeads(store, ws)).toEqual({ 'rep-1': 3, 'rep-2': 2 });
  });
});

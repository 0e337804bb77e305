/**
 * The SLA sweep's mechanics on the real stack: its index of due work, the reconciling scan, a backlog of queued
 * leads, an outbox another replica is publishing, and its schedule through a store outage. See
 * testing/routing-harness.ts for how routers are built.
 */
import { Writable } from 'node:stream';
import { Topics, type LeadSlaBreached } from '@tributary/contracts';
import { createLogger } from '@tributary/observability';
import { connectServiceStore } from '@tributary/store';
import { waitFor } from '@tributary/testing';
import {
  assignmentModel,
  ownerLoadModel,
  routingDueModel,
  routingHoldModel,
  type AssignmentDoc,
} from './routing.model';
import { SWEEP_BATCH } from './routing.types';
import {
  cause,
  dueOf,
  routingStack,
  setRules,
  setTeam,
  storeAssignments,
  storedAssignment,
} from './testing/routing-harness';

const { run, endpoints, replicaOn, oneReplica, published } = routingStack('sla');

describe('SLA sweeper', () => {
  it('the sweep finds due leads through its index, whose entries follow each lead and go once spent', async () => {
    const { router, sweeper, store, ws } = await oneReplica('due-index');
    await setTeam(store, ws, ['rep-1'], 1, 1);
    const firstId = `${ws}:first`;
    const secondId = `${ws}:second`;
    const first = await router.assign({
      workspaceId: ws,
      contactId: firstId,
      attributes: {},
      cause: cause(ws),
    });
    const second = await router.assign({
      workspaceId: ws,
      contactId: secondId,
      attributes: {},
      cause: cause(ws),
    });
    if (first?.state !== 'assigned' || !first.acceptDueAt || second?.state !== 'queued' || !second.queuedAt)
      throw new Error(`unexpected: ${JSON.stringify([first, second])}`);
    const entries = await dueOf(store, ws);
    // The queue entry of the second lead; each claim's lease (should its router stop before deciding), then the
    // first lead's SLA, in time order.
    expect(entries.map(([kind, contactId]) => [kind, contactId])).toEqual([
      ['q', secondId],
      ['t', firstId],
      ['t', secondId],
      ['t', firstId],
    ]);
    expect(entries).toContainEqual(['t', firstId, first.acceptDueAt.getTime()]);
    expect(entries).toContainEqual(['q', secondId, second.queuedAt.getTime()]);

    // The first lead is closed: its owner takes the waiting one once the sweep comes to the queue.
    await router.close(ws, firstId);
    const afterLeases = new Date(Date.now() + 31_000);
    expect(await sweeper.sweep(afterLeases)).toMatchObject({ assigned: 1, breached: 0 });
    const routed = await router.assignmentOf(ws, secondId);
    if (!routed?.acceptDueAt) throw new Error('second lead not assigned');
    expect(routed.acceptDueAt.getTime()).toBe(afterLeases.getTime() + 60_000);
    // Spent: both leases and the queue entry. Left: the closed lead's SLA (dropped when it comes up) and the new one.
    expect(await dueOf(store, ws)).toEqual([
      ['t', firstId, first.acceptDueAt.getTime()],
      ['t', secondId, routed.acceptDueAt.getTime()],
    ]);
    expect(await sweeper.sweep(new Date(first.acceptDueAt.getTime() + 1_000))).toMatchObject({ breached: 0 });
    expect(await dueOf(store, ws)).toEqual([['t', secondId, routed.acceptDueAt.getTime()]]);
  });

  it('a due lead missing from the index is left to the reconciling scan, which adds it', async () => {
    const { router, sweeper, store, ws } = await oneReplica('due-reconcile');
    await setTeam(store, ws, ['rep-1', 'rep-2'], undefined, 1);
    const start = Date.now();
    // A replica's first sweep scans (nothing is due yet); the next scan is ROUTING_RECONCILE_INTERVAL_MS later.
    expect(await sweeper.sweep(new Date(start))).toMatchObject({ rearmed: 0 });
    const leadId = `${ws}:lead`;
    const lead = await router.assign({
      workspaceId: ws,
      contactId: leadId,
      attributes: {},
      cause: cause(ws),
    });
    if (!lead?.acceptDueAt) throw new Error('not assigned');
    // What a write leaves whose index entries the store did not take (it answered the assignment's insert only).
    await routingDueModel(store).deleteMany({ contactId: leadId });

    expect(await sweeper.sweep(new Date(lead.acceptDueAt.getTime() + 1_000))).toMatchObject({
      breached: 0,
      rearmed: 0,
    });
    expect(await router.assignmentOf(ws, leadId)).toMatchObject({ state: 'assigned', ownerId: 'rep-1' });
    expect(await sweeper.sweep(new Date(start + 600_000))).toMatchObject({ rearmed: 1, breached: 1 });
    expect(await router.assignmentOf(ws, leadId)).toMatchObject({
      state: 'assigned',
      ownerId: 'rep-2',
      reason: 'sla-reassigned',
    });
  });

  it('a backlog of queued leads hides neither a missed SLA nor the waiting lead of another team', async () => {
    const { router, sweeper, replica, store, ws } = await oneReplica('backlog');
    await setRules(store, ws, {
      acceptWithinMinutes: 1,
      teams: [
        {
          id: 'inbound',
          members: [
            { ownerId: 'rep-solo', capacity: 1, timezone: 'UTC' },
            { ownerId: 'rep-full', capacity: 1, timezone: 'UTC' },
          ],
        },
        { id: 'partners', members: [{ ownerId: 'rep-partner', capacity: 5, timezone: 'UTC' }] },
      ],
      rules: [],
      fallbackTeamId: 'inbound',
    });
    // The other inbound rep is busy with a lead of their own throughout.
    await ownerLoadModel(store).create({
      _id: `${ws}:rep-full`,
      workspaceId: ws,
      ownerId: 'rep-full',
      open: 1,
    });
    await routingHoldModel(store).create({
      _id: `${ws}:elsewhere#1`,
      workspaceId: ws,
      ownerId: 'rep-full',
      createdAt: new Date(),
    });
    // A full sweep batch of leads waiting for the inbound team, then one for the partner team (which has room).
    const longAgo = Date.now() - 3_600_000;
    const waiting = Array.from({ length: SWEEP_BATCH }, (_, i) =>
      storedAssignment(ws, `${ws}:waiting-${i}`, {
        state: 'queued',
        teamId: 'inbound',
        queuedAt: new Date(longAgo + i),
      }),
    );
    const partnerLead = `${ws}:partner-lead`;
    await storeAssignments(replica, [
      ...waiting,
      storedAssignment(ws, partnerLead, { state: 'queued', teamId: 'partners', queuedAt: new Date() }),
    ]);
    // The inbound rep takes one more lead and lets its SLA run out.
    const missed = await router.assign({
      workspaceId: ws,
      contactId: `${ws}:missed`,
      attributes: {},
      cause: cause(ws),
    });
    if (!missed?.acceptDueAt) throw new Error(`not assigned: ${JSON.stringify(missed)}`);

    const report = await sweeper.sweep(new Date(missed.acceptDueAt.getTime() + 1_000));
    // The breach frees the inbound rep, who takes the oldest waiting lead; the partner rep takes theirs.
    expect(report).toMatchObject({ breached: 1, assigned: 2 });
    expect(await router.assignmentOf(ws, `${ws}:waiting-0`)).toMatchObject({ ownerId: 'rep-solo' });
    expect(await router.assignmentOf(ws, `${ws}:waiting-1`)).toMatchObject({ state: 'queued' });
    expect(await router.assignmentOf(ws, partnerLead)).toMatchObject({
      state: 'assigned',
      ownerId: 'rep-partner',
    });
    // Nobody else in the inbound team has room: the missed lead waits, announced as breached without a new owner.
    expect(await router.assignmentOf(ws, `${ws}:missed`)).toMatchObject({
      state: 'queued',
      assignmentNumber: 2,
      previousOwnerId: 'rep-solo',
    });
    const breaches = await published(Topics.LeadsSlaBreached, ws, `${ws}:missed`);
    expect(breaches.map((e) => [e.ownerId, e.reassignedTo])).toEqual([['rep-solo', null]]);
  });

  it('a queued lead whose announcement another replica is still publishing is left to that replica', async () => {
    const { sweeper, replica, store, ws } = await oneReplica('publishing');
    await setTeam(store, ws, ['rep-1']);
    const contactId = `${ws}:fay`;
    const at = Date.now();
    const breach: LeadSlaBreached = {
      metadata: cause(ws),
      contactId,
      ownerId: 'rep-gone',
      teamId: 'inbound',
      assignedAt: at - 120_000,
      acceptDueAt: at - 60_000,
      breachedAt: at,
      reassignedTo: null,
    };
    // What a replica leaves between writing "queued" with its breach announcement and clearing the outbox: the
    // clear empties the whole outbox, so nobody may add to it meanwhile.
    await storeAssignments(replica, [
      storedAssignment(ws, contactId, {
        state: 'queued',
        n: 2,
        reason: 'sla-reassigned',
        previousOwnerId: 'rep-gone',
        teamId: 'inbound',
        queuedAt: new Date(at),
        leaseToken: 'publishing-replica',
        leaseUntil: new Date(at + 60_000),
        outbox: [{ topic: Topics.LeadsSlaBreached, event: breach }],
        pending: true,
      }),
    ]);

    expect(await sweeper.sweep(new Date(at + 1_000))).toMatchObject({ assigned: 0, republished: 0 });
    const untouched = await assignmentModel(store).findById(contactId).lean<AssignmentDoc>();
    expect(untouched).toMatchObject({ state: 'queued', pending: true, leaseToken: 'publishing-replica' });
    expect(untouched?.outbox).toHaveLength(1);
  });

  it('keeps sweeping on its interval through a store outage, logging it, and stops on shutdown', async () => {
    const lines: string[] = [];
    const logger = createLogger(
      'rt',
      'warn',
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const connection = await connectServiceStore(endpoints.mongoUrl, `test_${run}_outage_leads`);
    await connection.close();
    // Built on the closed store, sweeping every 20 ms from the application's bootstrap on.
    const replica = await replicaOn(connection, { sweep: true, sweepIntervalMs: 20 }, logger);
    const failures = () => lines.filter((line) => line.includes('"routing-sweep-failed"'));
    await waitFor('two failed sweeps logged', async () => failures().length >= 2, { intervalMs: 20 });
    expect(JSON.parse(failures()[0] ?? '{}')).toMatchObject({ level: 'warn', storeDown: true });
    // Closing the application waits for the sweep in flight (if any), and no further tick is scheduled.
    await replica.close();
    const logged = failures().length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(failures()).toHaveLength(logged);
  });
});

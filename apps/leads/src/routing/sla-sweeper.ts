import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { isStoreUnavailable } from '@tributary/store';
import { AnnouncementOutbox } from './announcement-outbox';
import { AssignmentStore, type TeamRef } from './assignment.store';
import { CapacityLedger } from './capacity-ledger';
import { LeadAssigner } from './lead-assigner';
import { breachOf, missedOwnerOf } from './routing-decisions';
import { RoutingRulesStore, type RoutingRulesVersion } from './routing-rules.store';
import { routingConfigShape } from './routing.config';
import { dueEntriesOf, wakeAtOf, type AssignmentDoc, type RoutingDueDoc } from './routing.model';
import {
  ROUTING_OPTIONS,
  SWEEP_BATCH,
  leaseMsOf,
  type RoutingOptions,
  type SweepReport,
} from './routing.types';

// Routers built without the service config (tools) reconcile on the config's default.
const DEFAULT_RECONCILE_INTERVAL_MS = routingConfigShape.ROUTING_RECONCILE_INTERVAL_MS.parse(undefined);
// Pages of queued leads per sweep, each without the teams the earlier ones found full.
const MAX_QUEUED_PAGES = 5;
// Pages of due wake-ups per sweep: most are of leads that moved on (accepted, routed), dropped a page at a time.
const MAX_WAKE_PAGES = 10;
// Owners recounted per sweep: the store answers each recount by reading every hold, so one at a time.
const RECOUNT_PER_SWEEP = 1;

type RulesFor = (workspaceId: string) => Promise<RoutingRulesVersion | null>;

/**
 * Enforces the accept SLA and finishes what others left, on every replica at once (each step is conditional on the
 * state it found): missed SLAs are breached once and reassigned, interrupted routings and unpublished events are
 * finished, queued leads retried oldest first, owners' counts recounted. It reads only what its index
 * (`routing_due`) says is due; once in a while a scan of the assignments adds what a half-failed write left out.
 */
@Injectable()
export class SlaSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  /** When this replica's sweep last scanned the assignments for due leads missing from the index (0: never). */
  private reconciledAt = 0;
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: AssignmentStore,
    private readonly ledger: CapacityLedger,
    private readonly outbox: AnnouncementOutbox,
    private readonly assigner: LeadAssigner,
    private readonly rules: RoutingRulesStore,
    @Inject(ROUTING_OPTIONS) private readonly options: RoutingOptions,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {
    this.leaseMs = leaseMsOf(options);
  }

  onApplicationBootstrap(): void {
    if (this.options.sweep === false) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stops sweeping and waits for a sweep in flight, before the store and the producer close. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.outbox.settled();
  }

  /** One pass (see the class); `now` is passed in by tests rather than waited for. */
  async sweep(now = new Date()): Promise<SweepReport> {
    const report: SweepReport = { breached: 0, assigned: 0, republished: 0, recounted: 0, rearmed: 0 };
    report.republished += await this.outbox.republishLeft(now, () => this.stopped);
    report.recounted = await this.ledger.recountLoads(RECOUNT_PER_SWEEP);
    const reconcileEvery = this.options.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS;
    if (this.reconciledAt === 0 || now.getTime() - this.reconciledAt >= reconcileEvery) {
      report.rearmed = await this.reconcile(now);
      this.reconciledAt = now.getTime();
    }
    const rulesOf = new Map<string, Promise<RoutingRulesVersion | null>>();
    const rulesFor: RulesFor = (workspaceId) => {
      const cached = rulesOf.get(workspaceId) ?? this.rules.current(workspaceId);
      rulesOf.set(workspaceId, cached);
      return cached;
    };
    // Wake-ups first, in pages of their own: a backlog of queued leads must never crowd out a missed SLA.
    await this.sweepWakes(now, report, rulesFor);
    await this.sweepQueue(now, report, rulesFor);
    return report;
  }

  /** Missed SLAs, interrupted routings and unpublished outboxes, oldest first. */
  private async sweepWakes(now: Date, report: SweepReport, rulesFor: RulesFor): Promise<void> {
    for (let page = 0; page < MAX_WAKE_PAGES && !this.stopped; page += 1) {
      const wakes = await this.store.wakesUpTo(now, SWEEP_BATCH);
      const docs = await this.store.assignmentsByIds(wakes.map((entry) => entry.contactId));
      const urgent = [...docs.values()]
        .filter((doc) => (wakeAtOf(doc)?.getTime() ?? Number.POSITIVE_INFINITY) <= now.getTime())
        .sort((a, b) => (wakeAtOf(a)?.getTime() ?? 0) - (wakeAtOf(b)?.getTime() ?? 0));
      for (const doc of urgent) {
        if (this.stopped) break;
        await this.sweepStep(doc, async () => {
          if (doc.pending) {
            await this.outbox.flush(doc);
            report.republished += 1;
          } else if (doc.state === 'assigned') {
            if (await this.breach(doc, await rulesFor(doc.workspaceId), now)) report.breached += 1;
          } else if (doc.state === 'routing') {
            const taken = await this.assigner.takeLease(
              doc,
              { state: 'routing', leaseToken: doc.leaseToken },
              now,
            );
            const routed =
              taken && (await this.assigner.route(taken, await rulesFor(doc.workspaceId), now, true));
            if (routed && routed.state === 'assigned') report.assigned += 1;
          }
        });
      }
      const dropped = await this.settle(wakes, now);
      if (wakes.length < SWEEP_BATCH || dropped === 0) break;
    }
  }

  /**
   * Queued leads, oldest first. A team found full stays full for this pass: its other leads are skipped without a
   * write and the next page leaves them out, so one full team's backlog cannot hide another team's waiting leads.
   */
  private async sweepQueue(now: Date, report: SweepReport, rulesFor: RulesFor): Promise<void> {
    const full: TeamRef[] = [];
    const isFull = (entry: RoutingDueDoc) =>
      full.some((team) => team.workspaceId === entry.workspaceId && team.teamId === entry.teamId);
    for (let page = 0; page < MAX_QUEUED_PAGES && !this.stopped; page += 1) {
      const fullBefore = full.length;
      const queue = await this.store.queued(full, SWEEP_BATCH);
      const docs = await this.store.assignmentsByIds(queue.map((entry) => entry.contactId));
      for (const entry of queue) {
        const doc = docs.get(entry.contactId);
        if (this.stopped) break;
        // Not while its outbox is pending: the replica publishing it clears the whole outbox afterwards.
        if (!doc || doc.state !== 'queued' || doc.pending || isFull(entry)) continue;
        await this.sweepStep(doc, async () => {
          const taken = await this.assigner.takeLease(doc, { state: 'queued', pending: false }, now);
          const routed = taken && (await this.assigner.route(taken, await rulesFor(doc.workspaceId), now));
          if (routed && routed.state === 'assigned') report.assigned += 1;
          else if (routed && routed.state === 'queued' && !missedOwnerOf(routed))
            full.push({ workspaceId: doc.workspaceId, teamId: doc.teamId });
        });
      }
      await this.settle(queue, now);
      if (queue.length < SWEEP_BATCH || full.length === fullBefore) break;
    }
  }

  /**
   * A missed SLA: claimed by inserting `<contactId>#breach-<n>` (two sweeping replicas breach it once), written as
   * assignment n + 1 under the claimant's lease, and routed again (see `LeadAssigner.route` for who gets it). A
   * claimant that stopped between its claim and its write is taken over once the lease in its claim ran out, with
   * the same breach (same event id).
   */
  private async breach(
    doc: AssignmentDoc,
    rules: RoutingRulesVersion | null,
    now: Date,
  ): Promise<AssignmentDoc | null> {
    const decided = breachOf(doc, now, this.leaseMs);
    if (!decided) return null;
    const claimId = `${doc._id}#breach-${doc.n}`;
    const won = await this.store.insertClaim({
      _id: claimId,
      workspaceId: doc.workspaceId,
      contactId: doc._id,
      kind: 'breach',
      causeId: decided.breach.metadata.eventId,
      set: decided.set,
      createdAt: now,
    });
    const claimed = won ? decided.set : await this.store.claimedSet(claimId);
    // Someone else's breach, still within their lease: theirs to finish.
    if (!claimed || (!won && (!claimed.leaseUntil || claimed.leaseUntil > now))) return null;
    const written = await this.store.writeBreach(doc, claimed, now);
    if (!written) return null;
    if (won) {
      await this.assigner.route(written, rules, now);
      return written;
    }
    // Their lease ran out before they wrote it: take it over like any interrupted routing.
    const taken = await this.assigner.takeLease(
      written,
      { state: 'routing', leaseToken: written.leaseToken },
      now,
    );
    if (!taken) return null;
    await this.assigner.route(taken, rules, now, true);
    return taken;
  }

  /**
   * After the sweep came to these entries: each lead's entries as it stands now are added (a lead still due comes up
   * again at the next sweep), then the entries it no longer needs are deleted. Returns how many were deleted.
   */
  private async settle(entries: readonly RoutingDueDoc[], now: Date): Promise<number> {
    if (entries.length === 0) return 0;
    const current = await this.store.assignmentsByIds(entries.map((entry) => entry.contactId));
    const next = new Date(now.getTime() + 1);
    const needed = [...current.values()].flatMap((doc) => dueEntriesOf(doc, next));
    const neededIds = new Set(needed.map((entry) => entry._id));
    const seen = new Set(entries.map((entry) => entry._id));
    await this.store.armMissing(needed.filter((entry) => !seen.has(entry._id)));
    const spent = entries.filter((entry) => !neededIds.has(entry._id)).map((entry) => entry._id);
    if (spent.length > 0) await this.store.disarm(spent);
    return spent.length;
  }

  /**
   * Scans the assignments for leads due now and adds the index entries they lack; returns how many were missing. A
   * write that made a lead due and failed to add its entry is caught here, at most `reconcileIntervalMs` late.
   */
  private async reconcile(now: Date): Promise<number> {
    const found = await this.store.dueByScan(now, SWEEP_BATCH);
    const missing = await this.store.armMissing(found.flatMap((doc) => dueEntriesOf(doc)));
    if (missing.length > 0)
      this.logger.warn(
        {
          event: 'routing-due-rearmed',
          count: missing.length,
          contactIds: missing.map((e) => e.contactId).slice(0, 20),
        },
        "due leads were missing from the sweep's index; added",
      );
    return missing.length;
  }

  /** One lead's step of a sweep: its failure (e.g. Kafka refused the outbox) must not stop the others. */
  private async sweepStep(doc: AssignmentDoc, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      if (isStoreUnavailable(error)) throw error;
      // Its lease expires and a later sweep takes it up again.
      this.logger.warn(
        { event: 'routing-sweep-lead-failed', contactId: doc._id, err: error },
        'routing sweep step failed',
      );
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    // A timeout chain rather than an interval: sweeps never overlap, however slow the store is.
    this.timer = setTimeout(() => {
      this.running = this.sweep()
        .then((report) => {
          if (report.breached + report.assigned + report.republished + report.recounted > 0)
            this.logger.info({ event: 'routing-sweep', ...report }, 'routing sweep');
        })
        .catch((error: unknown) =>
          // A store outage is retried next tick; it never takes the process down.
          this.logger.warn(
            { event: 'routing-sweep-failed', storeDown: isStoreUnavailable(error), err: error },
            'routing sweep failed',
          ),
        )
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.options.sweepIntervalMs);
    this.timer.unref();
  }
}

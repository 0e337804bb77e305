import { Inject, Injectable } from '@nestjs/common';
import { AnnouncementOutbox } from './announcement-outbox';
import { AssignmentStore } from './assignment.store';
import { CapacityLedger, type OwnerPicks } from './capacity-ledger';
import { LeadAssigner } from './lead-assigner';
import { announcementOf, insertedAsDecided, planTurns } from './batch-decisions';
import {
  decisionOf,
  firstAssignment,
  holdIdOf,
  loadIdOf,
  routeOf,
  unroutedDecision,
  type Decision,
  type Reservation,
  type RoutingChoice,
} from './routing-decisions';
import type { RoutingMember, RoutingTeam } from './routing-rules';
import { RoutingRulesStore, type RoutingRulesVersion } from './routing-rules.store';
import { dueEntriesOf, type AssignmentDoc } from './routing.model';
import { ROUTING_OPTIONS, leaseMsOf, type RoutingOptions, type RoutingRequest } from './routing.types';

/** A batch's leads of one team, before their turns are taken. */
interface TeamBatch {
  workspaceId: string;
  team: RoutingTeam;
  rules: RoutingRulesVersion;
  leads: { claim: AssignmentDoc; ruleId: string }[];
}

/** A claimed lead of a batch, its team and turn, and the member chosen for it (none: nobody can take it now). */
interface BatchPick {
  claim: AssignmentDoc;
  choice: RoutingChoice;
  member: RoutingMember | undefined;
}

/** A batch lead's decision, inserted with its assignment, and the capacity to give back if someone inserted it first. */
interface BatchDecision {
  claim: AssignmentDoc;
  decision: Decision;
  reservation?: Reservation;
}

type RulesByWorkspace = ReadonlyMap<string, RoutingRulesVersion | null>;

/**
 * Routes the new leads of a batch together, with the results `assign` would give each in turn, in a few store
 * commands whatever the batch's size: per team one cursor move and one read of its members' loads, one insert of all
 * holds and one guarded count of all owners, one announcement, one insert of all assignments already decided, one
 * produce. The insert is the claim, made after the decision: a lead someone inserted meanwhile is theirs.
 */
@Injectable()
export class BatchRouter {
  private readonly leaseMs: number;

  constructor(
    private readonly store: AssignmentStore,
    private readonly ledger: CapacityLedger,
    private readonly outbox: AnnouncementOutbox,
    private readonly assigner: LeadAssigner,
    private readonly rules: RoutingRulesStore,
    @Inject(ROUTING_OPTIONS) options: RoutingOptions,
  ) {
    this.leaseMs = leaseMsOf(options);
  }

  /**
   * Routes the leads of `inputs` that have no assignment yet (`newContacts`: the caller just created them all, so
   * none is read first); returns those it routed, by contact id, and the rules it read per workspace. A lead left out
   * had an assignment, repeats one before it, or was inserted by someone else first: the caller resumes it.
   */
  async routeNew(
    inputs: readonly RoutingRequest[],
    { newContacts }: { newContacts: boolean },
  ): Promise<{ routed: Map<string, AssignmentDoc | null>; rulesOf: RulesByWorkspace }> {
    const now = new Date();
    const workspaces = [...new Set(inputs.map((input) => input.workspaceId))];
    const [known, rules] = await Promise.all([
      // Should a new contact have an assignment after all, its insert below says so.
      newContacts ? new Set<string>() : this.store.assignedIds(inputs.map((input) => input.contactId)),
      Promise.all(workspaces.map(async (ws) => [ws, await this.rules.current(ws)] as const)),
    ]);
    const rulesOf = new Map(rules);
    const fresh = new Map<string, AssignmentDoc>();
    for (const input of inputs)
      if (!known.has(input.contactId) && !fresh.has(input.contactId))
        fresh.set(input.contactId, firstAssignment(input, now, this.leaseMs));
    return { routed: await this.routeFresh([...fresh.values()], rulesOf, now), rulesOf };
  }

  /** Leads without an assignment, decided together and inserted decided; a lead missing from the result was lost. */
  private async routeFresh(
    claims: readonly AssignmentDoc[],
    rulesOf: RulesByWorkspace,
    now: Date,
  ): Promise<Map<string, AssignmentDoc | null>> {
    const { unrouted, teams } = this.groupByTeam(claims, rulesOf, now);
    const picks = await this.takeTurns(teams, now);
    // Decided as if every owner had room, so that the announcement is written while the capacity is reserved.
    const planned = picks.map((pick) => ({
      pick,
      decision: decisionOf(pick.claim, pick.choice, pick.member?.ownerId ?? null, now, this.leaseMs),
    }));
    const { announcement, events } = announcementOf(
      planned.map(({ pick, decision }) => ({ contactId: pick.claim._id, decision })),
      now,
    );
    const [refused] = await Promise.all([
      this.reserve(picks, now),
      this.outbox.record(announcement),
      // Each decision's SLA (or queue entry), in the sweep's index before the assignment lands.
      this.store.arm(
        planned.flatMap(({ pick, decision }) =>
          dueEntriesOf({ ...pick.claim, ...decision.set, pending: false }),
        ),
      ),
    ]);
    const decided: BatchDecision[] = [
      ...unrouted,
      ...planned
        .filter(({ pick }) => !refused.has(pick))
        .map(({ pick, decision }) => decidedOf(pick, decision)),
    ];
    // Their owner's load changed under the batch: inserted as plain claims under their lease, routed one by one.
    const oneByOne = picks.filter((pick) => refused.has(pick));
    await this.store.arm(oneByOne.flatMap(({ claim }) => dueEntriesOf(claim)));
    const docs = [
      ...decided.map(({ claim, decision }) => insertedAsDecided(claim, decision)),
      ...oneByOne.map(({ claim, choice }) => ({ ...claim, ticket: choice.ticket })),
    ];
    const taken = await this.store.insertAssignments(docs);
    await this.giveBackLost(decided.filter((_, index) => taken.has(index)));
    const landed = new Set(decided.filter((_, index) => !taken.has(index)).map(({ claim }) => claim._id));
    await this.outbox.announce(
      announcement,
      events.filter(({ contactId }) => landed.has(contactId)),
    );
    const routed = new Map<string, AssignmentDoc | null>();
    for (const [index, { claim }] of decided.entries()) {
      const doc = docs[index];
      if (!taken.has(index) && doc) routed.set(claim._id, doc);
    }
    // Their claim and lease are held now, and their turn taken: `route` keeps that turn and reserves member by member.
    for (const [i, { claim, choice }] of oneByOne.entries())
      if (!taken.has(decided.length + i))
        routed.set(
          claim._id,
          await this.assigner.route({ ...claim, ticket: choice.ticket }, choice.rules, now),
        );
    return routed;
  }

  /** The batch's leads by team; those of workspaces without rules are decided unrouted at once. */
  private groupByTeam(
    claims: readonly AssignmentDoc[],
    rulesOf: RulesByWorkspace,
    now: Date,
  ): { unrouted: BatchDecision[]; teams: TeamBatch[] } {
    const unrouted: BatchDecision[] = [];
    const teams = new Map<string, TeamBatch>();
    for (const claim of claims) {
      const rules = rulesOf.get(claim.workspaceId) ?? null;
      if (!rules) {
        unrouted.push({ claim, decision: unroutedDecision(now) });
        continue;
      }
      const { team, ruleId } = routeOf(claim, rules);
      const key = JSON.stringify([claim.workspaceId, team.id]);
      const entry = teams.get(key) ?? { workspaceId: claim.workspaceId, team, rules, leads: [] };
      entry.leads.push({ claim, ruleId });
      teams.set(key, entry);
    }
    return { unrouted, teams: [...teams.values()] };
  }

  /** Per team: its turns in one cursor move, owners picked as that many `assign` calls in a row would pick them. */
  private async takeTurns(teams: readonly TeamBatch[], now: Date): Promise<BatchPick[]> {
    const perTeam = await Promise.all(
      teams.map(async ({ workspaceId, team, rules, leads }) => {
        const [last, loads] = await Promise.all([
          this.ledger.takeTickets(workspaceId, team.id, leads.length),
          this.ledger.loadsOf(workspaceId, team.members),
        ]);
        const turns = planTurns(team.members, last, leads.length, loads, now);
        return leads.map(({ claim, ruleId }, i) => ({
          claim,
          choice: { team, ruleId, rules, ticket: turns[i]?.ticket ?? 0 },
          member: turns[i]?.member,
        }));
      }),
    );
    return perTeam.flat();
  }

  /** Capacity for the picks with an owner, per owner at once; returns the picks of owners who did not fit. */
  private async reserve(picks: readonly BatchPick[], now: Date): Promise<Set<BatchPick>> {
    const byOwner = new Map<string, OwnerPicks & { picks: BatchPick[] }>();
    for (const pick of picks) {
      if (!pick.member) continue;
      const key = loadIdOf(pick.claim.workspaceId, pick.member.ownerId);
      const entry = byOwner.get(key) ?? {
        workspaceId: pick.claim.workspaceId,
        member: pick.member,
        holdIds: [],
        picks: [],
      };
      entry.holdIds.push(holdIdOf(pick.claim._id, pick.claim.n));
      entry.picks.push(pick);
      byOwner.set(key, entry);
    }
    const refused = await this.ledger.reserveMany([...byOwner.values()], now);
    return new Set(refused.flatMap((owner) => owner.picks));
  }

  /** Leads someone inserted first: the capacity reserved for them goes back unless that lead took this very hold. */
  private async giveBackLost(lost: readonly BatchDecision[]): Promise<void> {
    const reserved = lost.filter((item) => item.reservation);
    if (reserved.length === 0) return;
    const current = await this.store.assignmentsByIds(reserved.map(({ claim }) => claim._id));
    for (const { claim, reservation } of reserved)
      if (reservation) await this.ledger.releaseUnlessAdopted(current.get(claim._id) ?? null, reservation);
  }
}

/** A pick decided as planned, with the capacity its owner holds for it. */
function decidedOf({ claim, member }: BatchPick, decision: Decision): BatchDecision {
  if (!member) return { claim, decision };
  const reservation = {
    workspaceId: claim.workspaceId,
    ownerId: member.ownerId,
    holdId: holdIdOf(claim._id, claim.n),
  };
  return { claim, decision, reservation };
}

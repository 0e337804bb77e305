/** Fixtures of the routing decisions' unit specs: a workspace's rules, a lead as first claimed, a lead assigned. */
import { originMetadata } from '@tributary/messaging';
import { decisionOf, firstAssignment } from '../routing-decisions';
import { parseRoutingRules, type RoutingMember } from '../routing-rules';
import type { RoutingRulesVersion } from '../routing-rules.store';
import type { AssignmentDoc } from '../routing.model';

export const ws = 'ws_decisions';
export const now = new Date('2026-03-02T10:00:00Z');
export const LEASE = 30_000;
export const cause = originMetadata({ workspaceId: ws, source: 'test', eventId: 'scored-1' });

export function rulesOf(input: unknown, version = 3): RoutingRulesVersion {
  const parsed = parseRoutingRules(input);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return { workspaceId: ws, version, rules: parsed.rules, createdAt: now };
}

export const member = (ownerId: string, capacity = 5): RoutingMember => ({
  ownerId,
  capacity,
  timezone: 'UTC',
});

/** DACH by territory (one member), inbound as the fallback team, a 15-minute SLA. */
export const RULES = rulesOf({
  acceptWithinMinutes: 15,
  teams: [
    { id: 'dach', members: [member('rep-solo')] },
    { id: 'inbound', members: [member('rep-1'), member('rep-2'), member('rep-3')] },
  ],
  rules: [{ id: 'dach-territory', teamId: 'dach', when: { countries: ['DE'] } }],
  fallbackTeamId: 'inbound',
});

export const lead = (overrides: Partial<AssignmentDoc> = {}): AssignmentDoc => ({
  ...firstAssignment({ workspaceId: ws, contactId: `${ws}:ada`, attributes: {}, cause }, now, LEASE),
  ...overrides,
});

/** A lead assigned to `ownerId` in `teamId` as `decisionOf` records it. */
export function assigned(ownerId: string, overrides: Partial<AssignmentDoc> = {}): AssignmentDoc {
  const team = RULES.rules.teams.find((t) => t.id === (overrides.teamId ?? 'inbound'));
  if (!team) throw new Error('team expected');
  const base = lead(overrides);
  const { set } = decisionOf(
    base,
    { team, ruleId: 'fallback', rules: RULES, ticket: 1 },
    ownerId,
    now,
    LEASE,
  );
  return { ...base, ...set, pending: false, leaseToken: null };
}

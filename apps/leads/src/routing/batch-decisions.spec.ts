import { derivedEventId } from '@tributary/messaging';
import {
  announcementOf,
  assignedEventOf,
  insertedAsDecided,
  landedAsDecided,
  planTurns,
} from './batch-decisions';
import { decisionOf } from './routing-decisions';
import { LEASE, RULES, assigned, lead, member, now, ws } from './testing/decision-fixtures';

describe('planTurns', () => {
  const members = [member('rep-1', 2), member('rep-2', 2), member('rep-3', 2)];

  it('takes the turns ending at the cursor, round-robin, as that many assigns in a row would', () => {
    expect(planTurns(members, 5, 3, new Map(), now)).toEqual([
      { ticket: 3, member: members[2] },
      { ticket: 4, member: members[0] },
      { ticket: 5, member: members[1] },
    ]);
  });

  it('counts each pick against its owner, and finds nobody once everyone is full', () => {
    const turns = planTurns(members, 8, 8, new Map([['rep-1', 1]]), now);
    expect(turns.map((turn) => turn.member?.ownerId ?? null)).toEqual([
      'rep-1',
      'rep-2',
      'rep-3',
      'rep-2',
      'rep-3',
      null,
      null,
      null,
    ]);
  });
});

describe('batch decisions', () => {
  const inbound = RULES.rules.teams[1];
  if (!inbound) throw new Error('inbound team expected');
  const choice = { team: inbound, ruleId: 'fallback', rules: RULES, ticket: 1 };

  it('inserts a first assignment decided, its event left to the announcement, without a lease', () => {
    const claim = lead();
    const decision = decisionOf(claim, choice, 'rep-1', now, LEASE);
    expect(insertedAsDecided(claim, decision)).toMatchObject({
      state: 'assigned',
      ownerId: 'rep-1',
      outbox: [],
      pending: false,
      leaseToken: null,
    });
  });

  it('announces the assigned leads of a batch by contact, owner and event id, not the queued ones', () => {
    const one = lead({ _id: `${ws}:one` });
    const two = lead({ _id: `${ws}:two` });
    const { announcement, events } = announcementOf(
      [
        { contactId: one._id, decision: decisionOf(one, choice, 'rep-1', now, LEASE) },
        { contactId: two._id, decision: decisionOf(two, choice, null, now, LEASE) },
      ],
      now,
    );
    expect(announcement.leads).toEqual([
      {
        contactId: one._id,
        ownerId: 'rep-1',
        eventId: derivedEventId('scored-1', 'scoring/lead-assigned/1'),
      },
    ]);
    expect(announcement.createdAt).toBe(now);
    expect(events.map(({ contactId, event }) => [contactId, event.ownerId])).toEqual([[one._id, 'rep-1']]);
  });

  it('republishes an announced lead only if its assignment landed exactly as decided', () => {
    const doc = assigned('rep-1');
    const lead1 = { contactId: doc._id, ownerId: 'rep-1', eventId: doc.metadata?.eventId ?? '' };
    expect(landedAsDecided(doc, lead1, now)).toBe(true);
    expect(assignedEventOf(doc)).toMatchObject({ contactId: doc._id, ownerId: 'rep-1', reason: 'routed' });
    expect(landedAsDecided(undefined, lead1, now)).toBe(false);
    expect(landedAsDecided({ ...doc, n: 2 }, lead1, now)).toBe(false);
    expect(landedAsDecided(doc, { ...lead1, ownerId: 'rep-2' }, now)).toBe(false);
    expect(landedAsDecided(doc, { ...lead1, eventId: 'other' }, now)).toBe(false);
    expect(landedAsDecided(doc, lead1, new Date(now.getTime() + 1))).toBe(false);
    expect(() => assignedEventOf(lead())).toThrow('is not assigned');
  });
});

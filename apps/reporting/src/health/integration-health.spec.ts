import { Topics } from '@tributary/contracts';
import {
  BASELINE_MS,
  STALE_FLOOR_MS,
  errorRate,
  isStalled,
  platformConsumerGroups,
  rejectionTopic,
  staleAfterMs,
  topicLag,
  topicStatus,
} from './integration-health';

const MINUTE = 60_000;
const now = Date.parse('2026-05-04T12:00:00Z');

describe('the topic a rejected record was bound for', () => {
  it('maps the edge routes to the topics they feed', () => {
    expect(rejectionTopic('ingestion', '/v1/batch')).toBe(Topics.TrackingEvents);
    expect(rejectionTopic('ingestion', '/v1/track')).toBe(Topics.TrackingEvents);
    expect(rejectionTopic('ingestion', '/v1/alias')).toBe(Topics.TrackingEvents);
    expect(rejectionTopic('ingestion', '/v1/webhooks/sendgrid/:workspaceId/events')).toBe(
      Topics.MessagesDeliveries,
    );
    expect(rejectionTopic('ingestion', '/v1/webhooks/twilio/:workspaceId/status')).toBe(
      Topics.MessagesDeliveries,
    );
    expect(rejectionTopic('ingestion', '/v1/leads')).toBe(Topics.LeadsCaptured);
  });

  it('names no topic for a route it does not know, and records.changed for what sync refused', () => {
    expect(rejectionTopic('ingestion', '/v1/trackers')).toBeNull();
    expect(rejectionTopic('sync', 'hubspot/contacts')).toBe(Topics.RecordsChanged);
  });
});

describe('error rate', () => {
  it('is the failed share of what reached the topic or was refused on the way', () => {
    expect(errorRate({ events: 20, deadLetters: 1, rejected: 0 }, true)).toBe(0.05);
    expect(errorRate({ events: 18, deadLetters: 0, rejected: 2 }, true)).toBe(0.1);
    expect(errorRate({ events: 18, deadLetters: 1, rejected: 2 }, true)).toBe(0.15);
  });

  it('is unknown when nothing came, or when reporting does not read the topic', () => {
    expect(errorRate({ events: 0, deadLetters: 0, rejected: 0 }, true)).toBeNull();
    expect(errorRate({ events: 0, deadLetters: 2, rejected: 0 }, true)).toBeNull();
    expect(errorRate({ events: 0, deadLetters: 0, rejected: 5 }, false)).toBeNull();
  });

  it('never passes 1 when letters of records accepted before the range fall in it', () => {
    expect(errorRate({ events: 1, deadLetters: 3, rejected: 0 }, true)).toBe(1);
  });
});

describe('topic status', () => {
  const oncePerMinute = BASELINE_MS / MINUTE;

  it('waits ten usual gaps, and at least 15 minutes, before calling a silent topic stale', () => {
    expect(staleAfterMs(oncePerMinute)).toBe(STALE_FLOOR_MS);
    expect(staleAfterMs(100)).toBe(BASELINE_MS / 10); // a gap of 1.68 h: 16.8 h
    expect(staleAfterMs(0)).toBe(10 * BASELINE_MS);
  });

  it('is stale when silent longer than that, ok before', () => {
    const base = { errorRate: 0, baselineEvents: oncePerMinute, now };
    expect(topicStatus({ ...base, newestEventAt: now - 16 * MINUTE })).toBe('stale');
    expect(topicStatus({ ...base, newestEventAt: now - 14 * MINUTE })).toBe('ok');
  });

  it('is ok for a topic that never carried the workspace’s events', () => {
    expect(topicStatus({ errorRate: null, newestEventAt: null, baselineEvents: 0, now })).toBe('ok');
  });

  it('is failing from 5% errors, before being stale', () => {
    const base = { baselineEvents: oncePerMinute, now };
    expect(topicStatus({ ...base, errorRate: 0.05, newestEventAt: now - 60 * MINUTE })).toBe('failing');
    expect(topicStatus({ ...base, errorRate: 0.0499, newestEventAt: now })).toBe('ok');
  });
});

describe('a stalled connection', () => {
  const healthy = { status: 'healthy' as const, consecutiveFailures: 0 };

  it('stalled when its last successful poll is more than an hour old', () => {
    expect(isStalled({ ...healthy, lastSuccessAt: now - 61 * MINUTE }, now)).toBe(true);
    expect(isStalled({ ...healthy, lastSuccessAt: now - 59 * MINUTE }, now)).toBe(false);
    expect(isStalled({ ...healthy, lastSuccessAt: now - 10 * MINUTE }, now, 5 * MINUTE)).toBe(true);
  });

  it('stalled when it never succeeded and keeps failing, not before its first poll', () => {
    expect(isStalled({ status: 'failing', lastSuccessAt: null, consecutiveFailures: 3 }, now)).toBe(true);
    expect(isStalled({ ...healthy, lastSuccessAt: null }, now)).toBe(false);
  });

  it('never stalled while paused on purpose', () => {
    expect(
      isStalled({ status: 'paused', lastSuccessAt: now - 86_400_000, consecutiveFailures: 0 }, now),
    ).toBe(false);
  });
});

describe('the platform’s consumer groups', () => {
  it('are the consuming services, each with the catalog topics it reads', () => {
    const groups = platformConsumerGroups('reporting', 'reporting');
    expect(groups.map((g) => g.group).sort()).toEqual(['leads', 'orchestration', 'reporting', 'sync']);
    const leads = groups.find((g) => g.group === 'leads');
    expect(leads?.topics).toEqual(expect.arrayContaining([Topics.TrackingEvents, Topics.LeadsCaptured]));
    expect(groups.find((g) => g.group === 'reporting')?.topics).toContain(Topics.DlqLeads);
  });

  it('are named as this service’s own group is: an isolated copy reads its sibling copies', () => {
    expect(
      platformConsumerGroups('reporting.run1', 'reporting')
        .map((g) => g.group)
        .sort(),
    ).toEqual(['leads.run1', 'orchestration.run1', 'reporting.run1', 'sync.run1']);
    expect(platformConsumerGroups('analytics', 'reporting').map((g) => g.group)).toContain('leads');
  });
});

describe('consumer lag of a topic', () => {
  it('sums high watermark minus committed offset over the partitions the group committed', () => {
    expect(
      topicLag([
        { partition: 0, committed: '5', high: '8' },
        { partition: 1, committed: '-1', high: '4' },
        { partition: 2, committed: '3', high: '3' },
      ]),
    ).toBe(3);
  });

  it('is unknown for a group that committed nothing (or does not exist yet)', () => {
    expect(topicLag([{ partition: 0, committed: '-1', high: '10' }])).toBeNull();
    expect(topicLag([])).toBeNull();
  });

  it('is never negative (a commit past a truncated log)', () => {
    expect(topicLag([{ partition: 0, committed: '12', high: '10' }])).toBe(0);
  });
});

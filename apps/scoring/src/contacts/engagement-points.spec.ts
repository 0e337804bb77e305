import type { TrackingEvent } from '@tributary/contracts';
import { trackingEventFixture } from '@tributary/testing';
import { contactIdOf, engagementPoints } from './engagement-points';

function event(partial: Partial<TrackingEvent>): TrackingEvent {
  return trackingEventFixture({
    metadata: { eventId: 'e', workspaceId: 'ws' },
    messageId: 'm',
    anonymousId: 'anon-1',
    event: 'Page Viewed',
    ...partial,
  });
}

describe('engagementPoints', () => {
  it('gives pricing-page views 10 points and demo requests 25', () => {
    expect(engagementPoints(event({ event: 'Pricing Page Viewed' }))).toEqual({
      rule: 'pricing-page-viewed',
      points: 10,
    });
    expect(engagementPoints(event({ event: 'Demo Requested' }))).toEqual({
      rule: 'demo-requested',
      points: 25,
    });
  });

  it('gives identify calls 5 points and anything else 1', () => {
    expect(engagementPoints(event({ callType: 'identify', event: null }))).toEqual({
      rule: 'identified',
      points: 5,
    });
    expect(engagementPoints(event({ event: 'Button Clicked' }))).toEqual({ rule: 'track-call', points: 1 });
  });
});

describe('contactIdOf', () => {
  it('prefers userId and scopes the id to the workspace', () => {
    expect(contactIdOf(event({ userId: 'u-1' }))).toBe('ws:u-1');
    expect(contactIdOf(event({}))).toBe('ws:anon-1');
  });
});

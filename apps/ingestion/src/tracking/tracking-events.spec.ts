import { correctedTimestamp, DEFAULT_MAX_FUTURE_SKEW_MS, parseCall } from './segment-calls';
import { toTrackingEvent, type IdentifiedCall } from './tracking-events';
import { trackingConfigShape } from './tracking.config';

const receivedAt = Date.parse('2024-01-01T12:00:00.000Z');
const FAR_FUTURE = '9999-12-31T00:00:00.000Z';
const MINUTE = 60_000;

function trackCall(fields: Record<string, unknown>): IdentifiedCall {
  const parsed = parseCall(
    { userId: 'u-1', event: 'Pricing Page Viewed', messageId: 'm-1', ...fields },
    'track',
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return { ...parsed.call, messageId: 'm-1' };
}

describe('event time from the client', () => {
  it('takes the allowed skew from MAX_FUTURE_SKEW_SECONDS: 5 minutes by default, at most an hour', () => {
    const skew = trackingConfigShape.MAX_FUTURE_SKEW_SECONDS;
    expect(skew.parse(undefined) * 1000).toBe(DEFAULT_MAX_FUTURE_SKEW_MS);
    expect(skew.parse('0')).toBe(0);
    expect(skew.safeParse('3601').success).toBe(false);
    expect(skew.safeParse('-1').success).toBe(false);
  });

  it('clamps a timestamp of 9999-12-31 to the receipt plus the allowed skew', () => {
    expect(correctedTimestamp({ timestamp: FAR_FUTURE }, receivedAt)).toBe(
      receivedAt + DEFAULT_MAX_FUTURE_SKEW_MS,
    );
    expect(correctedTimestamp({ originalTimestamp: FAR_FUTURE }, receivedAt, 0)).toBe(receivedAt);
  });

  it('clamps a time pushed into the future by a sentAt far in the past', () => {
    // A correct timestamp, but a sentAt a year early: the correction alone would add a year.
    const t = correctedTimestamp(
      { timestamp: '2024-01-01T11:59:00.000Z', sentAt: '2023-01-01T12:00:00.000Z' },
      receivedAt,
    );
    expect(t).toBe(receivedAt + DEFAULT_MAX_FUTURE_SKEW_MS);
  });

  it('keeps a time ahead of the receipt within the skew, and any time in the past', () => {
    const ahead = new Date(receivedAt + 2 * MINUTE).toISOString();
    expect(correctedTimestamp({ timestamp: ahead }, receivedAt)).toBe(receivedAt + 2 * MINUTE);
    // A historical import is legitimate: no lower bound.
    expect(correctedTimestamp({ timestamp: '2001-02-03T04:05:06.000Z' }, receivedAt)).toBe(
      Date.parse('2001-02-03T04:05:06.000Z'),
    );
  });

  it('records the clamped time as the event time and keeps what the client said', () => {
    const event = toTrackingEvent(
      'ws',
      trackCall({ timestamp: FAR_FUTURE, sentAt: '2024-01-01T11:59:59.000Z' }),
      receivedAt,
      undefined,
      MINUTE,
    );
    expect(event).toMatchObject({
      timestamp: receivedAt + MINUTE,
      receivedAt,
      originalTimestamp: Date.parse(FAR_FUTURE),
      sentAt: Date.parse('2024-01-01T11:59:59.000Z'),
      metadata: { occurredAt: receivedAt + MINUTE },
    });
  });

  it('leaves an ordinary call as the Segment correction makes it', () => {
    const event = toTrackingEvent(
      'ws',
      trackCall({ timestamp: '2024-01-01T11:54:00.000Z', sentAt: '2024-01-01T11:55:00.000Z' }),
      receivedAt,
    );
    expect(event.timestamp).toBe(Date.parse('2024-01-01T11:59:00.000Z'));
    expect(event.originalTimestamp).toBe(Date.parse('2024-01-01T11:54:00.000Z'));
  });
});

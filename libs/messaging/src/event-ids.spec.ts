import { v5 as uuidv5 } from 'uuid';
import { clientEventId, derivedEventId, fastUuidV5 } from './event-ids';

describe('clientEventId', () => {
  it('is the same for the same workspace and client id, different otherwise', () => {
    expect(clientEventId('ws_a', 'tracking', 'm-1')).toBe(clientEventId('ws_a', 'tracking', 'm-1'));
    expect(clientEventId('ws_a', 'tracking', 'm-1')).not.toBe(clientEventId('ws_b', 'tracking', 'm-1'));
    expect(clientEventId('ws_a', 'tracking', 'm-1')).not.toBe(clientEventId('ws_a', 'tracking', 'm-2'));
  });

  it('computes exactly the uuid package v5 (so ids stay stable if either implementation is used)', () => {
    // Longer than the 4 KB scratch buffer (UTF-8 of 3-byte characters too), then short again after it grew.
    const long = ['x'.repeat(5_000), '✓'.repeat(3_000), 'ws/tracking/after-long'];
    for (const name of ['ws/tracking/abc', 'ünïcødé ✓/𝄞', '', ...long]) {
      expect(fastUuidV5(name)).toBe(uuidv5(name, '6f1d5a0e-8a43-4c1f-9a55-3c8f1b0d2e71'));
    }
  });
});

describe('derivedEventId', () => {
  it('is the uuid package v5 of cause and purpose, as before it went through fastUuidV5 (stored ids stay valid)', () => {
    const cause = '0b6a6a4e-3c1e-4d1c-9a8e-2f4d7c1e9b10';
    for (const purpose of ['orchestration/journey/ws:j:c/0/1/send/advanced', 'leads/scored', '✓'])
      expect(derivedEventId(cause, purpose)).toBe(
        uuidv5(`${cause}/${purpose}`, '6f1d5a0e-8a43-4c1f-9a55-3c8f1b0d2e71'),
      );
  });
});

import { MAX_FACTS, newContact, packFact } from './contact.model';
import { recentContacts } from './contact.repository';

const now = new Date('2026-01-02T00:00:00Z');

function contactWithFacts(id: string, facts: number) {
  const ids = Array.from({ length: facts }, (_, i) => `${id}-event-${i}-0000-0000-000000000000`);
  return newContact(id, 'ws_a', now, {
    facts: ids.map((eventId, i) =>
      packFact({
        eventId,
        callType: 'track',
        name: 'Pricing Page Viewed',
        path: null,
        at: now.getTime() + i,
      }),
    ),
    factIds: ids,
  });
}

describe('recentContacts', () => {
  it('keeps 20,000 contacts without facts, as before', () => {
    const cache = recentContacts();
    for (let i = 0; i < 20_500; i += 1) cache.set(`c-${i}`, contactWithFacts(`c-${i}`, 0));
    expect(cache.size).toBe(20_000);
  });

  it('keeps only about 24 MB of contacts that hold their newest facts, the oldest written going first', () => {
    const cache = recentContacts();
    for (let i = 0; i < 1_000; i += 1) cache.set(`c-${i}`, contactWithFacts(`c-${i}`, MAX_FACTS));
    expect(cache.calculatedSize).toBeLessThanOrEqual(24 * 1024 * 1024);
    expect(cache.size).toBeGreaterThan(100);
    expect(cache.size).toBeLessThan(1_000);
    expect(cache.has('c-999')).toBe(true);
    expect(cache.has('c-0')).toBe(false);
  });
});

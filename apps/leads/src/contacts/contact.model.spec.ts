import { factsOf, packFact, type StoredFact } from './contact.model';

const fact = (eventId: string, at: number, name: string | null = 'Pricing Page Viewed'): StoredFact => ({
  eventId,
  callType: 'track',
  name,
  path: name ? null : '/pricing',
  at,
});

describe('stored facts', () => {
  it('packs a fact into one string and reads it back as it was', () => {
    const packed = packFact(fact('e-1', 1_700_000_000_000));
    expect(typeof packed).toBe('string');
    expect(factsOf({ facts: [packed] })).toEqual([fact('e-1', 1_700_000_000_000)]);
    expect(factsOf({ facts: [packFact(fact('e-2', 5, null))] })).toEqual([fact('e-2', 5, null)]);
  });

  it('reads contacts written before packing (objects), alone or mixed with packed facts, in stored order', () => {
    const legacy = fact('old', 1);
    expect(factsOf({ facts: [legacy, packFact(fact('new', 2))] })).toEqual([legacy, fact('new', 2)]);
    expect(factsOf(null)).toEqual([]);
    expect(factsOf({})).toEqual([]);
  });
});

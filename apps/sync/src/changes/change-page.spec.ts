// Change pages over the HubSpot fake, through the official SDK: the cursor's questions as HubSpot answers them.
import { FakeHubSpot } from '@tributary/sandbox';
import { HUBSPOT, HubSpotChangeSource } from '../connectors/hubspot/hubspot.connector';
import type { ConnectorObject } from '../connectors/connector';
import { compareIds, comparePositions, nextChangePage, type ChangePosition } from './change-page';

const TOKEN = 'pat-na1-change-pages';
const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const contacts = HUBSPOT.objects.find((o) => o.vendorObject === 'contacts') as ConnectorObject;

/** Reads every change from the start to `until`: the ids in the order read, and how many pages it took. */
async function readAll(source: HubSpotChangeSource, until: number, limit = 200) {
  const ids: string[] = [];
  let position: ChangePosition = { modifiedAt: 0, id: '' };
  for (let pages = 1; ; pages += 1) {
    const page = await nextChangePage(source, contacts, position, until, limit);
    ids.push(...page.records.map((r) => r.id));
    // Every page moves forward, or ends the read where it stood.
    expect(Math.sign(comparePositions(page.next, position))).toBe(page.done ? 0 : 1);
    position = page.next;
    if (page.done) return { ids, pages, position };
  }
}

describe('nextChangePage against HubSpot', () => {
  let fake: FakeHubSpot;
  let source: HubSpotChangeSource;

  beforeEach(async () => {
    fake = new FakeHubSpot({ accessTokens: { [TOKEN]: 'app-cdc' }, limits: { searchPerSecond: 10_000 } });
    const url = await fake.start();
    source = new HubSpotChangeSource(url, TOKEN, {
      retries: 0,
      limits: { search: { requests: 10_000, perMs: 1_000 }, requests: { requests: 10_000, perMs: 1_000 } },
    });
  });
  afterEach(() => fake.stop());

  it('reads each record once across instants shared by more records than a page', async () => {
    const early = fake.seed('contacts', [{ firstname: 'a' }, { firstname: 'b' }], T0 - 5_000);
    const crowd = fake.seed(
      'contacts',
      Array.from({ length: 450 }, (_, i) => ({ firstname: `c${i}` })),
      T0,
    );
    const later = fake.seed('contacts', [{ firstname: 'd' }], T0 + 1);
    const { ids } = await readAll(source, T0 + 10_000);
    expect(ids).toHaveLength(453);
    expect(new Set(ids).size).toBe(453);
    // Whole instants in time order; within one, id order.
    expect(ids.slice(0, 2).sort(compareIds)).toEqual(early);
    expect(ids.slice(2, 452)).toEqual(crowd);
    expect(ids.slice(452)).toEqual(later);
  });

  it('terminates with every record when 10,050 share one modification time (past the 10,000 a search pages through)', async () => {
    const crowd = fake.seed(
      'contacts',
      Array.from({ length: 10_050 }, (_, i) => ({ firstname: `s${i}` })),
      T0,
    );
    const { ids, pages } = await readAll(source, T0 + 1_000);
    expect(ids).toEqual(crowd);
    // 51 pages of one instant by id, the question that finds that instant, and the one that finds nothing after.
    expect(pages).toBe(53);
    expect(fake.requests.every((r) => r.status === 200)).toBe(true);
  });

  it('leaves out what was modified after `until`, and reads it on a later pass', async () => {
    fake.seed('contacts', [{ firstname: 'before' }], T0);
    const [late] = fake.seed('contacts', [{ firstname: 'after' }], T0 + 5_000);
    const first = await readAll(source, T0 + 1_000);
    expect(first.ids).toHaveLength(1);
    const page = await nextChangePage(source, contacts, first.position, T0 + 10_000, 200);
    expect(page.records).toEqual([]);
    const next = await nextChangePage(source, contacts, page.next, T0 + 10_000, 200);
    expect(next.records.map((r) => r.id)).toEqual([late]);
  });

  it('compares HubSpot ids as numbers', () => {
    expect(['1010', '999', '', '1001'].sort(compareIds)).toEqual(['', '999', '1001', '1010']);
  });
});

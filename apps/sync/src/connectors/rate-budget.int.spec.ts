/**
 * The request budget per vendor account on the real store (FerretDB), with two "replicas" (two store connections,
 * two budgets): together they keep to the account's window, a 429 one of them meets pauses both, accounts do not share,
 * and a calendar quota is handed out once across both. Then HubSpot through its SDK: two change sources of one account
 * searching flat out meet no 429 from the fake, and a 429 from someone else's use of the portal holds both back for
 * the policy's window.
 */
import mongoose, { type Connection } from 'mongoose';
import { FakeHubSpot } from '@tributary/sandbox';
import { busiestWindow, testStackEndpoints, uniqueId, waitFor } from '@tributary/testing';
import type { ConnectorObject } from './connector';
import { HUBSPOT, HubSpotChangeSource } from './hubspot/hubspot.connector';
import {
  RateBudget,
  RateBudgetExhausted,
  rateBudgetCollection,
  type RateBudgetCollection,
} from './rate-budget';

const db = `sync_${uniqueId('rate_budget')}`;
let stores: [Connection, Connection];
let collections: [RateBudgetCollection, RateBudgetCollection];

beforeAll(async () => {
  const connect = () =>
    mongoose
      .createConnection(testStackEndpoints().mongoUrl, { dbName: db, bufferCommands: false })
      .asPromise();
  stores = [await connect(), await connect()];
  collections = [await rateBudgetCollection(stores[0]), await rateBudgetCollection(stores[1])];
});

afterAll(async () => {
  await stores[0].dropDatabase();
  await Promise.all(stores.map((s) => s.close()));
});

/** 10 calls a second: the budget hands out 8, one every 125 ms (90% would keep 111 ms of the second unused, not 250). */
const TEN_A_SECOND = { kind: 'test', rateLimits: { calls: { requests: 10, perMs: 1_000 } } };

/** `count` takes at once from `budget`, answering when each was granted. */
const takeAll = (budget: RateBudget, account: string, policy: string, count: number) =>
  Promise.all(
    Array.from({ length: count }, async () => {
      await budget.take(account, policy);
      return Date.now();
    }),
  );

describe('rate budget per vendor account', () => {
  it('two replicas taking flat out from one account keep to its window together', async () => {
    const account = uniqueId('shared');
    const replicas = collections.map((c) => new RateBudget(c, TEN_A_SECOND));
    const started = Date.now();
    const granted = (
      await Promise.all(replicas.map((budget) => takeAll(budget, account, 'calls', 14)))
    ).flat();
    const elapsed = Date.now() - started;
    // 28 calls 125 ms apart, both replicas' together: never more than the vendor's 10 in any second.
    expect(busiestWindow(granted, 1_000)).toBeLessThanOrEqual(10);
    expect(elapsed).toBeGreaterThanOrEqual(27 * 125);
    expect(elapsed).toBeLessThan(27 * 125 * 1.5);
  });

  it('does not share between accounts', async () => {
    const [a, b] = collections.map((c) => new RateBudget(c, TEN_A_SECOND)) as [RateBudget, RateBudget];
    const started = Date.now();
    const [first, second] = await Promise.all([
      takeAll(a, uniqueId('account-a'), 'calls', 14),
      takeAll(b, uniqueId('account-b'), 'calls', 14),
    ]);
    const elapsed = Date.now() - started;
    // Each account's 14 in about 13 × 125 ms, at the same time: 28 in one second together, as two accounts may.
    expect(elapsed).toBeLessThan(13 * 125 * 1.5);
    expect(busiestWindow(first, 1_000)).toBeLessThanOrEqual(10);
    expect(busiestWindow(second, 1_000)).toBeLessThanOrEqual(10);
    expect(busiestWindow([...first, ...second], 1_000)).toBeGreaterThan(10);
  });

  it('a pause one replica stores (a 429’s Retry-After) holds the other back', async () => {
    const account = uniqueId('paused');
    const [one, other] = collections.map((c) => new RateBudget(c, TEN_A_SECOND)) as [RateBudget, RateBudget];
    await other.take(account, 'calls');
    const pausedAt = Date.now();
    await one.pause(account, 'calls', 1_500);
    await other.take(account, 'calls');
    expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(1_500);
  });

  it('a call that wakes too late for its instant moves the next instant a spacing after it', async () => {
    const account = uniqueId('late');
    let oversleep = 200;
    // The event loop was busy: the second call wakes 200 ms after its instant (past the 125 ms the window's 250 ms of room allows).
    const budget = new RateBudget(collections[0], TEN_A_SECOND, {
      sleep: async (ms) => {
        await new Promise((resolve) => setTimeout(resolve, ms + oversleep));
        oversleep = 0;
      },
    });
    const budgets = stores[0].collection<{ _id: string; next: number }>('sync_rate_budgets');
    const read = async () => (await budgets.findOne({ _id: `test|${account}|calls` }))?.next ?? 0;
    await budget.take(account, 'calls');
    const first = (await read()) - 125;
    await budget.take(account, 'calls');
    const next = await read();
    // Left alone the document would stand at first + 2 × 125 ms, already past: the next call would go right after the late one.
    expect(next).toBeGreaterThan(first + 125 + 200 + 125);
  });

  it('hands out 90% of a calendar quota (a daily one) once across replicas, then says when there is room', async () => {
    const account = uniqueId('daily');
    const daily = { kind: 'test', rateLimits: { daily: { requests: 50, perMs: 86_400_000 } } };
    const replicas = collections.map((c) => new RateBudget(c, daily, { chunk: 10, maxWaitMs: 0 }));
    const outcomes = (
      await Promise.all(
        replicas.map((budget) =>
          Promise.allSettled(Array.from({ length: 40 }, () => budget.take(account, 'daily'))),
        ),
      )
    ).flat();
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(45);
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    expect(refused).toHaveLength(35);
    expect(refused.every((e) => e instanceof RateBudgetExhausted && e.retryAfterMs > 0)).toBe(true);
  });
});

describe('HubSpot under the shared budget', () => {
  const TOKEN = `pat-na1-${uniqueId('budget')}`;
  let hubspot: FakeHubSpot;
  let url: string;

  beforeEach(async () => {
    hubspot = new FakeHubSpot({ accessTokens: { [TOKEN]: 'app-budget' } });
    url = await hubspot.start();
    hubspot.seed('contacts', [{ firstname: 'Ada' }]);
  });
  afterEach(() => hubspot.stop());

  const contacts = HUBSPOT.objects.find((o) => o.vendorObject === 'contacts') as ConnectorObject;
  /** One replica's change source: its own store connection and budget, HubSpot's real limits. */
  const replica = (collection: RateBudgetCollection) =>
    new HubSpotChangeSource(url, TOKEN, { budget: new RateBudget(collection, HUBSPOT) });
  const searches = () => hubspot.requests.filter((r) => r.pathname.endsWith('/search'));

  it('two replicas searching one portal flat out meet no 429 and use 80% of its 4 a second', async () => {
    const sources = collections.map(replica);
    const started = Date.now();
    await Promise.all(
      sources.flatMap((source) =>
        Array.from({ length: 9 }, () => source.count(contacts, 0, Date.now() + 60_000)),
      ),
    );
    const elapsed = Date.now() - started;
    expect(searches().map((r) => r.status)).toEqual(Array(18).fill(200));
    expect(
      busiestWindow(
        searches().map((r) => r.at),
        1_000,
      ),
    ).toBeLessThanOrEqual(4);
    // 18 searches at 3.2 a second (a 250 ms room in each second, more than 10% of 4): 17 gaps of 312.5 ms.
    expect(elapsed).toBeGreaterThanOrEqual(17 * 312);
    expect(elapsed).toBeLessThan(17 * 313 * 1.5);
  });

  it('a 429 from someone else’s use of the portal holds both replicas back for the policy’s window', async () => {
    const [one, other] = collections.map(replica) as [HubSpotChangeSource, HubSpotChangeSource];
    // Another app spends the portal's searches for this second, past the budget.
    const outsider = () =>
      fetch(`${url}/crm/v3/objects/contacts/search`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ filterGroups: [], limit: 1 }),
      });
    await Promise.all([outsider(), outsider(), outsider(), outsider()]);
    const first = one.count(contacts, 0, Date.now() + 60_000);
    const refused = await waitFor('the 429', async () => hubspot.requests.find((r) => r.status === 429), {
      intervalMs: 5,
    });
    const second = other.count(contacts, 0, Date.now() + 60_000);
    expect(await Promise.all([first, second])).toEqual([1, 1]);
    // HubSpot sends no Retry-After on search: the pause is the policy's second, for both replicas.
    const after = hubspot.requests.filter((r) => r.at > refused.at);
    expect(after.map((r) => r.status)).toEqual([200, 200]);
    expect(Math.min(...after.map((r) => r.at)) - refused.at).toBeGreaterThanOrEqual(1_000);
  });
});

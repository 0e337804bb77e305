/**
 * The shared send budget on the real store, as two replicas (two connections, two budgets) sending through the
 * SendGrid SDK to a fake whose rate limit is the budget / 0.9: together they never meet a 429, and a 429 one of them
 * meets pauses both for its Retry-After.
 */
import mongoose, { type Connection } from 'mongoose';
import { FakeSendGrid } from '@tributary/sandbox';
import { busiestWindow, testStackEndpoints, uniqueId } from '@tributary/testing';
import { SendGridEmail, type OutgoingEmail, type ProviderResult } from './email-provider';
import { GuardedEmail, ProviderGuard } from './guarded-providers';
import { ProviderBudget, type BudgetCollection, type BudgetDoc } from './provider-budget';

const apiKey = 'SG.budget-test-key';
const PER_SECOND = 18;
const MAIL_SEND = '/v3/mail/send';
const db = `orchestration_${uniqueId('budget')}`;
const sendgrid = new FakeSendGrid({
  apiKey,
  rateLimit: { requests: Math.round(PER_SECOND / 0.9), windowMs: 1_000 },
});
let connections: [Connection, Connection];

beforeAll(async () => {
  await sendgrid.start();
  const connect = () =>
    mongoose
      .createConnection(testStackEndpoints().mongoUrl, { dbName: db, bufferCommands: false })
      .asPromise();
  connections = [await connect(), await connect()];
});

afterAll(async () => {
  await connections[0].dropDatabase();
  await Promise.all(connections.map((c) => c.close()));
  await sendgrid.stop();
});

beforeEach(() => sendgrid.reset());

const budgetsOf = (connection: Connection) =>
  connection.collection<BudgetDoc>('provider_budgets') as unknown as BudgetCollection;

/** One replica's email provider: its own connection, budget, breaker and SDK client. */
function replica(connection: Connection, account: string): GuardedEmail {
  const budget = new ProviderBudget(budgetsOf(connection), {
    provider: 'sendgrid',
    account,
    perSecond: PER_SECOND,
  });
  return new GuardedEmail(
    new SendGridEmail({ apiKey, baseUrl: sendgrid.baseUrl, timeoutMs: 5_000 }),
    new ProviderGuard('sendgrid', { failuresToOpen: 5, halfOpenAfterMs: 30_000, budget }),
  );
}

const email = (n: number): OutgoingEmail => ({
  to: `lead-${n}@example.com`,
  from: 'marketing@tributary.example',
  subject: `Spring launch ${n}`,
  html: '<p>hi</p>',
  headers: {},
  customArgs: {},
  categories: ['launch'],
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('shared provider send budget', () => {
  it('two replicas sending flat out stay within the budget: no 429 at a limit of budget / 0.9', async () => {
    const account = uniqueId('acct');
    const replicas = connections.map((c) => replica(c, account));
    const results: ProviderResult[] = [];
    const started = Date.now();
    const until = started + 4_000;
    let n = 0;
    // 20 concurrent senders per replica, each sending again as soon as its last send came back.
    await Promise.all(
      replicas.flatMap((provider) =>
        Array.from({ length: 20 }, async () => {
          while (Date.now() < until) {
            const result = await provider.send(email(n++));
            results.push(result);
            if (!result.ok) await sleep(Math.min(result.retryAfterMs ?? 100, 200));
          }
        }),
      ),
    );
    // Sends that took a place before `until` may wait up to 2 s for it.
    const elapsedSeconds = (Date.now() - started) / 1000;

    const sends = sendgrid.requests.filter((r) => r.pathname === MAIL_SEND);
    expect(sends.filter((r) => r.status === 429)).toHaveLength(0);
    expect(sends.every((r) => r.status === 202)).toBe(true);
    expect(results.filter((r) => r.ok)).toHaveLength(sends.length);
    // Busy the whole time: about the budget each second, not a trickle, and never more.
    expect(sends.length).toBeGreaterThanOrEqual(PER_SECOND * 4);
    expect(sends.length).toBeLessThanOrEqual(PER_SECOND * Math.ceil(elapsedSeconds + 1));
    // However two seconds are chosen, within the provider's limit: the replicas' sends interleave, never pile up.
    expect(
      busiestWindow(
        sends.map((r) => r.at),
        2_000,
      ),
    ).toBeLessThanOrEqual(2 * Math.round(PER_SECOND / 0.9));
    // Every second's counters (all its spans) in the store: never past the budget.
    const counters = await connections[0]
      .collection<BudgetDoc>('provider_budgets')
      .find({ _id: { $gte: `budget|sendgrid|${account}|`, $lt: `budget|sendgrid|${account}|~` } })
      .toArray();
    const perSecond = new Map<string, number>();
    for (const doc of counters) {
      const second = doc._id.split('|')[3]?.split('.')[0] ?? '';
      if (second !== 'paused') perSecond.set(second, (perSecond.get(second) ?? 0) + (doc.n ?? 0));
    }
    expect(perSecond.size).toBeGreaterThanOrEqual(4);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(PER_SECOND);
    // The counters are the sends: none was taken and then lost.
    expect([...perSecond.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(sends.length);
  }, 30_000);

  it('a 429 one replica meets pauses both for its Retry-After, without calling the provider', async () => {
    const account = uniqueId('acct');
    const [first, second] = [replica(connections[0], account), replica(connections[1], account)];
    sendgrid.failNext(1, { status: 429, retryAfterSeconds: 2 });

    const throttled = await first.send(email(1));
    const throttledAt = Date.now();
    expect(throttled).toMatchObject({ ok: false, retryable: true, retryAfterMs: 2_000, rateLimited: true });
    // Past the other replica's copy of the pause document (read at most every 250 ms).
    await sleep(300);
    const calls = sendgrid.count(MAIL_SEND);
    const [deferredHere, deferredThere] = await Promise.all([first.send(email(2)), second.send(email(3))]);

    expect(sendgrid.count(MAIL_SEND)).toBe(calls);
    for (const deferred of [deferredHere, deferredThere]) {
      expect(deferred).toMatchObject({ ok: false, retryable: true, maybeTaken: false });
      const wait = deferred?.ok === false ? (deferred.retryAfterMs ?? 0) : 0;
      expect(wait).toBeGreaterThan(1_000);
      expect(wait).toBeLessThanOrEqual(2_000);
    }

    await sleep(Math.max(0, throttledAt + 2_050 - Date.now()));
    const after = await Promise.all([first.send(email(4)), second.send(email(5))]);
    expect(after.map((r) => r.ok)).toEqual([true, true]);
    expect(sendgrid.messagesTo('lead-4@example.com')).toHaveLength(1);
    expect(sendgrid.messagesTo('lead-5@example.com')).toHaveLength(1);
  }, 30_000);
});

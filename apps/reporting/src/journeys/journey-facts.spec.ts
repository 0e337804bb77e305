import type { GuardedUpdate } from '@tributary/store';
import {
  deliveryDocId,
  deliveryMetricOf,
  deliveryUpdates,
  messageDocId,
  runChanges,
  runDocId,
  runKeyOf,
  sentMessageUpdates,
} from './journey-facts';
import { deliveryOf, outcomeOf, runOf, stepOf } from './testing/journey-events';

const WS = 'ws1';
const T = Date.parse('2026-11-02T10:00:00Z');
const min = (n: number) => T + n * 60_000;

type Doc = Record<string, unknown>;

/** The upsert operators these updates use, applied as the store applies them (dotted paths one level deep). */
function apply(store: Map<string, Doc>, { filter, update }: GuardedUpdate): void {
  const existing = store.get(filter._id);
  const doc: Doc = existing ? structuredClone(existing) : { _id: filter._id };
  const get = (path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v as Doc)?.[k], doc);
  const put = (path: string, value: unknown) => {
    const [head, tail] = path.split('.') as [string, string | undefined];
    if (tail === undefined) doc[head] = value;
    else doc[head] = { ...((doc[head] as Doc | undefined) ?? {}), [tail]: value };
  };
  const ops = update as Record<string, Record<string, Date | string> | undefined>;
  if (!existing) for (const [k, v] of Object.entries(ops['$setOnInsert'] ?? {})) put(k, v);
  for (const [k, v] of Object.entries(ops['$set'] ?? {})) put(k, v);
  for (const [k, v] of Object.entries(ops['$min'] ?? {})) {
    const held = get(k) as Date | string | undefined;
    if (held === undefined || v < held) put(k, v);
  }
  for (const [k, v] of Object.entries(ops['$max'] ?? {})) {
    const held = get(k) as Date | string | undefined;
    if (held === undefined || v > held) put(k, v);
  }
  store.set(filter._id, doc);
}

function applyAll(batches: readonly GuardedUpdate[][]): Map<string, Doc> {
  const store = new Map<string, Doc>();
  for (const batch of batches) for (const update of batch) apply(store, update);
  return store;
}

describe('deliveryMetricOf', () => {
  it.each([
    ['delivered', 'delivered'],
    ['sms_delivered', 'delivered'],
    ['bounced', 'bounced'],
    ['blocked', 'bounced'],
    ['sms_undelivered', 'bounced'],
    ['sms_failed', 'bounced'],
    ['dropped', 'dropped'],
    ['opened', 'opened'],
    ['sms_read', 'opened'],
    ['clicked', 'clicked'],
    ['unsubscribed', 'unsubscribed'],
    ['sms_stop', 'unsubscribed'],
    ['spam_report', 'complained'],
  ])('counts %s as %s', (event, metric) => {
    expect(deliveryMetricOf(event)).toBe(metric);
  });

  it.each(['processed', 'deferred', 'sms_sent', 'sms_start', 'sms_help', 'sms_received', 'something-new'])(
    'counts %s as nothing',
    (event) => {
      expect(deliveryMetricOf(event)).toBeNull();
    },
  );
});

describe('deliveryDocId', () => {
  it('puts a delivery in the document of the outcome with its message key', () => {
    const delivery = deliveryOf(WS, { messageKey: 'k1', channel: 'email' }, 'opened', T);
    expect(deliveryDocId(delivery)).toBe(messageDocId(WS, 'k1'));
  });

  it('keys a delivery without message key by the provider message, else by the event itself', () => {
    const a = deliveryOf(WS, { messageKey: null, channel: 'sms', providerMessageId: 'SM1' }, 'sms_stop', T);
    const b = deliveryOf(WS, { messageKey: null, channel: 'sms', providerMessageId: 'SM1' }, 'sms_read', T);
    expect(deliveryDocId(a)).toBe(deliveryDocId(b));
    const c = deliveryOf(WS, { messageKey: null, channel: 'sms' }, 'sms_stop', T);
    const d = deliveryOf(WS, { messageKey: null, channel: 'sms' }, 'sms_stop', T);
    expect(deliveryDocId(c)).not.toBe(deliveryDocId(d));
  });

  it('never shares a document between workspaces', () => {
    const mine = deliveryOf('ws1', { messageKey: 'k1', channel: 'email' }, 'opened', T);
    const theirs = deliveryOf('ws2', { messageKey: 'k1', channel: 'email' }, 'opened', T);
    expect(deliveryDocId(mine)).not.toBe(deliveryDocId(theirs));
  });
});

describe('message documents', () => {
  const run = runOf(WS, 'welcome', 'c1', 'cause-1');
  const sent = outcomeOf(run, 'w1', 'email', 'sent', min(0), 'k1');
  const deliveries = [
    deliveryOf(WS, { messageKey: 'k1', channel: 'email' }, 'delivered', min(1)),
    deliveryOf(WS, { messageKey: 'k1', channel: 'email' }, 'opened', min(5)),
    deliveryOf(WS, { messageKey: 'k1', channel: 'email' }, 'opened', min(3)),
    deliveryOf(WS, { messageKey: 'k1', channel: 'email' }, 'processed', min(0)),
  ];
  const expected = {
    _id: messageDocId(WS, 'k1'),
    workspaceId: WS,
    messageKey: 'k1',
    journeyId: 'welcome',
    stepId: 'w1',
    channel: 'email',
    runKey: runKeyOf(run.enrollmentId, 'cause-1'),
    deliveryChannel: 'email',
    sentAt: new Date(min(0)),
    first: { delivered: new Date(min(1)), opened: new Date(min(3)) },
    firstSeenAt: new Date(min(0)),
    lastSeenAt: new Date(min(5)),
  };

  it('keeps skipped and failed messages out of the documents (they are tallies)', () => {
    expect(sentMessageUpdates([outcomeOf(run, 'w1', 'email', 'skipped', T)])).toEqual([]);
    expect(sentMessageUpdates([outcomeOf(run, 'w1', 'email', 'failed', T)])).toEqual([]);
  });

  it('writes a message once per batch with the first time of each metric (unique opens)', () => {
    const updates = deliveryUpdates(deliveries);
    expect(updates).toHaveLength(1);
    expect(updates[0]?.update['$min']).toMatchObject({
      'first.delivered': new Date(min(1)),
      'first.opened': new Date(min(3)),
    });
  });

  it('ends at the same document whether the outcome comes first, last, between, or twice', () => {
    const outcome = sentMessageUpdates([sent]);
    const [early, late] = [deliveryUpdates(deliveries.slice(0, 2)), deliveryUpdates(deliveries.slice(2))];
    const orders = [
      [outcome, early, late],
      [early, late, outcome],
      [late, outcome, early],
      [early, outcome, late, outcome, early, late],
    ];
    for (const order of orders) expect(applyAll(order).get(messageDocId(WS, 'k1'))).toEqual(expected);
  });
});

describe('runChanges', () => {
  const first = runOf(WS, 'welcome', 'c1', 'cause-1');
  const again = runOf(WS, 'welcome', 'c1', 'cause-2');

  it('counts a run from its earliest step record and converts it at its earliest goal record', () => {
    const changes = runChanges([
      stepOf(first, 'w1', 'advanced', min(2)),
      stepOf(first, 'start', 'advanced', min(1)),
      stepOf(first, 'goal', 'converted', min(9), 'goal-met'),
      stepOf(first, '(end)', 'converted', min(8), 'goal'),
    ]);
    expect(changes).toEqual([
      expect.objectContaining({
        id: runDocId(WS, runKeyOf(first.enrollmentId, 'cause-1')),
        enteredAt: min(1),
        convertedAt: min(8),
      }),
    ]);
  });

  it('tells a re-entry of the same enrollment apart by the event that started it', () => {
    const changes = runChanges([
      stepOf(first, 'w1', 'advanced', min(1)),
      stepOf(again, 'w1', 'advanced', min(50)),
    ]);
    expect(changes.map((c) => [c.enteredAt, c.convertedAt])).toEqual([
      [min(1), null],
      [min(50), null],
    ]);
  });

  it('ends at the same run document whatever order its records come in', () => {
    const steps = [
      stepOf(first, 'w1', 'advanced', min(1)),
      stepOf(first, 'w2', 'waiting', min(4)),
      stepOf(first, 'goal', 'converted', min(6), 'goal-met'),
    ];
    const updates = (list: typeof steps) => runChanges(list).map((c) => c.update);
    const forward = applyAll(steps.map((s) => updates([s])));
    const backward = applyAll([...steps].reverse().map((s) => updates([s])));
    const whole = applyAll([updates(steps), updates(steps)]);
    const id = runDocId(WS, runKeyOf(first.enrollmentId, 'cause-1'));
    const expected = {
      _id: id,
      workspaceId: WS,
      journeyId: 'welcome',
      enrollmentId: first.enrollmentId,
      enteredAt: new Date(min(1)),
      convertedAt: new Date(min(6)),
    };
    expect(forward.get(id)).toEqual(expected);
    expect(backward.get(id)).toEqual(expected);
    expect(whole.get(id)).toEqual(expected);
  });
});

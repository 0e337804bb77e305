import { CircuitState } from 'cockatiel';
import type { EmailProvider, OutgoingEmail, ProviderResult } from './email-provider';
import { GuardedEmail, GuardedSms, ProviderGuard } from './guarded-providers';
import type { BudgetTake, ProviderBudget } from './provider-budget';
import type { SmsProvider } from './sms-provider';

const email: OutgoingEmail = {
  to: 'ada@example.com',
  from: 'marketing@tributary.example',
  subject: 'Spring launch',
  html: '<p>hi</p>',
  headers: {},
  customArgs: {},
  categories: [],
};

const taken: ProviderResult = { ok: true, providerMessageId: 'msg-1' };
const unavailable: ProviderResult = { ok: false, retryable: true, reason: 'sendgrid 503' };
const noAnswer: ProviderResult = {
  ok: false,
  retryable: true,
  reason: 'no-answer: timeout',
  maybeTaken: true,
};
const throttled: ProviderResult = {
  ok: false,
  retryable: true,
  retryAfterMs: 3_000,
  reason: 'sendgrid 429',
  rateLimited: true,
};
const invalid: ProviderResult = { ok: false, retryable: false, reason: 'sendgrid 400: to: invalid' };

/** A provider answering from a script (the last answer repeats), counting its calls. */
class ScriptedEmail implements EmailProvider {
  readonly name = 'sendgrid';
  calls = 0;
  constructor(private readonly answers: ProviderResult[]) {}
  send(): Promise<ProviderResult> {
    const answer = this.answers[Math.min(this.calls, this.answers.length - 1)];
    this.calls += 1;
    return Promise.resolve(answer ?? taken);
  }
  sentWith(tag: string) {
    return Promise.resolve({ ok: true as const, sent: [{ to: tag, subject: 's', providerMessageId: 'm' }] });
  }
}

/** A budget that answers `take` from a script and records pauses. */
function budgetOf(answers: BudgetTake[]): { budget: ProviderBudget; pauses: number[]; takes: () => number } {
  const pauses: number[] = [];
  let takes = 0;
  const budget = {
    take: () => Promise.resolve(answers[Math.min(takes++, answers.length - 1)] ?? { ok: true }),
    pause: (ms: number) => {
      pauses.push(ms);
      return Promise.resolve();
    },
  } as unknown as ProviderBudget;
  return { budget, pauses, takes: () => takes };
}

const guarded = (provider: ScriptedEmail, options: { failures?: number; halfOpenMs?: number } = {}) =>
  new GuardedEmail(
    provider,
    new ProviderGuard('sendgrid', {
      failuresToOpen: options.failures ?? 3,
      halfOpenAfterMs: options.halfOpenMs ?? 60_000,
    }),
  );

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('provider circuit breaker', () => {
  it('opens after failures in a row (5xx or no answer), then answers without calling the provider', async () => {
    const provider = new ScriptedEmail([unavailable, noAnswer, unavailable]);
    const sender = guarded(provider, { failures: 3, halfOpenMs: 60_000 });

    const answers = [];
    for (let n = 0; n < 5; n++) answers.push(await sender.send(email));

    expect(provider.calls).toBe(3);
    expect(answers.slice(0, 3)).toEqual([unavailable, noAnswer, unavailable]);
    for (const answer of answers.slice(3)) {
      expect(answer).toMatchObject({ ok: false, retryable: true, maybeTaken: false });
      expect(answer.ok ? 0 : answer.retryAfterMs).toBeGreaterThan(59_000);
      expect(answer.ok ? 0 : answer.retryAfterMs).toBeLessThanOrEqual(60_001);
      expect(answer.ok ? '' : answer.reason).toMatch(/sendgrid circuit open/);
    }
  });

  it('a success between failures keeps it closed', async () => {
    const provider = new ScriptedEmail([unavailable, unavailable, taken, unavailable, unavailable, taken]);
    const sender = guarded(provider, { failures: 3 });

    for (let n = 0; n < 6; n++) await sender.send(email);

    expect(provider.calls).toBe(6);
  });

  it('429s and refusals of the message itself are not failures of the provider', async () => {
    const provider = new ScriptedEmail([throttled, invalid, throttled, invalid, throttled, invalid]);
    const sender = guarded(provider, { failures: 2 });

    const answers = [];
    for (let n = 0; n < 6; n++) answers.push(await sender.send(email));

    expect(provider.calls).toBe(6);
    expect(answers).toEqual([throttled, invalid, throttled, invalid, throttled, invalid]);
  });

  it('half-open: after the delay one probe goes; its success closes the breaker', async () => {
    const provider = new ScriptedEmail([unavailable, unavailable, taken]);
    const guard = new ProviderGuard('sendgrid', { failuresToOpen: 2, halfOpenAfterMs: 200 });
    const sender = new GuardedEmail(provider, guard);
    await sender.send(email);
    await sender.send(email);
    expect(guard.state).toBe(CircuitState.Open);
    expect(await sender.send(email)).toMatchObject({ ok: false, maybeTaken: false });
    expect(provider.calls).toBe(2);

    await sleep(250);
    expect(await sender.send(email)).toEqual(taken);
    expect(guard.state).toBe(CircuitState.Closed);
    expect(await sender.send(email)).toEqual(taken);
    expect(provider.calls).toBe(4);
  });

  it('half-open: a failed probe opens it again for another delay', async () => {
    const provider = new ScriptedEmail([unavailable]);
    const guard = new ProviderGuard('sendgrid', { failuresToOpen: 2, halfOpenAfterMs: 200 });
    const sender = new GuardedEmail(provider, guard);
    await sender.send(email);
    await sender.send(email);

    await sleep(250);
    expect(await sender.send(email)).toEqual(unavailable);
    expect(guard.state).toBe(CircuitState.Open);
    const refused = await sender.send(email);
    expect(refused).toMatchObject({ ok: false, retryable: true, maybeTaken: false });
    expect(refused.ok ? 0 : refused.retryAfterMs).toBeGreaterThan(150);
    expect(provider.calls).toBe(3);
  });

  it('half-open: only one probe goes while it is out; the others are deferred', async () => {
    let release: (result: ProviderResult) => void = () => undefined;
    let calls = 0;
    const slow: EmailProvider = {
      name: 'sendgrid',
      send: () => {
        calls += 1;
        return calls <= 2 ? Promise.resolve(unavailable) : new Promise((resolve) => (release = resolve));
      },
    };
    const sender = new GuardedEmail(
      slow,
      new ProviderGuard('sendgrid', { failuresToOpen: 2, halfOpenAfterMs: 100 }),
    );
    await sender.send(email);
    await sender.send(email);
    await sleep(150);

    const probe = sender.send(email);
    const others = await Promise.all([sender.send(email), sender.send(email)]);
    release(taken);

    expect(await probe).toEqual(taken);
    expect(others).toEqual([
      expect.objectContaining({ ok: false, retryable: true, maybeTaken: false }),
      expect.objectContaining({ ok: false, retryable: true, maybeTaken: false }),
    ]);
    expect(calls).toBe(3);
  });
});

describe('provider guard and its budget', () => {
  it('a spent budget defers the send without calling the provider', async () => {
    const provider = new ScriptedEmail([taken]);
    const { budget } = budgetOf([
      { ok: false, retryAfterMs: 400, reason: 'sendgrid send budget spent (9/s)' },
    ]);
    const sender = new GuardedEmail(
      provider,
      new ProviderGuard('sendgrid', { failuresToOpen: 3, halfOpenAfterMs: 1_000, budget }),
    );

    expect(await sender.send(email)).toEqual({
      ok: false,
      retryable: true,
      retryAfterMs: 400,
      reason: 'sendgrid send budget spent (9/s)',
      maybeTaken: false,
      deferred: true,
    });
    expect(provider.calls).toBe(0);
  });

  it('a 429 pauses the budget for its Retry-After (a second without one)', async () => {
    const withoutHeader: ProviderResult = {
      ok: false,
      retryable: true,
      reason: 'twilio 429',
      rateLimited: true,
    };
    const answers = [throttled, withoutHeader];
    const { budget, pauses } = budgetOf([{ ok: true }]);
    const sms: SmsProvider = { name: 'twilio', send: () => Promise.resolve(answers.shift() ?? taken) };
    const sender = new GuardedSms(
      sms,
      new ProviderGuard('twilio', { failuresToOpen: 1, halfOpenAfterMs: 1_000, budget }),
    );
    const text = { to: '+15005550006', body: 'hi', key: 'k-1' };

    expect(await sender.send(text)).toEqual(throttled);
    expect(await sender.send(text)).toEqual(withoutHeader);
    expect(await sender.send(text)).toEqual(taken);

    expect(pauses).toEqual([3_000, 1_000]);
  });

  it('an open breaker takes nothing from the budget', async () => {
    const provider = new ScriptedEmail([unavailable]);
    const { budget, takes } = budgetOf([{ ok: true }]);
    const sender = new GuardedEmail(
      provider,
      new ProviderGuard('sendgrid', { failuresToOpen: 1, halfOpenAfterMs: 60_000, budget }),
    );
    await sender.send(email);
    await sender.send(email);
    await sender.send(email);

    expect(takes()).toBe(1);
  });

  it('keeps the provider name and passes the sent-with lookup through', async () => {
    const provider = new ScriptedEmail([taken]);
    const sender = guarded(provider);

    expect(sender.name).toBe('sendgrid');
    expect(await sender.sentWith?.('claim-7')).toEqual({
      ok: true,
      sent: [{ to: 'claim-7', subject: 's', providerMessageId: 'm' }],
    });
    const withoutLookup = new GuardedEmail(
      { name: 'none', send: () => Promise.resolve(taken) },
      new ProviderGuard('none', { failuresToOpen: 1, halfOpenAfterMs: 1_000 }),
    );
    expect(withoutLookup.sentWith).toBeUndefined();
  });
});

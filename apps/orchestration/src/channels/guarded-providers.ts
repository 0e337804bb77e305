import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhenResult,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import type { Connection } from 'mongoose';
import { expireDocuments, type ExpiringCollection } from '@tributary/store';
import type { OrchestrationConfig } from '../config';
import type { EmailProvider, OutgoingEmail, ProviderResult, SentLookup } from './email-provider';
import { ProviderBudget, type BudgetCollection } from './provider-budget';
import type { OutgoingSms, SentTextLookup, SmsProvider } from './sms-provider';

/** How a 429 without Retry-After pauses the budget. */
const DEFAULT_PAUSE_MS = 1_000;

/** True for a provider's "slow down": a budget signal, not a sign the provider is failing. */
export function isRateLimited(result: ProviderResult): boolean {
  return !result.ok && result.rateLimited === true;
}

/** True for what opens the breaker: an answer saying the provider is failing (5xx) or no answer at all. */
export function isProviderFailure(result: ProviderResult): boolean {
  return !result.ok && result.retryable && !isRateLimited(result);
}

export interface ProviderGuardOptions {
  /** Failures in a row that open the breaker. */
  failuresToOpen: number;
  /** How long the breaker stays open before one probe may go. */
  halfOpenAfterMs: number;
  /** The account's shared send budget; absent = no budget (e.g. the sandbox). */
  budget?: ProviderBudget;
}

/**
 * What stands between the engine and one provider: its circuit breaker (cockatiel) and its shared send budget.
 * While the breaker is open, or the budget is spent or paused, a send comes back retryable and not taken, without
 * calling the provider: the engine reschedules it after `retryAfterMs`.
 */
export class ProviderGuard {
  private readonly breaker: CircuitBreakerPolicy;
  private openedAt = 0;

  constructor(
    private readonly provider: string,
    private readonly options: ProviderGuardOptions,
  ) {
    this.breaker = circuitBreaker(
      handleWhenResult((result) => isProviderFailure(result as ProviderResult)),
      {
        halfOpenAfter: options.halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(options.failuresToOpen),
      },
    );
    this.breaker.onBreak(() => {
      this.openedAt = Date.now();
    });
  }

  get state(): CircuitState {
    return this.breaker.state;
  }

  /** Runs one provider call under the breaker and the budget. */
  async run(call: () => Promise<ProviderResult>): Promise<ProviderResult> {
    // Cockatiel leaves Open only when a call comes after the delay (that call is the probe), and holds the calls that
    // come during the probe until it ends: here they are deferred instead, and spend nothing of the budget.
    const state = this.breaker.state;
    if (
      state === CircuitState.Isolated ||
      state === CircuitState.HalfOpen ||
      (state === CircuitState.Open && this.openRemainingMs() > 0)
    )
      return this.shortCircuited();
    const budget = this.options.budget;
    if (budget) {
      const taken = await budget.take();
      if (!taken.ok)
        return {
          ok: false,
          retryable: true,
          retryAfterMs: taken.retryAfterMs,
          reason: taken.reason,
          maybeTaken: false,
          deferred: true,
        };
    }
    let result: ProviderResult;
    try {
      result = await this.breaker.execute(call);
    } catch (error) {
      // Open meanwhile, or another call is the half-open probe.
      if (error instanceof BrokenCircuitError) return this.shortCircuited();
      throw error;
    }
    if (budget && !result.ok && isRateLimited(result))
      await budget.pause(result.retryAfterMs ?? DEFAULT_PAUSE_MS);
    return result;
  }

  private openRemainingMs(): number {
    return Math.max(0, this.openedAt + this.options.halfOpenAfterMs - Date.now());
  }

  private shortCircuited(): ProviderResult {
    return {
      ok: false,
      retryable: true,
      // While a probe is out the breaker is half-open: others come back after a short while.
      retryAfterMs: this.breaker.state === CircuitState.HalfOpen ? 1_000 : this.openRemainingMs() + 1,
      reason: `${this.provider} circuit open: calls paused after repeated failures`,
      maybeTaken: false,
      deferred: true,
    };
  }
}

/** An email provider behind its guard; the sent-with lookup (its own API and limit) passes straight through. */
export class GuardedEmail implements EmailProvider {
  readonly sentWith?: (tag: string) => Promise<SentLookup>;

  constructor(
    private readonly inner: EmailProvider,
    private readonly guard: ProviderGuard,
  ) {
    const lookup = inner.sentWith?.bind(inner);
    if (lookup) this.sentWith = lookup;
  }

  get name(): string {
    return this.inner.name;
  }

  send(email: OutgoingEmail): Promise<ProviderResult> {
    return this.guard.run(() => this.inner.send(email));
  }
}

/** An SMS provider behind its guard; the sent-to lookup passes straight through, as the email one does. */
export class GuardedSms implements SmsProvider {
  readonly sentTo?: (to: string, since: Date) => Promise<SentTextLookup>;

  constructor(
    private readonly inner: SmsProvider,
    private readonly guard: ProviderGuard,
  ) {
    const lookup = inner.sentTo?.bind(inner);
    if (lookup) this.sentTo = lookup;
  }

  get name(): string {
    return this.inner.name;
  }

  send(sms: OutgoingSms): Promise<ProviderResult> {
    return this.guard.run(() => this.inner.send(sms));
  }
}

/** Where the send budgets live; counters of past seconds are swept a minute after their second. */
const BUDGET_COLLECTION = 'provider_budgets';
const sweeping = new WeakSet<Connection>();

/** A provider's guard as configured: its breaker, and its budget for the configured account in the store. */
export async function configuredGuard(
  connection: Connection,
  config: OrchestrationConfig,
  provider: string,
  /** Unset: no shared budget (the breaker still guards the provider). */
  perSecond: number | undefined,
): Promise<ProviderGuard> {
  const breaker = {
    failuresToOpen: config.PROVIDER_BREAKER_FAILURES,
    halfOpenAfterMs: config.PROVIDER_BREAKER_HALF_OPEN_MS,
  };
  if (perSecond === undefined) return new ProviderGuard(provider, breaker);
  const collection = connection.collection(BUDGET_COLLECTION);
  if (!sweeping.has(connection)) {
    sweeping.add(connection);
    await expireDocuments(collection as unknown as ExpiringCollection, 'at', 60_000);
  }
  return new ProviderGuard(provider, {
    ...breaker,
    budget: new ProviderBudget(collection as unknown as BudgetCollection, {
      provider,
      account: config.PROVIDER_BUDGET_ACCOUNT,
      perSecond,
      // Waits end well within the enrollments' lease; longer, the engine reschedules.
      maxWaitMs: Math.min(2_000, Math.floor(config.JOURNEY_TIMER_LEASE_MS / 10)),
    }),
  });
}

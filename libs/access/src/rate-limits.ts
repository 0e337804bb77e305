import type { Request } from 'express';
import type { CredentialRateLimiter, Principal, RateLimitDecision } from './workspace-auth';
import { TokenBuckets, type Allowance } from './token-buckets';

/** What a request carries beyond being one request: a tracking call's or batch's events and bytes. */
export interface RequestCost {
  events: number;
  bytes: number;
}

/** Allowances per replica. Events and bytes are only counted where the service says what a request costs. */
export interface RateLimitSettings {
  /** Requests of one credential. */
  credentialRequests: Allowance;
  /** Requests of all credentials of one workspace together: more keys must not mean a bigger share. */
  workspaceRequests: Allowance;
  /** Events of one workspace (a batch of 11,500 calls spends 11,500). */
  workspaceEvents?: Allowance;
  /** Bytes of request bodies of one workspace (after gzip is undone). */
  workspaceBytes?: Allowance;
}

type Unit = 'requests' | 'events' | 'bytes';

interface Meter {
  /** Names the allowance in a 429 (`allowance` field). */
  name: string;
  scope: 'credential' | 'workspace';
  unit: Unit;
  buckets: TokenBuckets;
}

interface Charge {
  meter: Meter;
  key: string;
  amount: number;
}

const allowanceText = (meter: Meter): string =>
  `this ${meter.scope}'s ${meter.buckets.allowance.perSecond} ${meter.unit}/s (burst ${meter.buckets.allowance.burst})`;

/**
 * Rate limits of a credential and of its workspace, in this replica's memory: with N replicas behind a balancer a
 * caller gets up to N times the configured allowance (a shared store, e.g. Redis, would be needed for a global one).
 * A request is admitted only if every allowance it draws on can pay for it, and then pays all of them at once, so a
 * refused request costs nothing. Token buckets: the long-run rate is `perSecond`, at most `burst` at once.
 */
export class WorkspaceRateLimits implements CredentialRateLimiter {
  private readonly meters: Meter[];

  constructor(
    settings: RateLimitSettings,
    private readonly costOf: (request: Request) => RequestCost | undefined = () => undefined,
    now: () => number = Date.now,
  ) {
    const meter = (name: string, scope: Meter['scope'], unit: Unit, allowance: Allowance): Meter => ({
      name,
      scope,
      unit,
      buckets: new TokenBuckets(allowance, now),
    });
    this.meters = [
      meter('credential-requests', 'credential', 'requests', settings.credentialRequests),
      meter('workspace-requests', 'workspace', 'requests', settings.workspaceRequests),
      ...(settings.workspaceEvents
        ? [meter('workspace-events', 'workspace', 'events', settings.workspaceEvents)]
        : []),
      ...(settings.workspaceBytes
        ? [meter('workspace-bytes', 'workspace', 'bytes', settings.workspaceBytes)]
        : []),
    ];
  }

  take(principal: Principal, request?: Request): RateLimitDecision {
    const cost = request ? this.costOf(request) : undefined;
    const charges = this.chargesOf(principal, {
      requests: 1,
      events: cost?.events ?? 0,
      bytes: cost?.bytes ?? 0,
    }).filter((charge) => charge.amount > 0);
    const refused = this.refusal(charges);
    if (refused) return refused;
    for (const charge of charges) charge.meter.buckets.spend(charge.key, charge.amount);
    // Headers describe the allowance closest to running out (the one a client should pace itself by).
    let tightest = charges[0];
    for (const charge of charges) {
      if (tightest && this.fill(charge) < this.fill(tightest)) tightest = charge;
    }
    if (!tightest) throw new Error('a request always draws on its credential’s allowance');
    return {
      ...this.level(tightest.meter, tightest.key),
      allowed: true,
      resetSeconds: Math.ceil(tightest.meter.buckets.fullInSeconds(tightest.key)),
    };
  }

  /** Refused now whatever the request costs: a request allowance empty, or an event or byte allowance in debt. */
  preview(principal: Principal): RateLimitDecision {
    const charges = this.chargesOf(principal, { requests: 1, events: 0, bytes: 0 });
    const refused = this.refusal(charges);
    if (refused) return refused;
    const { meter, key } = charges[0] as Charge;
    return { ...this.level(meter, key), allowed: true, resetSeconds: 0 };
  }

  private chargesOf(principal: Principal, amounts: Record<Unit, number>): Charge[] {
    return (
      this.meters
        // The operator (no workspace) has only its credential's allowance.
        .filter((meter) => meter.scope === 'credential' || principal.workspaceId !== '')
        .map((meter) => ({
          meter,
          key: meter.scope === 'credential' ? principal.credentialId : principal.workspaceId,
          amount: amounts[meter.unit],
        }))
    );
  }

  /** The allowance that makes the caller wait longest answers: its Retry-After covers every other. */
  private refusal(charges: readonly Charge[]): RateLimitDecision | undefined {
    let refusing: { charge: Charge; wait: number } | undefined;
    for (const charge of charges) {
      const wait = charge.meter.buckets.waitSeconds(charge.key, charge.amount);
      if (wait > 0 && (!refusing || wait > refusing.wait)) refusing = { charge, wait };
    }
    if (!refusing) return undefined;
    const { meter, key } = refusing.charge;
    return {
      ...this.level(meter, key),
      allowed: false,
      resetSeconds: Math.max(1, Math.ceil(refusing.wait)),
      allowance: meter.name,
      reason: allowanceText(meter),
    };
  }

  private fill({ meter, key }: Charge): number {
    return meter.buckets.tokens(key) / meter.buckets.allowance.burst;
  }

  private level(meter: Meter, key: string): { limit: number; remaining: number } {
    return {
      limit: meter.buckets.allowance.burst,
      remaining: Math.max(0, Math.floor(meter.buckets.tokens(key))),
    };
  }
}

import { HttpException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { applyRateLimitDecision, type Principal } from './workspace-auth';
import { WorkspaceRateLimits, type RateLimitSettings, type RequestCost } from './rate-limits';
import { requestAllowances } from './rate-limit.config';
import { TokenBuckets } from './token-buckets';

const principal = (credentialId: string, workspaceId = 'ws_a'): Principal => ({
  workspaceId,
  scopes: [],
  credentialId,
});

/** Just enough of an express Response to capture headers. */
function fakeResponse(): { res: Response; headers: Map<string, string> } {
  const headers = new Map<string, string>();
  const res = { setHeader: (name: string, value: string) => headers.set(name, value) } as unknown as Response;
  return { res, headers };
}

/** A clock the test moves by hand: every assertion is about counts, never about how fast the machine is. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let at = 1_700_000_000_000;
  return { now: () => at, advance: (ms) => (at += ms) };
}

const generous = { perSecond: 1_000, burst: 1_000 };

function limits(
  settings: Partial<RateLimitSettings>,
  clock = manualClock(),
): { limits: WorkspaceRateLimits; clock: ReturnType<typeof manualClock> } {
  // The cost rides on the request, as the tracking body reader leaves it for the guard.
  const costOf = (req: Request) => (req as Request & { cost?: RequestCost }).cost;
  return {
    limits: new WorkspaceRateLimits(
      { credentialRequests: generous, workspaceRequests: generous, ...settings },
      costOf,
      clock.now,
    ),
    clock,
  };
}
const carrying = (cost: RequestCost) => ({ cost }) as unknown as Request;

function refusal(decision: ReturnType<WorkspaceRateLimits['take']>): {
  status: number;
  body: Record<string, unknown>;
  headers: Map<string, string>;
} {
  const { res, headers } = fakeResponse();
  try {
    applyRateLimitDecision(res, decision);
  } catch (error) {
    const thrown = error as HttpException;
    return { status: thrown.getStatus(), body: thrown.getResponse() as Record<string, unknown>, headers };
  }
  throw new Error('the request was admitted');
}

describe('token buckets', () => {
  it('refill at the rate up to the burst; a cost above the burst waits for a full bucket, then leaves a debt', () => {
    const clock = manualClock();
    const buckets = new TokenBuckets({ perSecond: 10, burst: 100 }, clock.now);
    expect(buckets.waitSeconds('k', 250)).toBe(0);
    buckets.spend('k', 250);
    expect(buckets.tokens('k')).toBe(-150);
    // 15 s to pay the debt, 10 more to hold the 100 a full-burst request needs again.
    expect(buckets.waitSeconds('k', 250)).toBe(25);
    expect(buckets.waitSeconds('k', 1)).toBeCloseTo(15.1);
    clock.advance(25_000);
    expect(buckets.tokens('k')).toBe(100);
    clock.advance(60_000);
    expect(buckets.tokens('k')).toBe(100);
  });
});

describe('rate limits per credential and per workspace', () => {
  it('admits the burst with RateLimit-* headers counting down, then answers 429 with Retry-After', () => {
    const { limits: rl } = limits({ credentialRequests: { perSecond: 1, burst: 3 } });
    const seen: Array<[string | undefined, string | undefined]> = [];
    for (let i = 0; i < 3; i++) {
      const { res, headers } = fakeResponse();
      applyRateLimitDecision(res, rl.take(principal('key:a')));
      seen.push([headers.get('RateLimit-Limit'), headers.get('RateLimit-Remaining')]);
      expect(headers.has('Retry-After')).toBe(false);
      expect(Number(headers.get('RateLimit-Reset'))).toBeLessThanOrEqual(3);
    }
    expect(seen).toEqual([
      ['3', '2'],
      ['3', '1'],
      ['3', '0'],
    ]);

    const refused = refusal(rl.take(principal('key:a')));
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({
      error: 'rate_limited',
      allowance: 'credential-requests',
      problems: [
        { field: '(rate limit)', reason: expect.stringContaining("this credential's 1 requests/s") },
      ],
    });
    expect(refused.headers.get('Retry-After')).toBe('1');
    expect(refused.headers.get('RateLimit-Remaining')).toBe('0');
    expect(refused.headers.get('RateLimit-Reset')).toBe('1');
  });

  it('keeps each credential’s allowance separate', () => {
    const { limits: rl } = limits({ credentialRequests: { perSecond: 1, burst: 1 } });
    expect(rl.take(principal('key:a')).allowed).toBe(true);
    expect(rl.take(principal('key:a')).allowed).toBe(false);
    expect(rl.take(principal('key:b')).allowed).toBe(true);
  });

  it('shares one allowance among all keys of a workspace: more keys do not mean a bigger share', () => {
    const { limits: rl, clock } = limits({
      credentialRequests: { perSecond: 1, burst: 2 },
      workspaceRequests: { perSecond: 2, burst: 3 },
    });
    const admitted = ['key:1', 'key:1', 'key:2', 'key:2', 'key:3'].map(
      (key) => rl.take(principal(key)).allowed,
    );
    expect(admitted).toEqual([true, true, true, false, false]);
    expect(rl.take(principal('key:3'))).toMatchObject({ allowance: 'workspace-requests', resetSeconds: 1 });
    // Another workspace is untouched; the first gets 2 requests back per second.
    expect(rl.take(principal('key:9', 'ws_b')).allowed).toBe(true);
    clock.advance(1_000);
    expect([rl.take(principal('key:3')).allowed, rl.take(principal('key:4')).allowed]).toEqual([true, true]);
    expect(rl.take(principal('key:5')).allowed).toBe(false);
  });

  it('counts a batch’s events: one 11,500-event batch spends 11,500, and the workspace then waits it out', () => {
    const { limits: rl, clock } = limits({ workspaceEvents: { perSecond: 2_000, burst: 20_000 } });
    const batch = carrying({ events: 11_500, bytes: 500_000 });
    expect(rl.take(principal('key:a'), batch).allowed).toBe(true);
    const second = rl.take(principal('key:a'), batch);
    expect(second).toMatchObject({ allowed: false, allowance: 'workspace-events', remaining: 8_500 });
    // 3,000 events short at 2,000/s.
    expect(second.resetSeconds).toBe(2);
    expect(refusal(second).body['problems']).toEqual([
      {
        field: '(rate limit)',
        reason: "rate limit exceeded: this workspace's 2000 events/s (burst 20000); retry in 2 s",
      },
    ]);
    // Single calls of the workspace still fit in what is left; another workspace is not affected at all.
    expect(rl.take(principal('key:b'), carrying({ events: 1, bytes: 200 })).allowed).toBe(true);
    expect(rl.take(principal('key:c', 'ws_b'), batch).allowed).toBe(true);
    clock.advance(second.resetSeconds * 1_000);
    expect(rl.take(principal('key:a'), batch).allowed).toBe(true);
  });

  it('counts bytes, and a refused request spends nothing of any allowance', () => {
    const { limits: rl } = limits({
      credentialRequests: { perSecond: 1, burst: 5 },
      workspaceEvents: { perSecond: 1_000, burst: 1_000 },
      workspaceBytes: { perSecond: 100_000, burst: 600_000 },
    });
    expect(rl.take(principal('key:a'), carrying({ events: 10, bytes: 500_000 })).allowed).toBe(true);
    const refused = rl.take(principal('key:a'), carrying({ events: 10, bytes: 500_000 }));
    expect(refused).toMatchObject({ allowed: false, allowance: 'workspace-bytes', resetSeconds: 4 });
    // The refused request left the credential's requests and the workspace's events as they were.
    const next = rl.take(principal('key:a'), carrying({ events: 10, bytes: 100 }));
    expect(next).toMatchObject({ allowed: true, limit: 600_000 });
    expect(next.remaining).toBe(99_900);
    // Two of the credential's five requests spent, not three: this one leaves two.
    expect(rl.take(principal('key:a'))).toMatchObject({ allowed: true, limit: 5, remaining: 2 });
  });

  it('headers describe the allowance closest to running out', () => {
    const { limits: rl } = limits({
      credentialRequests: { perSecond: 10, burst: 100 },
      workspaceEvents: { perSecond: 100, burst: 1_000 },
    });
    expect(rl.take(principal('key:a'), carrying({ events: 1, bytes: 0 }))).toMatchObject({
      limit: 100,
      remaining: 99,
    });
    expect(rl.take(principal('key:a'), carrying({ events: 900, bytes: 0 }))).toMatchObject({
      limit: 1_000,
      remaining: 99,
      resetSeconds: 10,
    });
  });

  it('gives the operator (no workspace) only its credential’s allowance', () => {
    const { limits: rl } = limits({
      credentialRequests: { perSecond: 1, burst: 2 },
      workspaceRequests: { perSecond: 1, burst: 1 },
    });
    expect([
      rl.take(principal('admin-token', '')).allowed,
      rl.take(principal('admin-token', '')).allowed,
    ]).toEqual([true, true]);
  });

  it('a workspace gets twice a credential’s allowance unless configured', () => {
    const base = {
      RATE_LIMIT_PER_SECOND: 50,
      RATE_LIMIT_BURST: 100,
      AUTH_FAILURE_LIMIT: 20,
      AUTH_FAILURE_WINDOW_SECONDS: 60,
    };
    expect(requestAllowances(base).workspaceRequests).toEqual({ perSecond: 100, burst: 200 });
    expect(
      requestAllowances({ ...base, RATE_LIMIT_WORKSPACE_PER_SECOND: 60, RATE_LIMIT_WORKSPACE_BURST: 70 })
        .workspaceRequests,
    ).toEqual({ perSecond: 60, burst: 70 });
  });
});

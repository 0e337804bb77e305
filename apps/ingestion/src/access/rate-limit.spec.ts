import { HttpException } from '@nestjs/common';
import type { Response } from 'express';
import { applyRateLimitDecision, type Principal } from '@tributary/platform';
import { CredentialRateLimits } from './rate-limit';

const principal = (credentialId: string): Principal => ({ workspaceId: 'ws_a', scopes: [], credentialId });

/** Just enough of an express Response to capture headers. */
function fakeResponse(): { res: Response; headers: Map<string, string> } {
  const headers = new Map<string, string>();
  const res = { setHeader: (name: string, value: string) => headers.set(name, value) } as unknown as Response;
  return { res, headers };
}

describe('per-credential rate limits', () => {
  it('admits the burst with RateLimit-* headers counting down, then answers 429 with Retry-After', async () => {
    const limits = new CredentialRateLimits({ perSecond: 1, burst: 3 });
    const seen: Array<[string | undefined, string | undefined]> = [];
    for (let i = 0; i < 3; i++) {
      const { res, headers } = fakeResponse();
      applyRateLimitDecision(res, await limits.take(principal('key:a')));
      seen.push([headers.get('RateLimit-Limit'), headers.get('RateLimit-Remaining')]);
      expect(headers.has('Retry-After')).toBe(false);
      expect(Number(headers.get('RateLimit-Reset'))).toBeLessThanOrEqual(3);
    }
    expect(seen).toEqual([
      ['3', '2'],
      ['3', '1'],
      ['3', '0'],
    ]);

    const { res, headers } = fakeResponse();
    let thrown: unknown;
    try {
      applyRateLimitDecision(res, await limits.take(principal('key:a')));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(HttpException);
    expect((thrown as HttpException).getStatus()).toBe(429);
    expect((thrown as HttpException).getResponse()).toMatchObject({ error: 'rate_limited' });
    const retryAfter = Number(headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3);
    expect(headers.get('RateLimit-Remaining')).toBe('0');
    expect(headers.get('RateLimit-Reset')).toBe(String(retryAfter));
  });

  it('keeps each credential’s allowance separate', async () => {
    const limits = new CredentialRateLimits({ perSecond: 1, burst: 1 });
    expect((await limits.take(principal('key:a'))).allowed).toBe(true);
    expect((await limits.take(principal('key:a'))).allowed).toBe(false);
    expect((await limits.take(principal('key:b'))).allowed).toBe(true);
  });

  it('refills over burst/rate seconds', () => {
    expect(new CredentialRateLimits({ perSecond: 50, burst: 100 }).windowSeconds).toBe(2);
    expect(new CredentialRateLimits({ perSecond: 500, burst: 100 }).windowSeconds).toBe(1);
  });
});

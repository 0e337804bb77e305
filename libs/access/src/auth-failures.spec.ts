import { HttpException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import {
  clientAddress,
  WorkspaceKeyGuard,
  type Principal,
  type WorkspaceKeyResolver,
} from './workspace-auth';
import { AuthFailures } from './auth-failures';

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let at = 1_700_000_000_000;
  return { now: () => at, advance: (ms) => (at += ms) };
}

const VALID = 'valid-key';

/** A resolver that knows one key and counts how often it was asked. */
class CountingResolver implements WorkspaceKeyResolver {
  lookups = 0;
  resolve(credential: string): Principal | undefined {
    this.lookups += 1;
    return credential === VALID
      ? { workspaceId: 'ws_a', scopes: ['*'], credentialId: 'key:valid' }
      : undefined;
  }
}

function request(address: string, key: string): ExecutionContext {
  const headers = new Map<string, string>();
  const req = { ip: address, headers: { authorization: `Bearer ${key}` } } as unknown as Request;
  const res = { setHeader: (name: string, value: string) => headers.set(name, value) } as unknown as Response;
  return {
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
    getHandler: () => request,
    getClass: () => Object,
    headers,
  } as unknown as ExecutionContext;
}

async function status(guard: WorkspaceKeyGuard, address: string, key: string): Promise<number> {
  try {
    await guard.canActivate(request(address, key));
    return 200;
  } catch (error) {
    return (error as HttpException).getStatus();
  }
}

describe('failed-authentication throttle', () => {
  const setup = () => {
    const clock = manualClock();
    const resolver = new CountingResolver();
    const failures = new AuthFailures({ limit: 3, windowSeconds: 30 }, clock.now);
    const guard = new WorkspaceKeyGuard(resolver, new Reflector(), undefined, failures);
    return { clock, resolver, failures, guard };
  };

  it('after the limit of wrong keys, answers the address 429 + Retry-After without looking at its credential', async () => {
    const { resolver, guard } = setup();
    const guesses = ['guess-1', 'guess-2', 'guess-3'];
    const answers = [];
    for (const guess of guesses) answers.push(await status(guard, '203.0.113.7', guess));
    expect(answers).toEqual([401, 401, 401]);
    expect(resolver.lookups).toBe(3);

    const blocked = request('203.0.113.7', 'guess-4');
    const thrown = await guard.canActivate(blocked).then(
      () => undefined,
      (error: unknown) => error as HttpException,
    );
    expect(thrown?.getStatus()).toBe(429);
    expect(thrown?.getResponse()).toMatchObject({
      error: 'rate_limited',
      allowance: 'failed-authentications',
      problems: [
        { field: 'authorization', reason: expect.stringContaining('too many failed authentications') },
      ],
    });
    // One try back every window/limit = 10 s.
    expect((blocked as unknown as { headers: Map<string, string> }).headers.get('Retry-After')).toBe('10');
    // Constant work: the credential was not even looked up (not even a valid one from that address).
    expect(await status(guard, '203.0.113.7', VALID)).toBe(429);
    expect(resolver.lookups).toBe(3);
  });

  it('never locks out a key holder at another address, and never counts or slows successes', async () => {
    const { resolver, guard } = setup();
    for (let i = 0; i < 10; i++) await status(guard, '203.0.113.7', `guess-${i}`);
    expect(await status(guard, '198.51.100.20', VALID)).toBe(200);
    for (let i = 0; i < 50; i++) expect(await status(guard, '198.51.100.21', VALID)).toBe(200);
    expect(resolver.lookups).toBe(3 + 1 + 50);
  });

  it('does not count a repeat of the same wrong credential (a revoked key still deployed is not a guess)', async () => {
    const { guard } = setup();
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await status(guard, '203.0.113.7', 'revoked-key'));
    expect(answers).toEqual(Array(10).fill(401));
    expect(await status(guard, '203.0.113.7', VALID)).toBe(200);
  });

  it('lets the address try again once the window refilled', async () => {
    const { clock, guard } = setup();
    for (let i = 0; i < 3; i++) await status(guard, '203.0.113.7', `guess-${i}`);
    expect(await status(guard, '203.0.113.7', VALID)).toBe(429);
    clock.advance(10_000);
    expect(await status(guard, '203.0.113.7', VALID)).toBe(200);
  });

  it('is off with a limit of 0', async () => {
    const failures = new AuthFailures({ limit: 0, windowSeconds: 60 });
    for (let i = 0; i < 100; i++) failures.failed('203.0.113.7', `guess-${i}`);
    expect(failures.retryAfterSeconds('203.0.113.7')).toBe(0);
  });
});

describe('client address', () => {
  const of = (ip: string) => clientAddress({ ip } as unknown as Request);

  it('is the IPv4 address, also when mapped into IPv6', () => {
    expect(of('203.0.113.7')).toBe('203.0.113.7');
    expect(of('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('is the /64 of an IPv6 address, however it is written', () => {
    expect(of('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(of('2001:0db8:0000:0001:ffff:1:2:3')).toBe('2001:db8:0:1::/64');
    expect(of('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(of('::1')).toBe('0:0:0:0::/64');
    expect(of('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  Optional,
  SetMetadata,
  UnauthorizedException,
  createParamDecorator,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import ipaddr from 'ipaddr.js';

/** Who is calling: the workspace a credential belongs to and what it may do. */
export interface Principal {
  workspaceId: string;
  /** Granted scopes, e.g. `track:write`, `leads:write`, `webhooks:shopify`, `admin`; `*` grants all. */
  scopes: readonly string[];
  /** Id of the credential (API key id or OAuth client id), for audit and rate limits; never the secret. */
  credentialId: string;
}

/** Resolves a presented credential (write key or bearer token) to its principal; async so stores can back it. */
export interface WorkspaceKeyResolver {
  resolve(credential: string): Promise<Principal | undefined> | Principal | undefined;
}

/** DI token of the WorkspaceKeyResolver the guard uses. */
export const WORKSPACE_KEYS = Symbol('WORKSPACE_KEYS');

/** What a rate limiter decided for one request (IETF RateLimit header fields, of its most constrained allowance). */
export interface RateLimitDecision {
  allowed: boolean;
  /** What the allowance holds at most (RateLimit-Limit): requests, events or bytes. */
  limit: number;
  /** What is left of it (RateLimit-Remaining). */
  remaining: number;
  /** Seconds until it is full again (RateLimit-Reset); when refused, until the request would be admitted. */
  resetSeconds: number;
  /** The allowance that refused the request, e.g. `workspace-events`; set when refused. */
  allowance?: string;
  /** Says what ran out, for the client, e.g. `this workspace's 2000 events/s (burst 20000)`; set when refused. */
  reason?: string;
}

/**
 * Per-credential and per-workspace rate limiting, consulted by WorkspaceKeyGuard after authentication. The request
 * lets a limiter count more than one request (a tracking batch: its events and bytes).
 */
export interface CredentialRateLimiter {
  take(principal: Principal, request?: Request): Promise<RateLimitDecision> | RateLimitDecision;
  /**
   * Whether the principal's next request would be refused now, whatever it costs, spending nothing: lets a route
   * refuse a throttled caller before reading its body (a 500 KB batch costs more to parse than to refuse).
   */
  preview?(principal: Principal): RateLimitDecision;
}

/**
 * Optional DI token of a CredentialRateLimiter. When a module provides it, WorkspaceKeyGuard limits every
 * authenticated request; services that do not provide it are unaffected.
 */
export const RATE_LIMITER = Symbol('RATE_LIMITER');

/** Sets RateLimit-* headers (and Retry-After when refused); throws 429 naming the allowance when refused. */
export function applyRateLimitDecision(res: Response, decision: RateLimitDecision): void {
  res.setHeader('RateLimit-Limit', String(decision.limit));
  res.setHeader('RateLimit-Remaining', String(decision.remaining));
  res.setHeader('RateLimit-Reset', String(decision.resetSeconds));
  if (decision.allowed) return;
  const retryAfter = Math.max(1, decision.resetSeconds);
  res.setHeader('Retry-After', String(retryAfter));
  const reason = `rate limit exceeded: ${decision.reason ?? 'this credential’s requests'}; retry in ${retryAfter} s`;
  throw new HttpException(
    {
      error: 'rate_limited',
      allowance: decision.allowance ?? 'credential-requests',
      reason,
      problems: [{ field: '(rate limit)', reason }],
    },
    HttpStatus.TOO_MANY_REQUESTS,
  );
}

/**
 * Throttles failed authentication per client address: after a number of wrong credentials from one address, its
 * requests are answered 429 before any credential is checked. Successful authentication never counts.
 */
export interface AuthFailureThrottle {
  /** Seconds the address must wait before a credential of it is checked again; 0 when it may try now. */
  retryAfterSeconds(address: string): number;
  /** Records a presented credential that did not authenticate. */
  failed(address: string, credential: string): void;
}

/** Optional DI token of an AuthFailureThrottle (WorkspaceKeyGuard uses it when provided). */
export const AUTH_FAILURES = Symbol('AUTH_FAILURES');

/**
 * The address failures are counted by: the peer address Express sees (`req.ip`; X-Forwarded-For only counts when
 * the app trusts a proxy, so a client cannot pick its own). IPv4-mapped IPv6 is the IPv4 address; IPv6 counts by
 * its /64, since one subscriber usually holds a whole /64.
 */
export function clientAddress(req: Request): string {
  const ip = (req.ip ?? req.socket?.remoteAddress)?.split('%', 1)[0];
  if (!ip || !ipaddr.isValid(ip)) return ip ?? 'unknown';
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  return `${(address as ipaddr.IPv6).parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`;
}

/** Answers 429 + Retry-After, before the credential is checked, while the address is throttled. */
export function refuseThrottledAddress(
  throttle: AuthFailureThrottle | undefined,
  address: string,
  res: Response,
): void {
  const wait = throttle?.retryAfterSeconds(address) ?? 0;
  if (wait <= 0) return;
  res.setHeader('Retry-After', String(wait));
  const reason = `too many failed authentications from this address; retry in ${wait} s`;
  throw new HttpException(
    {
      error: 'rate_limited',
      allowance: 'failed-authentications',
      reason,
      problems: [{ field: 'authorization', reason }],
    },
    HttpStatus.TOO_MANY_REQUESTS,
  );
}

/** Static key → workspace table from config (all scopes): bootstrap and demo keys. "key1:ws1,key2:ws2". */
export class StaticWorkspaceKeys implements WorkspaceKeyResolver {
  private readonly keys: Map<string, string>;
  constructor(spec: string) {
    this.keys = new Map(
      spec
        .split(',')
        .map((pair) => pair.trim())
        .filter(Boolean)
        .map((pair) => {
          const at = pair.lastIndexOf(':');
          return [pair.slice(0, at), pair.slice(at + 1)] as [string, string];
        }),
    );
  }
  resolve(key: string): Principal | undefined {
    const workspaceId = this.keys.get(key);
    return workspaceId ? { workspaceId, scopes: ['*'], credentialId: `static:${workspaceId}` } : undefined;
  }
}

/** Reads a key the way Segment SDKs send it: HTTP Basic username (empty password), or a Bearer token. */
export function presentedKey(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const [scheme, value] = header.split(' ', 2);
  if (!value) return undefined;
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? decoded : decoded.slice(0, colon);
  }
  if (scheme?.toLowerCase() === 'bearer') return value;
  return undefined;
}

const SCOPES_KEY = 'tributary:required-scopes';

/** Scopes a route needs; the caller needs all of them (or `*`). */
export const RequireScopes = (...scopes: string[]) => SetMetadata(SCOPES_KEY, scopes);

const ANY_SCOPES_KEY = 'tributary:any-of-scopes';

/** Scopes of which a route needs at least one (e.g. a read that a reader or an admin scope allows). */
export const RequireAnyScope = (...scopes: string[]) => SetMetadata(ANY_SCOPES_KEY, scopes);

/**
 * The scopes a route handler declares, for documentation (the API description names them): `all` must all be
 * granted, one of `any` is enough; both empty for a public route.
 */
export function declaredScopes(handler: object): { all: string[]; any: string[] } {
  return {
    all: (Reflect.getMetadata(SCOPES_KEY, handler) as string[] | undefined) ?? [],
    any: (Reflect.getMetadata(ANY_SCOPES_KEY, handler) as string[] | undefined) ?? [],
  };
}

/** True when `granted` covers every scope in `required`. */
export function hasScopes(granted: readonly string[], required: readonly string[]): boolean {
  return granted.includes('*') || required.every((scope) => granted.includes(scope));
}

type WorkspaceRequest = Request & { principal?: Principal };

/**
 * Admits a request only with a known credential holding the route's scopes, and pins it to that workspace.
 * When AUTH_FAILURES is provided, an address that presented too many wrong credentials is answered 429 before its
 * credential is even looked at. When a RATE_LIMITER is provided it then spends the request from the credential's
 * and the workspace's allowances: the limiter runs here, after authentication, because it is keyed by the principal
 * (a global guard would run before this one).
 */
@Injectable()
export class WorkspaceKeyGuard implements CanActivate {
  constructor(
    @Inject(WORKSPACE_KEYS) private readonly keys: WorkspaceKeyResolver,
    private readonly reflector: Reflector,
    @Optional() @Inject(RATE_LIMITER) private readonly limiter?: CredentialRateLimiter,
    @Optional() @Inject(AUTH_FAILURES) private readonly failures?: AuthFailureThrottle,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<WorkspaceRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    const key = presentedKey(req);
    if (!key)
      throw new UnauthorizedException({
        error: 'unauthorized',
        field: 'authorization',
        reason: 'missing write key',
      });
    const address = clientAddress(req);
    refuseThrottledAddress(this.failures, address, res);
    const principal = await this.keys.resolve(key);
    if (!principal) {
      this.failures?.failed(address, key);
      throw new UnauthorizedException({
        error: 'unauthorized',
        field: 'authorization',
        reason: 'unknown key',
      });
    }
    const required =
      this.reflector.getAllAndOverride<string[] | undefined>(SCOPES_KEY, [
        context.getHandler(),
        context.getClass(),
      ]) ?? [];
    if (!hasScopes(principal.scopes, required)) {
      throw new ForbiddenException({
        error: 'forbidden',
        field: 'authorization',
        reason: `missing scope: ${required.filter((s) => !principal.scopes.includes(s)).join(', ')}`,
      });
    }
    const anyOf =
      this.reflector.getAllAndOverride<string[] | undefined>(ANY_SCOPES_KEY, [
        context.getHandler(),
        context.getClass(),
      ]) ?? [];
    if (anyOf.length > 0 && !anyOf.some((scope) => hasScopes(principal.scopes, [scope]))) {
      throw new ForbiddenException({
        error: 'forbidden',
        field: 'authorization',
        reason: `missing scope: one of ${anyOf.join(', ')}`,
      });
    }
    req.principal = principal;
    if (this.limiter) applyRateLimitDecision(res, await this.limiter.take(principal, req));
    return true;
  }
}

/** The workspace the request's credential belongs to; never taken from the body or query. */
export const CurrentWorkspace = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const workspaceId = ctx.switchToHttp().getRequest<WorkspaceRequest>().principal?.workspaceId;
  if (!workspaceId)
    throw new UnauthorizedException({ error: 'unauthorized', reason: 'no workspace on request' });
  return workspaceId;
});

/** The authenticated principal of the request. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<WorkspaceRequest>().principal;
  if (!principal)
    throw new UnauthorizedException({ error: 'unauthorized', reason: 'no principal on request' });
  return principal;
});

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

/** What a rate limiter decided for one request of a credential (IETF RateLimit header fields). */
export interface RateLimitDecision {
  allowed: boolean;
  /** Requests the credential may burst (RateLimit-Limit). */
  limit: number;
  /** Requests left before it is throttled (RateLimit-Remaining). */
  remaining: number;
  /** Seconds until the allowance is refilled (RateLimit-Reset); also Retry-After when refused. */
  resetSeconds: number;
}

/** Per-credential rate limiting, consulted by WorkspaceKeyGuard after authentication. */
export interface CredentialRateLimiter {
  take(principal: Principal): Promise<RateLimitDecision>;
}

/**
 * Optional DI token of a CredentialRateLimiter. When a module provides it, WorkspaceKeyGuard limits every
 * authenticated request; services that do not provide it are unaffected.
 */
export const RATE_LIMITER = Symbol('RATE_LIMITER');

/** Sets RateLimit-* headers (and Retry-After when refused); throws 429 when the decision refuses the request. */
export function applyRateLimitDecision(res: Response, decision: RateLimitDecision): void {
  res.setHeader('RateLimit-Limit', String(decision.limit));
  res.setHeader('RateLimit-Remaining', String(decision.remaining));
  res.setHeader('RateLimit-Reset', String(decision.resetSeconds));
  if (decision.allowed) return;
  res.setHeader('Retry-After', String(Math.max(1, decision.resetSeconds)));
  throw new HttpException(
    {
      error: 'rate_limited',
      reason: `rate limit exceeded for this credential; retry in ${Math.max(1, decision.resetSeconds)} s`,
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

/** True when `granted` covers every scope in `required`. */
export function hasScopes(granted: readonly string[], required: readonly string[]): boolean {
  return granted.includes('*') || required.every((scope) => granted.includes(scope));
}

type WorkspaceRequest = Request & { principal?: Principal };

/**
 * Admits a request only with a known credential holding the route's scopes, and pins it to that workspace.
 * When a RATE_LIMITER is provided it then spends one request of the credential's allowance: the limiter runs here,
 * after authentication, because it is keyed by the principal (a global guard would run before this one).
 */
@Injectable()
export class WorkspaceKeyGuard implements CanActivate {
  constructor(
    @Inject(WORKSPACE_KEYS) private readonly keys: WorkspaceKeyResolver,
    private readonly reflector: Reflector,
    @Optional() @Inject(RATE_LIMITER) private readonly limiter?: CredentialRateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<WorkspaceRequest>();
    const key = presentedKey(req);
    if (!key)
      throw new UnauthorizedException({
        error: 'unauthorized',
        field: 'authorization',
        reason: 'missing write key',
      });
    const principal = await this.keys.resolve(key);
    if (!principal)
      throw new UnauthorizedException({
        error: 'unauthorized',
        field: 'authorization',
        reason: 'unknown key',
      });
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
    if (this.limiter) {
      applyRateLimitDecision(
        context.switchToHttp().getResponse<Response>(),
        await this.limiter.take(principal),
      );
    }
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

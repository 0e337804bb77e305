import {
  CanActivate,
  ExecutionContext,
  Inject,
  Injectable,
  UnauthorizedException,
  createParamDecorator,
} from '@nestjs/common';
import type { Request } from 'express';

/** Resolves a presented write key to its workspace; implemented by the key store of the edge. */
export interface WorkspaceKeyResolver {
  resolve(key: string): string | undefined;
}

/** DI token of the WorkspaceKeyResolver the guard uses. */
export const WORKSPACE_KEYS = Symbol('WORKSPACE_KEYS');

/** Static key → workspace table (from config) used until the key store lands. Format: "key1:ws1,key2:ws2". */
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
  resolve(key: string): string | undefined {
    return this.keys.get(key);
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

type WorkspaceRequest = Request & { workspaceId?: string };

/** Admits a request only with a known key and pins it to that key's workspace. */
@Injectable()
export class WorkspaceKeyGuard implements CanActivate {
  constructor(@Inject(WORKSPACE_KEYS) private readonly keys: WorkspaceKeyResolver) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<WorkspaceRequest>();
    const key = presentedKey(req);
    if (!key)
      throw new UnauthorizedException({
        error: 'unauthorized',
        field: 'authorization',
        reason: 'missing write key',
      });
    const workspaceId = this.keys.resolve(key);
    if (!workspaceId)
      throw new UnauthorizedException({
        error: 'unauthorized',
        field: 'authorization',
        reason: 'unknown key',
      });
    req.workspaceId = workspaceId;
    return true;
  }
}

/** The workspace the request's key belongs to; never taken from the body or query. */
export const CurrentWorkspace = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const workspaceId = ctx.switchToHttp().getRequest<WorkspaceRequest>().workspaceId;
  if (!workspaceId)
    throw new UnauthorizedException({ error: 'unauthorized', reason: 'no workspace on request' });
  return workspaceId;
});

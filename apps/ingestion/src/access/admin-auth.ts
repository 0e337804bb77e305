import {
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
  createParamDecorator,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  constantTimeEquals,
  AUTH_FAILURES,
  RATE_LIMITER,
  WORKSPACE_KEYS,
  applyRateLimitDecision,
  clientAddress,
  hasScopes,
  presentedKey,
  refuseThrottledAddress,
  type AuthFailureThrottle,
  type CredentialRateLimiter,
  type WorkspaceKeyResolver,
} from '@tributary/access';
import { SERVICE_CONFIG } from '@tributary/config';
import type { IngestionConfig } from '../config';
import { IngestionScopes } from '../scopes';

/**
 * Who administers: the platform operator (ADMIN_TOKEN: every workspace, creates workspaces, signing keys) or a
 * workspace credential with the `admin` scope (only its own workspace's keys and clients).
 */
export type AdminActor =
  | { kind: 'operator'; credentialId: 'admin-token' }
  | { kind: 'workspace'; credentialId: string; workspaceId: string };

type AdminRequest = Request & { adminActor?: AdminActor };

const unauthorized = (reason: string) =>
  new UnauthorizedException({ error: 'unauthorized', field: 'authorization', reason });

/**
 * Admits the operator token or an `admin`-scoped workspace credential, then spends its rate-limit allowance. An
 * address that presented too many wrong credentials is answered 429 before the token is compared.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
    @Inject(WORKSPACE_KEYS) private readonly keys: WorkspaceKeyResolver,
    @Inject(RATE_LIMITER) private readonly limiter: CredentialRateLimiter,
    @Inject(AUTH_FAILURES) private readonly failures: AuthFailureThrottle,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AdminRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    const presented = presentedKey(req);
    if (!presented) throw unauthorized('missing admin credential');
    const address = clientAddress(req);
    refuseThrottledAddress(this.failures, address, res);
    let actor: AdminActor;
    if (constantTimeEquals(presented, this.config.ADMIN_TOKEN)) {
      actor = { kind: 'operator', credentialId: 'admin-token' };
    } else {
      const principal = await this.keys.resolve(presented);
      if (!principal) {
        this.failures.failed(address, presented);
        throw unauthorized('unknown credential');
      }
      if (!hasScopes(principal.scopes, [IngestionScopes.admin])) {
        throw new ForbiddenException({
          error: 'forbidden',
          field: 'authorization',
          reason: `missing scope: ${IngestionScopes.admin}`,
        });
      }
      actor = { kind: 'workspace', credentialId: principal.credentialId, workspaceId: principal.workspaceId };
    }
    const decision = await this.limiter.take({
      workspaceId: actor.kind === 'workspace' ? actor.workspaceId : '',
      scopes: [],
      credentialId: actor.credentialId,
    });
    applyRateLimitDecision(res, decision);
    req.adminActor = actor;
    return true;
  }
}

/** The authenticated administrator of the request. */
export const CurrentAdmin = createParamDecorator((_: unknown, ctx: ExecutionContext): AdminActor => {
  const actor = ctx.switchToHttp().getRequest<AdminRequest>().adminActor;
  if (!actor) throw unauthorized('no admin on request');
  return actor;
});

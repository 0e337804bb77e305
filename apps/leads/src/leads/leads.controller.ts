import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Headers,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  UseGuards,
} from '@nestjs/common';
import { z } from 'zod';
import { clientEventId, originMetadata } from '@tributary/messaging';
import {
  CurrentPrincipal,
  CurrentWorkspace,
  RequireScopes,
  WorkspaceKeyGuard,
  type Principal,
} from '@tributary/access';
import { IdentityResolver } from '../identity/identity-resolver.service';
import { StageMoves } from './stage-moves.service';
import { LeadsScopes } from '../scopes';

const acceptBody = z.object({ ownerId: z.string().min(1).max(200).optional() }).strict();
const moveBody = z.object({ reason: z.string().min(1).max(200) }).strict();

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  throw new BadRequestException({
    error: 'invalid_request',
    errors: parsed.error.issues.map((issue) => ({
      field: issue.path.join('.') || 'body',
      reason: issue.message,
    })),
  });
}

/**
 * What sales does with a lead: accept it (SQL), disqualify it or recycle it to nurture. An `Idempotency-Key` makes a
 * retried call announce the same `lifecycle.changed` event rather than a second one.
 */
@Controller('v1/leads')
@UseGuards(WorkspaceKeyGuard)
export class LeadsController {
  constructor(
    private readonly stages: StageMoves,
    private readonly identities: IdentityResolver,
  ) {}

  @Post(':contactKey/accept')
  @HttpCode(200)
  @RequireScopes(LeadsScopes.leadsAccept)
  async accept(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contactKey') contactKey: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    const { ownerId } = parse(acceptBody, body);
    const contactId = await this.contactIdOf(workspaceId, contactKey);
    const cause = this.cause(workspaceId, principal, `accept/${contactId}`, idempotencyKey);
    const outcome = await this.stages.accept(workspaceId, contactId, ownerId, cause);
    if (outcome.status === 'not-assigned')
      throw new ConflictException({
        error: 'not_assigned',
        field: 'contactKey',
        reason: 'the lead has no owner yet',
      });
    if (outcome.status === 'wrong-owner')
      throw new ConflictException({
        error: 'wrong_owner',
        field: 'ownerId',
        reason: 'the lead is assigned to someone else',
      });
    return { contactId, ...outcome };
  }

  @Post(':contactKey/disqualify')
  @HttpCode(200)
  @RequireScopes(LeadsScopes.leadsAccept)
  async disqualify(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contactKey') contactKey: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    return this.moveByHand('disqualify', workspaceId, principal, contactKey, body, idempotencyKey);
  }

  @Post(':contactKey/recycle')
  @HttpCode(200)
  @RequireScopes(LeadsScopes.leadsAccept)
  async recycle(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contactKey') contactKey: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    return this.moveByHand('recycle', workspaceId, principal, contactKey, body, idempotencyKey);
  }

  /** Disqualify and recycle: same body, same answers, one cause per request (or per Idempotency-Key). */
  private async moveByHand(
    kind: 'disqualify' | 'recycle',
    workspaceId: string,
    principal: Principal,
    contactKey: string,
    body: unknown,
    idempotencyKey: string | undefined,
  ): Promise<{ contactId: string; stage: string | null }> {
    const { reason } = parse(moveBody, body);
    const contactId = await this.contactIdOf(workspaceId, contactKey);
    const cause = this.cause(workspaceId, principal, `${kind}/${contactId}`, idempotencyKey);
    const outcome = await this.stages.moveByHand(contactId, { kind, reason }, cause);
    if (outcome.why === 'no such contact')
      throw new NotFoundException({ error: 'not_found', field: 'contactKey', reason: 'no such contact' });
    if (!outcome.moved)
      throw new ConflictException({ error: 'invalid_transition', field: 'stage', reason: outcome.why });
    return { contactId, stage: outcome.stage };
  }

  private async contactIdOf(workspaceId: string, contactKey: string): Promise<string> {
    const contactId = await this.identities.resolveContactKey(workspaceId, contactKey);
    if (!contactId)
      throw new NotFoundException({ error: 'not_found', field: 'contactKey', reason: 'no such contact' });
    return contactId;
  }

  private cause(workspaceId: string, principal: Principal, action: string, idempotencyKey?: string) {
    return originMetadata({
      workspaceId,
      source: `api:${principal.credentialId}`,
      eventId: idempotencyKey ? clientEventId(workspaceId, action, idempotencyKey) : undefined,
    });
  }
}

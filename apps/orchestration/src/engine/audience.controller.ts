import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  Header,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Put,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  CurrentPrincipal,
  CurrentWorkspace,
  RequireAnyScope,
  RequireScopes,
  WorkspaceKeyGuard,
  type Principal,
} from '@tributary/access';
import { validateDocument } from '@tributary/runtime';
import { z } from 'zod';
import { OrchestrationScopes } from '../scopes';
import { AudienceGuards, type SuppressionDoc } from './audience-guards';
import { CHANNELS, messagingSettingsSchema, type Channel, type MessagingSettings } from './send-policy';

const READ_SCOPES = [OrchestrationScopes.journeysRead, OrchestrationScopes.journeysAdmin];
const suppressionRequest = z.object({ reason: z.string().min(1).max(64).default('admin') }).strict();

function channelOf(value: string): Channel {
  if ((CHANNELS as readonly string[]).includes(value)) return value as Channel;
  throw new BadRequestException({ error: 'invalid_request', field: 'channel', reason: 'email or sms' });
}

/** A workspace's messaging rules: quiet hours, frequency caps and the suppression list. */
@Controller('v1')
@UseGuards(WorkspaceKeyGuard)
export class MessagingSettingsController {
  constructor(private readonly guards: AudienceGuards) {}

  @Get('messaging-settings')
  @RequireAnyScope(...READ_SCOPES)
  settings(@CurrentWorkspace() workspaceId: string): Promise<MessagingSettings> {
    return this.guards.settings(workspaceId);
  }

  @Put('messaging-settings')
  @RequireScopes(OrchestrationScopes.journeysAdmin)
  async writeSettings(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
  ): Promise<MessagingSettings> {
    const parsed = validateDocument(messagingSettingsSchema, body, 'must be an object of messaging settings');
    if (!parsed.ok) throw new BadRequestException({ error: 'invalid_settings', errors: parsed.errors });
    return this.guards.writeSettings(workspaceId, parsed.value, principal.credentialId);
  }

  @Get('suppressions')
  @RequireAnyScope(...READ_SCOPES)
  async suppressions(
    @CurrentWorkspace() workspaceId: string,
    @Query('channel') channel?: string,
  ): Promise<{ suppressions: Omit<SuppressionDoc, '_id'>[] }> {
    const list = await this.guards.listSuppressions(workspaceId, channel ? channelOf(channel) : undefined);
    return { suppressions: list.map(({ _id, ...rest }) => rest) };
  }

  @Put('suppressions/:channel/:address')
  @RequireScopes(OrchestrationScopes.journeysAdmin)
  async suppress(
    @CurrentWorkspace() workspaceId: string,
    @Param('channel') channel: string,
    @Param('address') address: string,
    @Body() body: unknown,
  ): Promise<Omit<SuppressionDoc, '_id'>> {
    const parsed = validateDocument(
      suppressionRequest,
      body ?? {},
      'must be an object, e.g. {"reason": "admin"}',
    );
    if (!parsed.ok) throw new BadRequestException({ error: 'invalid_request', errors: parsed.errors });
    const { _id, ...doc } = await this.guards.suppress(
      workspaceId,
      channelOf(channel),
      address,
      parsed.value.reason,
    );
    return doc;
  }

  @Delete('suppressions/:channel/:address')
  @HttpCode(204)
  @RequireScopes(OrchestrationScopes.journeysAdmin)
  async unsuppress(
    @CurrentWorkspace() workspaceId: string,
    @Param('channel') channel: string,
    @Param('address') address: string,
  ): Promise<void> {
    if (!(await this.guards.unsuppress(workspaceId, channelOf(channel), address)))
      throw new NotFoundException({
        error: 'not_found',
        field: 'address',
        reason: 'not on the suppression list',
      });
  }
}

/**
 * One-click unsubscribe (RFC 8058), public: the signed token is the credential. Mailbox providers POST
 * `List-Unsubscribe=One-Click`; a GET (a person clicking, or a link scanner) only shows a button, so a scanner
 * cannot unsubscribe anyone.
 */
@Controller('v1/unsubscribe')
export class UnsubscribeController {
  constructor(private readonly guards: AudienceGuards) {}

  private readToken(token: string): { workspaceId: string; channel: Channel; address: string } {
    const read = this.guards.readUnsubscribeToken(token);
    if (!read)
      throw new BadRequestException({
        error: 'invalid_request',
        field: 'token',
        reason: 'not a valid unsubscribe link',
      });
    return read;
  }

  @Get(':token')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  page(@Param('token') token: string): string {
    this.readToken(token);
    return (
      '<!doctype html><meta name="viewport" content="width=device-width"><title>Unsubscribe</title>' +
      '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">' +
      '<p>Stop marketing emails to this address?</p><button type="submit">Unsubscribe</button></form>'
    );
  }

  @Post(':token')
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  async unsubscribe(@Param('token') token: string): Promise<{ unsubscribed: true; channel: Channel }> {
    const { workspaceId, channel, address } = this.readToken(token);
    await this.guards.suppress(workspaceId, channel, address, 'unsubscribe');
    return { unsubscribed: true, channel };
  }
}

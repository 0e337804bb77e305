import { Body, Controller, Delete, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AccessAdministration } from './access-admin.service';
import { AdminGuard, CurrentAdmin, type AdminActor } from './admin-auth';

/**
 * `/v1/admin`: workspaces, API keys, OAuth clients and signing keys. The operator (ADMIN_TOKEN) manages everything;
 * an `admin`-scoped key or token only its own workspace. Secrets appear once, in create/rotate responses.
 */
@ApiTags('admin')
@ApiBearerAuth('bearer')
@Controller('v1/admin')
@UseGuards(AdminGuard)
export class AdminController {
  constructor(private readonly admin: AccessAdministration) {}

  @Post('workspaces')
  @ApiOperation({ summary: 'Create a workspace (operator only)' })
  createWorkspace(@CurrentAdmin() actor: AdminActor, @Body() body: unknown) {
    return this.admin.createWorkspace(actor, body);
  }

  @Get('workspaces')
  @ApiOperation({ summary: 'List workspaces (a workspace admin sees its own)' })
  listWorkspaces(@CurrentAdmin() actor: AdminActor) {
    return this.admin.listWorkspaces(actor);
  }

  @Post('workspaces/:workspaceId/keys')
  @ApiOperation({ summary: 'Create an API key; the response carries the key once' })
  createKey(
    @CurrentAdmin() actor: AdminActor,
    @Param('workspaceId') workspaceId: string,
    @Body() body: unknown,
  ) {
    return this.admin.createKey(actor, workspaceId, body);
  }

  @Get('workspaces/:workspaceId/keys')
  @ApiOperation({ summary: 'List API keys (never secrets)' })
  listKeys(@CurrentAdmin() actor: AdminActor, @Param('workspaceId') workspaceId: string) {
    return this.admin.listKeys(actor, workspaceId);
  }

  @Post('workspaces/:workspaceId/keys/:keyId/rotate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rotate an API key: new secret, the old one works for graceSeconds' })
  rotateKey(
    @CurrentAdmin() actor: AdminActor,
    @Param('workspaceId') workspaceId: string,
    @Param('keyId') keyId: string,
    @Body() body: unknown,
  ) {
    return this.admin.rotateKey(actor, workspaceId, keyId, body);
  }

  @Delete('workspaces/:workspaceId/keys/:keyId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an API key' })
  async revokeKey(
    @CurrentAdmin() actor: AdminActor,
    @Param('workspaceId') workspaceId: string,
    @Param('keyId') keyId: string,
  ): Promise<void> {
    await this.admin.revokeKey(actor, workspaceId, keyId);
  }

  @Post('workspaces/:workspaceId/clients')
  @ApiOperation({ summary: 'Create an OAuth2 client; the response carries the client secret once' })
  createClient(
    @CurrentAdmin() actor: AdminActor,
    @Param('workspaceId') workspaceId: string,
    @Body() body: unknown,
  ) {
    return this.admin.createClient(actor, workspaceId, body);
  }

  @Get('workspaces/:workspaceId/clients')
  @ApiOperation({ summary: 'List OAuth2 clients (never secrets)' })
  listClients(@CurrentAdmin() actor: AdminActor, @Param('workspaceId') workspaceId: string) {
    return this.admin.listClients(actor, workspaceId);
  }

  @Delete('workspaces/:workspaceId/clients/:clientId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an OAuth2 client (its tokens stop working)' })
  async revokeClient(
    @CurrentAdmin() actor: AdminActor,
    @Param('workspaceId') workspaceId: string,
    @Param('clientId') clientId: string,
  ): Promise<void> {
    await this.admin.revokeClient(actor, workspaceId, clientId);
  }

  @Post('signing-keys/rotate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rotate the token signing key (operator only)' })
  rotateSigningKey(@CurrentAdmin() actor: AdminActor) {
    return this.admin.rotateSigningKey(actor);
  }

  @Delete('signing-keys/:kid')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a signing key: tokens it signed stop verifying (operator only)' })
  async removeSigningKey(@CurrentAdmin() actor: AdminActor, @Param('kid') kid: string): Promise<void> {
    await this.admin.removeSigningKey(actor, kid);
  }
}

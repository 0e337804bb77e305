import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
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
import { checkedParam } from '@tributary/runtime';
import { SyncScopes } from '../scopes';
import { ConnectionNotFoundError, Connections, type ConnectionView } from './connections.service';

const READ_SCOPES = [SyncScopes.connectionsRead, SyncScopes.connectionsAdmin];
const CONNECTION_ID = /^conn_[a-f0-9]{32}$/;

const checkedId = (id: string) => checkedParam(id, CONNECTION_ID, 'connectionId', 'a connection id (conn_…)');

/** Another workspace's connection answers as one that does not exist. */
async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ConnectionNotFoundError)
      throw new NotFoundException({ error: 'not_found', field: 'connectionId', reason: error.message });
    throw error;
  }
}

/** A workspace's vendor connections: create (credentials sealed, never returned), test, pause, resume, delete. */
@Controller('v1/connections')
@UseGuards(WorkspaceKeyGuard)
export class ConnectionsController {
  constructor(private readonly connections: Connections) {}

  @Post()
  @RequireScopes(SyncScopes.connectionsAdmin)
  async create(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
  ): Promise<ConnectionView> {
    const written = await this.connections.create(workspaceId, body, principal.credentialId);
    if (!written.ok) throw new BadRequestException({ error: 'invalid_connection', errors: written.errors });
    return written.view;
  }

  @Get()
  @RequireAnyScope(...READ_SCOPES)
  async list(@CurrentWorkspace() workspaceId: string): Promise<{ connections: ConnectionView[] }> {
    return { connections: await this.connections.list(workspaceId) };
  }

  @Get(':connectionId')
  @RequireAnyScope(...READ_SCOPES)
  async read(
    @CurrentWorkspace() workspaceId: string,
    @Param('connectionId') id: string,
  ): Promise<ConnectionView> {
    return answer(() => this.connections.get(workspaceId, checkedId(id)));
  }

  /** A real call to the vendor with the stored credentials. */
  @Post(':connectionId/test')
  @HttpCode(200)
  @RequireScopes(SyncScopes.connectionsAdmin)
  async test(
    @CurrentWorkspace() workspaceId: string,
    @Param('connectionId') id: string,
  ): Promise<ConnectionView> {
    return answer(() => this.connections.test(workspaceId, checkedId(id)));
  }

  @Post(':connectionId/pause')
  @HttpCode(200)
  @RequireScopes(SyncScopes.connectionsAdmin)
  async pause(
    @CurrentWorkspace() workspaceId: string,
    @Param('connectionId') id: string,
  ): Promise<ConnectionView> {
    return answer(() => this.connections.setStatus(workspaceId, checkedId(id), 'paused'));
  }

  @Post(':connectionId/resume')
  @HttpCode(200)
  @RequireScopes(SyncScopes.connectionsAdmin)
  async resume(
    @CurrentWorkspace() workspaceId: string,
    @Param('connectionId') id: string,
  ): Promise<ConnectionView> {
    return answer(() => this.connections.setStatus(workspaceId, checkedId(id), 'active'));
  }

  @Delete(':connectionId')
  @HttpCode(204)
  @RequireScopes(SyncScopes.connectionsAdmin)
  async remove(@CurrentWorkspace() workspaceId: string, @Param('connectionId') id: string): Promise<void> {
    await answer(() => this.connections.delete(workspaceId, checkedId(id)));
  }
}

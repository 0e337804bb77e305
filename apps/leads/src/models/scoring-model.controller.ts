import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Headers,
  NotFoundException,
  Param,
  Put,
  UnsupportedMediaTypeException,
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
import { isJsonContentType, isYamlContentType } from '@tributary/runtime';
import { parseScoringModel, validateScoringModel, type ScoringModelParseResult } from './scoring-model';
import {
  ScoringModelStore,
  type ScoringModelVersionSummary,
  type VersionedScoringModel,
} from './scoring-model.store';
import { LeadsScopes } from '../scopes';

/** Any one of these lets a caller read the model. */
const READ_SCOPES = [LeadsScopes.contactsRead, LeadsScopes.scoringAdmin];

/** A workspace's lead scoring model: replace it (a new version each time), read the current one or any version. */
@Controller('v1/scoring-model')
@UseGuards(WorkspaceKeyGuard)
export class ScoringModelController {
  constructor(private readonly models: ScoringModelStore) {}

  @Put()
  @RequireScopes(LeadsScopes.scoringAdmin)
  async replace(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Headers('content-type') contentType?: string,
  ): Promise<VersionedScoringModel> {
    if (!isYamlContentType(contentType) && !isJsonContentType(contentType))
      throw new UnsupportedMediaTypeException({
        error: 'unsupported_media_type',
        field: 'content-type',
        reason: 'send the scoring model as application/json or application/yaml',
      });
    // Text when captureScoringModelBody is installed; an object when only Nest's JSON parser ran.
    const parsed: ScoringModelParseResult =
      typeof body === 'string' ? parseScoringModel(body, contentType) : validateScoringModel(body);
    if (!parsed.ok) throw new BadRequestException({ error: 'invalid_scoring_model', errors: parsed.errors });
    return this.models.append(workspaceId, parsed.model, principal.credentialId);
  }

  @Get()
  @RequireAnyScope(...READ_SCOPES)
  async current(@CurrentWorkspace() workspaceId: string): Promise<VersionedScoringModel> {
    return this.models.current(workspaceId);
  }

  @Get('versions')
  @RequireAnyScope(...READ_SCOPES)
  async versions(
    @CurrentWorkspace() workspaceId: string,
  ): Promise<{ versions: ScoringModelVersionSummary[] }> {
    return { versions: await this.models.list(workspaceId) };
  }

  @Get('versions/:version')
  @RequireAnyScope(...READ_SCOPES)
  async version(
    @CurrentWorkspace() workspaceId: string,
    @Param('version') version: string,
  ): Promise<VersionedScoringModel> {
    const stored = /^\d{1,9}$/.test(version)
      ? await this.models.get(workspaceId, Number(version))
      : undefined;
    if (!stored)
      throw new NotFoundException({
        error: 'not_found',
        field: 'version',
        reason: `no scoring model version ${version}`,
      });
    return stored;
  }
}

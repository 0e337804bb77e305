import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  Headers,
  HttpCode,
  NotFoundException,
  Optional,
  Param,
  Post,
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
import { checkedParam, isJsonContentType, isYamlContentType, validRequest } from '@tributary/runtime';
import { z } from 'zod';
import { OrchestrationScopes } from '../scopes';
import { parseJourney, validateJourney, type JourneyDefinition } from './journey-definition';
import {
  JourneyCatalog,
  JourneyNotFoundError,
  JourneyTransitionError,
  type AppendedJourney,
  type JourneySummary,
} from './journey-catalog';
import { dryRun, dryRunRequest, type DryRunResult } from './journey-dry-run';
import { AudienceGuards } from '../engine/audience-guards';

const READ_SCOPES = [OrchestrationScopes.journeysRead, OrchestrationScopes.journeysAdmin];
const JOURNEY_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const publishRequest = z.object({ version: z.number().int().min(1).optional() }).strict();

/** A journey id from the path (the preview controller's too), or a 400 naming it. */
export function checkedId(journeyId: string): string {
  return checkedParam(
    journeyId,
    JOURNEY_ID,
    'journeyId',
    'lower-case letters, digits, - and _ (at most 64), starting with a letter or digit',
  );
}

/** Store errors as API answers: 404 for what does not exist, 409 for a status change the journey does not allow. */
async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof JourneyNotFoundError)
      throw new NotFoundException({ error: 'not_found', field: 'journeyId', reason: error.message });
    if (error instanceof JourneyTransitionError)
      throw new ConflictException({ error: 'conflict', field: 'status', reason: error.message });
    throw error;
  }
}

/**
 * A workspace's journeys: write a version (JSON or YAML), publish one, pause, resume, archive, read them, and dry
 * run one for a contact. Contacts stay on the version they entered.
 */
@Controller('v1/journeys')
@UseGuards(WorkspaceKeyGuard)
export class JourneysController {
  constructor(
    private readonly catalog: JourneyCatalog,
    // Where the engine runs beside the API: the workspace's zone for its dry runs' wait_until steps (else UTC).
    @Optional() private readonly guards?: AudienceGuards,
  ) {}

  @Put(':journeyId')
  @RequireScopes(OrchestrationScopes.journeysAdmin)
  async write(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('journeyId') journeyId: string,
    @Body() body: unknown,
    @Headers('content-type') contentType?: string,
  ): Promise<AppendedJourney> {
    checkedId(journeyId);
    if (!isYamlContentType(contentType) && !isJsonContentType(contentType))
      throw new UnsupportedMediaTypeException({
        error: 'unsupported_media_type',
        field: 'content-type',
        reason: 'send the journey as application/json or application/yaml',
      });
    // Text when captureJourneyBodies is installed; an object when only Nest's JSON parser ran.
    const parsed = typeof body === 'string' ? parseJourney(body, contentType) : validateJourney(body);
    if (!parsed.ok) throw new BadRequestException({ error: 'invalid_journey', errors: parsed.errors });
    return this.catalog.append(workspaceId, journeyId, parsed.value, principal.credentialId);
  }

  @Get()
  @RequireAnyScope(...READ_SCOPES)
  async list(@CurrentWorkspace() workspaceId: string): Promise<{ journeys: JourneySummary[] }> {
    return { journeys: await this.catalog.list(workspaceId) };
  }

  @Get(':journeyId')
  @RequireAnyScope(...READ_SCOPES)
  async read(
    @CurrentWorkspace() workspaceId: string,
    @Param('journeyId') journeyId: string,
  ): Promise<JourneySummary & { definition: JourneyDefinition | null }> {
    return answer(async () => {
      const summary = await this.catalog.summary(workspaceId, checkedId(journeyId));
      const shown = summary.publishedVersion ?? summary.latestVersion;
      const definition = await this.catalog.definitionOf(workspaceId, journeyId, shown);
      return { ...summary, definition: definition ?? null };
    });
  }

  @Get(':journeyId/versions/:version')
  @RequireAnyScope(...READ_SCOPES)
  async version(
    @CurrentWorkspace() workspaceId: string,
    @Param('journeyId') journeyId: string,
    @Param('version') version: string,
  ): Promise<{ journeyId: string; version: number; definition: JourneyDefinition; createdAt: Date }> {
    const stored = /^\d{1,9}$/.test(version)
      ? await this.catalog.version(workspaceId, checkedId(journeyId), Number(version))
      : undefined;
    if (!stored)
      throw new NotFoundException({
        error: 'not_found',
        field: 'version',
        reason: `no version ${version} of ${journeyId}`,
      });
    return { journeyId, version: stored.version, definition: stored.definition, createdAt: stored.createdAt };
  }

  @Post(':journeyId/publish')
  @HttpCode(200)
  @RequireScopes(OrchestrationScopes.journeysAdmin)
  async publish(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('journeyId') journeyId: string,
    @Body() body: unknown,
  ): Promise<JourneySummary> {
    const request = validRequest(publishRequest, body ?? {}, 'must be an object, e.g. {"version": 2}');
    return answer(() =>
      this.catalog.publish(workspaceId, checkedId(journeyId), request.version, principal.credentialId),
    );
  }

  @Post(':journeyId/pause')
  @HttpCode(200)
  @RequireScopes(OrchestrationScopes.journeysAdmin)
  pause(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('journeyId') journeyId: string,
  ): Promise<JourneySummary> {
    return answer(() => this.catalog.pause(workspaceId, checkedId(journeyId), principal.credentialId));
  }

  @Post(':journeyId/resume')
  @HttpCode(200)
  @RequireScopes(OrchestrationScopes.journeysAdmin)
  resume(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('journeyId') journeyId: string,
  ): Promise<JourneySummary> {
    return answer(() => this.catalog.resume(workspaceId, checkedId(journeyId), principal.credentialId));
  }

  @Post(':journeyId/archive')
  @HttpCode(200)
  @RequireScopes(OrchestrationScopes.journeysAdmin)
  archive(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('journeyId') journeyId: string,
  ): Promise<JourneySummary> {
    return answer(() => this.catalog.archive(workspaceId, checkedId(journeyId), principal.credentialId));
  }

  @Post(':journeyId/dry-run')
  @HttpCode(200)
  @RequireAnyScope(...READ_SCOPES)
  async dryRun(
    @CurrentWorkspace() workspaceId: string,
    @Param('journeyId') journeyId: string,
    @Body() body: unknown,
  ): Promise<DryRunResult & { version: number }> {
    const request = validRequest(
      dryRunRequest,
      body,
      'must be an object with contact (and event for event entries)',
    );
    return answer(async () => {
      const summary = await this.catalog.summary(workspaceId, checkedId(journeyId));
      const version = request.version ?? summary.publishedVersion ?? summary.latestVersion;
      const definition = await this.catalog.definitionOf(workspaceId, journeyId, version);
      if (!definition) throw new JourneyNotFoundError(`no version ${version} of journey ${journeyId}`);
      const timezone = (await this.guards?.settings(workspaceId))?.timezone;
      return { version, ...dryRun(definition, request, `${workspaceId}:${journeyId}`, timezone) };
    });
  }
}

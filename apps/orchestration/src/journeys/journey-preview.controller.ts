import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  UseGuards,
} from '@nestjs/common';
import type { Model } from 'mongoose';
import { CurrentWorkspace, RequireAnyScope, WorkspaceKeyGuard } from '@tributary/access';
import { validRequest } from '@tributary/runtime';
import { OrchestrationScopes } from '../scopes';
import { CONTACT_PROFILE_MODEL, type ContactProfileDoc } from '../engine/engine.models';
import { MessageTemplates } from '../channels/templates';
import { JourneyCatalog, JourneyNotFoundError } from './journey-catalog';
import type { JourneyDefinition } from './journey-definition';
import { checkedId } from './journeys.controller';
import { previewRequest, previewStep, type PreviewContact, type RenderedPreview } from './journey-preview';

/** Renders one step of a journey for a contact (stored or described), as the engine would send or show it. */
@Controller('v1/journeys')
@UseGuards(WorkspaceKeyGuard)
export class JourneyPreviewController {
  private readonly templates = new MessageTemplates();

  constructor(
    private readonly catalog: JourneyCatalog,
    @Inject(CONTACT_PROFILE_MODEL) private readonly profiles: Model<ContactProfileDoc>,
  ) {}

  @Post(':journeyId/preview')
  @HttpCode(200)
  @RequireAnyScope(OrchestrationScopes.journeysRead, OrchestrationScopes.journeysAdmin)
  async preview(
    @CurrentWorkspace() workspaceId: string,
    @Param('journeyId') journeyId: string,
    @Body() body: unknown,
  ): Promise<RenderedPreview & { version: number }> {
    checkedId(journeyId);
    const request = validRequest(previewRequest, body, 'must be an object with stepId');
    const notFound = (field: string, reason: string) =>
      new NotFoundException({ error: 'not_found', field, reason });
    let version: number;
    let definition: JourneyDefinition | undefined;
    try {
      const summary = await this.catalog.summary(workspaceId, journeyId);
      version = request.version ?? summary.publishedVersion ?? summary.latestVersion;
      definition = await this.catalog.definitionOf(workspaceId, journeyId, version);
    } catch (error) {
      if (error instanceof JourneyNotFoundError) throw notFound('journeyId', error.message);
      throw error;
    }
    if (!definition) throw notFound('version', `no version ${version} of journey ${journeyId}`);
    const contact = await this.contactOf(workspaceId, request.contactId);
    if (!contact) throw notFound('contactId', `no contact ${request.contactId} in this workspace`);
    const result = await previewStep(
      definition,
      { id: journeyId, version },
      request,
      contact,
      this.templates,
    );
    if (!result.ok) {
      const answer = {
        error: result.status === 404 ? 'not_found' : 'invalid_template',
        errors: result.errors,
      };
      throw result.status === 404 ? new NotFoundException(answer) : new BadRequestException(answer);
    }
    return { ...result.value, version };
  }

  /** The stored profile (only this workspace's), a journey's attributes under the lead service's; else a sample. */
  private async contactOf(
    workspaceId: string,
    contactId: string | undefined,
  ): Promise<PreviewContact | null> {
    if (contactId === undefined)
      return { contactId: 'preview-contact', attributes: {}, stage: null, score: 0 };
    const profile = await this.profiles.findOne({ _id: contactId, workspaceId }).lean();
    if (!profile) return null;
    return {
      contactId,
      attributes: { ...(profile.journeyAttributes ?? {}), ...profile.attributes },
      stage: profile.stage,
      score: profile.score,
    };
  }
}

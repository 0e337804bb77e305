import { BadRequestException, Body, Controller, Headers, HttpCode, Post, UseGuards } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBasicAuth,
  ApiBearerAuth,
  ApiBody,
  ApiForbiddenResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { ErrorModel } from '../openapi/api-models';
import { LeadCapturedResponseModel, LeadFormModel } from './lead-form.openapi';
import { LeadFormSubmissions } from './lead-form-submissions.service';
import { IngestionScopes } from '../scopes';

/** `POST /v1/leads`: lead capture forms. */
@ApiTags('leads')
@ApiBasicAuth('writeKey')
@ApiBearerAuth('bearer')
@Controller('v1')
@UseGuards(WorkspaceKeyGuard)
export class LeadFormController {
  constructor(private readonly submissions: LeadFormSubmissions) {}

  @Post('leads')
  @RequireScopes(IngestionScopes.leadsWrite)
  @HttpCode(200)
  @ApiOperation({
    summary: 'Capture a lead from a form',
    description: 'Validates the email and the workspace’s required consents, then emits leads.captured.',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Retries with the same key capture the lead once (alternative to submissionId).',
  })
  @ApiBody({ type: LeadFormModel })
  @ApiOkResponse({ type: LeadCapturedResponseModel, description: 'Captured (or already captured).' })
  @ApiBadRequestResponse({ type: ErrorModel, description: 'Invalid body: every bad field is named.' })
  @ApiUnauthorizedResponse({ type: ErrorModel, description: 'Missing or unknown key.' })
  @ApiForbiddenResponse({ type: ErrorModel, description: 'The key lacks the leads:write scope.' })
  @ApiTooManyRequestsResponse({ type: ErrorModel, description: 'Rate limit exceeded.' })
  async capture(
    @CurrentWorkspace() workspaceId: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<LeadCapturedResponseModel> {
    const outcome = await this.submissions.submit(workspaceId, body, idempotencyKey);
    if (!outcome.ok) throw new BadRequestException({ error: 'invalid_request', problems: outcome.problems });
    return { success: true, ...outcome.result };
  }
}

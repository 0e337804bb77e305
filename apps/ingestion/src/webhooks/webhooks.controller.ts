import { Controller, HttpException, Inject, NotFoundException, Param, Post, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { SERVICE_CONFIG } from '@tributary/platform';
import type { IngestionConfig } from '../config';
import { ErrorModel } from '../openapi/api-models';
import { WebhookAcceptedModel } from './webhooks.openapi';
import { WebhookIntake, type WebhookAccepted } from './webhook-intake.service';
import { isWebhookSource, WEBHOOK_SOURCES } from './webhooks.config';
import type { SignedRequest } from './signatures/signature';

/** The URL the sender signed: the configured public base URL, else as this request reached us. */
function signedRequestOf(req: Request, publicBaseUrl: string | undefined): SignedRequest {
  const base = publicBaseUrl?.replace(/\/$/, '') ?? `${req.protocol}://${req.get('host') ?? ''}`;
  return {
    method: req.method,
    url: `${base}${req.originalUrl}`,
    rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
    headers: req.headers,
  };
}

/**
 * `POST /v1/webhooks/:source/:workspaceId`: signed webhooks from CRMs and shops. No write key: the workspace is in
 * the path and the sender proves itself with the signing secret that workspace configured for the source.
 */
@ApiTags('webhooks')
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(
    private readonly intake: WebhookIntake,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
  ) {}

  @Post(':source/:workspaceId')
  @ApiOperation({
    summary: 'Receive a signed webhook',
    description:
      'HubSpot v3 (array of subscription events) or Shopify (one resource, topic in X-Shopify-Topic). ' +
      'Mapped events become leads.captured or records.changed; replays are accepted and published once.',
  })
  @ApiParam({ name: 'source', enum: WEBHOOK_SOURCES })
  @ApiParam({ name: 'workspaceId', example: 'ws_demo' })
  @ApiHeader({ name: 'X-HubSpot-Signature-v3', required: false, description: 'HubSpot: base64 HMAC-SHA256.' })
  @ApiHeader({ name: 'X-HubSpot-Request-Timestamp', required: false, description: 'HubSpot: epoch ms.' })
  @ApiHeader({
    name: 'X-Shopify-Hmac-Sha256',
    required: false,
    description: 'Shopify: base64 HMAC of the body.',
  })
  @ApiHeader({ name: 'X-Shopify-Topic', required: false, description: 'Shopify: e.g. orders/create.' })
  @ApiHeader({ name: 'X-Shopify-Webhook-Id', required: false, description: 'Shopify: delivery id (dedupe).' })
  @ApiBody({
    description: 'The sender’s payload, verified over its raw bytes.',
    schema: { oneOf: [{ type: 'array', items: { type: 'object' } }, { type: 'object' }] },
  })
  @ApiOkResponse({ type: WebhookAcceptedModel, description: 'Published (or already published: a replay).' })
  @ApiResponse({
    status: 202,
    type: WebhookAcceptedModel,
    description: 'No event type of it is mapped: ignored.',
  })
  @ApiBadRequestResponse({ type: ErrorModel, description: 'Not JSON, or not the source’s envelope.' })
  @ApiUnauthorizedResponse({ type: ErrorModel, description: 'Missing, wrong or expired signature.' })
  @ApiNotFoundResponse({ type: ErrorModel, description: 'Unknown source.' })
  @ApiUnprocessableEntityResponse({ type: ErrorModel, description: 'A mapped event lacks required fields.' })
  @ApiTooManyRequestsResponse({ type: ErrorModel, description: 'Rate limit exceeded.' })
  async receive(
    @Param('source') source: string,
    @Param('workspaceId') workspaceId: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<WebhookAccepted> {
    if (!isWebhookSource(source)) {
      throw new NotFoundException({ error: 'not_found', reason: `unknown webhook source: ${source}` });
    }
    const receipt = await this.intake.receive(
      source,
      workspaceId,
      signedRequestOf(req, this.config.WEBHOOK_PUBLIC_BASE_URL),
    );
    if (receipt.status !== 200 && receipt.status !== 202)
      throw new HttpException(receipt.body, receipt.status);
    res.status(receipt.status);
    return receipt.body;
  }
}

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
import { SERVICE_CONFIG } from '@tributary/config';
import type { IngestionConfig } from '../config';
import { ErrorModel } from '../openapi/api-models';
import { WebhookAcceptedModel } from './webhooks.openapi';
import { WebhookIntake, type WebhookAccepted } from './webhook-intake.service';
import { isWebhookSource, WEBHOOK_SOURCES } from './webhooks.config';
import type { SignedRequest } from './signatures/signature';

/** The URL the sender signed: the configured public base URL, else as this request reached us. */
export function signedRequestOf(req: Request, publicBaseUrl: string | undefined): SignedRequest {
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
      'Mapped events become leads.captured or records.changed; replays are accepted and published once. ' +
      'Shopify signs the body only, so its headers cannot change what a body means: the same body is the same ' +
      'delivery whatever its X-Shopify-Webhook-Id, the topic must match the body, and a body older than ' +
      'WEBHOOK_MAX_AGE_HOURS (24 h by default; Shopify retries for 4 h) is refused.',
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
  @ApiHeader({
    name: 'X-Shopify-Topic',
    required: false,
    description:
      'Shopify: e.g. orders/create; must match the body’s admin_graphql_api_id (a */delete topic: the id alone).',
  })
  @ApiHeader({
    name: 'X-Shopify-Triggered-At',
    required: false,
    description: 'Shopify: ISO-8601; dates a body that has no updated_at or created_at (a deletion).',
  })
  @ApiHeader({
    name: 'X-Shopify-Webhook-Id',
    required: false,
    description: 'Shopify: not used (unsigned); dedupe is by the signed body.',
  })
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
  @ApiBadRequestResponse({
    type: ErrorModel,
    description: 'Not JSON, not the source’s envelope, or a Shopify topic the signed body does not match.',
  })
  @ApiUnauthorizedResponse({
    type: ErrorModel,
    description: 'Missing, wrong or expired signature, or a Shopify body older than WEBHOOK_MAX_AGE_HOURS.',
  })
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

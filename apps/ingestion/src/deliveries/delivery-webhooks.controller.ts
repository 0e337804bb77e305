import { Controller, Header, HttpCode, HttpException, Inject, Param, Post, Req } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Request } from 'express';
import { SERVICE_CONFIG } from '@tributary/config';
import type { IngestionConfig } from '../config';
import { ErrorModel } from '../openapi/api-models';
import { signedRequestOf } from '../webhooks/webhooks.controller';
import { DeliveriesAcceptedModel } from './delivery-webhooks.openapi';
import { DeliveryIntake, type DeliveriesAccepted, type DeliveryWebhook } from './delivery-intake.service';

/** What Twilio expects back from an inbound-message webhook when nothing is to be replied (its opt-out replies itself). */
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

const ROUTES: Record<DeliveryWebhook, string> = {
  'sendgrid-events': '/v1/webhooks/sendgrid/:workspaceId/events',
  'twilio-status': '/v1/webhooks/twilio/:workspaceId/status',
  'twilio-inbound': '/v1/webhooks/twilio/:workspaceId/inbound',
};

/**
 * Delivery feedback from the message providers, one URL per workspace and kind: SendGrid's signed Event Webhook,
 * Twilio's status callbacks (orchestration gives each text its StatusCallback) and the workspace number's inbound
 * texts (STOP, START). No write key: the provider proves itself with the workspace's SendGrid verification key or
 * Twilio auth token (WEBHOOK_SECRETS).
 */
@ApiTags('webhooks')
@Controller('v1/webhooks')
export class DeliveryWebhooksController {
  constructor(
    private readonly intake: DeliveryIntake,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
  ) {}

  @Post('sendgrid/:workspaceId/events')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Receive SendGrid Event Webhook batches',
    description:
      'A JSON array of SendGrid events, signed (ECDSA P-256 over timestamp + raw body) with the key whose ' +
      'verification key the workspace configured. Each event becomes one messages.deliveries record (delivered, ' +
      'bounced, opened, spam_report …) once, whatever SendGrid retries; an event that cannot be read is kept on ' +
      'ingestion.rejected and the rest of the batch is taken. A signature older than WEBHOOK_MAX_AGE_HOURS is refused.',
  })
  @ApiParam({ name: 'workspaceId', example: 'ws_demo' })
  @ApiHeader({ name: 'X-Twilio-Email-Event-Webhook-Signature', description: 'base64 ECDSA signature.' })
  @ApiHeader({ name: 'X-Twilio-Email-Event-Webhook-Timestamp', description: 'unix seconds, signed.' })
  @ApiBody({
    description: 'SendGrid’s events, verified over the raw bytes.',
    schema: { type: 'array', items: { type: 'object' } },
  })
  @ApiOkResponse({ type: DeliveriesAcceptedModel })
  @ApiBadRequestResponse({
    type: ErrorModel,
    description: 'Signed, but not a JSON array of events (kept on ingestion.rejected).',
  })
  @ApiUnauthorizedResponse({
    type: ErrorModel,
    description: 'Missing, wrong or stale signature, or SendGrid not enabled.',
  })
  sendGridEvents(
    @Param('workspaceId') workspaceId: string,
    @Req() req: Request,
  ): Promise<DeliveriesAccepted> {
    return this.receive('sendgrid-events', workspaceId, req);
  }

  @Post('twilio/:workspaceId/status')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Receive Twilio message status callbacks',
    description:
      'Twilio’s form-encoded status callback, signed (X-Twilio-Signature) with the workspace’s auth token. ' +
      'sent, delivered, undelivered, failed and read become messages.deliveries records, once per MessageSid and ' +
      'status; `messageKey` in the URL (set by orchestration) ties it to the journey message.',
  })
  @ApiParam({ name: 'workspaceId', example: 'ws_demo' })
  @ApiHeader({
    name: 'X-Twilio-Signature',
    description: 'base64 HMAC-SHA1 of the URL and the sorted parameters.',
  })
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiOkResponse({ type: DeliveriesAcceptedModel })
  @ApiUnauthorizedResponse({
    type: ErrorModel,
    description: 'Missing or wrong signature, or Twilio not enabled.',
  })
  twilioStatus(@Param('workspaceId') workspaceId: string, @Req() req: Request): Promise<DeliveriesAccepted> {
    return this.receive('twilio-status', workspaceId, req);
  }

  @Post('twilio/:workspaceId/inbound')
  @HttpCode(200)
  @Header('content-type', 'text/xml; charset=utf-8')
  @ApiOperation({
    summary: 'Receive inbound texts to the workspace’s Twilio number',
    description:
      'Twilio’s form-encoded incoming-message webhook, signed with the workspace’s auth token. STOP (STOPALL, ' +
      'UNSUBSCRIBE, CANCEL, END, QUIT) becomes sms_stop, START (UNSTOP, YES) sms_start, HELP sms_help, anything ' +
      'else sms_received (its text is not kept). Answered with empty TwiML: Twilio’s opt-out management replies.',
  })
  @ApiParam({ name: 'workspaceId', example: 'ws_demo' })
  @ApiHeader({
    name: 'X-Twilio-Signature',
    description: 'base64 HMAC-SHA1 of the URL and the sorted parameters.',
  })
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiProduces('text/xml')
  @ApiOkResponse({ description: 'Empty TwiML <Response/>.' })
  @ApiUnauthorizedResponse({
    type: ErrorModel,
    description: 'Missing or wrong signature, or Twilio not enabled.',
  })
  async twilioInbound(@Param('workspaceId') workspaceId: string, @Req() req: Request): Promise<string> {
    await this.receive('twilio-inbound', workspaceId, req);
    return EMPTY_TWIML;
  }

  private async receive(
    webhook: DeliveryWebhook,
    workspaceId: string,
    req: Request,
  ): Promise<DeliveriesAccepted> {
    const request = { ...signedRequestOf(req, this.config.WEBHOOK_PUBLIC_BASE_URL), route: ROUTES[webhook] };
    const receipt = await this.intake.receive(webhook, workspaceId, request);
    if (receipt.status !== 200) throw new HttpException(receipt.body, receipt.status);
    return receipt.body;
  }
}

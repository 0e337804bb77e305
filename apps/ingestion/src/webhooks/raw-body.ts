import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage } from 'node:http';

export const WEBHOOKS_PATH = '/v1/webhooks/';
const MAX_WEBHOOK_BODY = '1mb';

/**
 * Webhook signatures cover the exact bytes sent, so webhook routes get the body as a Buffer instead of parsed
 * JSON (re-serialised JSON would not match). Registered before Nest's JSON parser, which then skips these requests;
 * every other route keeps the usual JSON parsing.
 */
export function captureWebhookRawBody(app: INestApplication): void {
  (app as NestExpressApplication).useBodyParser('raw', {
    type: (req: IncomingMessage) => req.url?.startsWith(WEBHOOKS_PATH) ?? false,
    limit: MAX_WEBHOOK_BODY,
  });
}

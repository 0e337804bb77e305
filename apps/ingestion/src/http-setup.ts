import type { INestApplication } from '@nestjs/common';
import { serveApiDocs } from './openapi/api-docs';
import { captureWebhookRawBody } from './webhooks/raw-body';

/** Ingestion's HTTP setup before the app initialises: raw bodies for signed webhooks, then the API docs. */
export function configureIngestionApp(app: INestApplication): void {
  captureWebhookRawBody(app);
  serveApiDocs(app);
}

import type { INestApplication } from '@nestjs/common';
import { serveApiDocs } from './openapi/api-docs';
import { captureWebhookRawBody } from './webhooks/raw-body';
import { captureTrackingBody } from './tracking/tracking-body';

/**
 * Ingestion's HTTP setup before the app initialises: raw bodies for signed webhooks, the tracking API's own body
 * reader (gzip, Segment size limits), then the API docs.
 */
export function configureIngestionApp(app: INestApplication): void {
  captureWebhookRawBody(app);
  captureTrackingBody(app);
  serveApiDocs(app);
}

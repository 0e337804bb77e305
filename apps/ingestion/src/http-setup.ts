import type { INestApplication } from '@nestjs/common';
import type { ServiceConfig } from '@tributary/config';
import type { IngestionConfig } from './config';
import { serveApiDocs } from './openapi/api-docs';
import { captureWebhookRawBody } from './webhooks/raw-body';
import { captureTrackingBody, TRACKING_PATHS } from './tracking/tracking-body';

/** Routes a web page calls from the browser (analytics.js, RudderStack's JS SDK, a lead form's script). */
export const BROWSER_PATHS: readonly string[] = [...TRACKING_PATHS, '/v1/leads'];

/**
 * CORS as Segment's and RudderStack's tracking hosts answer it: any origin (write keys are public in pages; no cookies
 * are read), only on the browser routes. Admin, OAuth and webhooks are server-to-server and answer no preflight.
 */
const BROWSER_CORS = {
  origin: '*',
  methods: ['POST'],
  allowedHeaders: ['Authorization', 'Content-Type', 'Content-Encoding', 'Idempotency-Key'],
  exposedHeaders: ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After'],
  maxAge: 86_400,
};

function isBrowserPath(url: string | undefined): boolean {
  const path = (url ?? '').split('?', 1)[0] ?? '';
  return BROWSER_PATHS.includes(path);
}

/**
 * Ingestion's HTTP setup before the app initialises: CORS for the browser routes, raw bodies for signed webhooks,
 * the tracking API's own body reader (gzip, Segment size limits), then the API docs.
 */
export function configureIngestionApp(app: INestApplication, config: ServiceConfig): void {
  app.enableCors((req: { url?: string }, callback: (error: Error | null, options: object) => void) =>
    callback(null, isBrowserPath(req.url) ? BROWSER_CORS : { origin: false }),
  );
  captureWebhookRawBody(app);
  captureTrackingBody(app);
  serveApiDocs(app, (config as IngestionConfig).ADMIN_TOKEN);
}

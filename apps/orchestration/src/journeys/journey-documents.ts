import type { INestApplication } from '@nestjs/common';
import { captureDocumentBodies } from '@tributary/runtime';

/** `PUT /v1/journeys/<journeyId>`: journeys arrive as YAML or JSON text (see captureDocumentBodies). */
export function captureJourneyBodies(app: INestApplication): void {
  captureDocumentBodies(app, (method, path) => method === 'PUT' && /^\/v1\/journeys\/[^/]+$/.test(path));
}
